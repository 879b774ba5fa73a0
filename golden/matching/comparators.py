"""Per-field comparators: two records' features → a comparison level.

A level is a word a steward can read ("exact", "similar", "different", …). Levels carry
no weight themselves; ``golden.matching.scoring`` turns them into Fellegi–Sunter weights.
``missing`` means one side has no value and contributes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from golden.entities import EntityType
from golden.matching.blocking import GENERIC_TOKENS
from golden.matching.features import Features

MISSING = "missing"
Comparator = Callable[[Features, Features], str]


def compare_name(a: Features, b: Features) -> str:
    if not a.name or not b.name:
        return MISSING
    if a.name == b.name:
        # "Global Solutions" is shared by unrelated firms: weaker than a distinctive name.
        return "exact_generic" if all(t in GENERIC_TOKENS for t in a.name_tokens) else "exact"
    jw = JaroWinkler.similarity(a.name, b.name)
    sort = fuzz.token_sort_ratio(a.name, b.name)
    if jw >= 0.96 or sort >= 95:
        return "very_similar"
    if fuzz.token_set_ratio(a.name, b.name) == 100:
        # One name's tokens contain the other's: "Siemens" vs "Siemens Energy" — often a
        # sister company, so it is its own, weaker level.
        return "contained"
    if jw >= 0.92 or sort >= 88:
        return "similar"
    if sort >= 75:
        return "somewhat_similar"
    return "different"


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
compare_code = _exact("code")
compare_reference = _exact("reference")
compare_parent = _exact("parent")


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


def compare_dates(a: Features, b: Features) -> str:
    """Projects: do the date ranges overlap?"""
    if not a.start_date or not b.start_date:
        return MISSING
    if a.start_date == b.start_date:
        return "same_start"
    a_end, b_end = a.end_date or "9999-12-31", b.end_date or "9999-12-31"
    return "overlap" if a.start_date <= b_end and b.start_date <= a_end else "disjoint"


def compare_text_name(a: Features, b: Features) -> str:
    """Project and service names: word order varies ("Cloud Migration - Acme" vs
    "Acme - Cloud Migration"), so the token-set score leads."""
    if not a.name or not b.name:
        return MISSING
    if a.name == b.name:
        return "exact"
    score = fuzz.token_set_ratio(a.name, b.name)
    if score >= 95:
        return "very_similar"
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
        "address": compare_address,
        "country": compare_country,
    },
    EntityType.PROJECT: {
        "name": compare_text_name,
        "code": compare_code,
        "reference": compare_reference,
        "customer": compare_parent,
        "dates": compare_dates,
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
