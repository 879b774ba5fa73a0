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


@pytest.mark.django_db
def test_estimate_weights_learns_from_the_data_and_steward_decisions(systems):
    from golden import synthetic
    from golden.matching import model_for
    from golden.models import MatchCandidate, MatchSettings
    from golden.services import ingest_records, mark_not_a_match, merge_candidate

    records = list(synthetic.generate_customers(120, seed=3))
    for system in ("erp", "crm", "psa"):
        ingest_records(
            entity_type="customer",
            system=systems[system],
            records=[r.data for r in records if r.system == system],
            actor=None,
        )
    truth = {}
    for r in records:
        truth[(r.system, r.data["source_id"])] = r.entity_key
    decided = 0
    for candidate in MatchCandidate.objects.filter(status="open")[:20]:
        key_a = {
            truth[(s.system.code, s.source_id)] for s in candidate.golden_a.source_records.all()
        }
        key_b = {
            truth[(s.system.code, s.source_id)] for s in candidate.golden_b.source_records.all()
        }
        (merge_candidate if key_a & key_b else mark_not_a_match)(candidate, actor=None)
        decided += 1
    before = model_for("customer").weight("name", "exact")
    out, _ = run("estimate_weights", "--entity", "customer")
    assert "candidate pairs" in out and f"{decided} steward decisions" in out
    row = MatchSettings.objects.get(entity_type="customer")
    assert "EM on" in row.source
    model = model_for("customer")
    assert model.weight("name", "exact") != before
    # Learnt weights still say what common sense says.
    assert model.weight("tax_id", "same") > 5
    assert model.weight("name", "exact") > model.weight("name", "different")


@pytest.mark.django_db
def test_thresholds_edited_in_match_settings_change_decisions(systems):
    from golden.models import MatchSettings
    from golden.services import ingest_records

    record = {"source_id": "1", "name": "Blue Harbor Partners LLC", "country": "US"}
    ingest_records(entity_type="customer", system=systems["crm"], records=[record], actor=None)
    MatchSettings.objects.create(entity_type="customer", auto_link=0.8, review=0.5)
    [result] = ingest_records(
        entity_type="customer",
        system=systems["psa"],
        records=[{"source_id": "2", "name": "Blue Harbor Partners, L.L.C.", "country": "US"}],
        actor=None,
    )
    assert result.action == "linked"
