"""Batch matching on generated data: quality holds, clustering is order-independent,
conflicting identifiers never chain, and incremental matching agrees with batch."""

from __future__ import annotations

import random

from django.core.management import call_command

from golden.entities import EntityType
from golden.matching.batch import match_batch
from golden.matching.evaluate import evaluate_customers
from golden.matching.features import features_of
from golden.matching.scoring import default_model

MODEL = default_model(EntityType.CUSTOMER)


def customer(**values):
    return features_of(EntityType.CUSTOMER, values)


def test_quality_on_generated_data_with_hard_negatives():
    figures = evaluate_customers(400, seed=11, workers=1)
    assert figures["records"] > 800
    assert figures["auto_merge_precision"] >= 0.99
    assert figures["recall_after_review"] >= 0.85
    assert figures["bcubed"]["precision"] >= 0.99


def test_clustering_does_not_depend_on_record_order():
    records = [
        customer(name="Acme Consulting GmbH", country="DE", website="acme.de", city="Berlin"),
        customer(name="ACME Consulting", country="DE", website="https://acme.de"),
        customer(name="Acme Consulting", country="DE", city="Berlin", phone="+49301234567"),
        customer(
            name="Acme Consulting GmbH", country="DE", phone="+49301234567", website="acme.de"
        ),
        customer(name="Zenith Robotics Ltd", country="GB", website="zenith.co.uk"),
        customer(name="Zenith Robotics", country="GB", website="zenith.co.uk"),
    ]
    baseline = match_batch(records, MODEL, workers=1).labels
    groups = {
        frozenset(i for i, label in enumerate(baseline) if label == root) for root in baseline
    }
    for seed in range(5):
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        labels = match_batch([records[i] for i in order], MODEL, workers=1).labels
        shuffled = {
            frozenset(order[i] for i, label in enumerate(labels) if label == root)
            for root in labels
        }
        assert shuffled == groups
    assert frozenset({0, 1, 2, 3}) in groups


def test_a_record_linking_to_two_legal_forms_goes_to_review_not_a_chain():
    records = [
        customer(
            name="Ortega Nakamura SARL", country="FR", city="Lille", website="ortega-nakamura.fr"
        ),
        customer(
            name="Ortega Nakamura SAS", country="FR", city="Lille", website="ortega-nakamura.fr"
        ),
        customer(name="Ortega Nakamura", country="FR", city="Lille", website="ortega-nakamura.fr"),
    ]
    result = match_batch(records, MODEL, workers=1)
    assert result.labels[0] != result.labels[1]
    assert result.labels[2] not in (result.labels[0], result.labels[1])
    assert {(i, j) for i, j, _ in result.review_pairs} >= {(0, 2), (1, 2)}


def test_different_valid_tax_ids_never_end_in_one_cluster():
    records = [
        customer(name="Acme GmbH", country="DE", tax_id="DE136695976", website="acme.de"),
        customer(name="Acme GmbH", country="DE", website="acme.de", city="Berlin"),
        customer(
            name="Acme GmbH", country="DE", tax_id="DE129273398", website="acme.de", city="Berlin"
        ),
    ]
    labels = match_batch(records, MODEL, workers=1).labels
    assert labels[0] != labels[2]


def test_parallel_scoring_gives_the_same_result():
    from golden import synthetic
    from golden.entities import entity_spec
    from golden.validation import clean_record

    spec = entity_spec(EntityType.CUSTOMER)
    features = [
        features_of(EntityType.CUSTOMER, clean_record(spec, r.data).cleaned)
        for r in synthetic.generate_customers(150, seed=5)
    ]
    serial = match_batch(features, MODEL, workers=1)
    parallel = match_batch(features, MODEL, workers=2, min_parallel=1)
    assert serial.labels == parallel.labels
    assert sorted(serial.review_pairs) == sorted(parallel.review_pairs)
    assert len(serial.auto_pairs) > 50


def test_evaluate_command_prints_the_figures(capsys):
    call_command("evaluate", "--companies", "100", "--workers", "1")
    out = capsys.readouterr().out
    assert "auto-merge  precision" in out and "review" in out and "per 1,000 records" in out
