"""Incremental matching skips candidates whose upper-bound weight stays below the review
band: the bound never drops a pair that reaches it, and ingestion and search give the same
answers with and without the pruning."""

from __future__ import annotations

import numpy as np
import pytest

import golden.matching
import golden.services.placement
from golden import synthetic
from golden.entities import EntityType, entity_spec
from golden.matching import find_matches
from golden.matching.blocking import blocking_keys, candidate_pairs
from golden.matching.features import features_of
from golden.matching.pairs import reachable_candidates
from golden.matching.scoring import default_model, score_pair, score_reaching, weight_for
from golden.models import SourceSystem
from golden.services import ingest_by_system, ingest_records
from golden.validation import RecordInvalid, clean_record
from tests.golden.test_ingest_batches import rolled_back

SMALL_BLOCK, SMALL_BLOCK_COMPANIES, SMALL_BLOCK_SEED = 3, 60, 2


def generated(entity_type, records):
    spec = entity_spec(entity_type)
    features = []
    for record in records:
        try:
            features.append(features_of(entity_type, clean_record(spec, record.data).cleaned))
        except RecordInvalid:
            continue
    return features


@pytest.mark.parametrize(
    ("entity_type", "records", "least_pruned"),
    [
        # Names that begin one another may be "contained", which weighs a lot when no
        # other firm's name begins alike: the bound keeps such pairs.
        (EntityType.CUSTOMER, lambda: synthetic.generate_customers(400, seed=3), 0.35),
        (EntityType.LEGAL_ENTITY, lambda: synthetic.generate_legal_entities(groups=30), 0.2),
    ],
)
def test_the_bound_keeps_every_candidate_that_reaches_the_review_band(
    entity_type, records, least_pruned
):
    features = generated(entity_type, records())
    model = default_model(entity_type)
    review = weight_for(model.thresholds.review)
    partners: dict[int, list[int]] = {}
    for i, j in candidate_pairs({k: blocking_keys(f) for k, f in enumerate(features)}):
        partners.setdefault(i, []).append(j)
        partners.setdefault(j, []).append(i)
    kept = dropped = 0
    for i, others in partners.items():
        reachable = reachable_candidates(features[i], [features[j] for j in others], model, review)
        for j, may_reach in zip(others, reachable, strict=True):
            if may_reach:
                kept += 1
            else:
                dropped += 1
                score = score_pair(model, features[i], features[j])
                assert score.weight < review, (features[i], features[j])
                assert score.decision(model.thresholds) == "new"
    # and it is worth having: a good share of candidates is never compared
    assert dropped > least_pruned * (kept + dropped)


def keep_every_candidate(probe, candidates, model, min_weight):
    return [True] * len(candidates)


def keep_every_pair(probes, candidates, probe_index, candidate_index, model, min_weight):
    return np.ones(len(probe_index), dtype=bool)


def ingest_generated(companies: int, seed: int, batch_size: int) -> None:
    ingest_by_system(synthetic.generate_customers(companies, seed=seed), batch_size=batch_size)


def counting_scores(monkeypatch, module) -> list[int]:
    calls = [0]

    def counted(*args, **kwargs):
        calls[0] += 1
        return score_reaching(*args, **kwargs)

    monkeypatch.setattr(module, "score_reaching", counted)
    return calls


@pytest.mark.django_db
def test_ingestion_places_records_the_same_with_and_without_pruning(systems, monkeypatch):
    pruned_scores = counting_scores(monkeypatch, golden.services.placement)
    pruned = rolled_back(lambda: ingest_generated(120, seed=9, batch_size=60))
    with monkeypatch.context() as patch:
        patch.setattr(golden.services.placement, "reachable_candidates", keep_every_candidate)
        patch.setattr(golden.services.placement, "reachable_pairs", keep_every_pair)
        unpruned_scores = counting_scores(patch, golden.services.placement)
        unpruned = rolled_back(lambda: ingest_generated(120, seed=9, batch_size=60))
    clusters, reviews, versions, links = pruned
    assert (clusters, reviews, versions, links) == unpruned
    assert len(clusters) < sum(links.values())  # records were linked
    assert reviews  # and put to review
    # and the pruning did skip comparisons
    assert 0 < pruned_scores[0] < 0.75 * unpruned_scores[0]


@pytest.mark.django_db
def test_search_finds_the_same_matches_with_and_without_pruning(systems, monkeypatch):
    ingest_generated(150, seed=4, batch_size=100)
    probes = generated(EntityType.CUSTOMER, synthetic.generate_customers(150, seed=4))[:250]

    def answers():
        return [
            [
                (m.golden.pk, m.source_record_id, m.score.weight, m.decision, m.score.vetoes)
                for m in find_matches(EntityType.CUSTOMER, probe)
            ]
            for probe in probes
        ]

    pruned = answers()
    with monkeypatch.context() as patch:
        patch.setattr(golden.matching, "reachable_candidates", keep_every_candidate)
        unpruned = answers()
    assert pruned == unpruned
    assert sum(len(a) > 0 for a in pruned) > len(probes) / 2
    assert any(len(a) > 1 for a in pruned)


@pytest.mark.django_db
def test_blocks_that_grow_oversized_within_a_batch_are_skipped_as_one_by_one(systems, monkeypatch):
    # Blocks of at most 3 records: records placed earlier in a batch push stored blocks
    # over the limit, and the scores taken before placing must not be reused for them.
    import golden.matching.blocking

    for module in (golden.matching.blocking, golden.matching, golden.services.placement):
        monkeypatch.setattr(module, "MAX_BLOCK_SIZE", SMALL_BLOCK)
    rows = [
        {**r.data, "source_id": f"{r.system}-{r.data['source_id']}"}
        for r in synthetic.generate_customers(SMALL_BLOCK_COMPANIES, seed=SMALL_BLOCK_SEED)
    ]
    first_half, second_half = rows[: len(rows) // 2], rows[len(rows) // 2 :]

    def run(batch_size):
        ingest_rows(first_half, len(first_half))
        ingest_rows(second_half, batch_size)

    one_by_one = rolled_back(lambda: run(1))
    batched = rolled_back(lambda: run(len(second_half)))
    assert batched == one_by_one
    clusters, reviews, _, _ = batched
    assert len(clusters) < len(rows)


def ingest_rows(rows, batch_size):
    system = SourceSystem.objects.get(code="crm")
    for start in range(0, len(rows), batch_size):
        ingest_records(
            entity_type="customer",
            system=system,
            records=rows[start : start + batch_size],
            actor=None,
        )
