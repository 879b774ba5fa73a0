"""Where a new source record belongs: an existing golden record, a new one, or review.

Deterministic rules: a valid tax/registration ID, a project or service code, or the exact
normalised identity (name, legal form, country) shared with exactly one golden record
links to it. Anything ambiguous or contradictory opens review candidates instead of
chaining records silently. The fuzzy matcher plugs in here with the same decision type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from golden.models import GoldenRecord
from golden.validation import CleanRecord


@dataclass
class LinkDecision:
    """``golden`` is the record to link to, or None for a new golden record; ``review``
    lists golden records the new one must be reviewed against, with the reason."""

    golden: GoldenRecord | None
    reason: str = ""
    review: list[tuple[GoldenRecord, list[dict[str, Any]]]] = field(default_factory=list)


# Identifiers that name one legal entity: two different valid ones mean two entities.
LEGAL_IDENTIFIERS = {"tax", "reg"}
IDENTITY_EVIDENCE = {
    "name": ("name", "exact", "same normalised name, legal form and country"),
    "code": ("code", "exact", "same project code"),
}


def _goldens_with_key(entity_type: str, column: str, key: str) -> list[GoldenRecord]:
    if not key:
        return []
    return list(
        GoldenRecord.objects.filter(
            entity_type=entity_type,
            status=GoldenRecord.Status.ACTIVE,
            **{f"source_records__{column}": key},
        )
        .distinct()
        .order_by("id")
    )


def _strong_keys(golden: GoldenRecord) -> set[str]:
    return set(golden.source_records.exclude(strong_key="").values_list("strong_key", flat=True))


def _evidence(field_name: str, level: str, detail: str) -> dict[str, Any]:
    return {"field": field_name, "level": level, "detail": detail}


def decide_link(entity_type: str, record: CleanRecord) -> LinkDecision:
    strong = _goldens_with_key(entity_type, "strong_key", record.strong_key)
    if len(strong) == 1:
        return LinkDecision(strong[0], reason=f"same identifier ({record.strong_key})")
    if len(strong) > 1:
        evidence = [
            _evidence("identifier", "exact", f"{record.strong_key} is held by several records")
        ]
        return LinkDecision(None, review=[(g, evidence) for g in strong])

    if not record.identity_key:
        return LinkDecision(None)
    agreeing: list[GoldenRecord] = []
    review: list[tuple[GoldenRecord, list[dict[str, Any]]]] = []
    identity_evidence = _evidence(*IDENTITY_EVIDENCE[record.identity_key.split(":")[0]])
    kind = record.strong_key.split(":")[0]
    for golden in _goldens_with_key(entity_type, "identity_key", record.identity_key):
        keys = {k for k in _strong_keys(golden) if k.split(":")[0] == kind}
        if kind in LEGAL_IDENTIFIERS and keys and record.strong_key not in keys:
            # Same name but a different valid identifier: two legal entities until a
            # steward says otherwise.
            conflict = _evidence(
                "identifier", "conflict", f"{record.strong_key} vs {', '.join(sorted(keys))}"
            )
            review.append((golden, [identity_evidence, conflict]))
        else:
            agreeing.append(golden)
    if len(agreeing) == 1 and not review:
        return LinkDecision(agreeing[0], reason=identity_evidence["detail"])
    review.extend((g, [identity_evidence]) for g in agreeing)
    return LinkDecision(None, review=review)
