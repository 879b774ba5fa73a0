"""Per-field comparators: two records' features → a comparison level.

A level is a word a steward can read ("exact", "similar", "different", …). Levels carry
no weight themselves; ``golden.matching.scoring`` turns them into Fellegi–Sunter weights.
``missing`` means one side has no value and contributes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from golden.entities import EntityType
from golden.matching.blocking import GENERIC_TOKENS
from golden.matching.features import Features
from golden.matching.frequency import CITY, COUNTRY, prefix_records, shared_place

MISSING = "missing"
Comparator = Callable[[Features, Features], str]


# A name that one system holds this many records beginning with, in the place two
# records share, is borne by several firms (golden.matching.frequency).
COMMON_RECORDS = 2


def compare_name(a: Features, b: Features) -> str:
    if not a.name or not b.name:
        return MISSING
    if a.name == b.name:
        # "Global Solutions" is shared by unrelated firms: weaker than a distinctive name.
        if all(t in GENERIC_TOKENS for t in a.name_tokens):
            return "exact_generic"
        return _by_commonness("exact", prefix_records(a, b, len(a.name_words)))
    jw = JaroWinkler.similarity(a.name, b.name)
    sort = fuzz.token_sort_ratio(a.name, b.name)
    words_a, words_b = a.name_words, b.name_words
    if jw >= 0.96 or sort >= 95:
        # A typo past the first three letters of a name no other firm's name there
        # begins like either spelling. (Keeping the first letters lets the bound of
        # golden.matching.pairs rule out the heavier level from equality codes alone.)
        words = min(len(words_a), len(words_b))
        distinctive = (
            a.name_start != ""
            and a.name_start == b.name_start
            and prefix_records(a, b, words) < COMMON_RECORDS
        )
        return "very_similar" if distinctive else "very_similar_common"
    if fuzz.token_set_ratio(a.name, b.name) == 100:
        # One name's tokens contain the other's: "Siemens" vs "Siemens Energy" — often a
        # sister company, so it is its own, weaker level; weaker still unless the shorter
        # name begins the longer and no other firm's name there begins with it.
        return _by_commonness("contained", _short_name_records(a, b))
    if words := _typo_prefix_words(words_a, words_b):
        # "Lyranoua" for "Lyranova Group", "Paxytrone Aerospace" for "Paxytron Aerospace
        # Worldwide": the shorter name, but for a typo or a moved space, begins the longer.
        common = prefix_records(a, b, words) >= COMMON_RECORDS
        return "contained_common" if common else "contained_typo"
    if _cut_short(words_a, words_b) or _cut_short(words_b, words_a):
        # "Zor Consulting" for "Zorislux Consulting", "Fenihub Sol" for "Fenihub
        # Solutions": each word cut short, as PSA users type them.
        return "abbreviated"
    if jw >= 0.92 or sort >= 88:
        return "similar"
    if sort >= 75:
        return "somewhat_similar"
    return "different"


def common_name_note(a: Features, b: Features) -> str:
    """Why a shared or contained name weighs little, in words: how many records of one
    system begin with it, where ("" when the name is not counted as common)."""
    records = _short_name_records(a, b)
    if records is None or records < COMMON_RECORDS:
        return ""
    short = min(a.name_words, b.name_words, key=len)
    place = shared_place(a, b)
    where = {CITY: f" in {a.city}", COUNTRY: f" in {a.country or b.country}"}.get(place, "")
    return f'{records} records of one system{where} have names beginning "{" ".join(short)}"'


def _short_name_records(a: Features, b: Features) -> int | None:
    """How many records of one system there have names beginning with the shorter name,
    if it begins the longer; None if it does not (a word taken from inside a name)."""
    short, long = sorted((a.name_words, b.name_words), key=len)
    if not short or long[: len(short)] != short:
        return None
    return prefix_records(a, b, len(short))


def _by_commonness(level: str, records: int | None) -> str:
    """``level`` when no other firm's name there begins alike; ``level_few`` when one
    other does (a choice between two firms); ``level_common`` when more do, or when the
    name is not the beginning of the other (``records`` None)."""
    if records is None or records > COMMON_RECORDS:
        return f"{level}_common"
    return f"{level}_few" if records == COMMON_RECORDS else level


# Shorter run-together names than this say too little to be told apart from a typo.
TYPO_PREFIX_MIN_LENGTH = 5


def _typo_prefix_words(words_a: tuple[str, ...], words_b: tuple[str, ...]) -> int:
    """How many words of the longer name the shorter one spells, run together, within
    one edit (two from 11 letters on; a swap of neighbours is one), with the first three
    letters right; 0 if it spells none."""
    run_a, run_b = "".join(words_a), "".join(words_b)
    spelt, long = (run_a, words_b) if len(run_a) <= len(run_b) else (run_b, words_a)
    if len(spelt) < TYPO_PREFIX_MIN_LENGTH or not long or long[0][:3] != spelt[:3]:
        return 0
    edits = 1 if len(spelt) <= 10 else 2
    prefix = ""
    for count, word in enumerate(long, 1):
        prefix += word
        if len(prefix) > len(spelt) + edits:
            return 0
        if (
            len(prefix) >= len(spelt) - edits
            and OSA.distance(prefix, spelt, score_cutoff=edits) <= edits
        ):
            return count
    return 0


def _cut_short(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    """Each word of ``short`` begins the word of ``long`` in its place, one at least cut
    short, the first of three letters or more (so the first three letters agree)."""
    return (
        len(short) == len(long) > 0
        and len(short[0]) >= 3
        and short != long
        and all(word.startswith(cut) for cut, word in zip(short, long, strict=True))
    )


def compare_legal_form(a: Features, b: Features) -> str:
    if not a.legal_form or not b.legal_form:
        return MISSING
    return "same" if a.legal_form == b.legal_form else "different"


def _exact(field: str) -> Comparator:
    def compare(a: Features, b: Features) -> str:
        left, right = getattr(a, field), getattr(b, field)
        if not left or not right:
            return MISSING
        return "same" if left == right else "different"

    compare.__name__ = f"compare_{field}"
    return compare


compare_tax_id = _exact("tax_id")
compare_domain = _exact("domain")
compare_phone = _exact("phone")
compare_country = _exact("country")
compare_registration = _exact("registration")
compare_reference = _exact("reference")
compare_parent = _exact("parent")


def _numbering_scheme(code: str) -> str:
    """What a code looks like apart from its serial number: "PRJ-2024-017" → "PRJ-#-#",
    "ITEM-0042" → "ITEM-#"; mnemonic codes ("SR-CONS") all share one scheme."""
    return re.sub(r"\d+", "#", code) if any(ch.isdigit() for ch in code) else "mnemonic"


def compare_code(a: Features, b: Features) -> str:
    """Projects and service codes. Each system numbers its records its own way, so two
    codes of different schemes ("OPP-001234" vs "PRJ-2024-017") say little, while two
    different codes of one scheme are, as a rule, two different records of one system."""
    if not a.code or not b.code:
        return MISSING
    if a.code == b.code:
        return "same"
    if _numbering_scheme(a.code) == _numbering_scheme(b.code):
        return "different"
    return "other_scheme"


def compare_address(a: Features, b: Features) -> str:
    if not (a.postal_code or a.street) or not (b.postal_code or b.street):
        return MISSING
    same_postal = bool(a.postal_code) and a.postal_code == b.postal_code
    if a.street and b.street:
        street_score = fuzz.token_sort_ratio(a.street, b.street)
        same_number = a.house_number == b.house_number
        if same_postal and street_score >= 95 and same_number:
            return "exact"
        if same_postal and street_score >= 80 and same_number:
            return "similar"
        if not a.postal_code or not b.postal_code:
            return "similar" if street_score >= 90 and same_number else "different"
    return "same_postal_code" if same_postal else "different"


def compare_city(a: Features, b: Features) -> str:
    if not a.city or not b.city:
        return MISSING
    if a.city == b.city:
        return "same"
    return "similar" if JaroWinkler.similarity(a.city, b.city) >= 0.9 else "different"


def compare_person(a: Features, b: Features) -> str:
    """Project managers: the same person, or the same surname with an initial missing."""
    if not a.manager or not b.manager:
        return MISSING
    if a.manager == b.manager:
        return "same"
    (surname_a, _, initial_a), (surname_b, _, initial_b) = (
        a.manager.partition("|"),
        b.manager.partition("|"),
    )
    if surname_a == surname_b and not (initial_a and initial_b):
        return "same"
    return "different"


def compare_dates(a: Features, b: Features) -> str:
    """Projects: do the date ranges overlap?"""
    if not a.start_date or not b.start_date:
        return MISSING
    if a.start_date == b.start_date:
        return "same_start"
    a_end, b_end = a.end_date or "9999-12-31", b.end_date or "9999-12-31"
    if not (a.start_date <= b_end and b.start_date <= a_end):
        return "disjoint"
    # A CRM opportunity carries the expected start, which is often off by a few weeks.
    gap = abs(date.fromisoformat(a.start_date) - date.fromisoformat(b.start_date))
    return "close_start" if gap <= CLOSE_START else "overlap"


CLOSE_START = timedelta(days=31)


def _abbreviates(short: str, word: str) -> bool:
    """ "impl" → "implementation", "mgd" → "managed", "sr" → "senior": the same first
    letter, then the short word's letters in order."""
    if len(short) < 2 or len(short) >= len(word) or short[0] != word[0] or not short.isalpha():
        return False
    letters = iter(word)
    return all(letter in letters for letter in short)


def _expanded(name: str, other: str) -> str:
    """``name`` with each word that abbreviates a word of ``other``, or misspells it by
    one edit ("cosnultant", five letters or more), written as there."""
    others = other.split()
    return " ".join(
        word
        if word in others
        else next(
            (full for full in others if _abbreviates(word, full) or _misspells(word, full)), word
        )
        for word in name.split()
    )


def _misspells(word: str, other: str) -> bool:
    return min(len(word), len(other)) >= 5 and OSA.distance(word, other, score_cutoff=1) <= 1


def compare_text_name(a: Features, b: Features) -> str:
    """Project and service names: word order varies ("Cloud Migration - Acme" vs
    "Acme - Cloud Migration") and PSA users abbreviate ("Acme Cloud Mig 2025",
    "Sr. Consultant"). A name whose words are all in the other ("Consultant" vs
    "Senior Consultant") is its own, weaker level: often another service or phase. An
    identical name that several records of one system bear ("Senior Consultant" on each
    practice's rate card) is weaker than a distinctive one (only services are counted)."""
    if not a.name or not b.name:
        return MISSING
    if a.name == b.name:
        common = prefix_records(a, b, len(a.name_words)) >= COMMON_RECORDS
        return "exact_common" if common else "exact"
    left = _expanded(a.name, b.name)
    right = _expanded(b.name, left)  # a word a misspelt is now b's own
    if fuzz.token_sort_ratio(left, right) >= 95:
        return "very_similar"
    score = fuzz.token_set_ratio(left, right)
    if score == 100:
        return "contained"
    if score >= 85:
        return "similar"
    return "different"


COMPARATORS: dict[str, dict[str, Comparator]] = {
    EntityType.CUSTOMER: {
        "name": compare_name,
        "legal_form": compare_legal_form,
        "tax_id": compare_tax_id,
        "domain": compare_domain,
        "phone": compare_phone,
        "address": compare_address,
        "city": compare_city,
        "country": compare_country,
    },
    EntityType.LEGAL_ENTITY: {
        "name": compare_name,
        "legal_form": compare_legal_form,
        "tax_id": compare_tax_id,
        "registration": compare_registration,
        "address": compare_address,
        "country": compare_country,
    },
    EntityType.PROJECT: {
        "name": compare_text_name,
        "code": compare_code,
        "reference": compare_reference,
        "customer": compare_parent,
        "dates": compare_dates,
        "manager": compare_person,
    },
    EntityType.SERVICE_CODE: {
        "name": compare_text_name,
        "code": compare_code,
        "category": compare_parent,
    },
}


def compare(entity_type: str, a: Features, b: Features) -> dict[str, str]:
    """The level of every field for one pair."""
    return {field: comparator(a, b) for field, comparator in COMPARATORS[entity_type].items()}
