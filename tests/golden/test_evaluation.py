"""Tests for golden.matching.evaluation: hand-computed values, edge cases, properties."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.matching.evaluation import (
    Metrics,
    bcubed,
    clusters_to_pairs,
    pair_completeness,
    pairwise_metrics,
    reduction_ratio,
    review_report,
    transitive_labels,
)

# Label sequences: few distinct labels so that clusters of several records are common.
labelings = st.lists(st.integers(0, 5), max_size=30)


@st.composite
def two_labelings(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    predicted = draw(labelings)
    truth = draw(st.lists(st.integers(0, 5), min_size=len(predicted), max_size=len(predicted)))
    return predicted, truth


def naive_pairs(labels: list) -> set[tuple[int, int]]:
    return {(i, j) for i, j in combinations(range(len(labels)), 2) if labels[i] == labels[j]}


# --------------------------------------------------------------------------- pairwise


def test_pairwise_metrics_hand_example() -> None:
    predicted = {(0, 1), (1, 2), (3, 4)}
    truth = {(0, 1), (0, 2), (1, 2), (5, 6)}
    m = pairwise_metrics(predicted, truth)
    assert (m.tp, m.fp, m.fn) == (2, 1, 2)
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(2 / 4)
    assert m.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_pairwise_metrics_ignores_pair_orientation() -> None:
    assert pairwise_metrics({(1, 0)}, {(0, 1)}) == Metrics(1.0, 1.0, 1.0, 1, 0, 0)


def test_pairwise_metrics_rejects_self_pairs() -> None:
    with pytest.raises(ValueError, match="itself"):
        pairwise_metrics({(3, 3)}, set())


@pytest.mark.parametrize(
    ("predicted", "truth", "expected"),
    [
        (set(), set(), Metrics(1.0, 1.0, 1.0, 0, 0, 0)),  # nothing claimed, nothing to find
        (set(), {(0, 1)}, Metrics(1.0, 0.0, 0.0, 0, 0, 1)),  # no claims: none wrong
        ({(0, 1)}, set(), Metrics(0.0, 1.0, 0.0, 0, 1, 0)),  # nothing to find: none missed
        ({(0, 1)}, {(2, 3)}, Metrics(0.0, 0.0, 0.0, 0, 1, 1)),  # F1 of 0 and 0 is 0
    ],
)
def test_pairwise_metrics_empty_conventions(predicted, truth, expected) -> None:
    assert pairwise_metrics(predicted, truth) == expected


# --------------------------------------------------------------------------- clusters → pairs


def test_clusters_to_pairs_groups_by_label() -> None:
    assert clusters_to_pairs(["a", "b", "a", "c", "a", "b"]) == {(0, 2), (0, 4), (2, 4), (1, 5)}
    assert clusters_to_pairs([]) == set()
    assert clusters_to_pairs([None, None]) == {(0, 1)}  # None is a label like any other


@given(labelings)
def test_clusters_to_pairs_matches_naive(labels: list[int]) -> None:
    assert clusters_to_pairs(labels) == naive_pairs(labels)


def test_transitive_labels_closes_chains() -> None:
    assert transitive_labels([(3, 4), (1, 3), (5, 6)], 7) == [0, 1, 2, 1, 1, 5, 5]
    assert transitive_labels([], 0) == []
    with pytest.raises(ValueError, match="outside"):
        transitive_labels([(0, 7)], 7)


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=15))
def test_transitive_labels_is_the_transitive_closure(pairs: list[tuple[int, int]]) -> None:
    labels = transitive_labels(pairs, 10)
    # Every given pair ends up together, and each label is the cluster's lowest record.
    assert all(labels[a] == labels[b] for a, b in pairs)
    assert all(labels[i] == min(j for j in range(10) if labels[j] == labels[i]) for i in range(10))
    # Nothing more is merged than the closure: a cluster is connected by the given pairs.
    for root in set(labels):
        members = {i for i in range(10) if labels[i] == root}
        reached, frontier = {root}, [root]
        while frontier:
            node = frontier.pop()
            for a, b in pairs:
                for x, y in ((a, b), (b, a)):
                    if x == node and y not in reached:
                        reached.add(y)
                        frontier.append(y)
        assert reached == members


# --------------------------------------------------------------------------- B-cubed


def test_bcubed_hand_example() -> None:
    # Truth: {0,1,2} {3,4}; prediction: {0,1} {2,3,4}.
    # Cells: (p1,a)=2, (p2,a)=1, (p2,b)=2; predicted sizes 2, 3; true sizes 3, 2.
    # Precision = (2·2/2 + 1·1/3 + 2·2/3) / 5 = 11/15; recall = (2·2/3 + 1·1/3 + 2·2/2) / 5 = 11/15.
    m = bcubed([1, 1, 2, 2, 2], ["a", "a", "a", "b", "b"])
    assert m.precision == pytest.approx(11 / 15)
    assert m.recall == pytest.approx(11 / 15)
    assert m.f1 == pytest.approx(11 / 15)
    # Pairwise counts: predicted {01, 23, 24, 34}, true {01, 02, 12, 34}.
    assert (m.tp, m.fp, m.fn) == (2, 2, 2)


def test_bcubed_one_big_cluster_and_all_singletons() -> None:
    truth = ["a", "a", "a", "b", "b"]
    lumped = bcubed([0] * 5, truth)
    # Each "a" record: 3 of its 5 cluster-mates are right; each "b": 2 of 5.
    assert lumped.precision == pytest.approx((3 * 3 / 5 + 2 * 2 / 5) / 5)  # 13/25
    assert lumped.recall == 1.0
    split = bcubed(list(range(5)), truth)
    assert split.precision == 1.0
    assert split.recall == pytest.approx((3 * (1 / 3) + 2 * (1 / 2)) / 5)  # 2/5
    assert (split.tp, split.fp, split.fn) == (0, 0, 4)


def test_bcubed_edge_cases() -> None:
    assert bcubed([], []) == Metrics(1.0, 1.0, 1.0, 0, 0, 0)
    assert bcubed(["x"], ["y"]) == Metrics(1.0, 1.0, 1.0, 0, 0, 0)
    with pytest.raises(ValueError, match="one each per record"):
        bcubed([1, 2], [1])


@given(labelings)
def test_bcubed_perfect_prediction_is_perfect(labels: list[int]) -> None:
    relabelled = [f"cluster-{label}" for label in labels]
    assert bcubed(relabelled, labels) == Metrics(1.0, 1.0, 1.0, len(naive_pairs(labels)), 0, 0)
    pairs = naive_pairs(labels)
    assert pairwise_metrics(pairs, pairs).f1 == 1.0


@given(two_labelings())
def test_bcubed_is_bounded_and_symmetric(data: tuple[list[int], list[int]]) -> None:
    predicted, truth = data
    m = bcubed(predicted, truth)
    assert 0.0 <= m.precision <= 1.0 and 0.0 <= m.recall <= 1.0 and 0.0 <= m.f1 <= 1.0
    if predicted:
        # Every record at least finds itself: precision ≥ 1/largest cluster, not 0.
        assert m.precision > 0 and m.recall > 0
    swapped = bcubed(truth, predicted)
    assert swapped.precision == pytest.approx(m.recall)
    assert swapped.recall == pytest.approx(m.precision)


@given(two_labelings(), st.permutations(range(6)))
def test_bcubed_invariant_to_relabelling(data, permutation) -> None:
    predicted, truth = data
    renamed = [("p", permutation[label]) for label in predicted]
    assert bcubed(renamed, truth) == bcubed(predicted, truth)
    assert bcubed(predicted, [permutation[label] for label in truth]) == bcubed(predicted, truth)


@given(two_labelings())
def test_bcubed_counts_are_the_pairwise_counts(data) -> None:
    predicted, truth = data
    counts = bcubed(predicted, truth)
    pairwise = pairwise_metrics(clusters_to_pairs(predicted), clusters_to_pairs(truth))
    assert (counts.tp, counts.fp, counts.fn) == (pairwise.tp, pairwise.fp, pairwise.fn)
    assert 0.0 <= pairwise.precision <= 1.0 and 0.0 <= pairwise.recall <= 1.0
    assert 0.0 <= pairwise.f1 <= 1.0


# --------------------------------------------------------------------------- review report


def test_review_report_hand_example() -> None:
    # Truth: {0,1,2} {3,4} {5,6}; 7 singleton; 8 records, 5 true pairs.
    truth = clusters_to_pairs([0, 0, 0, 3, 3, 5, 5, 7])
    # Auto links 0-1 and 1-7 chain 7 in wrongly: cluster {0,1,7} implies 01 (true), 07, 17.
    # Review: 1-2 (true: pulls 2 in), 3-4 (true), 4-6 (false, dropped); 5-6 never surfaced.
    report = review_report({(0, 1), (7, 1)}, {(2, 1), (3, 4), (4, 6)}, truth, 8)
    assert report == {
        "n_records": 8,
        "n_true_pairs": 5,
        "n_auto_links": 2,
        "n_auto_pairs": 3,
        "auto_tp": 1,
        "auto_fp": 2,
        "auto_precision": pytest.approx(1 / 3),
        "auto_recall": pytest.approx(1 / 5),
        "n_review_pairs": 3,
        "review_true": 2,
        "review_precision": pytest.approx(2 / 3),
        "review_per_1000": pytest.approx(3 / 8 * 1000),
        # Final clusters {0,1,2,7} {3,4}: true pairs 01 02 12 34 covered, 56 missed.
        "recall_after_review": pytest.approx(4 / 5),
        # {0,1,2,7} implies 6 pairs + {3,4} one: 7 pairs, 4 of them true.
        "precision_after_review": pytest.approx(4 / 7),
    }


def test_review_report_accepts_predicted_cluster_labels() -> None:
    truth = clusters_to_pairs(["a", "a", "a", "b", "b", "c"])
    from_labels = review_report(set(), set(), truth, 6, auto_labels=["x", "x", "y", "z", "z", "w"])
    from_links = review_report({(0, 1), (3, 4)}, set(), truth, 6)
    assert from_labels == {**from_links, "n_auto_links": 0}
    assert from_labels["auto_precision"] == 1.0
    assert from_labels["auto_recall"] == pytest.approx(2 / 4)
    # Labels and links combine: the link 1-2 joins label clusters "x" and "y".
    joined = review_report({(1, 2)}, set(), truth, 6, auto_labels=["x", "x", "y", "z", "z", "w"])
    assert joined["auto_recall"] == 1.0 and joined["auto_precision"] == 1.0


def test_review_report_edge_cases() -> None:
    empty = review_report(set(), set(), set(), 0)
    assert empty["auto_precision"] == 1.0 and empty["recall_after_review"] == 1.0
    assert empty["review_per_1000"] == 0.0
    nothing_found = review_report(set(), set(), {(0, 1)}, 2)
    assert nothing_found["auto_recall"] == 0.0 and nothing_found["recall_after_review"] == 0.0
    with pytest.raises(ValueError, match="auto labels"):
        review_report(set(), set(), set(), 3, auto_labels=[1, 2])
    with pytest.raises(ValueError, match="outside"):
        review_report(set(), set(), {(0, 5)}, 3)


@settings(max_examples=60)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=20),
    st.data(),
)
def test_review_report_with_perfect_review_reaches_full_recall(truth_labels, data) -> None:
    n = len(truth_labels)
    truth = clusters_to_pairs(truth_labels)
    index = st.integers(0, n - 1)
    auto = data.draw(st.sets(st.tuples(index, index).filter(lambda p: p[0] != p[1]), max_size=8))
    report = review_report(auto, truth, truth, n)  # every true pair goes to review
    assert report["recall_after_review"] == 1.0
    assert report["review_precision"] == 1.0
    for key in ("auto_precision", "auto_recall", "precision_after_review"):
        assert 0.0 <= report[key] <= 1.0
    assert report["auto_recall"] <= report["recall_after_review"]


# --------------------------------------------------------------------------- blocking


def test_pair_completeness() -> None:
    assert pair_completeness({(0, 1), (2, 3), (4, 5)}, {(1, 0), (3, 5)}) == 0.5
    assert pair_completeness(set(), set()) == 1.0
    assert pair_completeness(set(), {(0, 1)}) == 0.0


def test_reduction_ratio() -> None:
    assert reduction_ratio(0, 100) == 1.0
    assert reduction_ratio(4950, 100) == 0.0
    assert reduction_ratio(495, 100) == pytest.approx(0.9)
    assert reduction_ratio(0, 1) == 1.0 and reduction_ratio(0, 0) == 1.0
    with pytest.raises(ValueError):
        reduction_ratio(4951, 100)
    with pytest.raises(ValueError):
        reduction_ratio(-1, 100)
