"""Batch candidate pairs as arrays: the same pairs as the reference set, and the upper
bound never drops a pair that would have reached the review band."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from golden import synthetic
from golden.entities import EntityType, entity_spec
from golden.matching.batch import match_batch
from golden.matching.blocking import MAX_BLOCK_SIZE, blocking_keys, candidate_pairs
from golden.matching.features import features_of
from golden.matching.pairs import candidate_pair_arrays, could_reach
from golden.matching.scoring import default_model, score_pair, score_reaching
from golden.validation import RecordInvalid, clean_record

MODEL = default_model(EntityType.CUSTOMER)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sets(st.sampled_from("abcdefghij"), max_size=4), max_size=40),
    st.integers(min_value=2, max_value=6),
)
def test_arrays_hold_exactly_the_reference_pairs(keys, max_block):
    left, right = candidate_pair_arrays(keys, max_block)
    pairs = list(zip(left.tolist(), right.tolist(), strict=True))
    assert pairs == sorted(candidate_pairs(dict(enumerate(keys)), max_block))


def generated_customers(companies: int, seed: int):
    spec = entity_spec(EntityType.CUSTOMER)
    features = []
    for record in synthetic.generate_customers(companies, seed=seed):
        try:
            features.append(
                features_of(EntityType.CUSTOMER, clean_record(spec, record.data).cleaned)
            )
        except RecordInvalid:
            continue
    return features


def test_the_bound_keeps_every_pair_that_reaches_the_review_band():
    features = generated_customers(600, seed=3)
    left, right = candidate_pair_arrays([blocking_keys(f) for f in features], MAX_BLOCK_SIZE)
    kept = could_reach(features, left, right, MODEL, 0.0)
    weights = [
        score_pair(MODEL, features[i], features[j]).weight
        for i, j in zip(left.tolist(), right.tolist(), strict=True)
    ]
    reaching = [w >= 0.0 for w in weights]
    assert all(kept[k] for k, reach in enumerate(reaching) if reach)
    # and it is worth having: most blocked pairs are never compared
    assert kept.sum() < 0.5 * len(kept)


def test_batch_matching_equals_scoring_every_blocked_pair():
    features = generated_customers(500, seed=5)
    result = match_batch(features, MODEL, workers=1)
    assert result.compared_pairs < result.n_pairs
    expected_review_or_link = {
        (i, j)
        for i, j in candidate_pairs({k: blocking_keys(f) for k, f in enumerate(features)})
        if score_pair(MODEL, features[i], features[j]).decision(MODEL.thresholds) != "new"
    }
    seen = {(i, j) for i, j, _ in result.auto_pairs} | {(i, j) for i, j, _ in result.review_pairs}
    # Every pair batch matching links or reviews is one the pairwise decision keeps…
    assert seen <= expected_review_or_link
    # …and every such pair left across two clusters is offered for review.
    across = {(i, j) for i, j in expected_review_or_link if result.labels[i] != result.labels[j]}
    assert across <= {(i, j) for i, j, _ in result.review_pairs}


def test_the_bound_holds_for_legal_entities_and_their_register_numbers():
    model = default_model(EntityType.LEGAL_ENTITY)
    spec = entity_spec(EntityType.LEGAL_ENTITY)
    features = []
    for record in synthetic.generate_legal_entities(seed=4, groups=30):
        try:
            cleaned = clean_record(spec, record.data).cleaned
        except RecordInvalid:
            continue
        features.append(features_of(EntityType.LEGAL_ENTITY, cleaned))
    left, right = candidate_pair_arrays([blocking_keys(f) for f in features], MAX_BLOCK_SIZE)
    kept = could_reach(features, left, right, model, 0.0)
    for k, (i, j) in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        if score_pair(model, features[i], features[j]).weight >= 0.0:
            assert kept[k], (features[i], features[j])
    # Two records sharing only a register number are always scored.
    a = features_of(
        EntityType.LEGAL_ENTITY, {"name": "Nordwind GmbH", "registration_number": "HRB 12345"}
    )
    b = features_of(
        EntityType.LEGAL_ENTITY, {"name": "NW Deutschland", "registration_number": "HRB 12345"}
    )
    assert a.registration and a.registration == b.registration
    pair_left, pair_right = candidate_pair_arrays([blocking_keys(a), blocking_keys(b)], 400)
    assert could_reach([a, b], pair_left, pair_right, model, -20.0).all()


def test_scoring_only_pairs_that_reach_a_weight_changes_no_score():
    features = generated_customers(150, seed=6)
    left, right = candidate_pair_arrays([blocking_keys(f) for f in features], MAX_BLOCK_SIZE)
    reached = 0
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        full = score_pair(MODEL, features[i], features[j])
        partial = score_reaching(MODEL, features[i], features[j], 0.0)
        if full.weight >= 0.0:
            reached += 1
            assert partial == full
        else:
            assert partial is None
    assert 0 < reached < len(left)
