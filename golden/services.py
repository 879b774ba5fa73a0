"""The operations everyone calls: ingest, link, recompute, merge.

Views, the API, management commands and tasks differ only in how they parse input and
report results. Every write records who did it (``actor``), the correlation ID and, for
golden records, a row of golden's change feed in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from golden import survivorship
from golden.entities import EntitySpec, EntityType, entity_spec
from golden.exceptions import MergeConflict
from golden.linking import LinkDecision, decide_link
from golden.matching import Features, GoldenMatch, features_of, find_matches, store_blocking_keys
from golden.matching.scoring import PairScore
from golden.models import (
    CanonicalIdCounter,
    GoldenChange,
    GoldenRecord,
    MatchCandidate,
    MergeEvent,
    RejectedRecord,
    SourceRecord,
    SourceReference,
    SourceSystem,
)
from golden.validation import CleanRecord, RecordInvalid, clean_record, content_hash
from mdm.context import current_correlation_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Actor = AbstractBaseUser | None


class Action:
    CREATED = "created"
    LINKED = "linked"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    QUEUED_FOR_REVIEW = "queued_for_review"
    REJECTED = "rejected"
    ALL = (CREATED, LINKED, UPDATED, UNCHANGED, QUEUED_FOR_REVIEW, REJECTED)


NEW_RECORD_ACTIONS = (Action.CREATED, Action.LINKED, Action.QUEUED_FOR_REVIEW)


@dataclass
class IngestResult:
    source_id: str
    action: str
    canonical_id: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    review_with: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source_id": self.source_id,
            "action": self.action,
            "canonical_id": self.canonical_id,
        }
        if self.errors:
            data["errors"] = self.errors
        if self.warnings:
            data["warnings"] = self.warnings
        if self.review_with:
            data["review_with"] = self.review_with
        return data


def _save(instance: Model, actor: Actor, reason: str) -> None:
    """Save a history-tracked row with who and why (simple-history reads these)."""
    instance._history_user = actor  # type: ignore[attr-defined]
    instance._change_reason = reason  # type: ignore[attr-defined]
    instance.save()


def _actor_label(actor: Actor) -> str:
    return actor.get_username() if actor is not None else "system"


# --- Ingestion ---------------------------------------------------------------------------


def ingest_records(
    *,
    entity_type: str,
    system: SourceSystem,
    records: Iterable[Any],
    actor: Actor,
    reason: str = "ingest",
) -> list[IngestResult]:
    """Ingest a batch in one transaction, one savepoint per record: good records are
    stored, bad ones reported with field errors, none half-written."""
    spec = entity_spec(entity_type)
    with transaction.atomic():
        results = [_ingest_one(spec, system, payload, actor, reason) for payload in records]
        _resolve_rejections(
            spec, system, [r.source_id for r in results if r.action != Action.REJECTED]
        )
        # Records that arrived may be the parent or customer others already point at.
        new_ids = [r.source_id for r in results if r.action in NEW_RECORD_ACTIONS]
        _recompute_referrers(system.pk, spec.entity_type, new_ids, actor=actor, reason=reason)
    return results


def _resolve_rejections(spec: EntitySpec, system: SourceSystem, source_ids: list[str]) -> None:
    """Close exception-queue items of records that have now been ingested successfully."""
    if source_ids:
        RejectedRecord.objects.filter(
            system=system, entity_type=spec.entity_type, source_id__in=source_ids, resolved_at=None
        ).update(resolved_at=timezone.now())


def _ingest_one(
    spec: EntitySpec, system: SourceSystem, payload: Any, actor: Actor, reason: str
) -> IngestResult:
    try:
        clean = clean_record(spec, payload)
    except RecordInvalid as exc:
        RejectedRecord.objects.create(
            system=system,
            entity_type=spec.entity_type,
            source_id=exc.source_id,
            payload=payload if isinstance(payload, dict) else {"value": payload},
            errors=exc.errors,
            correlation_id=current_correlation_id(),
        )
        return IngestResult(exc.source_id, Action.REJECTED, errors=exc.errors)
    digest = content_hash(payload)
    for attempt in range(2):
        try:
            with transaction.atomic():
                existing = (
                    SourceRecord.objects.select_for_update()
                    .select_related("golden")
                    .filter(system=system, entity_type=spec.entity_type, source_id=clean.source_id)
                    .first()
                )
                if existing is not None:
                    result = _update_source_record(
                        spec, existing, clean, payload, digest, actor, reason
                    )
                else:
                    result = _create_source_record(
                        spec, system, clean, payload, digest, actor, reason
                    )
        except IntegrityError:
            # Another request created the same source record concurrently: take it as
            # an update on the second pass.
            if attempt == 1:
                raise
            continue
        break
    result.warnings = clean.warnings
    return result


def _update_source_record(
    spec: EntitySpec,
    record: SourceRecord,
    clean: CleanRecord,
    payload: dict[str, Any],
    digest: str,
    actor: Actor,
    reason: str,
) -> IngestResult:
    canonical_id = record.golden.canonical_id
    if record.content_hash == digest:
        return IngestResult(clean.source_id, Action.UNCHANGED, canonical_id)
    if (
        clean.source_updated_at
        and record.source_updated_at
        and clean.source_updated_at < record.source_updated_at
    ):
        clean.warnings.setdefault("updated_at", []).append(
            "Older than the stored version of this record: ignored."
        )
        return IngestResult(clean.source_id, Action.UNCHANGED, canonical_id)
    _fill_source_record(record, clean, payload, digest)
    _save(record, actor, reason)
    store_blocking_keys(record, _features(spec, record.system, clean.cleaned))
    _store_references(spec, record, clean)
    recompute_golden_record(record.golden, actor=actor, reason=reason)
    return IngestResult(clean.source_id, Action.UPDATED, canonical_id)


def _create_source_record(
    spec: EntitySpec,
    system: SourceSystem,
    clean: CleanRecord,
    payload: dict[str, Any],
    digest: str,
    actor: Actor,
    reason: str,
) -> IngestResult:
    features = _features(spec, system, clean.cleaned)
    decision = decide_link(spec.entity_type, features)
    golden = decision.golden or _new_golden_record(spec)
    record = SourceRecord(
        system=system, entity_type=spec.entity_type, source_id=clean.source_id, golden=golden
    )
    _fill_source_record(record, clean, payload, digest)
    record.link_evidence = _link_evidence(decision, golden)
    _save(record, actor, reason)
    store_blocking_keys(record, features)
    _store_references(spec, record, clean, new=True)
    recompute_golden_record(golden, actor=actor, reason=reason, created=decision.golden is None)
    review_with = [
        match.golden.canonical_id
        for match in decision.review
        if _open_candidate(golden, match.golden, match.score, actor)
    ]
    if decision.golden is not None:
        action = Action.LINKED
    else:
        action = Action.QUEUED_FOR_REVIEW if review_with else Action.CREATED
    return IngestResult(clean.source_id, action, golden.canonical_id, review_with=review_with)


def match_record(
    spec: EntitySpec, clean: CleanRecord, *, system: SourceSystem | None = None
) -> list[GoldenMatch]:
    """The golden records a record may be, best first. Reads only."""
    return find_matches(spec.entity_type, _features(spec, system, clean.cleaned))


def _link_evidence(decision: LinkDecision, golden: GoldenRecord) -> dict[str, Any]:
    """What the matcher saw when it placed the record, for the API and stewards."""
    if decision.golden is None:
        return {
            "decision": "new_golden_record",
            "canonical_id": golden.canonical_id,
            "closest": [
                {
                    "canonical_id": m.golden.canonical_id,
                    "probability": round(m.score.probability, 4),
                }
                for m in decision.review[:5]
            ],
            "at": timezone.now().isoformat(),
        }
    return {
        "decision": "auto_link",
        "canonical_id": golden.canonical_id,
        "probability": round(decision.score, 6),
        "reason": decision.reason,
        "evidence": decision.evidence,
        "at": timezone.now().isoformat(),
    }


def _features(spec: EntitySpec, system: SourceSystem | None, cleaned: dict[str, Any]) -> Features:
    """Matching features; a project is compared with its customer's canonical ID."""
    parent = ""
    if system and spec.entity_type == EntityType.PROJECT and cleaned.get("customer_source_id"):
        parent = (
            _resolve_reference(system.pk, EntityType.CUSTOMER, cleaned["customer_source_id"]) or ""
        )
    return features_of(spec.entity_type, cleaned, parent=parent)


def _fill_source_record(
    record: SourceRecord, clean: CleanRecord, payload: dict[str, Any], digest: str
) -> None:
    record.payload = payload
    record.cleaned = clean.cleaned
    record.source_updated_at = clean.source_updated_at
    record.content_hash = digest
    record.correlation_id = current_correlation_id()


def _store_references(
    spec: EntitySpec, record: SourceRecord, clean: CleanRecord, *, new: bool = False
) -> None:
    for spec_field in spec.fields:
        if spec_field.kind != "reference":
            continue
        target = clean.cleaned.get(spec_field.name)
        if target and new:
            SourceReference.objects.create(
                source_record=record,
                field=spec_field.name,
                system_id=record.system_id,
                target_entity_type=spec_field.target,
                target_source_id=target,
            )
        elif target:
            SourceReference.objects.update_or_create(
                source_record=record,
                field=spec_field.name,
                defaults={
                    "system_id": record.system_id,
                    "target_entity_type": spec_field.target,
                    "target_source_id": target,
                },
            )
        elif not new:
            SourceReference.objects.filter(source_record=record, field=spec_field.name).delete()


def _recompute_referrers(
    system_id: int, entity_type: str, source_ids: Sequence[str], *, actor: Actor, reason: str
) -> None:
    """Recompute golden records whose references point at these source records (a parent
    account or a project's customer that arrived after its referrer, or was merged)."""
    if not source_ids:
        return
    refs = SourceReference.objects.filter(
        system_id=system_id, target_entity_type=entity_type, target_source_id__in=source_ids
    ).select_related("source_record__golden")
    goldens = {ref.source_record.golden_id: ref.source_record.golden for ref in refs}
    for golden in goldens.values():
        recompute_golden_record(golden, actor=actor, reason=reason)


# --- Golden records ----------------------------------------------------------------------


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


def _new_golden_record(spec: EntitySpec) -> GoldenRecord:
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
    return GoldenChange.objects.create(
        golden=golden,
        canonical_id=golden.canonical_id,
        entity_type=golden.entity_type,
        version=golden.version,
        kind=kind,
        actor=_actor_label(actor),
        correlation_id=current_correlation_id(),
        snapshot={
            "status": golden.status,
            "merged_into": golden.merged_into.canonical_id if golden.merged_into_id else None,
            "attributes": golden.attributes,
        },
    )


def _resolve_reference(system_id: int, entity_type: str, source_id: str) -> str | None:
    target = (
        SourceRecord.objects.filter(
            system_id=system_id, entity_type=entity_type, source_id=source_id
        )
        .select_related("golden")
        .first()
    )
    return target.golden.canonical_id if target else None


def compute_attributes(golden: GoldenRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """Survived attributes and lineage from the golden record's linked source records."""
    spec = entity_spec(golden.entity_type)
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
    rules = settings.MDM_SURVIVORSHIP.get(golden.entity_type, {})
    attributes, lineage = survivorship.resolve(spec, contributions, rules, golden.pins)
    systems = {r.system.code: r.system_id for r in records}
    for spec_field in spec.fields:
        if spec_field.kind != "reference" or spec_field.name not in attributes:
            continue
        ref_source_id = attributes.pop(spec_field.name)
        ref_lineage = lineage.pop(spec_field.name)
        canonical = _resolve_reference(
            systems[ref_lineage["system"]], spec_field.target, ref_source_id
        )
        ref_lineage["reference"] = ref_source_id
        if canonical is None:
            ref_lineage["unresolved"] = True
        attributes[spec_field.attribute] = canonical
        lineage[spec_field.attribute] = ref_lineage
    return attributes, lineage


def recompute_golden_record(
    golden: GoldenRecord, *, actor: Actor, reason: str, created: bool = False
) -> bool:
    """Re-run survivorship; save, version and feed the change if attributes moved."""
    attributes, lineage = compute_attributes(golden)
    changed = attributes != golden.attributes
    if not (created or changed or lineage != golden.lineage):
        return False
    if changed and not created:
        golden.version += 1
    golden.attributes = attributes
    golden.lineage = lineage
    golden.name = str(attributes.get("name", ""))[:255]
    golden.country = attributes.get("country", "") or ""
    golden.tax_id = attributes.get("tax_id", "") or ""
    _save(golden, actor, reason)
    if created:
        record_golden_change(golden, GoldenChange.Kind.CREATED, actor=actor)
    elif changed:
        record_golden_change(golden, GoldenChange.Kind.UPDATED, actor=actor)
    return changed or created


def _open_candidate(
    golden: GoldenRecord, other: GoldenRecord, score: PairScore, actor: Actor
) -> bool:
    """Open a review candidate for the pair unless one exists (a steward's not-a-match
    stays decided)."""
    low, high = sorted([golden, other], key=lambda g: g.pk)
    candidate, created = MatchCandidate.objects.get_or_create(
        golden_a=low,
        golden_b=high,
        defaults={
            "entity_type": golden.entity_type,
            "score": score.probability,
            "evidence": score.evidence,
            "reason": "; ".join(score.vetoes),
        },
    )
    if created:
        _save(candidate, actor, "proposed by the matcher")
    return created or candidate.status == MatchCandidate.Status.OPEN


# --- Merge -------------------------------------------------------------------------------


@transaction.atomic
def merge_golden_records(
    *, survivor: GoldenRecord, merged: Sequence[GoldenRecord], actor: Actor, reason: str = ""
) -> MergeEvent:
    """Merge ``merged`` into ``survivor``: their source records move to the survivor, they
    keep their IDs with status ``merged`` and resolve to the survivor."""
    ids = sorted({survivor.pk, *(g.pk for g in merged)})
    locked = {
        g.pk: g for g in GoldenRecord.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    survivor = locked[survivor.pk]
    others = [locked[g.pk] for g in merged if g.pk != survivor.pk]
    if not others:
        raise MergeConflict("Choose at least one golden record to merge into the survivor.")
    for golden in [survivor, *others]:
        if golden.status != GoldenRecord.Status.ACTIVE:
            raise MergeConflict(f"{golden.canonical_id} is {golden.status}, not active.")
        if golden.entity_type != survivor.entity_type:
            raise MergeConflict(f"{golden.canonical_id} is not a {survivor.entity_type}.")
    snapshot = {
        "survivor": _golden_snapshot(survivor),
        "merged": {g.canonical_id: _golden_snapshot(g) for g in others},
    }
    label = reason or f"merged into {survivor.canonical_id}"
    moved: list[SourceRecord] = []
    for other in others:
        for record in other.source_records.all():
            record.golden = survivor
            _save(record, actor, label)
            moved.append(record)
        other.status = GoldenRecord.Status.MERGED
        other.merged_into = survivor
        other.version += 1
        _save(other, actor, label)
        record_golden_change(other, GoldenChange.Kind.MERGED, actor=actor)
        # Keep resolution one hop: records merged into ``other`` earlier now point here.
        for earlier in GoldenRecord.objects.filter(merged_into=other):
            earlier.merged_into = survivor
            _save(earlier, actor, label)
    event = MergeEvent.objects.create(
        survivor=survivor,
        snapshot=snapshot,
        actor=actor,
        reason=reason,
        correlation_id=current_correlation_id(),
    )
    event.merged.set(others)
    for candidate in MatchCandidate.objects.filter(
        golden_a_id__in=ids, golden_b_id__in=ids, status=MatchCandidate.Status.OPEN
    ):
        candidate.status = MatchCandidate.Status.MERGED
        candidate.decided_by = actor
        candidate.decided_at = timezone.now()
        _save(candidate, actor, label)
    recompute_golden_record(survivor, actor=actor, reason=label)
    for (system_id, entity_type), group in groupby(
        sorted(moved, key=lambda r: (r.system_id, r.entity_type)),
        key=lambda r: (r.system_id, r.entity_type),
    ):
        _recompute_referrers(
            system_id, entity_type, [r.source_id for r in group], actor=actor, reason=label
        )
    return event


def _golden_snapshot(golden: GoldenRecord) -> dict[str, Any]:
    return {
        "version": golden.version,
        "status": golden.status,
        "attributes": golden.attributes,
        "lineage": golden.lineage,
        "pins": golden.pins,
        "source_records": list(golden.source_records.values_list("pk", flat=True)),
    }
