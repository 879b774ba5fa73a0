"""Batch matching: block, score and cluster many records at once, in memory, on all cores.

Incremental matching (``golden.matching.find_matches``) and this module share features,
comparators, weights and thresholds. Clustering is greedy by descending weight over
auto-link pairs with a conflict check, so the result does not depend on the order the
records arrived in, and two records with different valid tax IDs never end up in one
cluster through a chain of links.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from golden.matching.blocking import MAX_BLOCK_SIZE, blocking_keys
from golden.matching.comparators import MISSING, compare
from golden.matching.features import Features
from golden.matching.pairs import candidate_pair_arrays, could_reach
from golden.matching.scoring import (
    MatchModel,
    hard_rule_vetoes,
    links_as_sole_candidate,
    probability_of,
    weight_for,
)

LINK, REVIEW = 2, 1


@dataclass
class BatchResult:
    n_records: int
    n_pairs: int
    labels: list[int]
    compared_pairs: int = 0
    auto_pairs: list[tuple[int, int, float]] = field(default_factory=list)
    review_pairs: list[tuple[int, int, float]] = field(default_factory=list)
    refused_links: int = 0
    sole_candidate_links: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def score_pairs(
    features: Sequence[Features], model: MatchModel, pairs: Iterable[tuple[int, int]]
) -> list[tuple[int, int, float, int]]:
    """(i, j, weight, LINK|REVIEW) for the pairs at or above the review threshold."""
    review_weight = weight_for(model.thresholds.review)
    link_weight = weight_for(model.thresholds.auto_link)
    out = []
    for i, j in pairs:
        levels = compare(model.entity_type, features[i], features[j])
        weight = model.prior + sum(
            model.weight(name, level) for name, level in levels.items() if level != MISSING
        )
        if weight < review_weight:
            continue
        vetoed = bool(hard_rule_vetoes(levels))
        if weight >= link_weight:
            out.append((i, j, weight, REVIEW if vetoed else LINK))
        elif not vetoed:
            out.append((i, j, weight, REVIEW))
    return out


# What forked scoring processes read: set before the pool starts, shared copy-on-write.
_FEATURES: Sequence[Features] = ()
_MODEL: MatchModel | None = None
_LEFT = _RIGHT = np.empty(0, dtype=np.int32)


def _score_range(bounds: tuple[int, int]) -> list[tuple[int, int, float, int]]:
    assert _MODEL is not None
    start, end = bounds
    pairs = zip(_LEFT[start:end].tolist(), _RIGHT[start:end].tolist(), strict=True)
    return score_pairs(_FEATURES, _MODEL, pairs)


def score_pair_arrays(
    features: Sequence[Features],
    model: MatchModel,
    left: np.ndarray,
    right: np.ndarray,
    *,
    workers: int = 2,
    min_parallel: int = 20_000,
) -> list[tuple[int, int, float, int]]:
    """``score_pairs`` over index arrays, in ``workers`` processes once there are at least
    ``min_parallel`` pairs (below that, starting processes costs more)."""
    global _FEATURES, _MODEL, _LEFT, _RIGHT
    n = len(left)
    if workers <= 1 or n < min_parallel:
        return score_pairs(features, model, zip(left.tolist(), right.tolist(), strict=True))
    size = max(n // (workers * 8), min(5_000, min_parallel) or 1)
    _FEATURES, _MODEL, _LEFT, _RIGHT = features, model, left, right
    try:
        # Fork shares the features and pair arrays with the workers without pickling them.
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            ranges = [(k, min(k + size, n)) for k in range(0, n, size)]
            return [row for rows in pool.imap_unordered(_score_range, ranges) for row in rows]
    finally:
        _FEATURES, _MODEL = (), None
        _LEFT = _RIGHT = np.empty(0, dtype=np.int32)


def pairs_to_compare(
    features: Sequence[Features], model: MatchModel, max_block: int = MAX_BLOCK_SIZE
) -> tuple[int, np.ndarray, np.ndarray]:
    """(candidate pair count, left, right) of the blocked pairs that may reach the review
    band: pairs that cannot are dropped before any comparator runs."""
    left, right = candidate_pair_arrays((blocking_keys(f) for f in features), max_block)
    reachable = could_reach(features, left, right, model, weight_for(model.thresholds.review))
    return len(left), left[reachable], right[reachable]


def _demote_ambiguous_links(
    scored: list[tuple[int, int, float, int]], features: Sequence[Features]
) -> list[tuple[int, int, float, int]]:
    """A record that links to records which cannot be one entity (different tax IDs,
    legal forms or countries) is ambiguous: all its links go to review instead."""
    partners: dict[int, list[int]] = {}
    for i, j, _, kind in scored:
        if kind == LINK:
            partners.setdefault(i, []).append(j)
            partners.setdefault(j, []).append(i)
    ambiguous = {
        i
        for i, others in partners.items()
        if len(others) > 1 and any(_conflicting(features, others, trait) for trait in TRAITS)
    }
    return [
        (i, j, w, REVIEW if kind == LINK and (i in ambiguous or j in ambiguous) else kind)
        for i, j, w, kind in scored
    ]


# What one entity cannot have two of: IDs, legal form and country (customers, legal
# entities), the customer of a project, the category of a service code.
TRAITS = ("tax_id", "registration", "legal_form", "country", "parent")


def _conflicting(features: Sequence[Features], indices: list[int], trait: str) -> bool:
    return len({getattr(features[k], trait) for k in indices} - {""}) > 1


class _Clusters:
    """Union-find that refuses to join clusters holding different ``TRAITS`` (tax IDs, legal
    forms, countries, a project's customers…): a record with no legal form may link to
    "Acme GmbH" or to "Acme AG", but it must not chain the two together."""

    def __init__(self, features: Sequence[Features]) -> None:
        self.features = features
        self.parent = list(range(len(features)))
        # Traits of cluster roots, built on a root's first union: most records never link.
        self.traits: dict[int, dict[str, set[str]]] = {}

    def _traits(self, root: int) -> dict[str, set[str]]:
        if root not in self.traits:
            f = self.features[root]
            self.traits[root] = {trait: {value} for trait in TRAITS if (value := getattr(f, trait))}
        return self.traits[root]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        left, right = self._traits(a), self._traits(b)
        if any(name in right and not (values & right[name]) for name, values in left.items()):
            return False
        if a > b:
            a, b, left, right = b, a, right, left
        for name, values in right.items():
            left[name] = left.get(name, set()) | values
        del self.traits[b]
        self.parent[b] = a
        return True


def _promote_sole_candidates(
    review: list[tuple[int, int, float]],
    clusters: _Clusters,
    features: Sequence[Features],
    model: MatchModel,
) -> list[tuple[int, int, float]]:
    """Join two clusters whose only review candidates are each other, when their best
    pair passes ``links_as_sole_candidate`` and the clusters do not conflict. Decided on
    the clusters as they stand after the auto-links, in one pass, so the outcome does not
    depend on record order."""
    best: dict[tuple[int, int], tuple[int, int, float]] = {}
    neighbours: dict[int, set[int]] = {}
    for i, j, weight in review:
        a, b = clusters.find(i), clusters.find(j)
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
        key = (min(a, b), max(a, b))
        if key not in best or (-weight, i, j) < (-best[key][2], best[key][0], best[key][1]):
            best[key] = (i, j, weight)
    promoted = []
    for (a, b), (i, j, weight) in sorted(best.items()):
        if len(neighbours[a]) != 1 or len(neighbours[b]) != 1:
            continue
        levels = compare(model.entity_type, features[i], features[j])
        if links_as_sole_candidate(model, probability_of(weight), levels) and clusters.union(i, j):
            promoted.append((i, j, weight))
    return promoted


def match_batch(
    features: Sequence[Features],
    model: MatchModel,
    *,
    workers: int = 2,
    max_block: int = MAX_BLOCK_SIZE,
    min_parallel: int = 20_000,
) -> BatchResult:
    """Block, score (on ``workers`` processes) and cluster ``features``."""
    started = time.perf_counter()
    n_pairs, left, right = pairs_to_compare(features, model, max_block)
    blocked = time.perf_counter()
    scored = score_pair_arrays(
        features, model, left, right, workers=workers, min_parallel=min_parallel
    )
    scored_at = time.perf_counter()
    result = cluster_scored(features, model, scored)
    result.n_pairs, result.compared_pairs = n_pairs, len(left)
    result.seconds = {
        "blocking": blocked - started,
        "scoring": scored_at - blocked,
        "clustering": time.perf_counter() - scored_at,
    }
    return result


def cluster_scored(
    features: Sequence[Features], model: MatchModel, scored: list[tuple[int, int, float, int]]
) -> BatchResult:
    """Clusters from scored pairs, however they were scored (here or in partitions)."""
    scored = _demote_ambiguous_links(scored, features)
    # Strongest evidence first, ties by index: order-independent and deterministic.
    scored.sort(key=lambda row: (-row[2], row[0], row[1]))
    clusters = _Clusters(features)
    result = BatchResult(len(features), 0, [])
    review: dict[tuple[int, int], tuple[int, int, float]] = {}
    for i, j, weight, kind in scored:
        if kind == LINK and clusters.union(i, j):
            result.auto_pairs.append((i, j, weight))
            continue
        result.refused_links += kind == LINK
        review.setdefault((i, j), (i, j, weight))
    promoted = _promote_sole_candidates(
        [row for row in review.values() if clusters.find(row[0]) != clusters.find(row[1])],
        clusters,
        features,
        model,
    )
    result.auto_pairs += promoted
    result.sole_candidate_links = len(promoted)
    result.labels = [clusters.find(i) for i in range(len(features))]
    # A review pair inside one cluster is already settled by stronger links.
    result.review_pairs = [
        row for row in review.values() if result.labels[row[0]] != result.labels[row[1]]
    ]
    return result
