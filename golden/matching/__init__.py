"""Matching: which golden records a record may be, with scores and evidence.

``find_matches`` reads only (search before create uses it as is); ``golden.linking``
turns its answer into a link, a new golden record or review candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden import config_cache
from golden.matching.blocking import MAX_BLOCK_SIZE, block_members, blocking_keys, stored_key
from golden.matching.features import Features, features_of
from golden.matching.scoring import MatchModel, PairScore, Thresholds, default_model, score_pair
from golden.models import BlockingKey, GoldenRecord, MatchSettings, SourceRecord

__all__ = ["Features", "GoldenMatch", "features_of", "find_matches", "model_for"]


@dataclass
class GoldenMatch:
    """The best-scoring source record of one golden record against the probe."""

    golden: GoldenRecord
    score: PairScore
    source_record_id: int
    decision: str


def model_for(entity_type: str) -> MatchModel:
    """The shipped model, overridden by the entity type's MatchSettings row (cached
    briefly: one ingest batch does not re-read it per record)."""
    return config_cache.cached(f"match:{entity_type}", lambda: _load_model(entity_type))


def _load_model(entity_type: str) -> MatchModel:
    model = default_model(entity_type)
    row = MatchSettings.objects.filter(entity_type=entity_type).first()
    if row is None:
        return model
    mu = {name: dict(levels) for name, levels in model.mu.items()}
    for name, levels in (row.mu or {}).items():
        mu[name] = {level: tuple(pair) for level, pair in levels.items()}
    return MatchModel(
        entity_type,
        mu,
        row.prior if row.prior is not None else model.prior,
        Thresholds(
            row.auto_link if row.auto_link is not None else model.thresholds.auto_link,
            row.review if row.review is not None else model.thresholds.review,
            row.sole_candidate
            if row.sole_candidate is not None
            else model.thresholds.sole_candidate,
        ),
    )


def forget_match_settings() -> None:
    """Drop cached configuration (after MatchSettings or rules change in this process)."""
    config_cache.forget()


def record_features(record: SourceRecord) -> Features:
    parent = (
        record.golden.attributes.get("customer") or "" if record.entity_type == "project" else ""
    )
    return features_of(record.entity_type, record.cleaned, parent=parent)


def _candidate_records(
    entity_type: str, keys: set[str], exclude_golden: int | None
) -> list[SourceRecord]:
    # The key lookup stays on the (entity_type, key) index alone; whether a record's golden
    # record is still active is checked on the few records it returns.
    blocks = block_members(entity_type, keys)
    ids = {i for block in blocks.values() if len(block) <= MAX_BLOCK_SIZE for i in block}
    if not ids:
        return []
    records = SourceRecord.objects.filter(
        id__in=ids, golden__status=GoldenRecord.Status.ACTIVE
    ).select_related("golden")
    if exclude_golden is not None:
        records = records.exclude(golden_id=exclude_golden)
    return list(records)


def find_matches(
    entity_type: str, probe: Features, *, exclude_golden: int | None = None
) -> list[GoldenMatch]:
    """Golden records the probe may be, best first, excluding those scored as ``new``."""
    model = model_for(entity_type)
    best: dict[int, GoldenMatch] = {}
    for record in _candidate_records(entity_type, blocking_keys(probe), exclude_golden):
        score = score_pair(model, probe, record_features(record))
        current = best.get(record.golden_id)
        if current is None or score.weight > current.score.weight:
            best[record.golden_id] = GoldenMatch(
                record.golden, score, record.pk, score.decision(model.thresholds)
            )
    matches = [m for m in best.values() if m.decision != "new"]
    return sorted(matches, key=lambda m: (-m.score.weight, m.golden.pk))


def store_blocking_keys(record: SourceRecord, features: Features, *, new: bool = False) -> None:
    if not new:
        BlockingKey.objects.filter(source_record=record).delete()
    BlockingKey.objects.bulk_create(
        BlockingKey(source_record=record, entity_type=record.entity_type, key=stored_key(key))
        for key in sorted(blocking_keys(features))
    )
