"""The ingest and export_xref management commands."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from golden.models import GoldenRecord, SourceRecord

HEADER = "source_id,name,tax_id,website,email,phone,address_line1,city,region,postal_code,country,parent_source_id,updated_at"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_ingest_csv_reports_a_summary_and_stores_records(tmp_path, systems):
    path = tmp_path / "crm.csv"
    path.write_text(
        HEADER + "\n"
        "001A,Initrode Ltd,,initrode.co.uk,,020 7946 0000,1 High St,London,,SW1A 1AA,UK,,2026-01-02T00:00:00Z\n"
        "001B,Initrode Holdings PLC,,,,,,,,,GB,,\n"
        "001C,Child Ltd,,,,,,,,,GB,001B,\n"
    )
    out, _ = run("ingest", str(path), "--entity", "customer", "--system", "crm")
    assert "3 rows: created 3" in out
    child = GoldenRecord.objects.get(name="Child Ltd")
    parent = GoldenRecord.objects.get(name="Initrode Holdings PLC")
    assert child.attributes["parent_customer"] == parent.canonical_id
    assert GoldenRecord.objects.get(name="Initrode Ltd").attributes["phone"] == "+442079460000"


@pytest.mark.django_db
def test_rerunning_the_same_file_is_unchanged(tmp_path, systems):
    path = tmp_path / "crm.csv"
    path.write_text(HEADER + "\n001A,Initrode Ltd,,,,,,,,,GB,,\n")
    run("ingest", str(path), "--entity", "customer", "--system", "crm")
    out, _ = run("ingest", str(path), "--entity", "customer", "--system", "crm")
    assert "unchanged 1" in out
    assert SourceRecord.objects.count() == 1


@pytest.mark.django_db
def test_unknown_columns_are_reported_and_kept_in_the_payload(tmp_path, systems):
    path = tmp_path / "crm.csv"
    path.write_text("source_id,name,country,segment\n001A,Initrode Ltd,GB,Enterprise\n")
    _, err = run("ingest", str(path), "--entity", "customer", "--system", "crm")
    assert "Unknown columns" in err and "segment" in err
    assert SourceRecord.objects.get().payload["segment"] == "Enterprise"


@pytest.mark.django_db
def test_bad_rows_are_listed_with_line_numbers_and_written_to_an_errors_file(tmp_path, systems):
    path = tmp_path / "crm.csv"
    path.write_text("source_id,name,country\n001A,Good Ltd,GB\n001B,Bad Ltd,Mordor\n,Nameless,GB\n")
    errors = tmp_path / "errors.csv"
    out, _ = run(
        "ingest", str(path), "--entity", "customer", "--system", "crm", "--errors", str(errors)
    )
    assert "created 1" in out and "rejected 2" in out
    assert "line 3 001B: country" in out
    rows = list(csv.DictReader(errors.open()))
    assert [(r["line"], r["field"]) for r in rows] == [("3", "country"), ("4", "source_id")]
    assert SourceRecord.objects.count() == 1


@pytest.mark.django_db
def test_ingest_json_lines_reports_broken_lines(tmp_path, systems):
    path = tmp_path / "erp.jsonl"
    path.write_text(
        json.dumps(
            {
                "source_id": "C-1",
                "name": "Vandelay Industries Inc",
                "country": "US",
                "tax_id": "04-2103594",
            }
        )
        + "\n"
        "{broken\n"
        + json.dumps({"source_id": "C-2", "name": "Pendant Publishing LLC", "country": "US"})
        + "\n"
    )
    out, _ = run(
        "ingest", str(path), "--entity", "customer", "--system", "erp", "--batch-size", "1"
    )
    assert "created 2" in out and "rejected 1" in out
    assert "line 2" in out
    assert (
        GoldenRecord.objects.get(name="Vandelay Industries Inc").attributes["tax_id"] == "042103594"
    )


@pytest.mark.django_db
def test_unknown_system_and_missing_file_are_clear_errors(tmp_path, systems):
    path = tmp_path / "x.csv"
    path.write_text("source_id,name\n1,A\n")
    with pytest.raises(CommandError, match="Unknown system 'sap'"):
        run("ingest", str(path), "--entity", "customer", "--system", "sap")
    with pytest.raises(CommandError, match="No such file"):
        run("ingest", str(tmp_path / "missing.csv"), "--entity", "customer", "--system", "crm")
    no_id = tmp_path / "noid.csv"
    no_id.write_text("name\nA\n")
    with pytest.raises(CommandError, match="no source_id column"):
        run("ingest", str(no_id), "--entity", "customer", "--system", "crm")


@pytest.mark.django_db
def test_export_xref_writes_one_row_per_source_record(tmp_path, systems):
    path = tmp_path / "in.csv"
    path.write_text("source_id,name,country,tax_id\n001A,Acme GmbH,DE,DE136695976\n")
    run("ingest", str(path), "--entity", "customer", "--system", "crm")
    path.write_text("source_id,name,country,tax_id\nC-9,ACME GmbH,DE,136695976\n")
    run("ingest", str(path), "--entity", "customer", "--system", "erp")
    out_path = tmp_path / "xref.csv"
    run("export_xref", str(out_path), "--entity", "customer")
    rows = list(csv.DictReader(out_path.open()))
    golden_id = GoldenRecord.objects.get().canonical_id
    assert rows == [
        {"golden_id": golden_id, "system": "crm", "source_id": "001A"},
        {"golden_id": golden_id, "system": "erp", "source_id": "C-9"},
    ]


@pytest.mark.django_db
def test_recompute_dry_run_previews_a_rule_change_then_applies_it(tmp_path, systems):
    from golden.models import SurvivorshipRule

    for system, name in [("erp", "Initech Holdings Ltd"), ("crm", "Initech Ltd")]:
        path = tmp_path / f"{system}.csv"
        path.write_text(f"source_id,name,country,tax_id\n{system}-1,{name},GB,GB980780684\n")
        run("ingest", str(path), "--entity", "customer", "--system", system)
    golden = GoldenRecord.objects.get()
    assert golden.name == "Initech Holdings Ltd"  # ERP wins names by default
    SurvivorshipRule.objects.create(
        entity_type="customer", attribute="name", strategies=["crm", "erp"]
    )

    out, _ = run("recompute", "--entity", "customer", "--dry-run")
    assert "1 golden records would change; fields: name 1" in out
    assert "'Initech Holdings Ltd' → 'Initech Ltd'" in out
    golden.refresh_from_db()
    assert golden.name == "Initech Holdings Ltd"

    out, _ = run("recompute", "--entity", "customer")
    assert "1 golden records changed" in out
    golden.refresh_from_db()
    assert golden.name == "Initech Ltd"
    assert golden.lineage["name"]["system"] == "crm"


@pytest.mark.django_db
def test_invalid_survivorship_rule_is_refused_with_a_field_error(systems):
    from django.core.exceptions import ValidationError

    from golden.models import SurvivorshipRule

    rule = SurvivorshipRule(
        entity_type="customer", attribute="name", strategies=[{"strategy": "loudest"}]
    )
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    assert "strategies" in excinfo.value.message_dict


@pytest.mark.django_db
def test_match_command_merges_auto_links_across_golden_records(tmp_path, systems):
    from golden.models import MatchCandidate

    # Two PSA records arrive before the ERP record that ties them together.
    path = tmp_path / "psa.csv"
    path.write_text("source_id,name,country,website\n1,Fabrikam Advisory,FR,fabrikam.fr\n")
    run("ingest", str(path), "--entity", "customer", "--system", "psa")
    path.write_text("source_id,name,country,email\n2,FABRIKAM ADVISORY,FR,compta@fabrikam.fr\n")
    run("ingest", str(path), "--entity", "customer", "--system", "crm")
    before = GoldenRecord.objects.filter(status="active").count()
    out, _ = run("match", "--entity", "customer", "--dry-run")
    assert "would merge" in out
    assert GoldenRecord.objects.filter(status="active").count() == before
    out, _ = run("match", "--entity", "customer", "--rebuild")
    assert GoldenRecord.objects.filter(status="active").count() == 1
    assert MatchCandidate.objects.filter(status="open").count() == 0
