"""Fellegi–Sunter scoring: comparison levels → log-likelihood weights → a probability,
with per-field evidence a steward can read, and hard rules on top.

A level's weight is log2(m/u): m is how often true matches show that level, u how
often non-matches do. The shipped defaults suit company data; ``estimate_weights``
re-estimates them from the data (EM) and from steward decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from golden.entities import EntityType
from golden.matching.comparators import MISSING, common_name_note, compare
from golden.matching.features import Features

# (m, u) per field and level. A missing value weighs nothing.
DEFAULT_MU: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    EntityType.CUSTOMER: {
        "name": {
            # "exact" and "contained": no other firm's name there begins with this one
            # (golden.matching.frequency); "_common": several do.
            "exact": (0.45, 0.000006),
            # One other firm there begins alike: the name is one of two.
            "exact_few": (0.08, 0.0004),
            "exact_common": (0.04, 0.0005),
            "exact_generic": (0.04, 0.0016),
            "very_similar": (0.25, 0.0004),
            "very_similar_common": (0.05, 0.002),
            "contained": (0.10, 0.0000667),
            "contained_typo": (0.06, 0.0001),
            "contained_few": (0.03, 0.003),
            "contained_common": (0.03, 0.01125),
            "abbreviated": (0.08, 0.01),
            "similar": (0.08, 0.01),
            "somewhat_similar": (0.04, 0.05),
            "different": (0.03, 0.9309),
        },
        "legal_form": {"same": (0.90, 0.35), "different": (0.10, 0.65)},
        "tax_id": {"same": (0.98, 0.00005), "different": (0.02, 0.99995)},
        "domain": {"same": (0.90, 0.002), "different": (0.10, 0.998)},
        "phone": {"same": (0.70, 0.0005), "different": (0.30, 0.9995)},
        "address": {
            "exact": (0.55, 0.0005),
            "similar": (0.20, 0.001),
            "same_postal_code": (0.10, 0.01),
            "different": (0.15, 0.9885),
        },
        "city": {"same": (0.85, 0.05), "similar": (0.08, 0.005), "different": (0.07, 0.945)},
        "country": {"same": (0.97, 0.3), "different": (0.03, 0.7)},
    },
    EntityType.LEGAL_ENTITY: {
        # Candidates are mostly one group's entities, which share the brand (so the name)
        # and often an office: IDs, legal form and country tell them apart.
        "name": {
            # "exact": no other entity's name in that place begins alike, so not a sister
            # (golden.matching.frequency).
            "exact": (0.45, 0.00003),
            "exact_few": (0.2, 0.1),
            "exact_common": (0.2, 0.1),
            "exact_generic": (0.05, 0.02),
            "very_similar": (0.25, 0.02),
            "very_similar_common": (0.1, 0.02),
            # The group's only entity there whose name begins with the other: PSA
            # shortens "Voxangate Consulting B.V." to "Voxangate" (or "Voxangate NL").
            "contained": (0.4, 0.01),
            "contained_typo": (0.03, 0.02),
            "contained_few": (0.2, 0.05),
            "contained_common": (0.01, 0.05),
            # The brand cut short ("Zor" for "Zorislux") fits several groups: it takes
            # an address or an ID to go to review.
            "abbreviated": (0.3, 0.1),
            "similar": (0.03, 0.02),
            "somewhat_similar": (0.04, 0.05),
            "different": (0.2, 0.5),
        },
        "legal_form": {"same": (0.95, 0.4), "different": (0.05, 0.6)},
        "tax_id": {"same": (0.98, 0.0001), "different": (0.02, 0.9999)},
        "registration": {"same": (0.98, 0.0001), "different": (0.02, 0.9999)},
        "address": {
            "exact": (0.3, 0.01),
            "similar": (0.4, 0.015),
            # Offices cluster in business districts: a shared postal code says little.
            "same_postal_code": (0.25, 0.04),
            "different": (0.05, 0.955),
        },
        "country": {"same": (0.99, 0.2), "different": (0.01, 0.8)},
    },
    EntityType.PROJECT: {
        # One firm's projects for one customer are often the same kind of work, so even
        # an exact name is common between two projects.
        "name": {
            "exact": (0.1, 0.05),
            "very_similar": (0.25, 0.045),
            "contained": (0.1, 0.02),
            "similar": (0.35, 0.1),
            "different": (0.2, 0.785),
        },
        # Each system numbers projects its own way ("OPP-001234", "P-20417", "PRJ-2024-017"):
        # codes of two schemes say little; two codes of one scheme are two projects.
        "code": {
            "same": (0.2, 0.0005),
            "different": (0.02, 0.416),
            "other_scheme": (0.78, 0.5835),
        },
        "reference": {"same": (0.98, 0.0001), "different": (0.02, 0.9999)},
        "customer": {"same": (0.95, 0.01), "different": (0.05, 0.99)},
        "dates": {
            "same_start": (0.7, 0.003),
            "close_start": (0.15, 0.03),
            "overlap": (0.1, 0.33),
            "disjoint": (0.05, 0.637),
        },
        # A project's records name one manager (CRM "Anna Berg", PSA "A. Berg", ERP "Berg,
        # Anna"); a customer's other projects often have another, though not always.
        "manager": {"same": (0.9, 0.2), "different": (0.1, 0.8)},
    },
    EntityType.SERVICE_CODE: {
        # Within one firm's catalogue, a name two systems share is one service unless the
        # categories differ (a hard rule).
        "name": {
            # "exact": no other record of one system bears the name (golden.matching.
            # frequency); "Senior Consultant" on every practice's rate card is "_common".
            "exact": (0.5, 0.0001),
            "exact_common": (0.2, 0.002),
            # A typo, an abbreviation or another word order of one service's name: two
            # services of one catalogue are named apart by more than that.
            "very_similar": (0.35, 0.0001),
            "contained": (0.05, 0.05),
            "similar": (0.07, 0.07),
            "different": (0.03, 0.8775),
        },
        # ERP items ("ITEM-0042") and PSA codes ("SR-CONS") follow different schemes, so
        # such a difference says little; the same code, or two codes of one scheme, a lot.
        "code": {
            "same": (0.3, 0.0005),
            "different": (0.02, 0.5),
            "other_scheme": (0.68, 0.4995),
        },
        "category": {"same": (0.95, 0.45), "different": (0.05, 0.55)},
    },
}

# Prior odds that two blocked records match, as a log2 weight.
DEFAULT_PRIOR = {
    EntityType.CUSTOMER: math.log2(1 / 1000),
    EntityType.LEGAL_ENTITY: math.log2(1 / 50),
    EntityType.PROJECT: math.log2(1 / 200),
    EntityType.SERVICE_CODE: math.log2(1 / 50),
}

EXPLANATIONS = {
    ("name", "exact"): "names are identical once legal form, case and punctuation are set aside,"
    " and no other name there begins alike",
    ("name", "exact_generic"): "names are identical but made of common words only",
    ("name", "very_similar"): "names differ only by a typo or word order, and no other name"
    " there begins alike",
    ("name", "very_similar_common"): "names differ only by a typo or word order, but other"
    " names there begin alike",
    ("name", "exact_few"): "names are identical, but one other name there begins alike",
    ("name", "exact_common"): "names are identical, but other names there begin alike",
    ("name", "contained"): "one name begins the other, and no other name there does",
    ("name", "contained_typo"): "one name, but for a typo, begins the other, and no other name"
    " there begins alike",
    ("name", "contained_few"): "one name begins the other, as it begins one other name there",
    ("name", "contained_common"): "one name is contained in the other, as in other names there"
    " (often a sister company)",
    ("name", "abbreviated"): "one name is the other with words cut short",
    ("name", "similar"): "names are similar",
    ("name", "somewhat_similar"): "names share some words",
    ("name", "different"): "names are different",
    ("legal_form", "same"): "same legal form",
    ("legal_form", "different"): "different legal forms: usually two legal entities",
    ("tax_id", "same"): "same valid tax or registration ID",
    ("tax_id", "different"): "different valid tax or registration IDs",
    ("registration", "same"): "same company-register number",
    ("registration", "different"): "different company-register numbers",
    ("domain", "same"): "same web domain",
    ("domain", "different"): "different web domains",
    ("phone", "same"): "same phone number",
    ("phone", "different"): "different phone numbers",
    ("address", "exact"): "same street address and postal code",
    ("address", "similar"): "nearly the same street address",
    ("address", "same_postal_code"): "same postal code, different street",
    ("address", "different"): "different addresses",
    ("city", "same"): "same city",
    ("city", "similar"): "city spelled slightly differently",
    ("city", "different"): "different cities",
    ("country", "same"): "same country",
    ("country", "different"): "different countries",
    ("code", "same"): "same code",
    ("code", "different"): "different codes of one numbering scheme",
    ("code", "other_scheme"): "codes from different numbering schemes",
    ("reference", "same"): "same CRM opportunity",
    ("reference", "different"): "different CRM opportunities",
    ("customer", "same"): "same customer",
    ("customer", "different"): "different customers",
    ("dates", "same_start"): "same start date",
    ("dates", "close_start"): "start dates within a month of each other",
    ("dates", "overlap"): "overlapping dates",
    ("dates", "disjoint"): "dates do not overlap",
    ("manager", "same"): "same project manager",
    ("manager", "different"): "different project managers",
    ("category", "same"): "same category",
    ("category", "different"): "different categories",
}


@dataclass(frozen=True)
class Thresholds:
    """Match probabilities: at or above ``auto_link`` link on their own (unless a hard
    rule objects); at or above ``review`` go to a steward; below, a new golden record.

    ``sole_candidate``: a review-band pair also links on its own when each side is the
    other's only candidate, its probability reaches this, and a field beyond the name, the
    country and the legal form agrees (see ``links_as_sole_candidate``). Above 1, the rule is off."""

    auto_link: float = 0.995
    review: float = 0.5
    sole_candidate: float = 0.8


DEFAULT_THRESHOLDS = {
    # Common names weigh little (golden.matching.frequency), so the review band reaches
    # lower to keep a short PSA name among look-alikes in front of a steward.
    EntityType.CUSTOMER: Thresholds(0.995, 0.35),
    EntityType.LEGAL_ENTITY: Thresholds(0.999, 0.5),
    # A project's twin often has no date or opportunity to show (PSA, ERP): a sole
    # candidate must be likelier than elsewhere, as one customer's projects look alike.
    EntityType.PROJECT: Thresholds(0.99, 0.5, 0.95),
    EntityType.SERVICE_CODE: Thresholds(0.98, 0.5),
}


@dataclass(frozen=True)
class MatchModel:
    entity_type: str
    mu: dict[str, dict[str, tuple[float, float]]]
    prior: float
    thresholds: Thresholds

    def weight(self, field_name: str, level: str) -> float:
        if level == MISSING:
            return 0.0
        m, u = self.mu[field_name][level]
        return math.log2(m / u)


def default_model(entity_type: str) -> MatchModel:
    return MatchModel(
        entity_type,
        DEFAULT_MU[entity_type],
        DEFAULT_PRIOR[entity_type],
        DEFAULT_THRESHOLDS[entity_type],
    )


@dataclass
class PairScore:
    """A scored pair: total weight, probability, per-field evidence and hard-rule vetoes."""

    weight: float
    probability: float
    evidence: list[dict[str, Any]] = field(default_factory=list)
    vetoes: list[str] = field(default_factory=list)

    def decision(self, thresholds: Thresholds) -> str:
        return classify(self.probability, bool(self.vetoes), thresholds)


def classify(probability: float, vetoed: bool, thresholds: Thresholds) -> str:
    """link, review or new. A pair a hard rule objects to never links; it goes to review
    only when the rest of its evidence would have linked it, so sister companies and
    other legal forms of one brand do not flood the queue."""
    if probability >= thresholds.auto_link:
        return "review" if vetoed else "link"
    if probability >= thresholds.review and not vetoed:
        return "review"
    return "new"


# Evidence of at least this weight (2× likelier under a match) from a field other than
# these corroborates a look-alike name. Sister companies and namesakes share a country and
# often a legal form; what one company's records share is a city, domain, phone, address,
# ID, code or category.
CORROBORATING_WEIGHT = 1.0
NOT_CORROBORATING = frozenset({"name", "country", "legal_form"})


def corroborated(model: MatchModel, levels: dict[str, str]) -> bool:
    """Does a field beyond the name, the country and the legal form agree?"""
    return any(
        model.weight(name, level) >= CORROBORATING_WEIGHT
        for name, level in levels.items()
        if name not in NOT_CORROBORATING
    )


def links_as_sole_candidate(model: MatchModel, probability: float, levels: dict[str, str]) -> bool:
    """The relative rule: a pair in the review band that is each side's only candidate
    links without a steward when it is likely enough and corroborated: on generated data
    with hard negatives such pairs are nearly all true matches, while the review band as
    a whole is not (figures in docs/BENCHMARKS.md). A second candidate on either side,
    or any hard rule, keeps the pair in review."""
    return (
        model.thresholds.review <= probability < model.thresholds.auto_link
        and probability >= model.thresholds.sole_candidate
        and not hard_rule_vetoes(levels)
        and corroborated(model, levels)
    )


def weight_for(probability: float) -> float:
    """The log2-odds weight at which ``probability_of`` reaches ``probability``: thresholds
    are compared as weights."""
    probability = min(max(probability, 1e-12), 1 - 1e-12)
    return math.log2(probability / (1 - probability))


def probability_of(weight: float) -> float:
    if weight > 60:
        return 1.0
    odds = 2.0**weight
    return odds / (1.0 + odds)


def hard_rule_vetoes(levels: dict[str, str]) -> list[str]:
    """Reasons a pair may never link on its own, whatever its score."""
    vetoes = []
    if levels.get("tax_id") == "different":
        vetoes.append("two different valid tax or registration IDs")
    if levels.get("legal_form") == "different":
        vetoes.append("different legal forms")
    if levels.get("country") == "different" and levels.get("tax_id") != "same":
        vetoes.append("different countries without a shared tax ID")
    if levels.get("reference") == "different":
        vetoes.append("different CRM opportunities")
    if levels.get("registration") == "different":
        vetoes.append("two different company-register numbers")
    if levels.get("customer") == "different":
        vetoes.append("projects of different customers")
    if levels.get("category") == "different":
        vetoes.append("services of different categories")
    return vetoes


def score_pair(model: MatchModel, a: Features, b: Features) -> PairScore:
    levels = compare(model.entity_type, a, b)
    return _scored(model, a, b, levels, _total(model, levels))


def score_reaching(
    model: MatchModel, a: Features, b: Features, min_weight: float
) -> PairScore | None:
    """``score_pair`` for a pair whose weight reaches ``min_weight``, else None: most
    candidates fall short, and their evidence would only be thrown away."""
    levels = compare(model.entity_type, a, b)
    total = _total(model, levels)
    return _scored(model, a, b, levels, total) if total >= min_weight else None


def _total(model: MatchModel, levels: dict[str, str]) -> float:
    return model.prior + sum(model.weight(name, level) for name, level in levels.items())


# Name levels whose evidence says how many names there begin alike.
COMMON_NAME_LEVELS = frozenset({"exact_few", "exact_common", "contained_few", "contained_common"})


def _scored(
    model: MatchModel, a: Features, b: Features, levels: dict[str, str], total: float
) -> PairScore:
    evidence = []
    for field_name, level in levels.items():
        if level == MISSING:
            continue
        detail = EXPLANATIONS.get((field_name, level), level.replace("_", " "))
        if level in COMMON_NAME_LEVELS and (note := common_name_note(a, b)):
            detail = f"{detail}: {note}"
        evidence.append(
            {
                "field": field_name,
                "level": level,
                "weight": round(model.weight(field_name, level), 2),
                "detail": detail,
            }
        )
    return PairScore(total, probability_of(total), evidence, hard_rule_vetoes(levels))
