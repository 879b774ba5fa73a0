"""The equality codes stored on each blocking key for incremental matching's bound:
written on insert and update, returned by the block lookup, computed when missing or of
another version; the bound over them answers as the bound over the features does, and
placement reads source records only for the candidates that pass it."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

import golden.services.placement
from golden import synthetic
from golden.entities import EntityType
from golden.matching import candidate_codes, features_of, stored_codes
from golden.matching.blocking import block_members_with_codes, blocking_keys
from golden.matching.pairs import (
    candidate_pair_arrays,
    could_reach,
    equality_codes,
    reachable_pairs,
)
from golden.matching.scoring import default_model, weight_for
from golden.models import BlockingKey, SourceRecord
from tests.golden.test_incremental_pruning import generated, ingest_generated
from tests.golden.test_stored_features import ACME, GLOBEX, as_erp, ingest


def codes_of(record: SourceRecord) -> list[int]:
    return equality_codes(features_of(record.entity_type, record.cleaned))


def key_codes(record: SourceRecord) -> set[bytes | None]:
    return {
        None if codes is None else bytes(codes)
        for codes in BlockingKey.objects.filter(source_record=record).values_list(
            "codes", flat=True
        )
    }


@pytest.mark.django_db
def test_codes_are_stored_on_the_keys_when_a_record_is_inserted_or_updated(systems):
    ingest("crm", "customer", ACME)
    record = SourceRecord.objects.get(source_id=ACME["source_id"])
    assert key_codes(record) == {stored_codes(features_of("customer", record.cleaned))}
    ingest("crm", "customer", GLOBEX)
    record.refresh_from_db()
    assert record.cleaned["tax_id"] == "DE811907980"
    assert key_codes(record) == {stored_codes(features_of("customer", record.cleaned))}
    blocks, stored = block_members_with_codes("customer", ["tax:DE811907980"])
    assert blocks == {"tax:DE811907980": [record.pk]}
    record_ids, codes = candidate_codes("customer", stored, [record.pk])
    assert record_ids == [record.pk]
    assert codes.tolist() == [codes_of(record)]


@pytest.mark.django_db
def test_entity_types_without_a_bound_store_no_codes(systems):
    ingest("crm", "customer", ACME)
    ingest(
        "crm",
        "project",
        {"source_id": "006P1", "name": "Acme - ERP", "customer_source_id": ACME["source_id"]},
    )
    assert key_codes(SourceRecord.objects.get(entity_type="project")) == {None}


@pytest.mark.django_db
@pytest.mark.parametrize("stale", [None, b"\x00" * 8, b"\x07" + b"\x00" * 95])
def test_missing_or_older_codes_are_computed_when_read(systems, stale):
    ingest("crm", "customer", ACME)
    ingest("erp", "customer", as_erp(GLOBEX))
    BlockingKey.objects.filter(source_record__source_id=ACME["source_id"]).update(codes=stale)
    records = list(SourceRecord.objects.order_by("id"))
    keys = BlockingKey.objects.values_list("key", flat=True)
    _, stored = block_members_with_codes("customer", keys)
    assert stored.ids.tolist() == [r.pk for r in records]
    record_ids, codes = candidate_codes("customer", stored, [r.pk for r in records])
    assert record_ids == [r.pk for r in records]
    assert codes.tolist() == [codes_of(r) for r in records]


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
def test_placement_reads_source_records_only_for_candidates_that_pass_the_bound(
    systems, monkeypatch
):
    read: list[int] = []
    original = golden.services.placement.stored_candidates

    def counted(entity_type, record_ids):
        record_ids = list(record_ids)
        read.extend(set(record_ids))
        return original(entity_type, record_ids)

    monkeypatch.setattr(golden.services.placement, "stored_candidates", counted)
    candidates: list[int] = []
    original_codes = golden.services.placement.candidate_codes

    def coded(entity_type, stored, record_ids):
        record_ids = set(record_ids)
        candidates.extend(record_ids)
        return original_codes(entity_type, stored, record_ids)

    monkeypatch.setattr(golden.services.placement, "candidate_codes", coded)
    ingest_generated(120, seed=9, batch_size=60)
    assert 0 < len(read) < len(candidates)


@pytest.mark.django_db
def test_blocks_are_read_from_a_covering_index():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'golden_blockingkey_lookup'"
        )
        [(definition,)] = cursor.fetchall()
    assert "(entity_type, key) INCLUDE (source_record_id, codes)" in definition


@pytest.mark.django_db
def test_an_oversized_block_comes_back_as_its_size_alone(systems, monkeypatch):
    monkeypatch.setattr("golden.matching.blocking.MAX_BLOCK_SIZE", 2)
    for n in range(3):
        ingest("crm", "customer", {**ACME, "source_id": f"001A{n}", "tax_id": ""})
    ingest("crm", "customer", {**GLOBEX, "source_id": "001G"})
    globex = SourceRecord.objects.get(source_id="001G")
    keys = ["dom:acme-consulting.de", "dom:globex-partners.de"]
    blocks, stored = block_members_with_codes("customer", keys)
    assert len(blocks["dom:acme-consulting.de"]) > 2
    assert blocks["dom:globex-partners.de"] == [globex.pk]
    # Only the kept block's members come with codes.
    assert stored.ids.tolist() == [globex.pk]
