"""How good is a matching run? Metrics against ground truth (e.g. ``golden.synthetic``).

Records are indices 0..n-1; a pair is ``(i, j)`` with i < j (pairs given the other way round
are turned around; a record paired with itself is an error). Clusterings are given as one
label per record: records with equal labels are one entity, so a singleton needs a label
of its own (``None`` is a label like any other, not "unclustered").

Conventions for empty denominators, chosen so that no input raises ZeroDivisionError and
"nothing claimed, nothing missed" scores perfectly:

- precision with no predicted pairs is 1.0 (no claim was wrong);
- recall with no true pairs is 1.0 (nothing was there to find);
- F1 is 0.0 when precision and recall are both 0, else their harmonic mean.

Pure: no ORM, no settings. Cluster metrics count pairs without listing them, so a giant
wrong cluster costs O(records), not O(records²).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

Pair = tuple[int, int]

__all__ = [
    "Metrics",
    "bcubed",
    "clusters_to_pairs",
    "pair_completeness",
    "pairwise_metrics",
    "reduction_ratio",
    "review_report",
    "transitive_labels",
]


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 1.0 when the denominator is 0 (see module conventions)."""
    return numerator / denominator if denominator else 1.0


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2.0 * precision * recall / total if total else 0.0


def _metrics(tp: int, fp: int, fn: int) -> Metrics:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return Metrics(precision, recall, _f1(precision, recall), tp, fp, fn)


def _canonical(pairs: Iterable[Pair]) -> set[Pair]:
    """Pairs as (low, high), deduplicated."""
    result = set()
    for left, right in pairs:
        if left == right:
            raise ValueError(f"record {left} is paired with itself")
        result.add((left, right) if left < right else (right, left))
    return result


def _pairs_in(size: int) -> int:
    return size * (size - 1) // 2


# --------------------------------------------------------------------------- pairs


def pairwise_metrics(predicted_pairs: Iterable[Pair], true_pairs: Iterable[Pair]) -> Metrics:
    """Precision, recall and F1 of predicted duplicate pairs against the true ones."""
    predicted, truth = _canonical(predicted_pairs), _canonical(true_pairs)
    tp = len(predicted & truth)
    return _metrics(tp, len(predicted) - tp, len(truth) - tp)


def clusters_to_pairs(labels: Sequence[Hashable]) -> set[Pair]:
    """Every pair (i, j), i < j, of records sharing a label. Grouping first keeps this
    linear in the output; mind that a cluster of k records yields k(k-1)/2 pairs."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[label].append(index)  # indices arrive ascending, so pairs come out (low, high)
    return {pair for members in groups.values() for pair in combinations(members, 2)}


def transitive_labels(pairs: Iterable[Pair], n_records: int) -> list[int]:
    """Cluster labels of the transitive closure of ``pairs`` over records 0..n-1
    (union–find); each cluster is labelled by its lowest record index."""
    parent = list(range(n_records))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps the trees flat
            x = parent[x]
        return x

    for left, right in pairs:
        if not (0 <= left < n_records and 0 <= right < n_records):
            raise ValueError(f"pair ({left}, {right}) is outside 0..{n_records - 1}")
        root_left, root_right = find(left), find(right)
        if root_left != root_right:
            # The lower index becomes the root, so labels are each cluster's lowest record.
            low, high = sorted((root_left, root_right))
            parent[high] = low
    return [find(x) for x in range(n_records)]


# --------------------------------------------------------------------------- clusters


def _check_lengths(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> None:
    if len(predicted) != len(truth):
        raise ValueError(
            f"{len(predicted)} predicted labels for {len(truth)} true labels: one each per record"
        )


def bcubed(predicted_labels: Sequence[Hashable], true_labels: Sequence[Hashable]) -> Metrics:
    """B-cubed precision and recall (Bagga & Baldwin 1998; Amigó et al. 2009).

    Per record: precision is the share of its predicted cluster (itself included) that is
    truly its entity, recall the share of its true entity that is in its predicted cluster;
    both are averaged over records. Each (predicted, true) cell of n records contributes
    n × n / |cluster| to the sums, so one pass of counting suffices.

    B-cubed has no counts of its own, so ``tp``/``fp``/``fn`` carry the pairwise counts of
    the same clusterings (as ``pairwise_metrics(clusters_to_pairs(...), ...)`` would);
    precision ≠ tp / (tp + fp) here. No records scores 1.0 / 1.0.
    """
    _check_lengths(predicted_labels, true_labels)
    n = len(predicted_labels)
    predicted_sizes = Counter(predicted_labels)
    true_sizes = Counter(true_labels)
    cells = Counter(zip(predicted_labels, true_labels, strict=True))
    precision_sum = recall_sum = 0.0
    tp = 0
    for (predicted, truth), size in cells.items():
        precision_sum += size * size / predicted_sizes[predicted]
        recall_sum += size * size / true_sizes[truth]
        tp += _pairs_in(size)
    precision, recall = _ratio(precision_sum, n), _ratio(recall_sum, n)
    predicted_pairs = sum(_pairs_in(size) for size in predicted_sizes.values())
    true_pair_count = sum(_pairs_in(size) for size in true_sizes.values())
    return Metrics(
        precision, recall, _f1(precision, recall), tp, predicted_pairs - tp, true_pair_count - tp
    )


def _cluster_pair_counts(labels: Sequence[Hashable], truth: set[Pair]) -> tuple[int, int]:
    """(pairs the clustering implies, true pairs among them), without listing the former."""
    implied = sum(_pairs_in(size) for size in Counter(labels).values())
    return implied, sum(1 for left, right in truth if labels[left] == labels[right])


def review_report(
    auto_pairs: Iterable[Pair],
    review_pairs: Iterable[Pair],
    true_pairs: Iterable[Pair],
    n_records: int,
    *,
    auto_labels: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
    """What auto-linking and steward review achieve together.

    Auto-links merge transitively, so auto precision and recall are those of the clusters
    that ``auto_pairs`` imply — or of ``auto_labels`` (predicted cluster labels, one per
    record) when given, merged further by any ``auto_pairs``. Stewards are assumed to decide
    every review pair correctly: the true ones are merged into the auto clusters (again
    transitively), the false ones dropped. Review load is review pairs per 1,000 records.

    Keys: ``n_records``, ``n_true_pairs``, ``n_auto_links`` (links given), ``n_auto_pairs``
    (pairs the auto clusters imply), ``auto_tp``, ``auto_fp``, ``auto_precision``,
    ``auto_recall``, ``n_review_pairs``, ``review_true`` (review pairs that are true
    matches), ``review_precision`` (their share), ``review_per_1000``,
    ``recall_after_review``, ``precision_after_review``.
    """
    if n_records < 0:
        raise ValueError("n_records must be >= 0")
    links, reviews, truth = _canonical(auto_pairs), _canonical(review_pairs), _canonical(true_pairs)
    if any(high >= n_records for _, high in truth) or any(low < 0 for low, _ in truth):
        raise ValueError(f"a true pair is outside records 0..{n_records - 1}")
    base = list(range(n_records)) if auto_labels is None else list(auto_labels)
    if len(base) != n_records:
        raise ValueError(f"{len(base)} auto labels for {n_records} records")
    # Relabel to the lowest index of each label's records, then union the links on top.
    first: dict[Hashable, int] = {}
    seed_pairs = [(first.setdefault(label, i), i) for i, label in enumerate(base)]
    auto = transitive_labels(
        [pair for pair in seed_pairs if pair[0] != pair[1]] + list(links), n_records
    )
    auto_implied, auto_tp = _cluster_pair_counts(auto, truth)

    review_true = reviews & truth
    # Merged clusters: each auto cluster joined to its lowest record, plus accepted reviews.
    final = transitive_labels(
        [(label, i) for i, label in enumerate(auto) if label != i] + list(review_true),
        n_records,
    )
    final_implied, final_tp = _cluster_pair_counts(final, truth)
    return {
        "n_records": n_records,
        "n_true_pairs": len(truth),
        "n_auto_links": len(links),
        "n_auto_pairs": auto_implied,
        "auto_tp": auto_tp,
        "auto_fp": auto_implied - auto_tp,
        "auto_precision": _ratio(auto_tp, auto_implied),
        "auto_recall": _ratio(auto_tp, len(truth)),
        "n_review_pairs": len(reviews),
        "review_true": len(review_true),
        "review_precision": _ratio(len(review_true), len(reviews)),
        "review_per_1000": len(reviews) / n_records * 1000.0 if n_records else 0.0,
        "recall_after_review": _ratio(final_tp, len(truth)),
        "precision_after_review": _ratio(final_tp, final_implied),
    }


# --------------------------------------------------------------------------- blocking


def pair_completeness(candidate_pairs: Iterable[Pair], true_pairs: Iterable[Pair]) -> float:
    """Blocking recall: the share of true pairs that blocking makes candidates (1.0 when
    there are no true pairs)."""
    candidates, truth = _canonical(candidate_pairs), _canonical(true_pairs)
    return _ratio(len(candidates & truth), len(truth))


def reduction_ratio(n_candidates: int, n_records: int) -> float:
    """1 − candidates / all n(n−1)/2 pairs: the share of comparisons blocking saves.
    With fewer than two records there is nothing to compare and nothing compared: 1.0."""
    total = _pairs_in(n_records)
    if n_candidates < 0 or n_candidates > total:
        raise ValueError(f"{n_candidates} candidates is not between 0 and {total}")
    return 1.0 - n_candidates / total if total else 1.0
