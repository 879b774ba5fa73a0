"""Ingestion through the one service every entry point calls."""

from __future__ import annotations

import re

import pytest

from golden.models import GoldenChange, GoldenRecord, MatchCandidate, RejectedRecord, SourceRecord
from golden.services import Action, ingest_records, merge_golden_records
from mdm.context import correlation_scope

ACME_ERP = {
    "source_id": "C-1187",
    "name": "ACME Consulting GmbH",
    "tax_id": "DE 136 695 976",
    "country": "Germany",
    "city": "Berlin",
    "address_line1": "Friedrichstraße 10",
    "postal_code": "10117",
    "currency": "eur",
    "updated_at": "2026-01-10T09:00:00Z",
}
ACME_CRM = {
    "source_id": "001A000001",
    "name": "Acme Consulting",
    "tax_id": "136695976",
    "country": "DE",
    "website": "https://www.acme-consulting.de",
    "phone": "030 1234567",
    "city": "Berlin-Mitte",
    "updated_at": "2026-02-01T09:00:00Z",
}


def ingest(systems, system, *records, entity="customer", actor=None):
    return ingest_records(
        entity_type=entity, system=systems[system], records=list(records), actor=actor
    )


@pytest.mark.django_db
def test_new_record_creates_golden_record_with_canonical_id(systems):
    [result] = ingest(systems, "erp", ACME_ERP)
    assert result.action == Action.CREATED
    assert re.fullmatch(r"CUS-\d{6}", result.canonical_id)
    golden = GoldenRecord.objects.get(canonical_id=result.canonical_id)
    assert golden.attributes["name"] == "ACME Consulting GmbH"
    assert golden.attributes["tax_id"] == "DE136695976"
    assert golden.attributes["country"] == "DE"
    assert golden.attributes["currency"] == "EUR"
    assert golden.version == 1


@pytest.mark.django_db
def test_resending_same_payload_is_unchanged(systems):
    ingest(systems, "erp", ACME_ERP)
    [again] = ingest(systems, "erp", dict(ACME_ERP))
    assert again.action == Action.UNCHANGED
    assert SourceRecord.objects.count() == 1
    assert GoldenRecord.objects.get().version == 1
    assert GoldenChange.objects.count() == 1


@pytest.mark.django_db
def test_changed_payload_updates_golden_and_bumps_version(systems):
    ingest(systems, "erp", ACME_ERP)
    [result] = ingest(
        systems, "erp", {**ACME_ERP, "city": "Hamburg", "updated_at": "2026-03-01T00:00:00Z"}
    )
    assert result.action == Action.UPDATED
    golden = GoldenRecord.objects.get()
    assert golden.attributes["city"] == "Hamburg"
    assert golden.version == 2
    assert list(golden.changes.values_list("kind", "version")) == [("created", 1), ("updated", 2)]


@pytest.mark.django_db
def test_older_version_of_a_record_is_ignored(systems):
    ingest(systems, "erp", ACME_ERP)
    [result] = ingest(
        systems, "erp", {**ACME_ERP, "city": "Munich", "updated_at": "2025-12-01T00:00:00Z"}
    )
    assert result.action == Action.UNCHANGED
    assert "updated_at" in result.warnings
    assert GoldenRecord.objects.get().attributes["city"] == "Berlin"


@pytest.mark.django_db
def test_same_valid_tax_id_links_across_systems_with_or_without_prefix(systems):
    [erp] = ingest(systems, "erp", ACME_ERP)
    [crm] = ingest(systems, "crm", ACME_CRM)
    assert crm.action == Action.LINKED
    assert crm.canonical_id == erp.canonical_id
    assert GoldenRecord.objects.count() == 1


@pytest.mark.django_db
def test_survivorship_takes_financial_fields_from_erp_and_context_from_crm(systems):
    ingest(systems, "crm", ACME_CRM)
    ingest(systems, "erp", ACME_ERP)
    golden = GoldenRecord.objects.get()
    # ERP outranks the more recent CRM record for name, tax ID and the address group.
    assert golden.attributes["name"] == "ACME Consulting GmbH"
    assert golden.lineage["name"]["system"] == "erp"
    assert golden.lineage["name"]["rule"] == "source_priority"
    assert golden.attributes["city"] == "Berlin"
    assert golden.lineage["city"]["source_id"] == "C-1187"
    # Only the CRM knows the website and phone.
    assert golden.attributes["website"] == "https://www.acme-consulting.de"
    assert golden.attributes["phone"] == "+49301234567"
    assert golden.lineage["phone"]["system"] == "crm"


@pytest.mark.django_db
def test_address_survives_as_one_group(systems):
    # CRM has the whole address, ERP only a postal code: the address must not mix them.
    crm = {
        **ACME_CRM,
        "address_line1": "Unter den Linden 1",
        "city": "Berlin",
        "postal_code": "10117",
    }
    erp = {**ACME_ERP, "address_line1": "", "city": "", "postal_code": "20095"}
    ingest(systems, "crm", crm)
    ingest(systems, "erp", erp)
    golden = GoldenRecord.objects.get()
    assert golden.attributes["postal_code"] == "20095"
    assert "address_line1" not in golden.attributes
    assert "city" not in golden.attributes
    assert {golden.lineage[f]["system"] for f in ["postal_code"]} == {"erp"}


@pytest.mark.django_db
def test_a_name_no_other_firm_bears_links_on_name_country_and_legal_form(systems):
    [a] = ingest(
        systems, "crm", {"source_id": "001X", "name": "Blue Harbor Partners LLC", "country": "US"}
    )
    [b] = ingest(
        systems,
        "psa",
        {"source_id": "77", "name": "BLUE HARBOR PARTNERS, L.L.C.", "country": "USA"},
    )
    assert b.action == Action.LINKED
    assert b.canonical_id == a.canonical_id
    record = SourceRecord.objects.get(source_id="77")
    levels = {e["field"]: e["level"] for e in record.link_evidence["evidence"]}
    assert levels == {"name": "exact", "legal_form": "same", "country": "same"}


@pytest.mark.django_db
def test_a_name_other_firms_names_begin_with_goes_to_review_not_auto_link(systems):
    # Two firms whose names begin "Blue Harbor Partners": the name alone cannot say which.
    [a] = ingest(
        systems,
        "crm",
        {"source_id": "001X", "name": "Blue Harbor Partners LLC", "country": "US"},
        {"source_id": "001Y", "name": "Blue Harbor Partners Capital LLC", "country": "US"},
    )[:1]
    [b] = ingest(
        systems,
        "psa",
        {"source_id": "77", "name": "BLUE HARBOR PARTNERS, L.L.C.", "country": "USA"},
    )
    assert b.action == Action.QUEUED_FOR_REVIEW
    assert b.review_with == [a.canonical_id]
    candidate = MatchCandidate.objects.get()
    evidence = {e["field"]: e for e in candidate.evidence}
    assert evidence["name"]["level"] == "exact_few"
    assert "one other name there begins alike" in evidence["name"]["detail"]


@pytest.mark.django_db
def test_same_name_and_address_links_without_ids(systems):
    address = {"address_line1": "500 Boylston Street", "postal_code": "02116", "city": "Boston"}
    [a] = ingest(
        systems,
        "crm",
        {"source_id": "001X", "name": "Blue Harbor Partners LLC", "country": "US", **address},
    )
    [b] = ingest(
        systems,
        "psa",
        {
            "source_id": "77",
            "name": "BLUE HARBOR PARTNERS, L.L.C.",
            "country": "USA",
            "address_line1": "500 Boylston St.",
            "postal_code": "02116-4307",
            "city": "boston",
        },
    )
    assert b.action == Action.LINKED
    assert a.canonical_id == b.canonical_id


@pytest.mark.django_db
def test_generic_name_in_another_city_is_a_new_golden_record(systems):
    ingest(
        systems,
        "crm",
        {
            "source_id": "1",
            "name": "Global Solutions Inc",
            "country": "US",
            "city": "Chicago",
            "phone": "+1 312 555 0101",
        },
    )
    [other] = ingest(
        systems,
        "crm",
        {
            "source_id": "2",
            "name": "Global Solutions Inc",
            "country": "US",
            "city": "Denver",
            "phone": "+1 303 555 0199",
        },
    )
    assert other.action == Action.CREATED
    assert MatchCandidate.objects.count() == 0


@pytest.mark.django_db
def test_same_name_in_other_country_or_legal_form_is_a_new_golden_record(systems):
    ingest(systems, "crm", {"source_id": "001X", "name": "Contoso Ltd", "country": "GB"})
    [de] = ingest(systems, "crm", {"source_id": "001Y", "name": "Contoso GmbH", "country": "DE"})
    [gb_llp] = ingest(systems, "crm", {"source_id": "001Z", "name": "Contoso LLP", "country": "GB"})
    assert de.action == Action.CREATED
    assert gb_llp.action == Action.CREATED
    assert GoldenRecord.objects.count() == 3


@pytest.mark.django_db
def test_different_valid_tax_ids_never_auto_link_even_with_strong_evidence(systems):
    [first] = ingest(systems, "erp", {**ACME_ERP, "website": "https://www.acme-consulting.de"})
    twin = {
        **ACME_ERP,
        "source_id": "001Z",
        "tax_id": "DE129273398",
        "website": "acme-consulting.de",
        "phone": "+49 30 1234567",
    }
    [other] = ingest(systems, "crm", twin)
    assert other.action == Action.QUEUED_FOR_REVIEW
    assert other.canonical_id != first.canonical_id
    assert other.review_with == [first.canonical_id]
    candidate = MatchCandidate.objects.get()
    assert candidate.status == MatchCandidate.Status.OPEN
    assert {e["field"]: e["level"] for e in candidate.evidence}["tax_id"] == "different"
    assert "tax" in candidate.reason


@pytest.mark.django_db
def test_same_name_with_different_valid_tax_ids_never_links(systems):
    # The rest of the evidence would link them: a steward sees why it did not.
    ingest(systems, "erp", ACME_ERP)
    [other] = ingest(
        systems, "crm", {**ACME_CRM, "name": "ACME Consulting GmbH", "tax_id": "DE129273398"}
    )
    assert other.action == Action.QUEUED_FOR_REVIEW
    assert GoldenRecord.objects.count() == 2
    assert MatchCandidate.objects.get().reason == "two different valid tax or registration IDs"


@pytest.mark.django_db
def test_invalid_tax_id_is_kept_with_a_warning_and_not_used_to_link(systems):
    ingest(systems, "erp", ACME_ERP)
    [result] = ingest(
        systems,
        "crm",
        {"source_id": "001Q", "name": "Other GmbH", "country": "DE", "tax_id": "DE136695977"},
    )
    assert result.action == Action.CREATED
    assert "tax_id" in result.warnings
    assert SourceRecord.objects.get(source_id="001Q").cleaned["tax_id"] == "DE136695977"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"name": "No Source Id Ltd"}, "source_id"),
        ({"source_id": "1"}, "name"),
        ({"source_id": "1", "name": "X", "country": "Atlantis"}, "country"),
        ({"source_id": "1", "name": "X", "email": "not-an-email"}, "email"),
        ({"source_id": "1", "name": "X", "website": "not a url"}, "website"),
        ({"source_id": "1", "name": "X", "currency": "EURO"}, "currency"),
        ({"source_id": "1", "name": "X", "updated_at": "yesterday"}, "updated_at"),
        ({"source_id": "1", "name": "X", "status": "sleeping"}, "status"),
        ({"source_id": "1", "name": {"nested": True}}, "name"),
        ({"source_id": "1", "name": "X" * 300}, "name"),
    ],
)
def test_bad_record_is_rejected_with_field_error_and_kept_for_the_exception_queue(
    systems, record, field
):
    [result] = ingest(systems, "crm", record)
    assert result.action == Action.REJECTED
    assert field in result.errors
    assert SourceRecord.objects.count() == 0
    assert GoldenRecord.objects.count() == 0
    rejected = RejectedRecord.objects.get()
    assert rejected.errors == result.errors
    assert rejected.payload == record


@pytest.mark.django_db
def test_batch_with_bad_records_stores_the_good_ones(systems):
    results = ingest(
        systems,
        "crm",
        ACME_CRM,
        {"source_id": "bad"},
        "not an object",
        {"source_id": "ok", "name": "Fine Co"},
    )
    assert [r.action for r in results] == ["created", "rejected", "rejected", "created"]
    assert results[2].errors == {"non_field_errors": ["Each record must be a JSON object."]}
    assert sorted(SourceRecord.objects.values_list("source_id", flat=True)) == ["001A000001", "ok"]


@pytest.mark.django_db
def test_later_successful_ingest_resolves_the_rejection(systems):
    ingest(systems, "crm", {"source_id": "9", "name": "X", "country": "Atlantis"})
    ingest(systems, "crm", {"source_id": "9", "name": "X", "country": "FR"})
    assert RejectedRecord.objects.get().resolved_at is not None


@pytest.mark.django_db
def test_history_records_who_and_correlation_id(systems, crm_integration):
    with correlation_scope("req-123"):
        ingest(systems, "crm", ACME_CRM, actor=crm_integration)
    golden = GoldenRecord.objects.get()
    entry = golden.history.latest()
    assert entry.history_user == crm_integration
    assert entry.correlation_id == "req-123"
    assert SourceRecord.objects.get().history.latest().correlation_id == "req-123"
    assert GoldenChange.objects.get().actor == "crm-sync"


@pytest.mark.django_db
def test_parent_reference_resolves_when_the_parent_arrives_later(systems):
    [child] = ingest(
        systems,
        "crm",
        {"source_id": "C2", "name": "Acme UK Ltd", "country": "GB", "parent_source_id": "C1"},
    )
    golden = GoldenRecord.objects.get(canonical_id=child.canonical_id)
    assert golden.attributes["parent_customer"] is None
    assert golden.lineage["parent_customer"]["unresolved"] is True
    [parent] = ingest(
        systems, "crm", {"source_id": "C1", "name": "Acme Holdings PLC", "country": "GB"}
    )
    golden.refresh_from_db()
    assert golden.attributes["parent_customer"] == parent.canonical_id


@pytest.mark.django_db
def test_project_references_customer_and_billing_entity(systems):
    [customer] = ingest(systems, "erp", ACME_ERP)
    [entity] = ingest(
        systems,
        "erp",
        {
            "source_id": "SUB-1",
            "name": "Northwind Consulting GmbH",
            "country": "DE",
            "base_currency": "EUR",
        },
        entity="legal_entity",
    )
    [project] = ingest(
        systems,
        "erp",
        {
            "source_id": "P-1",
            "code": "PRJ-2026-001",
            "name": "ERP rollout",
            "customer_source_id": "C-1187",
            "billing_legal_entity_source_id": "SUB-1",
            "billing_method": "T&M",
            "currency": "EUR",
            "start_date": "2026-01-01",
            "end_date": "2026-06-30",
        },
        entity="project",
    )
    golden = GoldenRecord.objects.get(canonical_id=project.canonical_id)
    assert project.canonical_id.startswith("PRJ-")
    assert golden.attributes["customer"] == customer.canonical_id
    assert golden.attributes["billing_legal_entity"] == entity.canonical_id
    assert golden.attributes["billing_method"] == "tm"


@pytest.mark.django_db
def test_project_with_end_before_start_is_rejected(systems):
    [result] = ingest(
        systems,
        "psa",
        {"source_id": "1", "name": "P", "start_date": "2026-05-01", "end_date": "2026-01-01"},
        entity="project",
    )
    assert result.action == Action.REJECTED
    assert "end_date" in result.errors


@pytest.mark.django_db
def test_merged_ids_are_kept_and_never_reused(systems, steward):
    [a] = ingest(systems, "crm", {"source_id": "1", "name": "Alpha", "country": "FR"})
    [b] = ingest(systems, "crm", {"source_id": "2", "name": "Alpha Conseil", "country": "FR"})
    merge_golden_records(
        survivor=GoldenRecord.objects.get(canonical_id=a.canonical_id),
        merged=[GoldenRecord.objects.get(canonical_id=b.canonical_id)],
        actor=steward,
    )
    merged = GoldenRecord.objects.get(canonical_id=b.canonical_id)
    assert merged.status == GoldenRecord.Status.MERGED
    assert merged.merged_into.canonical_id == a.canonical_id
    assert SourceRecord.objects.get(source_id="2").golden.canonical_id == a.canonical_id
    [c] = ingest(systems, "crm", {"source_id": "3", "name": "Gamma", "country": "FR"})
    # Numbers only grow: a new record never takes a merged record's ID.
    assert int(c.canonical_id[4:]) > int(b.canonical_id[4:]) > int(a.canonical_id[4:])


@pytest.mark.django_db
def test_same_number_as_different_id_kinds_in_different_countries_does_not_link(systems):
    # A US EIN and a French SIREN can share digits; they are different identifiers.
    [us] = ingest(
        systems,
        "erp",
        {"source_id": "U1", "name": "Alpha Inc", "country": "US", "tax_id": "04-2103594"},
    )
    [other] = ingest(
        systems,
        "erp",
        {"source_id": "U2", "name": "Beta Inc", "country": "CA", "tax_id": "042103594"},
    )
    assert other.canonical_id != us.canonical_id
