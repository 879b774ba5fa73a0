"""Ingestion: the one path every entry point calls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from golden.entities import EntitySpec, EntityType, entity_spec
from golden.linking import LinkDecision, decide_link
from golden.matching import Features, GoldenMatch, features_of, find_matches, store_blocking_keys
from golden.models import GoldenRecord, RejectedRecord, SourceRecord, SourceReference, SourceSystem
from golden.services.common import Actor, save_with_history
from golden.services.records import (
    new_golden_record,
    open_candidate,
    recompute_golden_record,
    recompute_referrers,
    resolve_reference,
)
from golden.services.rematch import review_changed_record
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
        recompute_referrers(system.pk, spec.entity_type, new_ids, actor=actor, reason=reason)
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
    before = _features(spec, record.system, record.cleaned)
    after = _features(spec, record.system, clean.cleaned)
    _fill_source_record(record, clean, payload, digest)
    save_with_history(record, actor, reason)
    if after != before:
        store_blocking_keys(record, after)
    _store_references(spec, record, clean)
    recompute_golden_record(record.golden, actor=actor, reason=reason)
    review_with = review_changed_record(record, after, actor=actor) if after != before else []
    return IngestResult(clean.source_id, Action.UPDATED, canonical_id, review_with=review_with)


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
    golden = decision.golden or new_golden_record(spec)
    record = SourceRecord(
        system=system, entity_type=spec.entity_type, source_id=clean.source_id, golden=golden
    )
    _fill_source_record(record, clean, payload, digest)
    record.link_evidence = _link_evidence(decision, golden)
    save_with_history(record, actor, reason)
    store_blocking_keys(record, features, new=True)
    _store_references(spec, record, clean, new=True)
    recompute_golden_record(
        golden,
        actor=actor,
        reason=reason,
        created=decision.golden is None,
        records=[record] if decision.golden is None else None,
    )
    review_with = [
        match.golden.canonical_id
        for match in decision.review
        if open_candidate(golden, match.golden, match.score, actor)
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
