"""Tests for golden.matching.estimate: EM recovers a known model, label frequencies,
blending, and an end-to-end run on synthetic multi-system customers."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import normalize
from golden.matching.blocking import blocking_keys, candidate_pairs
from golden.matching.comparators import MISSING
from golden.matching.estimate import (
    EmResult,
    LabelledMu,
    combine,
    default_fields_levels,
    estimate_em,
    estimate_from_labels,
    iter_level_vectors,
    level_vectors_for_pairs,
    to_model,
)
from golden.matching.features import Features, features_of
from golden.matching.scoring import DEFAULT_MU, MatchModel, score_pair
from golden.synthetic import generate_customers, true_pairs

# A known model: four fields, levels strongest agreement first, some values missing.
TRUE_MU = {
    "name": {"exact": (0.6, 0.01), "similar": (0.3, 0.09), "different": (0.1, 0.9)},
    "tax_id": {"same": (0.9, 0.002), "different": (0.1, 0.998)},
    "city": {"same": (0.8, 0.2), "different": (0.2, 0.8)},
    "phone": {"same": (0.7, 0.01), "different": (0.3, 0.99)},
}
TRUE_LAMBDA = 0.15
P_MISSING = {"name": 0.0, "tax_id": 0.6, "city": 0.2, "phone": 0.5}
FIELDS_LEVELS = {name: list(levels) for name, levels in TRUE_MU.items()}


def simulate(n: int, seed: int) -> tuple[list[dict[str, str]], list[bool]]:
    """Level vectors drawn from TRUE_MU / TRUE_LAMBDA, with their true match status."""
    rng = random.Random(seed)
    vectors, labels = [], []
    for _ in range(n):
        match = rng.random() < TRUE_LAMBDA
        vector = {}
        for name, levels in TRUE_MU.items():
            if rng.random() < P_MISSING[name]:
                vector[name] = MISSING
                continue
            weights = [m if match else u for m, u in levels.values()]
            vector[name] = rng.choices(list(levels), weights)[0]
        vectors.append(vector)
        labels.append(match)
    return vectors, labels


@pytest.fixture(scope="module")
def simulated() -> tuple[list[dict[str, str]], list[bool]]:
    return simulate(40_000, seed=20240611)


def assert_probabilities(mu: dict[str, dict[str, tuple[float, float]]]) -> None:
    """Every m and u is > 0 and each sums to 1 over a field's levels."""
    for levels in mu.values():
        for m, u in levels.values():
            assert m > 0.0 and u > 0.0
        assert sum(m for m, _ in levels.values()) == pytest.approx(1.0)
        assert sum(u for _, u in levels.values()) == pytest.approx(1.0)


# --------------------------------------------------------------------------- EM


def test_em_recovers_known_parameters(simulated) -> None:
    vectors, _ = simulated
    result = estimate_em(vectors, FIELDS_LEVELS, max_iter=500)
    assert result.converged
    assert result.n_pairs == 40_000
    assert result.match_proportion == pytest.approx(TRUE_LAMBDA, abs=0.01)
    for name, levels in TRUE_MU.items():
        for level, (m, u) in levels.items():
            est_m, est_u = result.mu[name][level]
            assert est_m == pytest.approx(m, abs=0.03), (name, level)
            assert est_u == pytest.approx(u, abs=0.01), (name, level)
    assert_probabilities(result.mu)


def test_em_from_a_given_start_reaches_the_same_answer(simulated) -> None:
    vectors, _ = simulated
    generic = estimate_em(vectors, FIELDS_LEVELS, max_iter=500)
    skewed = {  # a poor but right-leaning start, including a 0 that must not break log()
        "name": {"exact": (0.4, 0.0), "similar": (0.4, 0.2), "different": (0.2, 0.8)},
        "tax_id": {"same": (0.6, 0.1), "different": (0.4, 0.9)},
    }
    started = estimate_em(vectors, FIELDS_LEVELS, initial=skewed, prior=0.3, max_iter=500)
    assert started.match_proportion == pytest.approx(generic.match_proportion, abs=1e-4)
    for name, levels in generic.mu.items():
        for level, (m, u) in levels.items():
            assert started.mu[name][level][0] == pytest.approx(m, abs=1e-3)
            assert started.mu[name][level][1] == pytest.approx(u, abs=1e-3)


def test_em_log_likelihood_rises(simulated) -> None:
    result = estimate_em(simulated[0], FIELDS_LEVELS, max_iter=500)
    trace = result.log_likelihood
    assert len(trace) == result.iterations + 1
    # EM never lowers the likelihood; the pseudo-count (a tiny prior) may shift it by a hair.
    assert all(b >= a - 1e-6 * abs(a) for a, b in zip(trace, trace[1:], strict=False))
    assert trace[-1] > trace[0]


def test_em_is_invariant_to_pair_order(simulated) -> None:
    vectors, _ = simulated
    shuffled = list(vectors)
    random.Random(5).shuffle(shuffled)
    first = estimate_em(vectors, FIELDS_LEVELS)
    second = estimate_em(shuffled, FIELDS_LEVELS)
    # Patterns are processed in a canonical order, so even the floats agree exactly.
    assert first == second


def test_em_stops_at_max_iter() -> None:
    vectors, _ = simulate(2_000, seed=1)
    result = estimate_em(vectors, FIELDS_LEVELS, max_iter=2, tol=0.0)
    assert result.iterations == 2 and not result.converged
    assert len(result.log_likelihood) == 3


def test_em_has_no_zero_probabilities_for_unseen_levels() -> None:
    # "similar" never occurs, phone is always missing, tax_id absent from every vector.
    vectors = [{"name": "exact", "city": "same", "phone": MISSING}] * 50 + [
        {"name": "different", "city": "different", "phone": MISSING}
    ] * 950
    result = estimate_em(vectors, FIELDS_LEVELS)
    assert_probabilities(result.mu)
    assert result.mu["phone"]["same"] == pytest.approx((0.5, 0.5))  # no evidence: uniform
    assert result.expected_matches["phone"] == 0.0
    assert 0.0 < result.match_proportion < 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["exact", "similar", "different", MISSING]),
                "tax_id": st.sampled_from(["same", "different", MISSING]),
            }
        ),
        min_size=1,
        max_size=60,
    )
)
def test_em_probabilities_are_never_zero(vectors) -> None:
    fields_levels = {"name": FIELDS_LEVELS["name"], "tax_id": FIELDS_LEVELS["tax_id"]}
    result = estimate_em(vectors, fields_levels, max_iter=50)
    assert_probabilities(result.mu)
    assert 0.0 < result.match_proportion < 1.0
    assert all(math.isfinite(x) for x in result.log_likelihood)


def test_em_reads_a_generator_once_and_ignores_unlisted_fields() -> None:
    vectors, _ = simulate(3_000, seed=2)
    extended = [{**v, "country": "same"} for v in vectors]
    from_list = estimate_em(vectors, FIELDS_LEVELS)
    from_generator = estimate_em((v for v in extended), FIELDS_LEVELS)
    assert from_generator == from_list


def test_em_aggregates_millions_of_pairs_into_patterns() -> None:
    vectors, _ = simulate(500, seed=3)
    many = vectors * 2_000  # a million pairs, the same few dozen patterns
    result = estimate_em(many, FIELDS_LEVELS, max_iter=20)
    assert result.n_pairs == 1_000_000
    assert result.n_patterns < 100


def test_em_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown level 'fuzzy'"):
        estimate_em([{"name": "fuzzy"}], FIELDS_LEVELS)
    with pytest.raises(ValueError, match="not a level"):
        estimate_em([{"name": "exact"}], {"name": ["exact", MISSING]})
    with pytest.raises(ValueError, match="no level vectors"):
        estimate_em([], FIELDS_LEVELS)
    with pytest.raises(ValueError, match="empty"):
        estimate_em([{"name": "exact"}], {})
    with pytest.raises(ValueError, match="prior"):
        estimate_em([{"name": "exact"}], FIELDS_LEVELS, prior=0.0)


def test_match_probability_and_prior_weight(simulated) -> None:
    result = estimate_em(simulated[0], FIELDS_LEVELS)
    agree = {"name": "exact", "tax_id": "same", "city": "same", "phone": "same"}
    disagree = {"name": "different", "tax_id": "different", "city": "different"}
    assert result.match_probability(agree) > 0.999
    assert result.match_probability(disagree) < 0.001
    assert result.match_probability({}) == pytest.approx(result.match_proportion)
    lam = result.match_proportion
    assert result.prior_weight == pytest.approx(math.log2(lam / (1 - lam)))


# --------------------------------------------------------------------------- labels


def test_estimate_from_labels_hand_example() -> None:
    fields_levels = {"name": ["exact", "different"], "tax_id": ["same", "different"]}
    vectors = [
        {"name": "exact", "tax_id": "same"},
        {"name": "exact", "tax_id": MISSING},
        {"name": "different", "tax_id": "same"},
        {"name": "different", "tax_id": "different"},
        {"name": "different"},  # tax_id absent: missing
    ]
    labels = [True, True, True, False, False]
    mu = estimate_from_labels(vectors, labels, fields_levels, pseudo_count=0.5)
    # name among matches: exact 2, different 1 → (2.5/4, 1.5/4); non-matches: 0, 2 → (.5/3, 2.5/3)
    # tax_id among matches: same 2 → (2.5/3, .5/3); non-matches: different 1 → (.5/2, 1.5/2)
    assert mu == {
        "name": {"exact": (2.5 / 4, 0.5 / 3), "different": (1.5 / 4, 2.5 / 3)},
        "tax_id": {"same": (2.5 / 3, 0.5 / 2), "different": (0.5 / 3, 1.5 / 2)},
    }
    assert mu.matches == {"name": 3, "tax_id": 2}
    assert mu.nonmatches == {"name": 2, "tax_id": 1}


def test_estimate_from_labels_approaches_the_truth(simulated) -> None:
    vectors, labels = simulated
    mu = estimate_from_labels(vectors, labels, FIELDS_LEVELS)
    for name, levels in TRUE_MU.items():
        for level, (m, u) in levels.items():
            assert mu[name][level][0] == pytest.approx(m, abs=0.03)
            assert mu[name][level][1] == pytest.approx(u, abs=0.01)


def test_estimate_from_labels_edge_cases() -> None:
    only_matches = estimate_from_labels([{"name": "exact"}] * 3, [True] * 3, FIELDS_LEVELS)
    assert_probabilities(only_matches)
    assert only_matches["name"]["exact"][1] == pytest.approx(1 / 3)  # no non-matches: uniform
    with pytest.raises(ValueError):
        estimate_from_labels([{"name": "exact"}], [True, False], FIELDS_LEVELS)
    with pytest.raises(ValueError, match="pseudo_count"):
        estimate_from_labels([{"name": "exact"}], [True], FIELDS_LEVELS, pseudo_count=0)


# --------------------------------------------------------------------------- combine


def _em(mu, matches, nonmatches) -> EmResult:
    return EmResult(mu, 0.1, 1, True, [0.0], 100, 1, matches, nonmatches)


def test_combine_pools_by_evidence() -> None:
    em = _em(
        {"tax_id": {"same": (0.6, 0.01), "different": (0.4, 0.99)}},
        matches={"tax_id": 100.0},
        nonmatches={"tax_id": 10_000.0},
    )
    labelled = LabelledMu(
        {
            "tax_id": {"same": (0.9, 0.2), "different": (0.1, 0.8)},
            "name": {"exact": (0.7, 0.1), "different": (0.3, 0.9)},
        },
        matches={"tax_id": 30, "name": 30},
        nonmatches={"tax_id": 10, "name": 10},
    )
    pooled = combine(em, labelled, label_weight=10.0)
    # m: EM worth 100 pairs, labels 10 × 30 = 300 → 0.25·0.6 + 0.75·0.9 = 0.825.
    # u: EM worth 10,000, labels 100 → (10,000·0.01 + 100·0.2) / 10,100.
    assert pooled["tax_id"]["same"] == pytest.approx((0.825, 120 / 10_100))
    assert pooled["tax_id"]["different"] == pytest.approx((0.175, (9_900 + 80) / 10_100))
    assert pooled["name"] == labelled["name"]  # only labels know it
    assert_probabilities(pooled)
    assert combine(em, labelled, label_weight=0.0)["tax_id"] == em.mu["tax_id"]
    overwhelming = combine(em, labelled, label_weight=1e9)["tax_id"]["same"]
    assert overwhelming == pytest.approx((0.9, 0.2), abs=1e-5)


def test_combine_rejects_mismatched_levels_and_negative_weight() -> None:
    em = _em({"name": {"exact": (0.5, 0.5), "other": (0.5, 0.5)}}, {"name": 1.0}, {"name": 1.0})
    labelled = LabelledMu({"name": {"exact": (1.0, 1.0)}}, {"name": 1}, {"name": 1})
    with pytest.raises(ValueError, match="different levels"):
        combine(em, labelled, label_weight=1.0)
    with pytest.raises(ValueError, match="label_weight"):
        combine(em, labelled, label_weight=-1.0)


# --------------------------------------------------------------------------- helpers


def test_level_vectors_for_pairs_uses_the_comparators() -> None:
    features = [
        Features("customer", name="acme", tax_id="DE136695976", country="DE"),
        Features("customer", name="acme", tax_id="DE136695976", country="DE", city="berlin"),
        Features("customer", name="zenith works", country="FR"),
    ]
    vectors = level_vectors_for_pairs("customer", features, [(0, 1), (0, 2)])
    assert vectors[0]["name"] == "exact" and vectors[0]["tax_id"] == "same"
    assert vectors[0]["city"] == MISSING
    assert vectors[1]["name"] == "different" and vectors[1]["country"] == "different"
    assert list(iter_level_vectors("customer", features, [(0, 1), (0, 2)])) == vectors
    assert set(vectors[0]) == set(default_fields_levels("customer"))


def test_to_model_scores_with_estimated_weights(simulated) -> None:
    estimated = {"tax_id": {"same": (0.95, 0.001), "different": (0.05, 0.999)}}
    model = to_model("customer", estimated, 0.02)
    assert isinstance(model, MatchModel)
    assert model.mu["tax_id"] == estimated["tax_id"]
    assert model.mu["name"] == DEFAULT_MU["customer"]["name"]
    assert model.prior == pytest.approx(math.log2(0.02 / 0.98))
    a = Features("customer", name="acme", tax_id="DE136695976", country="DE")
    assert score_pair(model, a, a).probability > 0.99
    with pytest.raises(ValueError, match="lacks levels"):
        to_model("customer", {"name": {"exact": (1.0, 1.0)}}, 0.02)
    with pytest.raises(ValueError, match="no field"):
        to_model("customer", {"colour": {"same": (1.0, 1.0)}}, 0.02)


# --------------------------------------------------------------------------- end to end


def _cleaned(data: dict[str, str]) -> dict[str, str]:
    """The light cleaning features_of expects: ISO-2 country, E.164 phone."""
    country = normalize.normalize_country(data.get("country")) or ""
    phone = normalize.normalize_phone(data.get("phone"), country or None) or ""
    return {**data, "country": country, "phone": phone}


@pytest.fixture(scope="module")
def synthetic_pairs() -> tuple[list[dict[str, str]], list[bool]]:
    records = list(generate_customers(2_000, seed=17))
    features = [features_of("customer", _cleaned(r.data)) for r in records]
    pairs = sorted(candidate_pairs({i: blocking_keys(f) for i, f in enumerate(features)}))
    truth = true_pairs(records)
    return level_vectors_for_pairs("customer", features, pairs), [p in truth for p in pairs]


@pytest.mark.parametrize("initial", [None, DEFAULT_MU["customer"]], ids=["generic", "defaults"])
def test_em_on_synthetic_customers(synthetic_pairs, initial) -> None:
    vectors, labels = synthetic_pairs
    true_share = sum(labels) / len(labels)
    result = estimate_em(vectors, default_fields_levels("customer"), initial=initial)
    assert result.converged
    assert true_share * 0.3 < result.match_proportion < true_share * 3
    m, u = result.mu["name"]["exact"]
    # An identical name is strong evidence, though sister companies abroad share it too.
    assert math.log2(m / u) > 4
    tax_m, tax_u = result.mu["tax_id"]["same"]
    assert math.log2(tax_m / tax_u) > 10  # a shared valid tax ID is strong evidence
    assert_probabilities(result.mu)
    # Labels from the ground truth, blended in, keep the picture and stay valid.
    labelled = estimate_from_labels(vectors, labels, default_fields_levels("customer"))
    blended = combine(result, labelled, label_weight=1.0)
    assert_probabilities(blended)
    blended_m, blended_u = blended["name"]["exact"]
    assert math.log2(blended_m / blended_u) > 4
