"""Merge, unmerge and undo: every step reversible, every step in history."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

from django.db import transaction
from django.utils import timezone

from golden.exceptions import MergeConflict
from golden.models import GoldenChange, GoldenRecord, MatchCandidate, MergeEvent, SourceRecord
from golden.services.common import Actor, save_with_history
from golden.services.records import (
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
    snapshot = {
        "survivor": _golden_snapshot(survivor),
        "merged": {g.canonical_id: _golden_snapshot(g) for g in others},
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
            earlier.merged_into = survivor
            save_with_history(earlier, actor, label)
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
        save_with_history(candidate, actor, label)
    recompute_golden_record(survivor, actor=actor, reason=label)
    for (system_id, entity_type), group in groupby(
        sorted(moved, key=lambda r: (r.system_id, r.entity_type)),
        key=lambda r: (r.system_id, r.entity_type),
    ):
        recompute_referrers(
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
