"""Matching of legal entities, projects and service codes: quality on generated data with
hard negatives, the hard rules of these types and their comparators."""

from __future__ import annotations

import pytest

from golden.entities import EntityType
from golden.matching.batch import match_batch
from golden.matching.blocking import blocking_keys
from golden.matching.comparators import (
    compare_code,
    compare_dates,
    compare_name,
    compare_person,
    compare_text_name,
)
from golden.matching.evaluate import (
    evaluate_legal_entities,
    evaluate_projects,
    evaluate_service_codes,
)
from golden.matching.features import Features, features_of, person_key
from golden.matching.scoring import default_model, hard_rule_vetoes, score_pair

LEGAL_ENTITY = EntityType.LEGAL_ENTITY
PROJECT = EntityType.PROJECT
SERVICE_CODE = EntityType.SERVICE_CODE


def project(**values: str) -> Features:
    return Features(entity_type=PROJECT, **values)


def service(**values: str) -> Features:
    return Features(entity_type=SERVICE_CODE, **values)


# -- quality on generated data ------------------------------------------------------------


def test_legal_entity_quality_on_generated_groups_with_sister_entities():
    figures = evaluate_legal_entities(25, seed=11, workers=1)
    assert figures["records"] > 150
    assert figures["review_kinds"].get("hard_negative", 0) == 0
    assert figures["auto_merge_precision"] >= 0.99
    assert figures["auto_recall"] >= 0.7
    assert figures["recall_after_review"] >= 0.9
    assert figures["pair_completeness"] >= 0.95


def test_project_quality_on_generated_data_with_follow_on_projects():
    figures = evaluate_projects(1000, seed=11, workers=1)
    assert figures["records"] > 1500
    assert figures["auto_merge_precision"] >= 0.99
    assert figures["auto_recall"] >= 0.85
    assert figures["recall_after_review"] >= 0.98
    assert figures["bcubed"]["precision"] >= 0.99
    assert figures["pair_completeness"] >= 0.97
    # The project manager keeps a customer's follow-on projects apart (about 37 measured).
    assert figures["review_per_1000_records"] <= 80


def test_service_code_quality_on_generated_rate_cards():
    figures = evaluate_service_codes(6, seed=11, workers=1)
    assert figures["records"] > 150
    assert figures["auto_merge_precision"] >= 0.99
    assert figures["auto_recall"] >= 0.7
    assert figures["recall_after_review"] >= 0.9
    assert figures["bcubed"]["precision"] >= 0.99


# -- hard rules ------------------------------------------------------------------------------


def test_different_register_numbers_veto_a_legal_entity_link():
    cleaned = {"name": "Northwind Consulting GmbH", "country": "DE", "city": "Berlin"}
    a = features_of(LEGAL_ENTITY, {**cleaned, "registration_number": "HRB123456"})
    b = features_of(LEGAL_ENTITY, {**cleaned, "registration_number": "HRB654321"})
    score = score_pair(default_model(LEGAL_ENTITY), a, b)
    assert "two different company-register numbers" in score.vetoes
    assert score.decision(default_model(LEGAL_ENTITY).thresholds) != "link"


def test_tax_id_on_one_side_and_register_number_on_the_other_is_no_conflict():
    erp = features_of(
        LEGAL_ENTITY,
        {"name": "Northwind Consulting GmbH", "country": "DE", "tax_id": "DE136695976"},
    )
    psa = features_of(
        LEGAL_ENTITY,
        {"name": "Northwind Consulting", "country": "DE", "registration_number": "HRB123456"},
    )
    assert erp.tax_id and not erp.registration and psa.registration == "DE:HRB123456"
    score = score_pair(default_model(LEGAL_ENTITY), erp, psa)
    assert score.vetoes == []
    assert {e["field"] for e in score.evidence} >= {"name", "country"}
    assert "tax_id" not in {e["field"] for e in score.evidence}


@pytest.mark.parametrize(
    ("name", "country", "plain"),
    [
        ("Voxangate Netherlands", "NL", "voxangate"),
        ("Dorflow United States", "US", "dorflow"),
        ("Nimummark Consulting AU", "AU", "nimummark consulting"),
        ("Acme UK Ltd", "GB", "acme"),
        ("IBM Deutschland GmbH", "DE", "ibm"),
        # Another country's name, or a name that is only a country, stays.
        ("Acme France", "DE", "acme france"),
        ("Netherlands", "NL", "netherlands"),
    ],
)
def test_a_legal_entity_is_compared_without_its_own_country_in_its_name(name, country, plain):
    assert features_of(LEGAL_ENTITY, {"name": name, "country": country}).name == plain
    # Customers keep it: "Air France" is not "Air".
    assert features_of(EntityType.CUSTOMER, {"name": "Air France", "country": "FR"}).name == (
        "air france"
    )


def test_a_psa_entity_named_after_its_country_goes_to_review_with_the_groups_entity_there():
    model = default_model(LEGAL_ENTITY)
    erp = features_of(
        LEGAL_ENTITY,
        {"name": "Voxangate Consulting B.V.", "country": "NL", "tax_id": "NL961432834B01"},
    )
    psa = features_of(LEGAL_ENTITY, {"name": "Voxangate Netherlands", "country": "NL"})
    score = score_pair(model, erp, psa)
    assert {e["field"]: e["level"] for e in score.evidence}["name"] == "contained"
    assert score.decision(model.thresholds) == "review"


@pytest.mark.parametrize(
    ("short", "long"),
    [("Zor Consulting", "Zorislux Consulting"), ("Fenihub Sol", "Fenihub Solutions")],
)
def test_words_cut_short_are_abbreviated(short, long):
    for entity_type in (LEGAL_ENTITY, EntityType.CUSTOMER):
        a = features_of(entity_type, {"name": short, "country": "US"})
        b = features_of(entity_type, {"name": long, "country": "US"})
        assert compare_name(a, b) == compare_name(b, a) == "abbreviated"
    # Two letters, another word order or a word that is not cut short are not.
    for other in ("Zo Consulting", "Consulting Zor", "Zor Advisory"):
        a = features_of(LEGAL_ENTITY, {"name": other, "country": "US"})
        b = features_of(LEGAL_ENTITY, {"name": long, "country": "US"})
        assert compare_name(a, b) != "abbreviated"


def test_projects_of_different_customers_never_link():
    same = {"name": "erp implementation acme", "reference": "006A", "start_date": "2025-01-06"}
    a, b = project(parent="CUS-000001", **same), project(parent="CUS-000002", **same)
    model = default_model(PROJECT)
    score = score_pair(model, a, b)
    assert score.probability >= model.thresholds.auto_link  # the rest of the evidence links
    assert "projects of different customers" in score.vetoes
    assert score.decision(model.thresholds) == "review"
    assert len(set(match_batch([a, b], model, workers=1).labels)) == 2


def test_services_of_different_categories_never_link():
    a = service(name="data migration", code="ITEM-0042", parent="implementation")
    b = service(name="data migration", code="MS-DM", parent="managed services")
    assert hard_rule_vetoes({"category": "different"}) == ["services of different categories"]
    assert score_pair(default_model(SERVICE_CODE), a, b).vetoes
    assert len(set(match_batch([a, b], default_model(SERVICE_CODE), workers=1).labels)) == 2


def test_same_service_name_and_category_in_two_systems_links():
    erp = features_of(
        SERVICE_CODE,
        {"name": "Senior Consultant - Hourly", "code": "ITEM-0042", "category": "consulting"},
    )
    psa = features_of(
        SERVICE_CODE, {"name": "Sr. Consultant", "code": "SR-CONS", "category": "Consulting"}
    )
    consultant = features_of(
        SERVICE_CODE, {"name": "Consultant", "code": "CONS", "category": "consulting"}
    )
    assert erp.name == "senior consultant"
    labels = match_batch([erp, psa, consultant], default_model(SERVICE_CODE), workers=1).labels
    assert labels[0] == labels[1] != labels[2]


# -- comparators -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("PRJ-2024-017", "PRJ-2024-017", "same"),
        ("PRJ-2024-017", "PRJ-2025-003", "different"),  # one system, two projects
        ("ITEM-0042", "ITEM-0043", "different"),
        ("SR-CONS", "CONS", "different"),  # both mnemonic: one PSA catalogue
        ("OPP-001234", "PRJ-2024-017", "other_scheme"),
        ("ITEM-0042", "SR-CONS", "other_scheme"),
        ("", "SR-CONS", "missing"),
    ],
)
def test_compare_code_tells_another_numbering_scheme_from_another_code(left, right, level):
    assert compare_code(project(code=left), project(code=right)) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (("2025-01-06", "2025-06-30"), ("2025-01-06", ""), "same_start"),
        (("2025-01-06", "2025-06-30"), ("2025-01-27", "2025-06-30"), "close_start"),
        (("2025-01-06", "2025-06-30"), ("2025-03-01", "2025-09-30"), "overlap"),
        (("2025-01-06", "2025-06-30"), ("2025-07-15", "2025-12-31"), "disjoint"),
        (("2025-01-06", ""), ("2026-07-15", ""), "overlap"),  # open-ended ranges
        (("", "2025-06-30"), ("2025-01-06", "2025-06-30"), "missing"),
    ],
)
def test_compare_dates(a, b, level):
    left = project(start_date=a[0], end_date=a[1])
    right = project(start_date=b[0], end_date=b[1])
    assert compare_dates(left, right) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("acme erp implementation", "acme erp implementation", "exact"),
        ("acme erp implementation", "erp implementation acme", "very_similar"),
        ("acme cloud mig 2025", "cloud migration acme", "contained"),  # abbreviation + year
        ("sr consultant", "senior consultant", "very_similar"),
        ("mgd analytics", "managed analytics", "very_similar"),
        ("consultant", "senior consultant", "contained"),
        # A word misspelt by one edit, five letters or more, on either side.
        ("cosnultant risk", "consultant risk", "very_similar"),
        ("finance analyst", "finanec analyst", "very_similar"),
        ("analyst tax", "analyst tay", "similar"),  # "tax" is too short to tell
        ("acme cloud migration", "acme strategy refresh", "different"),
        ("data migration", "", "missing"),
    ],
)
def test_compare_text_name_reads_abbreviations_and_containment(a, b, level):
    assert compare_text_name(project(name=a), project(name=b)) == level


def test_service_unit_suffix_is_not_part_of_the_name():
    hourly = features_of(SERVICE_CODE, {"name": "Senior Consultant - Hourly", "code": "X"})
    fixed = features_of(SERVICE_CODE, {"name": "ERP Implementation - Fixed Fee", "code": "Y"})
    per_diem = features_of(SERVICE_CODE, {"name": "Per Diem", "code": "Z"})
    assert (hourly.name, fixed.name, per_diem.name) == (
        "senior consultant",
        "erp implementation",
        "per diem",
    )


def test_blocking_keys_of_projects_services_and_legal_entities():
    psa = project(name="ibm rpa 2025", parent="CUS-000001", start_date="2025-01-06")
    erp = project(name="process automation ibm", parent="CUS-000001", start_date="2025-01-06")
    assert blocking_keys(psa) & blocking_keys(erp) == {"start:CUS-000001:2025-01-06"}
    # A PSA service without a category still meets the ERP item of its category.
    with_category = service(name="solution architect", parent="consulting")
    without = service(name="solution architect")
    assert blocking_keys(with_category) & blocking_keys(without)
    # Services of one category all meet: "Tax Sr Mgr" shares no word with "Senior Manager
    # Tax" until it is spelt out; short words and "partner" are a service's words too.
    psa_service = service(name="tax sr mgr", parent="consulting")
    erp_service = service(name="senior manager tax", parent="consulting")
    assert blocking_keys(psa_service) & blocking_keys(erp_service) == {
        "cat:consulting",
        "tok::tax",
    }
    assert "tok::partner" in blocking_keys(service(name="partner"))
    entity = features_of(
        LEGAL_ENTITY,
        {"name": "NW Germany", "country": "DE", "registration_number": "HRB123456"},
    )
    assert {"reg:DE:HRB123456", "cc:DE"} <= blocking_keys(entity)


@pytest.mark.parametrize(
    "written, key",
    [
        ("Anna Berg", "berg|a"),
        ("A. Berg", "berg|a"),
        ("Berg, Anna", "berg|a"),
        ("Anna Maria von Berg", "berg|a"),
        ("Müller, Jörg", "muller|j"),
        ("Berg", "berg|"),
        ("", ""),
        (None, ""),
    ],
)
def test_person_key_reads_how_each_system_writes_a_manager(written, key):
    assert person_key(written) == key


@pytest.mark.parametrize(
    "a, b, level",
    [
        ("Anna Berg", "Berg, Anna", "same"),
        ("A. Berg", "Berg, Anna", "same"),
        ("Berg", "A. Berg", "same"),
        ("B. Berg", "A. Berg", "different"),
        ("Anna Berg", "Anna Holm", "different"),
        ("Anna Berg", "", "missing"),
    ],
)
def test_compare_person(a, b, level):
    def project(manager):
        return features_of(EntityType.PROJECT, {"name": "Audit", "project_manager": manager})

    assert compare_person(project(a), project(b)) == level


def test_a_different_manager_keeps_a_customers_follow_on_project_apart():
    base = {"name": "Acme - Cloud Migration", "start_date": "2025-03-01"}
    first = features_of(
        EntityType.PROJECT, {**base, "project_manager": "Anna Berg"}, parent="CUS-1"
    )
    same = features_of(EntityType.PROJECT, {**base, "project_manager": "A. Berg"}, parent="CUS-1")
    other = features_of(EntityType.PROJECT, {**base, "project_manager": "Lee, Sam"}, parent="CUS-1")
    model = default_model(EntityType.PROJECT)
    assert score_pair(model, first, same).weight - score_pair(model, first, other).weight > 4


def test_batch_clustering_never_chains_two_customers_projects():
    """A CRM opportunity without its customer resolved may look like either customer's
    project, but it must not join the two customers' projects into one."""
    base = {
        "name": "Cloud Migration",
        "start_date": "2025-03-01",
        "crm_opportunity_ref": "006A1",
        "project_manager": "Anna Berg",
    }
    records = [
        features_of(EntityType.PROJECT, base, parent="CUS-000001"),
        features_of(EntityType.PROJECT, base),
        features_of(EntityType.PROJECT, base, parent="CUS-000002"),
    ]
    labels = match_batch(records, default_model(EntityType.PROJECT), workers=1).labels
    assert labels[0] != labels[2]
