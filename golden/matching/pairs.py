"""Candidate pairs for batch matching, as integer arrays rather than Python tuples.

Two steps keep a million records inside the time and memory budget:

* ``candidate_pair_arrays`` turns blocking keys into the deduplicated, sorted pairs that
  share a kept block, with numpy (a set of 50 million tuples costs gigabytes and a
  minute to sort);
* ``could_reach`` drops pairs whose best possible weight, given what equality alone
  already tells (same or different tax ID, domain, phone, country, legal form, city,
  identical name or not), stays below the review threshold. It is an upper bound, so the
  pairs it keeps are scored exactly as before and the result does not change; most
  blocked pairs are namesakes sharing one word and nothing else, and they never reach a
  comparator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from golden.entities import EntityType
from golden.matching.features import Features
from golden.matching.scoring import MatchModel

# Fields whose comparator answers only same / different / missing (comparators._exact and
# compare_legal_form): their level, and so their weight, is known from codes alone.
EQUALITY_FIELDS = {
    EntityType.CUSTOMER: ("legal_form", "tax_id", "domain", "phone", "country"),
    EntityType.LEGAL_ENTITY: ("legal_form", "tax_id", "country"),
}


def candidate_pair_arrays(
    keys: Sequence[Iterable[str]], max_block: int
) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) record indices, left < right, sorted, of every pair sharing a key whose
    block has at most ``max_block`` records."""
    n = len(keys)
    key_ids: dict[str, int] = {}
    records: list[int] = []
    key_codes: list[int] = []
    for index, record_keys in enumerate(keys):
        for key in record_keys:
            records.append(index)
            key_codes.append(key_ids.setdefault(key, len(key_ids)))
    if not records:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    rec = np.asarray(records, dtype=np.int64)
    kid = np.asarray(key_codes, dtype=np.int64)
    order = np.lexsort((rec, kid))
    rec, kid = rec[order], kid[order]
    starts = np.flatnonzero(np.r_[True, kid[1:] != kid[:-1]])
    sizes = np.diff(np.r_[starts, len(kid)])
    kept = (sizes >= 2) & (sizes <= max_block)
    chunks = []
    # Blocks of one size are expanded together: members as a (blocks × size) matrix, its
    # upper triangle as pairs. Members are sorted within a block, so left < right.
    for size in np.unique(sizes[kept]):
        block_starts = starts[kept & (sizes == size)]
        members = rec[block_starts[:, None] + np.arange(size)]
        upper_left, upper_right = np.triu_indices(size, 1)
        chunks.append(members[:, upper_left].ravel() * n + members[:, upper_right].ravel())
    if not chunks:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    codes = _sorted_unique(np.concatenate(chunks))
    # int32 halves the memory of the pair arrays (fewer than 2**31 records).
    return (codes // n).astype(np.int32), (codes % n).astype(np.int32)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    # An in-place sort and one comparison: numpy's unique() hashes, several times slower here.
    values.sort()
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _codes(values: Iterable[str]) -> np.ndarray:
    """Each distinct non-empty value → a positive integer; empty → 0."""
    ids: dict[str, int] = {"": 0}
    return np.fromiter((ids.setdefault(v, len(ids)) for v in values), dtype=np.int32)


def _level_weights(model: MatchModel, field: str) -> dict[str, float]:
    return {level: model.weight(field, level) for level in model.mu[field]}


# Pairs are bounded this many at a time, so temporaries stay small at a million records.
BOUND_CHUNK = 2_000_000


def could_reach(
    features: Sequence[Features],
    left: np.ndarray,
    right: np.ndarray,
    model: MatchModel,
    min_weight: float,
) -> np.ndarray:
    """Boolean mask: which pairs may reach ``min_weight`` (an upper bound on their score).

    Entity types without a known bound keep every pair."""
    equality_fields = EQUALITY_FIELDS.get(model.entity_type)
    if equality_fields is None or len(left) == 0:
        return np.ones(len(left), dtype=bool)
    name_weights = _level_weights(model, "name")
    city_weights = _level_weights(model, "city") if "city" in model.mu else None
    address_weights = _level_weights(model, "address")
    # (codes, weight when equal, weight when different) per field; 0 weight when missing.
    terms = [
        (_codes(getattr(f, field) for f in features), weights["same"], weights["different"])
        for field in equality_fields
        for weights in [_level_weights(model, field)]
    ]
    # compare_name: identical names weigh at most the best identical level, different
    # ones at most the best of the rest.
    terms.append(
        (
            _codes(f.name for f in features),
            max(w for level, w in name_weights.items() if level.startswith("exact")),
            max(w for level, w in name_weights.items() if not level.startswith("exact")),
        )
    )
    if city_weights is not None:
        terms.append(
            (
                _codes(f.city for f in features),
                city_weights["same"],
                max(city_weights["similar"], city_weights["different"]),
            )
        )
    postal = _codes(f.postal_code for f in features)
    has_address = np.fromiter(
        (bool(f.postal_code or f.street) for f in features), dtype=bool, count=len(features)
    )
    mask = np.empty(len(left), dtype=bool)
    for start in range(0, len(left), BOUND_CHUNK):
        i, j = left[start : start + BOUND_CHUNK], right[start : start + BOUND_CHUNK]
        bound = np.full(len(i), model.prior)
        for codes, equal, different in terms:
            a, b = codes[i], codes[j]
            bound += np.where((a != 0) & (b != 0), np.where(a == b, equal, different), 0.0)
        # compare_address: missing without a postal code or street on either side; two
        # different postal codes can only be "different"; otherwise any level.
        a, b = postal[i], postal[j]
        bound += np.where(
            has_address[i] & has_address[j],
            np.where(
                (a != 0) & (b != 0) & (a != b),
                address_weights["different"],
                max(address_weights.values()),
            ),
            0.0,
        )
        mask[start : start + BOUND_CHUNK] = bound >= min_weight
    return mask


__all__ = ["candidate_pair_arrays", "could_reach"]
