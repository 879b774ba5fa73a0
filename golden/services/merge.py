"""Merge, unmerge and undo: every step reversible, every step in history."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

from django.db import transaction
from django.utils import timezone

from golden.entities import entity_spec
from golden.exceptions import MergeConflict
from golden.models import GoldenChange, GoldenRecord, MatchCandidate, MergeEvent, SourceRecord
from golden.services.common import Actor, actor_label, save_with_history
from golden.services.records import (
    new_golden_record,
    recompute_golden_record,
    recompute_referrers,
    record_golden_change,
)
from mdm.context import current_correlation_id


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
    snapshot: dict[str, Any] = {
        "survivor": _golden_snapshot(survivor),
        "merged": {g.canonical_id: _golden_snapshot(g) for g in others},
        "repointed": {},
        "candidates": [],
    }
    label = reason or f"merged into {survivor.canonical_id}"
    moved: list[SourceRecord] = []
    for other in others:
        for record in other.source_records.all():
            record.golden = survivor
            save_with_history(record, actor, label)
            moved.append(record)
        other.status = GoldenRecord.Status.MERGED
        other.merged_into = survivor
        other.version += 1
        save_with_history(other, actor, label)
        record_golden_change(other, GoldenChange.Kind.MERGED, actor=actor)
        # Keep resolution one hop: records merged into ``other`` earlier now point here.
        for earlier in GoldenRecord.objects.filter(merged_into=other):
            snapshot["repointed"][earlier.canonical_id] = other.canonical_id
            earlier.merged_into = survivor
            save_with_history(earlier, actor, label)
    for candidate in MatchCandidate.objects.filter(
        golden_a_id__in=ids,
        golden_b_id__in=ids,
        status__in=[MatchCandidate.Status.OPEN, MatchCandidate.Status.DEFERRED],
    ):
        snapshot["candidates"].append([candidate.pk, candidate.status])
        candidate.status = MatchCandidate.Status.MERGED
        candidate.decided_by = actor
        candidate.decided_at = timezone.now()
        save_with_history(candidate, actor, label)
    event = MergeEvent.objects.create(
        survivor=survivor,
        snapshot=snapshot,
        actor=actor,
        reason=reason,
        correlation_id=current_correlation_id(),
    )
    event.merged.set(others)
    recompute_golden_record(survivor, actor=actor, reason=label)
    _recompute_referrers_of(moved, actor=actor, reason=label)
    return event


def _recompute_referrers_of(records: Sequence[SourceRecord], *, actor: Actor, reason: str) -> None:
    def key(record: SourceRecord) -> tuple[int, str]:
        return (record.system_id, record.entity_type)

    for (system_id, entity_type), group in groupby(sorted(records, key=key), key=key):
        recompute_referrers(
            system_id, entity_type, [r.source_id for r in group], actor=actor, reason=reason
        )


@transaction.atomic
def undo_merge(event: MergeEvent, *, actor: Actor, reason: str = "") -> None:
    """Undo a merge exactly: merged records become active again with their own source
    records, pins and chains, and the candidates the merge closed reopen."""
    event = MergeEvent.objects.select_for_update().get(pk=event.pk)
    if event.undone_at is not None:
        raise MergeConflict("This merge was already undone.")
    snapshot = event.snapshot
    canonical_ids = [snapshot["survivor"]["canonical_id"], *snapshot["merged"]]
    goldens = {
        g.canonical_id: g
        for g in GoldenRecord.objects.select_for_update().filter(canonical_id__in=canonical_ids)
    }
    survivor = goldens[snapshot["survivor"]["canonical_id"]]
    label = reason or f"undo merge into {survivor.canonical_id}"
    moved: list[SourceRecord] = []
    for canonical_id, state in snapshot["merged"].items():
        golden = goldens[canonical_id]
        if golden.status != GoldenRecord.Status.MERGED or golden.merged_into_id != survivor.pk:
            raise MergeConflict(f"{canonical_id} changed since the merge; undo it by unmerging.")
        records = list(SourceRecord.objects.filter(pk__in=state["source_records"]))
        strays = [r for r in records if r.golden_id != survivor.pk]
        if strays:
            raise MergeConflict(f"{strays[0]} moved since the merge; unmerge it instead.")
        for record in records:
            record.golden = golden
            save_with_history(record, actor, label)
            moved.append(record)
        golden.status = GoldenRecord.Status.ACTIVE
        golden.merged_into = None
        golden.pins = state["pins"]
        golden.version += 1
        save_with_history(golden, actor, label)
        recompute_golden_record(golden, actor=actor, reason=label)
        record_golden_change(golden, GoldenChange.Kind.UNMERGED, actor=actor)
    for earlier_id, target_id in snapshot["repointed"].items():
        earlier = GoldenRecord.objects.get(canonical_id=earlier_id)
        earlier.merged_into = goldens[target_id]
        save_with_history(earlier, actor, label)
    previous = dict(snapshot["candidates"])
    for candidate in MatchCandidate.objects.filter(pk__in=previous):
        candidate.status = previous[candidate.pk]
        candidate.decided_by = None
        candidate.decided_at = None
        save_with_history(candidate, actor, label)
    survivor.pins = snapshot["survivor"]["pins"]
    recompute_golden_record(survivor, actor=actor, reason=label, force_save=True)
    event.undone_at = timezone.now()
    event.save(update_fields=["undone_at"])
    _recompute_referrers_of(moved, actor=actor, reason=label)


@transaction.atomic
def unmerge_source_record(record: SourceRecord, *, actor: Actor, reason: str = "") -> GoldenRecord:
    """Split one source record out into a golden record of its own, and remember that the
    two are not a match so the matcher does not put them back together."""
    record = SourceRecord.objects.select_for_update().select_related("golden").get(pk=record.pk)
    old = GoldenRecord.objects.select_for_update().get(pk=record.golden_id)
    if old.source_records.count() < 2:
        raise MergeConflict(f"{record} is the only record of {old.canonical_id}.")
    label = reason or f"unmerged from {old.canonical_id}"
    golden = new_golden_record(entity_spec(old.entity_type))
    record.golden = golden
    record.link_evidence = {
        "decision": "unmerged",
        "from": old.canonical_id,
        "by": actor_label(actor),
    }
    save_with_history(record, actor, label)
    recompute_golden_record(golden, actor=actor, reason=label, created=True)
    recompute_golden_record(old, actor=actor, reason=label)
    low, high = sorted([old, golden], key=lambda g: g.pk)
    candidate = MatchCandidate(
        entity_type=old.entity_type,
        golden_a=low,
        golden_b=high,
        status=MatchCandidate.Status.NOT_A_MATCH,
        reason=label,
        decided_by=actor,
        decided_at=timezone.now(),
    )
    save_with_history(candidate, actor, label)
    _recompute_referrers_of([record], actor=actor, reason=label)
    return golden


def _golden_snapshot(golden: GoldenRecord) -> dict[str, Any]:
    return {
        "canonical_id": golden.canonical_id,
        "version": golden.version,
        "status": golden.status,
        "attributes": golden.attributes,
        "lineage": golden.lineage,
        "pins": golden.pins,
        "source_records": list(golden.source_records.values_list("pk", flat=True)),
    }
