"""Ingestion: the one path every entry point calls."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from golden.entities import EntitySpec, EntityType, entity_spec
from golden.matching import (
    Features,
    GoldenMatch,
    features_of,
    find_matches,
    store_blocking_keys,
    stored_features,
)
from golden.matching.frequency import count_changes, store_count_changes
from golden.models import RejectedRecord, SourceRecord, SourceReference, SourceSystem
from golden.services.common import Actor, save_with_history
from golden.services.placement import Arrival, Placement, place_new_records
from golden.services.records import (
    recompute_golden_record,
    recompute_referrers,
    resolve_reference,
)
from golden.services.rematch import review_changed_record
from golden.synthetic import SyntheticRecord
from golden.validation import CleanRecord, RecordInvalid, clean_record, content_hash
from mdm.context import current_correlation_id


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


def ingest_records(
    *,
    entity_type: str,
    system: SourceSystem,
    records: Iterable[Any],
    actor: Actor,
    reason: str = "ingest",
) -> list[IngestResult]:
    """Ingest a batch in one transaction: good records are stored, bad ones reported
    with field errors and kept in the exception queue, none half-written.

    Every record is validated first. New records are then placed together
    (``golden.services.placement``: the batch's reads and writes in a handful of
    statements, the outcome the same as one by one); a stored record that changed is
    updated on its own, in order. If the database refuses the batch's writes (another
    request stored one of its records meanwhile), the batch is rolled back to before
    them and each record is placed in a savepoint of its own."""
    spec = entity_spec(entity_type)
    results: list[IngestResult | None] = []
    arrivals: list[tuple[int, Arrival]] = []
    rejections: list[RejectedRecord] = []
    for index, payload in enumerate(records):
        try:
            clean = clean_record(spec, payload)
        except RecordInvalid as exc:
            rejections.append(_rejection(spec, system, payload, exc))
            results.append(IngestResult(exc.source_id, Action.REJECTED, errors=exc.errors))
            continue
        arrivals.append((index, Arrival(clean, payload, content_hash(payload))))
        results.append(None)
    with transaction.atomic():
        RejectedRecord.objects.bulk_create(rejections)
        try:
            with transaction.atomic():
                stored = _store_batch(spec, system, arrivals, actor, reason)
        except DatabaseError:
            stored = {
                index: _store_alone(spec, system, arrival, actor, reason)
                for index, arrival in arrivals
            }
        for index, result in stored.items():
            results[index] = result
        done = [r for r in results if r is not None]
        _resolve_rejections(
            spec, system, [r.source_id for r in done if r.action != Action.REJECTED]
        )
        # Records that arrived may be the parent or customer others already point at.
        new_ids = [r.source_id for r in done if r.action in NEW_RECORD_ACTIONS]
        recompute_referrers(system.pk, spec.entity_type, new_ids, actor=actor, reason=reason)
    return done


def _rejection(
    spec: EntitySpec, system: SourceSystem, payload: Any, exc: RecordInvalid
) -> RejectedRecord:
    return RejectedRecord(
        system=system,
        entity_type=spec.entity_type,
        source_id=exc.source_id,
        payload=payload if isinstance(payload, dict) else {"value": payload},
        errors=exc.errors,
        correlation_id=current_correlation_id(),
    )


def _resolve_rejections(spec: EntitySpec, system: SourceSystem, source_ids: list[str]) -> None:
    """Close exception-queue items of records that have now been ingested successfully."""
    if source_ids:
        RejectedRecord.objects.filter(
            system=system, entity_type=spec.entity_type, source_id__in=source_ids, resolved_at=None
        ).update(resolved_at=timezone.now())


def _store_batch(
    spec: EntitySpec,
    system: SourceSystem,
    arrivals: list[tuple[int, Arrival]],
    actor: Actor,
    reason: str,
) -> dict[int, IngestResult]:
    """Answer resent records from one read, place runs of new records together. A record
    that changed, or a source ID seen earlier in the batch, is stored on its own after
    the run before it, so later records see it as one-by-one ingestion would."""
    stored = {
        record.source_id: record
        for record in SourceRecord.objects.select_for_update(of=("self",))
        .select_related("golden")
        .filter(
            system=system,
            entity_type=spec.entity_type,
            source_id__in={a.clean.source_id for _, a in arrivals},
        )
    }
    results: dict[int, IngestResult] = {}
    run: list[tuple[int, Arrival]] = []

    def place_run() -> None:
        placements = place_new_records(
            spec, system, [a for _, a in run], actor=actor, reason=reason
        )
        for (index, arrival), placement in zip(run, placements, strict=True):
            results[index] = _placed_result(arrival, placement)
        run.clear()

    seen: set[str] = set()
    for index, arrival in arrivals:
        source_id = arrival.clean.source_id
        record = stored.get(source_id)
        resent = _resent_result(record, arrival) if record and source_id not in seen else None
        if resent is not None:
            results[index] = resent
        elif record is None and source_id not in seen:
            run.append((index, arrival))
        else:
            place_run()
            results[index] = _store_one(spec, system, arrival, actor, reason)
        seen.add(source_id)
    place_run()
    return results


def _store_alone(
    spec: EntitySpec, system: SourceSystem, arrival: Arrival, actor: Actor, reason: str
) -> IngestResult:
    """A record of a batch the database refused: stored on its own, or, if the database
    refuses this record itself, rejected into the exception queue so the others land."""
    try:
        return _store_one(spec, system, arrival, actor, reason)
    except DatabaseError as exc:
        errors = {"non_field_errors": [f"The database refused this record: {exc}"[:500]]}
        invalid = RecordInvalid(errors, arrival.clean.source_id)
        _rejection(spec, system, _storable(arrival.payload), invalid).save()
        return IngestResult(arrival.clean.source_id, Action.REJECTED, errors=errors)


def _storable(payload: dict[str, Any]) -> dict[str, Any]:
    # NUL is the one character PostgreSQL's text and JSON types refuse.
    return json.loads(json.dumps(payload, default=str).replace("\\u0000", ""))


def _store_one(
    spec: EntitySpec, system: SourceSystem, arrival: Arrival, actor: Actor, reason: str
) -> IngestResult:
    """One record in a savepoint of its own."""
    try:
        with transaction.atomic():
            return _place_or_update(spec, system, arrival, actor, reason)
    except IntegrityError:
        # Another request created the same source record concurrently: it is stored now,
        # so the second pass takes it as an update.
        with transaction.atomic():
            return _place_or_update(spec, system, arrival, actor, reason)


def _place_or_update(
    spec: EntitySpec, system: SourceSystem, arrival: Arrival, actor: Actor, reason: str
) -> IngestResult:
    record = (
        SourceRecord.objects.select_for_update()
        .select_related("golden")
        .filter(system=system, entity_type=spec.entity_type, source_id=arrival.clean.source_id)
        .first()
    )
    if record is None:
        [placement] = place_new_records(spec, system, [arrival], actor=actor, reason=reason)
        return _placed_result(arrival, placement)
    return _resent_result(record, arrival) or _update_source_record(
        spec, record, arrival, actor, reason
    )


def _placed_result(arrival: Arrival, placement: Placement) -> IngestResult:
    if placement.linked:
        action = Action.LINKED
    else:
        action = Action.QUEUED_FOR_REVIEW if placement.review_with else Action.CREATED
    return IngestResult(
        arrival.clean.source_id,
        action,
        placement.golden.canonical_id,
        warnings=arrival.clean.warnings,
        review_with=[g.canonical_id for g in placement.review_with],
    )


def _resent_result(record: SourceRecord, arrival: Arrival) -> IngestResult | None:
    """``unchanged`` for a record resent as stored, or older than the stored version."""
    clean = arrival.clean
    canonical_id = record.golden.canonical_id
    if record.content_hash == arrival.digest:
        return IngestResult(
            clean.source_id, Action.UNCHANGED, canonical_id, warnings=clean.warnings
        )
    if (
        clean.source_updated_at
        and record.source_updated_at
        and clean.source_updated_at < record.source_updated_at
    ):
        older = "Older than the stored version of this record: ignored."
        warnings = {**clean.warnings, "updated_at": [*clean.warnings.get("updated_at", []), older]}
        return IngestResult(clean.source_id, Action.UNCHANGED, canonical_id, warnings=warnings)
    return None


def _update_source_record(
    spec: EntitySpec,
    record: SourceRecord,
    arrival: Arrival,
    actor: Actor,
    reason: str,
) -> IngestResult:
    clean = arrival.clean
    before = _features(spec, record.system, record.cleaned)
    after = _features(spec, record.system, clean.cleaned)
    _fill_source_record(record, clean, arrival.payload, arrival.digest)
    record.match_features = stored_features(after)
    save_with_history(record, actor, reason)
    if after != before:
        store_blocking_keys(record, after)
        store_count_changes(spec.entity_type, record.system_id, count_changes(before, after))
    _store_references(spec, record, clean)
    recompute_golden_record(record.golden, actor=actor, reason=reason)
    review_with = review_changed_record(record, after, actor=actor) if after != before else []
    return IngestResult(
        clean.source_id,
        Action.UPDATED,
        record.golden.canonical_id,
        warnings=clean.warnings,
        review_with=review_with,
    )


def match_record(
    spec: EntitySpec, clean: CleanRecord, *, system: SourceSystem | None = None
) -> list[GoldenMatch]:
    """The golden records a record may be, best first. Reads only."""
    return find_matches(spec.entity_type, _features(spec, system, clean.cleaned))


def _features(spec: EntitySpec, system: SourceSystem | None, cleaned: dict[str, Any]) -> Features:
    """Matching features; a project is compared with its customer's canonical ID."""
    parent = ""
    if system and spec.entity_type == EntityType.PROJECT and cleaned.get("customer_source_id"):
        parent = (
            resolve_reference(system.pk, EntityType.CUSTOMER, cleaned["customer_source_id"]) or ""
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


def _store_references(spec: EntitySpec, record: SourceRecord, clean: CleanRecord) -> None:
    for spec_field in spec.fields:
        if spec_field.kind != "reference":
            continue
        target = clean.cleaned.get(spec_field.name)
        if target:
            SourceReference.objects.update_or_create(
                source_record=record,
                field=spec_field.name,
                defaults={
                    "system_id": record.system_id,
                    "target_entity_type": spec_field.target,
                    "target_source_id": target,
                },
            )
        else:
            SourceReference.objects.filter(source_record=record, field=spec_field.name).delete()


def ingest_by_system(
    records: Iterable[SyntheticRecord],
    *,
    systems: Iterable[str] = ("erp", "crm", "psa"),
    batch_size: int = 500,
    actor: Actor = None,
    reason: str = "ingest",
) -> list[IngestResult]:
    """Generated records (``golden.synthetic``) as integrations send them: each system's
    records in turn, in batches. Benchmarks and tests load data this way."""
    rows = list(records)
    results: list[IngestResult] = []
    for code in systems:
        batch = [r.data for r in rows if r.system == code]
        system = SourceSystem.objects.get(code=code)
        for start in range(0, len(batch), batch_size):
            results += ingest_records(
                entity_type=rows[0].entity if rows else EntityType.CUSTOMER,
                system=system,
                records=batch[start : start + batch_size],
                actor=actor,
                reason=reason,
            )
    return results
