"""Golden records: canonical IDs, survivorship recompute, the change feed, candidates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from golden import config_cache, survivorship
from golden.entities import EntitySpec, entity_spec
from golden.exceptions import MdmError
from golden.matching.scoring import PairScore
from golden.models import (
    CanonicalIdCounter,
    GoldenChange,
    GoldenRecord,
    MatchCandidate,
    SourceRecord,
    SourceReference,
    SurvivorshipRule,
)
from golden.services.common import Actor, actor_label, save_with_history
from mdm.context import current_correlation_id


def recompute_referrers(
    system_id: int, entity_type: str, source_ids: Sequence[str], *, actor: Actor, reason: str
) -> None:
    """Recompute golden records whose references point at these source records (a parent
    account or a project's customer that arrived after its referrer, or was merged)."""
    if not source_ids:
        return
    referrers = SourceReference.objects.filter(
        system_id=system_id, target_entity_type=entity_type, target_source_id__in=source_ids
    ).values("source_record__golden_id")
    # Locked, so a concurrent recompute of one of them waits for this one's result.
    for golden in GoldenRecord.objects.select_for_update().filter(pk__in=referrers).order_by("pk"):
        recompute_golden_record(golden, actor=actor, reason=reason)


def _next_number(prefix: str) -> int:
    """Canonical-ID numbers are never reused. PostgreSQL hands them out from a sequence
    (no lock held for the transaction); SQLite, a single writer, from a counter row."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [f"golden_canonical_{prefix.lower()}_seq"])
            return int(cursor.fetchone()[0])
    counter, _ = CanonicalIdCounter.objects.select_for_update().get_or_create(prefix=prefix)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def format_canonical_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number:0{settings.MDM_CANONICAL_ID_DIGITS}d}"


def reserve_canonical_ids(spec: EntitySpec, count: int) -> list[str]:
    """``count`` new canonical IDs in one round trip, in increasing order."""
    if count == 0:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s)",
                [f"golden_canonical_{spec.prefix.lower()}_seq", count],
            )
            numbers = sorted(int(row[0]) for row in cursor.fetchall())
    else:
        counter, _ = CanonicalIdCounter.objects.select_for_update().get_or_create(
            prefix=spec.prefix
        )
        numbers = list(range(counter.last_number + 1, counter.last_number + count + 1))
        counter.last_number += count
        counter.save(update_fields=["last_number"])
    return [format_canonical_id(spec.prefix, number) for number in numbers]


def new_golden_record(spec: EntitySpec) -> GoldenRecord:
    golden = GoldenRecord(
        entity_type=spec.entity_type,
        canonical_id=format_canonical_id(spec.prefix, _next_number(spec.prefix)),
    )
    # Its first history row is written by recompute_golden_record, with attributes.
    golden.skip_history_when_saving = True  # type: ignore[attr-defined]
    golden.save()
    del golden.skip_history_when_saving
    return golden


def record_golden_change(golden: GoldenRecord, kind: str, *, actor: Actor) -> GoldenChange:
    """Append to golden's change feed; call inside the transaction that made the change."""
    change = golden_change(golden, kind, actor=actor)
    change.save()
    return change


def golden_change(golden: GoldenRecord, kind: str, *, actor: Actor) -> GoldenChange:
    """The change-feed row for the golden record's current state, not yet saved."""
    return GoldenChange(
        golden=golden,
        canonical_id=golden.canonical_id,
        entity_type=golden.entity_type,
        version=golden.version,
        kind=kind,
        actor=actor_label(actor),
        correlation_id=current_correlation_id(),
        snapshot={
            "status": golden.status,
            "merged_into": golden.merged_into.canonical_id if golden.merged_into_id else None,
            "attributes": golden.attributes,
        },
    )


def resolve_reference(system_id: int, entity_type: str, source_id: str) -> str | None:
    target = (
        SourceRecord.objects.filter(
            system_id=system_id, entity_type=entity_type, source_id=source_id
        )
        .select_related("golden")
        .first()
    )
    return target.golden.canonical_id if target else None


def survivorship_rules(entity_type: str) -> survivorship.RuleSet:
    """Settings, overridden by active rules edited in the admin (cached briefly)."""

    def load() -> survivorship.RuleSet:
        raw = dict(settings.MDM_SURVIVORSHIP.get(entity_type, {}))
        for rule in SurvivorshipRule.objects.filter(entity_type=entity_type, is_active=True):
            raw[rule.attribute] = rule.strategies
        return survivorship.rules_from_settings(raw, entity_spec(entity_type))

    return config_cache.cached(f"survivorship:{entity_type}", load)


ReferenceResolver = Callable[[int, str, str], Any]


def compute_attributes(
    golden: GoldenRecord,
    rules: survivorship.RuleSet | None = None,
    records: Sequence[SourceRecord] | None = None,
    resolve: ReferenceResolver = resolve_reference,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Survived attributes and lineage from the golden record's linked source records
    (``records`` when the caller already holds all of them, as for a new golden record;
    ``resolve`` maps a reference to a canonical ID when the caller has them at hand)."""
    spec = entity_spec(golden.entity_type)
    if records is None:
        records = list(golden.source_records.select_related("system")) if golden.pk else []
    contributions = [
        survivorship.Contribution(
            record_id=r.pk,
            system=r.system.code,
            source_id=r.source_id,
            values=r.cleaned,
            source_updated_at=r.source_updated_at,
            loaded_at=r.updated_at,
        )
        for r in records
    ]
    rules = rules or survivorship_rules(golden.entity_type)
    attributes, lineage = survivorship.resolve(spec, contributions, rules, golden.pins)
    systems = {r.system.code: r.system_id for r in records}
    for spec_field in spec.fields:
        if spec_field.kind != "reference" or spec_field.name not in attributes:
            continue
        ref_source_id = attributes.pop(spec_field.name)
        ref_lineage = lineage.pop(spec_field.name)
        canonical = resolve(systems[ref_lineage["system"]], spec_field.target, ref_source_id)
        ref_lineage["reference"] = ref_source_id
        if canonical is None:
            ref_lineage["unresolved"] = True
        attributes[spec_field.attribute] = canonical
        lineage[spec_field.attribute] = ref_lineage
    return attributes, lineage


def recompute_golden_record(
    golden: GoldenRecord,
    *,
    actor: Actor,
    reason: str,
    created: bool = False,
    force_save: bool = False,
    records: Sequence[SourceRecord] | None = None,
) -> bool:
    """Re-run survivorship; save, version and feed the change if attributes moved.
    ``force_save`` saves other edits of the caller (pins) even if no value moved."""
    attributes, lineage = compute_attributes(golden, records=records)
    outcome = apply_attributes(golden, attributes, lineage, created=created, force_save=force_save)
    if outcome is None:
        return False
    save_with_history(golden, actor, reason)
    if outcome:
        record_golden_change(golden, outcome, actor=actor)
    return bool(outcome)


def apply_attributes(
    golden: GoldenRecord,
    attributes: dict[str, Any],
    lineage: dict[str, Any],
    *,
    created: bool = False,
    force_save: bool = False,
) -> str | None:
    """Put recomputed values on the golden record in memory. Returns None when there is
    nothing to save, "" for a save without a change to feed (lineage only, pins), else the
    change-feed kind; a value that moved bumps the version."""
    changed = attributes != golden.attributes
    if not (created or changed or force_save or lineage != golden.lineage):
        return None
    if changed and not created:
        golden.version += 1
    golden.attributes = attributes
    golden.lineage = lineage
    golden.name = str(attributes.get("name", ""))[:255]
    golden.country = attributes.get("country", "") or ""
    golden.tax_id = attributes.get("tax_id", "") or ""
    if created:
        return GoldenChange.Kind.CREATED
    return GoldenChange.Kind.UPDATED if changed else ""


def open_candidate(
    golden: GoldenRecord, other: GoldenRecord, score: PairScore, actor: Actor
) -> bool:
    """Open a review candidate for the pair unless one exists (a steward's not-a-match
    stays decided)."""
    low, high = sorted([golden, other], key=lambda g: g.pk)
    existing = MatchCandidate.objects.filter(golden_a=low, golden_b=high).first()
    if existing is not None:
        return existing.status == MatchCandidate.Status.OPEN
    candidate = MatchCandidate(
        entity_type=golden.entity_type,
        golden_a=low,
        golden_b=high,
        score=score.probability,
        evidence=score.evidence,
        reason="; ".join(score.vetoes),
    )
    save_with_history(candidate, actor, "proposed by the matcher")
    return True


@transaction.atomic
def pin_attribute(golden: GoldenRecord, attribute: str, value: Any, *, actor: Actor) -> None:
    """A steward fixes a golden value; the pin survives recomputation until unpinned."""
    spec = entity_spec(golden.entity_type)
    pinnable = {f.name for f in spec.fields if f.kind != "reference"}
    if attribute not in pinnable:
        raise MdmError(
            f"{spec.label} has no attribute {attribute!r} that can be pinned.",
            fields={attribute: ["Unknown attribute."]},
        )
    golden = GoldenRecord.objects.select_for_update().get(pk=golden.pk)
    pin = {"value": value, "by": actor_label(actor), "at": timezone.now().isoformat()}
    golden.pins = {**golden.pins, attribute: pin}
    recompute_golden_record(golden, actor=actor, reason=f"pinned {attribute}", force_save=True)


@transaction.atomic
def unpin_attribute(golden: GoldenRecord, attribute: str, *, actor: Actor) -> None:
    golden = GoldenRecord.objects.select_for_update().get(pk=golden.pk)
    golden.pins = {k: v for k, v in golden.pins.items() if k != attribute}
    recompute_golden_record(golden, actor=actor, reason=f"unpinned {attribute}", force_save=True)
