"""Matching: which golden records a record may be, with scores and evidence.

``find_matches`` reads only (search before create uses it as is); ``golden.linking``
turns its answer into a link, a new golden record or review candidates.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
from django.db import connection

from golden import config_cache
from golden.entities import EntityType
from golden.matching.blocking import (
    MAX_BLOCK_SIZE,
    StoredCodes,
    block_members,
    blocking_keys,
    stored_key,
)
from golden.matching.features import Features, features_of
from golden.matching.frequency import annotated_from_store
from golden.matching.pairs import (
    BOUND_SLACK,
    CODE_FIELDS,
    equality_codes,
    has_bound,
    reachable_candidates,
)
from golden.matching.scoring import (
    MatchModel,
    PairScore,
    Thresholds,
    default_model,
    score_reaching,
    weight_for,
)
from golden.models import BlockingKey, GoldenRecord, MatchSettings, SourceRecord
from golden.sql import fetch_all, insert_values

__all__ = [
    "Features",
    "GoldenMatch",
    "features_of",
    "find_matches",
    "model_for",
    "stored_codes",
]


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
        # Level by level: weights saved before a level existed leave it at its default.
        mu.setdefault(name, {}).update((level, tuple(pair)) for level, pair in levels.items())
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


# Bump when features_of changes what it computes: stored features of another version are
# computed again when read, until the rows are refreshed.
FEATURES_VERSION = 3
_FEATURE_FIELDS = tuple(
    f.name for f in fields(Features) if f.name not in ("entity_type", "prefix_counts")
)


def stored_features(features: Features) -> dict[str, Any]:
    """What SourceRecord.match_features keeps: the non-empty features, without a project's
    customer, which is a canonical ID resolved when the record is matched (it changes
    when customers merge)."""
    project = features.entity_type == EntityType.PROJECT
    values = {
        name: value
        for name in _FEATURE_FIELDS
        if (value := getattr(features, name)) and not (project and name == "parent")
    }
    return {"v": FEATURES_VERSION, **values}


# BlockingKey.codes: FEATURES_VERSION, then the record's equality_codes, as
# little-endian 64-bit integers.
_CODES_WIDTH = 1 + len(CODE_FIELDS) + 1
CODES_SIZE = _CODES_WIDTH * 8


def stored_codes(features: Features) -> bytes | None:
    """What each BlockingKey of the record keeps: the equality facts the bound reads, for
    the entity types that have a bound (None for the others)."""
    if not has_bound(features.entity_type):
        return None
    return np.array([FEATURES_VERSION, *equality_codes(features)], dtype="<i8").tobytes()


def _features_stored(entity_type: str, stored: dict[str, Any] | None) -> Features | None:
    """Features of stored ones (a project's without its customer); None when they are
    missing or of another version."""
    if not stored or stored.get("v") != FEATURES_VERSION:
        return None
    values = stored.copy()
    del values["v"]
    return Features(entity_type, **values)


@functools.lru_cache(maxsize=100_000)
def _features_of_text(entity_type: str, text: str) -> Features | None:
    """``_features_stored`` of the column's JSON text. Consecutive batches read many of
    the same candidates, and equal text means equal features, so decoding is cached on
    the text itself (nothing to invalidate)."""
    return _features_stored(entity_type, json.loads(text))


def _with_parent(features: Features, parent: str) -> Features:
    if features.entity_type != EntityType.PROJECT or features.parent == parent:
        return features
    return dataclasses.replace(features, parent=parent)


def features_from(
    entity_type: str, stored: dict[str, Any] | None, cleaned: dict[str, Any], parent: str = ""
) -> Features:
    """A record's features from its stored ones, or from its cleaned values when they are
    missing or of another version. ``parent``: a project's resolved customer."""
    features = _features_stored(entity_type, stored)
    if features is None:
        return features_of(entity_type, cleaned, parent=parent)
    return _with_parent(features, parent)


def record_features(record: SourceRecord) -> Features:
    parent = (
        record.golden.attributes.get("customer") or "" if record.entity_type == "project" else ""
    )
    return features_from(record.entity_type, record.match_features, record.cleaned, parent)


class StoredCandidate(NamedTuple):
    """A stored source record as matching sees it; a project's ``parent`` is its golden
    record's customer as stored. Placement leaves ``features`` None for a candidate whose
    every pair the bound rules out (it is never compared)."""

    record_id: int
    golden_id: int
    features: Features | None


def stored_candidates(
    entity_type: str, record_ids: Iterable[int], *, exclude_golden: int | None = None
) -> list[StoredCandidate]:
    """These source records, by ID, if their golden record is active: read as plain values
    and their stored features, not as model instances normalised again."""
    ids = sorted(set(record_ids))
    if not ids:
        return []
    rows = _candidate_rows(entity_type, ids, exclude_golden)
    missing = [record_id for record_id, _, features, _ in rows if features is None]
    cleaned = (
        dict(SourceRecord.objects.filter(id__in=missing).values_list("id", "cleaned"))
        if missing
        else {}
    )
    return [
        StoredCandidate(
            record_id,
            golden_id,
            features_of(entity_type, cleaned[record_id], parent=customer or "")
            if features is None
            else _with_parent(features, customer or ""),
        )
        for record_id, golden_id, features, customer in rows
    ]


def candidate_codes(
    entity_type: str, stored: StoredCodes, record_ids: Iterable[int]
) -> tuple[list[int], np.ndarray]:
    """The bound's view of these source records (an entity type with a bound): their IDs
    ascending and one row of equality codes each (golden.matching.pairs.reachable_pairs),
    from the codes their blocking keys carry (``stored``). Missing or older codes are
    computed from the features."""
    ids = np.array(sorted(set(record_ids)), dtype=np.int64)
    rows = stored.rows[np.searchsorted(stored.ids, ids)] if len(ids) else stored.rows[:0]
    stale = np.flatnonzero(rows[:, 0] != FEATURES_VERSION)
    if len(stale):
        rows = rows.copy()
        features = candidate_features(entity_type, ids[stale].tolist())
        for position in stale:
            record_id = int(ids[position])
            # A record deleted meanwhile has no features (nor is it read as a candidate).
            if record_id in features:
                rows[position] = np.frombuffer(stored_codes(features[record_id]), dtype="<i8")
    return ids.tolist(), rows[:, 1:].astype(np.int64)


def candidate_features(entity_type: str, record_ids: Iterable[int]) -> dict[int, Features]:
    """Features of these source records by ID, from the stored ones or, missing or of
    another version, from the cleaned values. Not for projects (their customer is read
    from the golden record: ``stored_candidates``)."""
    ids = sorted(set(record_ids))
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        rows = fetch_all(
            f"""SELECT id, match_features FROM {quote(SourceRecord._meta.db_table)}
            WHERE id = ANY(%s)""",
            [ids],
        )
        stored = {
            record_id: _features_of_text(entity_type, text) if text else None
            for record_id, text in rows
        }
    else:
        stored = {
            record_id: _features_stored(entity_type, value)
            for record_id, value in SourceRecord.objects.filter(id__in=ids).values_list(
                "id", "match_features"
            )
        }
    missing = [record_id for record_id, features in stored.items() if features is None]
    if missing:
        for record_id, cleaned in SourceRecord.objects.filter(id__in=missing).values_list(
            "id", "cleaned"
        ):
            stored[record_id] = features_of(entity_type, cleaned)
    return stored


def _candidate_rows(
    entity_type: str, ids: list[int], exclude_golden: int | None
) -> list[tuple[int, int, Features | None, str | None]]:
    """(ID, golden ID, stored features, a project's customer) of the active records, by ID.
    On PostgreSQL the IDs go as one array parameter: tens of thousands of them per batch
    cost more to bind one by one than to read."""
    project = entity_type == EntityType.PROJECT
    if connection.vendor != "postgresql":
        rows = SourceRecord.objects.filter(id__in=ids, golden__status=GoldenRecord.Status.ACTIVE)
        if exclude_golden is not None:
            rows = rows.exclude(golden_id=exclude_golden)
        values = rows.order_by("id").values_list(
            "id",
            "golden_id",
            "match_features",
            *(["golden__attributes__customer"] if project else []),
        )
        return [
            (row[0], row[1], _features_stored(entity_type, row[2]), row[3] if project else None)
            for row in values
        ]
    quote = connection.ops.quote_name
    customer = "g.attributes ->> 'customer'" if project else "NULL"
    other = "AND r.golden_id <> %s" if exclude_golden is not None else ""
    # Django reads JSON columns as text and decodes them in the field. Sorted here:
    # tens of thousands of rows with their features overflow the server's sort memory.
    rows = [
        (record_id, golden_id, _features_of_text(entity_type, text) if text else None, value)
        for record_id, golden_id, text, value in fetch_all(
            f"""SELECT r.id, r.golden_id, r.match_features, {customer}
            FROM {quote(SourceRecord._meta.db_table)} AS r
            JOIN {quote(GoldenRecord._meta.db_table)} AS g ON g.id = r.golden_id
            WHERE r.id = ANY(%s) AND g.status = %s {other}""",
            [ids, GoldenRecord.Status.ACTIVE, *([exclude_golden] if other else [])],
        )
    ]
    rows.sort(key=itemgetter(0))
    return rows


def candidate_ids(blocks: dict[str, Sequence[int]]) -> set[int]:
    """The records of the blocks matching reads (an oversized block is skipped)."""
    return {i for block in blocks.values() if len(block) <= MAX_BLOCK_SIZE for i in block}


def find_matches(
    entity_type: str, probe: Features, *, exclude_golden: int | None = None
) -> list[GoldenMatch]:
    """Golden records the probe may be, best first, excluding those scored as ``new``.

    Candidates whose best possible weight stays below the review band are not scored:
    such a pair is ``new`` and never the best pair of a golden record that is not."""
    model = model_for(entity_type)
    if not probe.prefix_counts:  # a caller that read the counts already passes them
        probe = annotated_from_store(probe)
    candidates = stored_candidates(
        entity_type,
        candidate_ids(block_members(entity_type, blocking_keys(probe))),
        exclude_golden=exclude_golden,
    )
    review_weight = weight_for(model.thresholds.review)
    reachable = reachable_candidates(probe, [c.features for c in candidates], model, review_weight)
    best: dict[int, tuple[PairScore, int]] = {}
    for candidate, may_reach in zip(candidates, reachable, strict=True):
        if not may_reach:
            continue
        score = score_reaching(model, probe, candidate.features, review_weight - BOUND_SLACK)
        if score is None:
            continue
        current = best.get(candidate.golden_id)
        if current is None or score.weight > current[0].weight:
            best[candidate.golden_id] = (score, candidate.record_id)
    kept = {
        golden_id: (score, record_id, decision)
        for golden_id, (score, record_id) in best.items()
        if (decision := score.decision(model.thresholds)) != "new"
    }
    goldens = GoldenRecord.objects.in_bulk(list(kept))
    matches = [
        GoldenMatch(goldens[golden_id], score, record_id, decision)
        for golden_id, (score, record_id, decision) in kept.items()
    ]
    return sorted(matches, key=lambda m: (-m.score.weight, m.golden.pk))


def store_blocking_keys(record: SourceRecord, features: Features) -> None:
    """Replace the record's keys (and the codes they carry) by those of ``features``."""
    BlockingKey.objects.filter(source_record=record).delete()
    insert_values(BlockingKey, KEY_COLUMNS, key_values(record.pk, record.entity_type, features))


# BlockingKey columns, as key_values gives them.
KEY_COLUMNS = ("source_record_id", "entity_type", "key", "codes")


def key_values(
    record_id: int, entity_type: str, features: Features, keys: Iterable[str] | None = None
) -> list[tuple[int, str, str, bytes | None]]:
    """The record's BlockingKey rows (KEY_COLUMNS); ``keys``: its blocking keys, if known
    already."""
    codes = stored_codes(features)
    return [
        (record_id, entity_type, stored_key(key), codes)
        for key in sorted(blocking_keys(features) if keys is None else keys)
    ]
