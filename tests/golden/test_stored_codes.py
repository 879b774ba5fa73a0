"""The equality codes stored with each source record for incremental matching's bound:
written on insert and update, computed when missing or of another version, backfilled by
the migration; the bound over them answers as the bound over the features does, and
placement reads full features only for the candidates that pass it."""

from __future__ import annotations

import numpy as np
import pytest
from django.apps import apps

import golden.services.placement
from golden import synthetic
from golden.entities import EntityType
from golden.matching import features_of, stored_candidate_codes, stored_codes
from golden.matching.blocking import blocking_keys
from golden.matching.pairs import (
    candidate_pair_arrays,
    could_reach,
    equality_codes,
    reachable_pairs,
)
from golden.matching.scoring import default_model, weight_for
from golden.migrations._backfill import fill_match_codes
from golden.models import SourceRecord
from tests.golden.test_incremental_pruning import generated, ingest_generated
from tests.golden.test_stored_features import ACME, GLOBEX, as_erp, ingest


def codes_of(record: SourceRecord) -> list[int]:
    return equality_codes(features_of(record.entity_type, record.cleaned))


@pytest.mark.django_db
def test_codes_are_stored_when_a_record_is_inserted_or_updated(systems):
    ingest("crm", "customer", ACME)
    record = SourceRecord.objects.get(source_id=ACME["source_id"])
    assert bytes(record.match_codes) == stored_codes(features_of("customer", record.cleaned))
    ingest("crm", "customer", GLOBEX)
    record.refresh_from_db()
    assert record.cleaned["tax_id"] == "DE811907980"
    assert bytes(record.match_codes) == stored_codes(features_of("customer", record.cleaned))
    [candidates] = [stored_candidate_codes("customer", [record.pk])]
    assert candidates.codes.tolist() == [codes_of(record)]


@pytest.mark.django_db
def test_entity_types_without_a_bound_store_no_codes(systems):
    ingest("crm", "customer", ACME)
    ingest(
        "crm",
        "project",
        {"source_id": "006P1", "name": "Acme - ERP", "customer_source_id": ACME["source_id"]},
    )
    assert SourceRecord.objects.get(entity_type="project").match_codes is None


@pytest.mark.django_db
@pytest.mark.parametrize("stale", [None, b"\x00" * 8, b"\x07" + b"\x00" * 95])
def test_missing_or_older_codes_are_computed_when_read(systems, stale):
    ingest("crm", "customer", ACME)
    ingest("erp", "customer", as_erp(GLOBEX))
    SourceRecord.objects.filter(source_id=ACME["source_id"]).update(match_codes=stale)
    records = list(SourceRecord.objects.order_by("id"))
    candidates = stored_candidate_codes("customer", [r.pk for r in records])
    assert candidates.record_ids == [r.pk for r in records]
    assert candidates.golden_ids == [r.golden_id for r in records]
    assert candidates.codes.tolist() == [codes_of(r) for r in records]


@pytest.mark.django_db
def test_the_migrations_backfill_codes(systems):
    ingest("crm", "customer", ACME, {**GLOBEX, "source_id": "001B"})
    SourceRecord.objects.update(match_codes=None)
    fill_match_codes(apps, None)
    records = list(SourceRecord.objects.all())
    assert len(records) == 2
    for record in records:
        assert bytes(record.match_codes) == stored_codes(features_of("customer", record.cleaned))


@pytest.mark.parametrize(
    ("entity_type", "records"),
    [
        (EntityType.CUSTOMER, lambda: synthetic.generate_customers(400, seed=5)),
        (EntityType.LEGAL_ENTITY, lambda: synthetic.generate_legal_entities(groups=30)),
    ],
)
def test_the_bound_on_codes_is_the_bound_on_features(entity_type, records):
    features = generated(entity_type, records())
    model = default_model(entity_type)
    left, right = candidate_pair_arrays(map(blocking_keys, features), 400)
    codes = [equality_codes(f) for f in features]
    for threshold in (model.thresholds.review, model.thresholds.auto_link):
        weight = weight_for(threshold)
        on_features = could_reach(features, left, right, model, weight)
        on_codes = reachable_pairs(codes, [], left, right - len(codes), model, weight)
        assert 0 < on_features.sum() < len(left)
        assert np.array_equal(on_features, on_codes)


@pytest.mark.django_db
def test_placement_reads_full_features_only_for_candidates_that_pass_the_bound(
    systems, monkeypatch
):
    read: list[int] = []
    original = golden.services.placement.candidate_features

    def counted(entity_type, record_ids):
        record_ids = list(record_ids)
        read.extend(set(record_ids))
        return original(entity_type, record_ids)

    monkeypatch.setattr(golden.services.placement, "candidate_features", counted)
    candidates: list[int] = []
    original_codes = golden.services.placement.stored_candidate_codes

    def coded(entity_type, record_ids):
        found = original_codes(entity_type, record_ids)
        candidates.extend(found.record_ids)
        return found

    monkeypatch.setattr(golden.services.placement, "stored_candidate_codes", coded)
    ingest_generated(120, seed=9, batch_size=60)
    assert 0 < len(read) < len(candidates)
