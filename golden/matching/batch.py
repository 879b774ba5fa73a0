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
from collections.abc import Sequence
from dataclasses import dataclass, field

from golden.matching.blocking import MAX_BLOCK_SIZE, blocking_keys
from golden.matching.comparators import MISSING, compare
from golden.matching.features import Features
from golden.matching.pairs import candidate_pair_arrays, could_reach
from golden.matching.scoring import (
    MatchModel,
    hard_rule_vetoes,
    links_as_sole_candidate,
    probability_of,
)

LINK, REVIEW = 2, 1

_FEATURES: Sequence[Features] = ()
_MODEL: MatchModel | None = None


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


def _score_chunk(pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int, float, int]]:
    """(i, j, weight, LINK|REVIEW) for pairs above the review threshold."""
    assert _MODEL is not None
    model, features = _MODEL, _FEATURES
    review_weight = _weight_for(model.thresholds.review)
    link_weight = _weight_for(model.thresholds.auto_link)
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


def _weight_for(probability: float) -> float:
    import math

    probability = min(max(probability, 1e-12), 1 - 1e-12)
    return math.log2(probability / (1 - probability))


def _score_all(
    pairs: list[tuple[int, int]], workers: int, min_parallel: int
) -> list[tuple[int, int, float, int]]:
    if workers <= 1 or len(pairs) < min_parallel:
        return _score_chunk(pairs)
    size = max(len(pairs) // (workers * 8), min(5_000, min_parallel) or 1)
    chunks = [pairs[k : k + size] for k in range(0, len(pairs), size)]
    # Fork shares the features with the workers without pickling them.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return [row for chunk in pool.imap_unordered(_score_chunk, chunks) for row in chunk]


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


TRAITS = ("tax_id", "legal_form", "country")


def _conflicting(features: Sequence[Features], indices: list[int], trait: str) -> bool:
    return len({getattr(features[k], trait) for k in indices} - {""}) > 1


class _Clusters:
    """Union-find that refuses to join clusters holding different tax IDs, legal forms or
    countries: a record with no legal form may link to "Acme GmbH" or to "Acme AG", but it
    must not chain the two together."""

    def __init__(self, features: Sequence[Features]) -> None:
        self.parent = list(range(len(features)))
        self.traits = [
            {
                k: {v}
                for k, v in (("tax", f.tax_id), ("form", f.legal_form), ("country", f.country))
                if v
            }
            for f in features
        ]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return True
        left, right = self.traits[a], self.traits[b]
        if any(name in right and not (values & right[name]) for name, values in left.items()):
            return False
        if a > b:
            a, b = b, a
        merged = self.traits[a]
        for name, values in self.traits[b].items():
            merged[name] = merged.get(name, set()) | values
        self.traits[b] = {}
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
    """Cluster ``features``; pairs are scored in ``workers`` processes once there are at
    least ``min_parallel`` of them (below that, starting processes costs more)."""
    global _FEATURES, _MODEL
    started = time.perf_counter()
    left, right = candidate_pair_arrays([blocking_keys(f) for f in features], max_block)
    n_pairs = len(left)
    # Pairs that cannot reach the review band are dropped before any comparator runs.
    reachable = could_reach(features, left, right, model, _weight_for(model.thresholds.review))
    pairs = list(zip(left[reachable].tolist(), right[reachable].tolist(), strict=True))
    del left, right, reachable
    blocked = time.perf_counter()
    _FEATURES, _MODEL = features, model
    try:
        scored = _score_all(pairs, workers, min_parallel)
    finally:
        _FEATURES, _MODEL = (), None
    scored_at = time.perf_counter()
    scored = _demote_ambiguous_links(scored, features)
    # Strongest evidence first, ties by index: order-independent and deterministic.
    scored.sort(key=lambda row: (-row[2], row[0], row[1]))
    clusters = _Clusters(features)
    result = BatchResult(len(features), n_pairs, [], compared_pairs=len(pairs))
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
    result.seconds = {
        "blocking": blocked - started,
        "scoring": scored_at - blocked,
        "clustering": time.perf_counter() - scored_at,
    }
    return result
