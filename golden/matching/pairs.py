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
  comparator. ``reachable_pairs`` applies the same bound to incoming records and their
  stored candidates (incremental matching).
"""

from __future__ import annotations

import functools
import hashlib
from array import array
from collections.abc import Iterable, Sequence
from operator import attrgetter

import numpy as np

from golden.entities import EntityType
from golden.matching.features import Features
from golden.matching.scoring import MatchModel

# Fields whose comparator answers only same / different / missing (comparators._exact and
# compare_legal_form): their level, and so their weight, is known from codes alone.
EQUALITY_FIELDS = {
    EntityType.CUSTOMER: ("legal_form", "tax_id", "domain", "phone", "country"),
    EntityType.LEGAL_ENTITY: ("legal_form", "tax_id", "registration", "country"),
}
# Fields the bound knows how to narrow; any other field of a model counts at its best level.
NARROWED_FIELDS = frozenset({"name", "city", "address"})


def candidate_pair_arrays(
    keys: Iterable[Iterable[str]], max_block: int
) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) record indices, left < right, sorted, of every pair sharing a key whose
    block has at most ``max_block`` records. ``keys`` yields each record's keys in record
    order; it is read once, so a generator keeps a million records' key sets out of memory."""
    # Typed arrays: a Python list holds 36 bytes per number, these 8. A key is grouped by
    # its 64-bit hash, not numbered in a dict of millions of strings: two keys sharing a
    # hash, vanishingly rare, would only add pairs, which scoring then judges.
    records, key_codes = array("q"), array("q")
    n = 0
    for index, record_keys in enumerate(keys):
        n = index + 1
        for key in record_keys:
            records.append(index)
            key_codes.append(hash(key))
    empty = np.empty(0, dtype=np.int32)
    if not records:
        return empty, empty
    rec = np.frombuffer(records, dtype=np.int64)
    kid = np.frombuffer(key_codes, dtype=np.int64)
    order = np.lexsort((rec, kid))
    rec, kid = rec[order], kid[order]
    del order, records, key_codes
    starts = np.flatnonzero(np.r_[True, kid[1:] != kid[:-1]])
    sizes = np.diff(np.r_[starts, len(kid)])
    kept = (sizes >= 2) & (sizes <= max_block)
    chunks = []
    # Blocks of one size are expanded together: members as a (blocks × size) matrix, its
    # upper triangle as pairs. Members are sorted within a block, so left < right. Each
    # chunk is deduplicated at once, so the pairs many keys share are held once.
    for size in np.unique(sizes[kept]):
        block_starts = starts[kept & (sizes == size)]
        members = rec[block_starts[:, None] + np.arange(size)]
        upper_left, upper_right = np.triu_indices(size, 1)
        # In place: one temporary array of the chunk's size rather than three.
        pair_codes = members[:, upper_left].ravel()
        pair_codes *= n
        pair_codes += members[:, upper_right].ravel()
        chunks.append(_sorted_unique(pair_codes))
        del members, pair_codes
    if not chunks:
        return empty, empty
    # Joined chunk by chunk, each freed once copied: concatenate would hold every chunk
    # and their copy at once.
    codes = np.empty(sum(map(len, chunks)), dtype=np.int64)
    end = len(codes)
    while chunks:
        chunk = chunks.pop()
        codes[end - len(chunk) : end] = chunk
        end -= len(chunk)
        del chunk
    codes = _sorted_unique(codes)
    # int32 halves the memory of the pair arrays (fewer than 2**31 records); written
    # straight into them, without an int64 temporary.
    left = np.empty(len(codes), dtype=np.int32)
    right = np.empty(len(codes), dtype=np.int32)
    np.floor_divide(codes, n, out=left, casting="unsafe")
    np.remainder(codes, n, out=right, casting="unsafe")
    return left, right


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    # An in-place sort and one comparison: numpy's unique() hashes, several times slower here.
    values.sort()
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _codes(values: Iterable[str]) -> np.ndarray:
    """Each distinct non-empty value → a positive integer; empty → 0."""
    values = list(values)
    ids: dict[str, int] = {"": 0}
    # Numbered once per distinct value, then looked up in C: most values repeat.
    for value in dict.fromkeys(values):
        ids.setdefault(value, len(ids))
    return np.fromiter(map(ids.__getitem__, values), dtype=np.int32, count=len(values))


def _level_weights(model: MatchModel, field: str) -> dict[str, float]:
    return {level: model.weight(field, level) for level in model.mu[field]}


# Pairs are bounded this many at a time, so temporaries stay small at a million records.
BOUND_CHUNK = 2_000_000


def _bound_terms(
    model: MatchModel, equality_fields: Sequence[str]
) -> tuple[list[tuple[str, float, float]], dict[str, float]]:
    """(field, best weight when equal, best weight when different) of every field whose
    level equality alone bounds (a missing value weighs 0), and the address weights."""
    terms = [
        (field, weights["same"], weights["different"])
        for field in equality_fields
        for weights in [_level_weights(model, field)]
    ]
    if "city" in model.mu:
        city_weights = _level_weights(model, "city")
        terms.append(
            ("city", city_weights["same"], max(city_weights["similar"], city_weights["different"]))
        )
    return terms, _level_weights(model, "address")


def _name_bounds(model: MatchModel) -> tuple[float, float, float, float]:
    """compare_name: what identical names weigh at most (the best identical level);
    different ones of which one may begin the other (the best of the rest: the same first
    word and, unless one name is a single word, the same first two); those that begin
    with the same three letters (any level but "contained"); and the others (no level of
    SAME_START_LEVELS)."""
    weights = _level_weights(model, "name")
    different = {level: w for level, w in weights.items() if not level.startswith("exact")}
    return (
        max(w for level, w in weights.items() if level.startswith("exact")),
        max(different.values()),
        max(w for level, w in different.items() if level != "contained"),
        max(w for level, w in different.items() if level not in SAME_START_LEVELS),
    )


# compare_name's levels that need the same first three letters (besides "contained",
# which needs the same first word).
SAME_START_LEVELS = frozenset({"contained", "contained_typo", "very_similar", "abbreviated"})


def _unbounded_weight(model: MatchModel, equality_fields: Sequence[str]) -> float:
    """What fields the bound does not look at may add at most: a field added to a model
    later keeps the bound an upper bound."""
    known = NARROWED_FIELDS | set(equality_fields)
    return sum(
        max(0.0, *_level_weights(model, field).values()) for field in model.mu if field not in known
    )


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
    return _bound_mask(features, left, right, model, min_weight - BOUND_SLACK, equality_fields)


def _bound_mask(
    features: Sequence[Features],
    left: np.ndarray,
    right: np.ndarray,
    model: MatchModel,
    min_weight: float,
    equality_fields: Sequence[str],
) -> np.ndarray:
    columns = {field: _codes(map(attrgetter(field), features)) for field in CODE_FIELDS}
    has_address = np.fromiter(
        (bool(f.postal_code or f.street) for f in features), dtype=bool, count=len(features)
    )
    return _bound_mask_of_codes(
        columns, has_address, left, right, model, min_weight, equality_fields
    )


def _bound_mask_of_codes(
    columns: dict[str, np.ndarray],
    has_address: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    model: MatchModel,
    min_weight: float,
    equality_fields: Sequence[str],
) -> np.ndarray:
    """The bound over integer codes of the fields (0: empty; equal codes, equal values)
    and whether each record has an address."""
    field_terms, address_weights = _bound_terms(model, equality_fields)
    unbounded = _unbounded_weight(model, equality_fields)
    terms = [(columns[field], equal, different) for field, equal, different in field_terms]
    same_name, may_begin, may_begin_typo, other_name = _name_bounds(model)
    names, first_words, heads = columns["name"], columns["first_word"], columns["name_head"]
    starts = columns["name_start"]
    postal = columns["postal_code"]
    mask = np.empty(len(left), dtype=bool)
    for start in range(0, len(left), BOUND_CHUNK):
        i, j = left[start : start + BOUND_CHUNK], right[start : start + BOUND_CHUNK]
        bound = np.full(len(i), model.prior + unbounded)
        for codes, equal, different in terms:
            a, b = codes[i], codes[j]
            bound += np.where((a != 0) & (b != 0), np.where(a == b, equal, different), 0.0)
        a, b = names[i], names[j]
        first_a, first_b, head_a, head_b = first_words[i], first_words[j], heads[i], heads[j]
        begins = (
            (first_a != 0)
            & (first_a == first_b)
            & ((head_a == 0) | (head_b == 0) | (head_a == head_b))
        )
        start_a, start_b = starts[i], starts[j]
        starts_alike = (start_a != 0) & (start_a == start_b)
        bound += np.where(
            (a != 0) & (b != 0),
            np.where(
                a == b,
                same_name,
                np.where(begins, may_begin, np.where(starts_alike, may_begin_typo, other_name)),
            ),
            0.0,
        )
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


# What incremental matching stores per source record for the bound (see equality_codes):
# a 64-bit hash of each field's value (0: empty), then whether it has an address.
CODE_FIELDS = (
    "legal_form",
    "tax_id",
    "registration",
    "domain",
    "phone",
    "country",
    "name",
    "city",
    "postal_code",
    "first_word",
    "name_head",
    "name_start",
)
HAS_ADDRESS = len(CODE_FIELDS)


@functools.lru_cache(maxsize=200_000)
def _value_code(value: str) -> int:
    """A stable 64-bit code of a non-empty value, never 0 (stored, so not Python's
    per-process hash). Two values sharing a code, vanishingly rare, could only raise the
    bound (equal weighs more than different), so it stays an upper bound."""
    code = int.from_bytes(
        hashlib.blake2b(value.encode(), digest_size=8).digest(), "little", signed=True
    )
    return code or 1


def equality_codes(features: Features) -> list[int]:
    """The record's codes in CODE_FIELDS order, then 1 if it has an address (else 0)."""
    return [
        *(
            _value_code(value) if (value := getattr(features, field)) else 0
            for field in CODE_FIELDS
        ),
        int(bool(features.postal_code or features.street)),
    ]


def has_bound(entity_type: str) -> bool:
    return entity_type in EQUALITY_FIELDS


# The bound and a pair's score add the same weights in different orders; this slack keeps
# a pair whose bound equals its weight from being dropped by a rounding difference.
BOUND_SLACK = 1e-9


def reachable_pairs(
    probes: Sequence[Sequence[int]] | np.ndarray,
    candidates: Sequence[Sequence[int]] | np.ndarray,
    probe_index: np.ndarray,
    candidate_index: np.ndarray,
    model: MatchModel,
    min_weight: float,
) -> np.ndarray:
    """``could_reach`` for incoming records against stored candidates, on their
    ``equality_codes`` (one row each): which pairs (``probes[probe_index[k]]``,
    ``candidates[candidate_index[k]]``) may reach ``min_weight``. Entity types without a
    known bound keep every pair."""
    equality_fields = EQUALITY_FIELDS.get(model.entity_type)
    if equality_fields is None or len(probe_index) == 0:
        return np.ones(len(probe_index), dtype=bool)
    width = len(CODE_FIELDS) + 1
    codes = np.concatenate(
        [
            np.asarray(probes, dtype=np.int64).reshape(-1, width),
            np.asarray(candidates, dtype=np.int64).reshape(-1, width),
        ]
    )
    return _bound_mask_of_codes(
        {field: codes[:, k] for k, field in enumerate(CODE_FIELDS)},
        codes[:, HAS_ADDRESS] != 0,
        np.asarray(probe_index, dtype=np.int64),
        np.asarray(candidate_index, dtype=np.int64) + len(probes),
        model,
        min_weight - BOUND_SLACK,
        equality_fields,
    )


def reachable_candidates(
    probe: Features, candidates: Sequence[Features], model: MatchModel, min_weight: float
) -> list[bool]:
    """``reachable_pairs`` of one record and its candidates."""
    n = len(candidates)
    if not has_bound(model.entity_type):
        return [True] * n
    return reachable_pairs(
        [equality_codes(probe)],
        [equality_codes(features) for features in candidates],
        np.zeros(n, dtype=np.int64),
        np.arange(n),
        model,
        min_weight,
    ).tolist()


__all__ = [
    "CODE_FIELDS",
    "candidate_pair_arrays",
    "could_reach",
    "equality_codes",
    "has_bound",
    "reachable_candidates",
    "reachable_pairs",
]
