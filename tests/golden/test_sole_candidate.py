"""The relative rule: a review-band pair that is each side's only candidate links when
corroborated; a second look-alike, a hard rule or a bare name keeps it in review. And
blocking meets a record whose country is unknown through its brand."""

from __future__ import annotations

import pytest

from golden.entities import EntityType
from golden.matching.batch import match_batch
from golden.matching.blocking import blocking_keys
from golden.matching.comparators import compare
from golden.matching.features import features_of
from golden.matching.scoring import (
    MatchModel,
    Thresholds,
    corroborated,
    default_model,
    links_as_sole_candidate,
    score_pair,
)

MODEL = default_model(EntityType.CUSTOMER)


def customer(**values):
    return features_of(EntityType.CUSTOMER, values)


FULL = customer(
    name="Nystrom Ashford Industries Ltd",
    country="GB",
    city="Leeds",
    postal_code="LS9 2SN",
    address_line1="362 Church Street",
    website="nystromashford.co.uk",
)
# A CRM-style record: an abbreviated name and the website.
SHORT = customer(
    name="Nystrom-Ashford Ind", country="GB", website="https://www.nystromashford.co.uk"
)


def test_the_pair_is_in_the_review_band_on_its_own_evidence():
    score = score_pair(MODEL, FULL, SHORT)
    assert MODEL.thresholds.review <= score.probability < MODEL.thresholds.auto_link


def test_sole_corroborated_candidates_link_in_batch():
    result = match_batch([FULL, SHORT], MODEL, workers=1)
    assert result.labels[0] == result.labels[1]
    assert result.sole_candidate_links == 1
    assert result.review_pairs == []


def test_a_second_look_alike_keeps_the_pair_in_review():
    other_legal_form = customer(
        name="Nystrom Ashford Industries PLC",
        country="GB",
        city="Leeds",
        postal_code="LS1 4AP",
        address_line1="10 Park Row",
        website="nystromashford.co.uk",
    )
    result = match_batch([FULL, SHORT, other_legal_form], MODEL, workers=1)
    assert result.labels[1] not in (result.labels[0], result.labels[2])
    assert result.sole_candidate_links == 0
    reviewed = {(i, j) for i, j, _ in result.review_pairs}
    assert {(0, 1), (1, 2)} <= reviewed


def test_name_and_country_alone_do_not_corroborate():
    bare = customer(name="Nystrom Ashford Industries", country="GB")
    levels = compare(EntityType.CUSTOMER, FULL, bare)
    assert not corroborated(MODEL, levels)
    score = score_pair(MODEL, FULL, bare)
    assert not links_as_sole_candidate(MODEL, score.probability, levels)
    assert match_batch([FULL, bare], MODEL, workers=1).sole_candidate_links == 0


def test_a_shared_domain_corroborates():
    assert corroborated(MODEL, compare(EntityType.CUSTOMER, FULL, SHORT))


def test_hard_rules_still_veto():
    sister = customer(name="Nystrom Ashford Industries", country="IE", city="Leeds")
    levels = compare(EntityType.CUSTOMER, FULL, sister)
    assert not links_as_sole_candidate(MODEL, 0.9, levels)


def test_the_rule_is_off_above_one():
    off = MatchModel(MODEL.entity_type, MODEL.mu, MODEL.prior, Thresholds(0.995, 0.35, 1.01))
    result = match_batch([FULL, SHORT], off, workers=1)
    assert result.labels[0] != result.labels[1]
    assert result.sole_candidate_links == 0
    assert [(i, j) for i, j, _ in result.review_pairs] == [(0, 1)]


def test_a_record_without_country_meets_its_twin_through_the_brand():
    countryless = customer(name="Toricore Contruction")
    full = customer(name="Toricore Construction Technologies SAS", country="FR")
    assert blocking_keys(countryless) & blocking_keys(full) == {"brd:toricore"}


def test_short_first_words_make_no_brand_key():
    assert not any(k.startswith("brd:") for k in blocking_keys(customer(name="Blue Fox Ltd")))


def test_an_address_meets_its_twin_when_one_country_is_missing():
    a = customer(
        name="Corumwarepvt Ltd",
        country="IN",
        postal_code="411092",
        address_line1="174 Bridge Boulevard",
    )
    b = customer(name="Corumware", postal_code="411092", address_line1="174 Bridge Boulevard")
    assert "adr:411092:174" in blocking_keys(a) & blocking_keys(b)


# ----------------------------------------------------------------- incremental ingestion

ERP_ROW = {
    "source_id": "C-1187",
    "name": "Nystrom Ashford Industries Ltd",
    "country": "GB",
    "city": "Leeds",
    "postal_code": "LS9 2SN",
    "address_line1": "362 Church Street",
    "website": "https://nystromashford.co.uk",
}
CRM_ROW = {
    "source_id": "001A77",
    "name": "Nystrom-Ashford Ind",
    "country": "GB",
    "website": "www.nystromashford.co.uk",
}


def ingest(system, *rows):
    from golden.models import SourceSystem
    from golden.services import ingest_records

    return ingest_records(
        entity_type="customer",
        system=SourceSystem.objects.get(code=system),
        records=list(rows),
        actor=None,
    )


@pytest.mark.django_db
def test_ingestion_links_a_sole_corroborated_candidate_and_says_why():
    from golden.models import MatchCandidate, SourceRecord

    ingest("erp", ERP_ROW)
    ingest("crm", CRM_ROW)
    erp = SourceRecord.objects.get(source_id="C-1187")
    crm = SourceRecord.objects.get(source_id="001A77")
    assert crm.golden_id == erp.golden_id
    assert "the only candidate" in crm.link_evidence["reason"]
    assert not MatchCandidate.objects.exists()


@pytest.mark.django_db
def test_ingestion_reviews_when_a_second_look_alike_exists():
    from golden.models import MatchCandidate, SourceRecord

    ingest(
        "erp",
        ERP_ROW,
        {
            "source_id": "C-2200",
            "name": "Nystrom Ashford Industries PLC",
            "country": "GB",
            "city": "Leeds",
            "postal_code": "LS1 4AP",
            "address_line1": "10 Park Row",
            "website": "nystromashford.co.uk",
        },
    )
    ingest("crm", CRM_ROW)
    crm = SourceRecord.objects.get(source_id="001A77")
    others = set(SourceRecord.objects.exclude(pk=crm.pk).values_list("golden_id", flat=True))
    assert crm.golden_id not in others
    assert MatchCandidate.objects.filter(status="open").count() >= 2


@pytest.mark.django_db
def test_match_settings_can_turn_the_rule_off():
    from golden.matching import forget_match_settings
    from golden.models import MatchCandidate, MatchSettings, SourceRecord

    MatchSettings.objects.create(entity_type="customer", sole_candidate=1.01)
    forget_match_settings()
    try:
        ingest("erp", ERP_ROW)
        ingest("crm", CRM_ROW)
    finally:
        forget_match_settings()
    erp = SourceRecord.objects.get(source_id="C-1187")
    crm = SourceRecord.objects.get(source_id="001A77")
    assert crm.golden_id != erp.golden_id
    assert MatchCandidate.objects.filter(status="open").count() == 1
