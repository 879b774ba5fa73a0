"""Reads: canonical-ID resolution, crosswalk lookups, golden record lists."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from golden.entities import EntitySpec
from golden.exceptions import NotFound
from golden.models import ExternalReference, GoldenRecord, SourceRecord


@dataclass(frozen=True)
class Resolution:
    """The golden record an ID resolves to, and the merged ID it was reached from."""

    golden: GoldenRecord
    requested_id: str

    @property
    def redirected(self) -> bool:
        return self.golden.canonical_id != self.requested_id


def golden_records(spec: EntitySpec) -> QuerySet[GoldenRecord]:
    """Golden records of one type with everything the API shows prefetched."""
    return (
        GoldenRecord.objects.filter(entity_type=spec.entity_type)
        .select_related("merged_into")
        .prefetch_related(
            Prefetch(
                "source_records",
                queryset=SourceRecord.objects.select_related("system").order_by("id"),
            ),
            Prefetch(
                "external_references", queryset=ExternalReference.objects.select_related("system")
            ),
            Prefetch(
                "merged_from",
                queryset=GoldenRecord.objects.order_by("id").only(
                    "id", "canonical_id", "merged_into"
                ),
            ),
        )
    )


def resolve_canonical_id(spec: EntitySpec, canonical_id: str) -> Resolution:
    """Follow ``merged`` to the survivor (at most a few hops; merges repoint chains)."""
    golden = golden_records(spec).filter(canonical_id=canonical_id.upper()).first()
    if golden is None:
        raise NotFound(f"No {spec.label.lower()} with canonical ID {canonical_id}.")
    return follow_merges(spec, golden)


def follow_merges(spec: EntitySpec, golden: GoldenRecord) -> Resolution:
    requested = golden.canonical_id
    seen = {golden.pk}
    while golden.status == GoldenRecord.Status.MERGED and golden.merged_into_id:
        golden = golden_records(spec).get(pk=golden.merged_into_id)
        if golden.pk in seen:  # defensive: a cycle would be a bug, not an infinite loop
            break
        seen.add(golden.pk)
    return Resolution(golden, requested)


def find_by_system_id(spec: EntitySpec, system: str, source_id: str) -> GoldenRecord | None:
    """The golden record a system's ID belongs to: a source record it sent, or an ID it
    assigned when we pushed to it."""
    record = (
        SourceRecord.objects.filter(
            system__code=system, entity_type=spec.entity_type, source_id=source_id
        )
        .select_related("golden")
        .first()
    )
    if record is not None:
        return record.golden
    ref = (
        ExternalReference.objects.filter(
            system__code=system, golden__entity_type=spec.entity_type, external_id=source_id
        )
        .select_related("golden")
        .first()
    )
    return ref.golden if ref else None
