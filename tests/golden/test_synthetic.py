"""Tests for golden.synthetic: determinism, record shapes, ground truth and hard negatives."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.au import abn
from stdnum.br import cnpj
from stdnum.ca import bn
from stdnum.ch import vat as ch_vat
from stdnum.de import vat as de_vat
from stdnum.es import nif as es_nif
from stdnum.fr import tva as fr_tva
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin
from stdnum.it import iva as it_iva
from stdnum.jp import cn
from stdnum.nl import btw as nl_btw
from stdnum.se import vat as se_vat
from stdnum.us import ein

from golden.synthetic import (
    CUSTOMER_FIELDS,
    FAMILY_KINDS,
    LEGAL_ENTITY_FIELDS,
    PROJECT_FIELDS,
    SERVICE_CODE_FIELDS,
    SyntheticRecord,
    generate_customers,
    generate_legal_entities,
    generate_projects,
    generate_service_codes,
    true_pairs,
    write_csv,
    write_jsonl,
)

TAX_VALIDATORS = {
    "DE": de_vat,
    "GB": gb_vat,
    "FR": fr_tva,
    "NL": nl_btw,
    "ES": es_nif,
    "IT": it_iva,
    "CH": ch_vat,
    "SE": se_vat,
    "AU": abn,
    "CA": bn,
    "IN": gstin,
    "JP": cn,
    "BR": cnpj,
    "US": ein,
}
ALL_COUNTRIES = set(TAX_VALIDATORS)


@pytest.fixture(scope="module")
def customers() -> list[SyntheticRecord]:
    return list(generate_customers(3000, seed=42))


@pytest.fixture(scope="module")
def by_key(customers) -> dict[str, list[SyntheticRecord]]:
    groups: dict[str, list[SyntheticRecord]] = defaultdict(list)
    for rec in customers:
        groups[rec.entity_key].append(rec)
    return groups


def _erp(records):
    return [r for r in records if r.system == "erp"]


# -- determinism ---------------------------------------------------------------
def test_same_seed_same_output():
    a, b = list(generate_customers(400, seed=5)), list(generate_customers(400, seed=5))
    assert a == b
    assert generate_legal_entities(seed=5) == generate_legal_entities(seed=5)
    assert generate_service_codes(seed=5) == generate_service_codes(seed=5)
    les = generate_legal_entities(seed=5)
    assert generate_projects(a, les, 200, seed=5) == generate_projects(a, les, 200, seed=5)


def test_different_seeds_differ():
    a, b = list(generate_customers(200, seed=1)), list(generate_customers(200, seed=2))
    assert [r.data["name"] for r in a] != [r.data["name"] for r in b]
    assert generate_legal_entities(seed=1) != generate_legal_entities(seed=2)
    les = generate_legal_entities(seed=1)
    assert generate_projects(a, les, 50, seed=1) != generate_projects(a, les, 50, seed=2)


# -- shapes --------------------------------------------------------------------
def test_customer_records_have_canonical_fields(customers):
    for rec in customers:
        assert rec.entity == "customer" and rec.system in ("crm", "psa", "erp")
        assert set(rec.data) == set(CUSTOMER_FIELDS)
        assert all(isinstance(v, str) for v in rec.data.values())
        assert rec.data["name"] and rec.data["source_id"]
        ts = datetime.fromisoformat(rec.data["updated_at"])
        assert ts.tzinfo is not None and ts.utcoffset().total_seconds() == 0


def test_source_id_shapes(customers):
    shapes = {"crm": r"001[0-9A-Za-z]{15}", "psa": r"\d+", "erp": r"C-\d+"}
    for rec in customers:
        assert re.fullmatch(shapes[rec.system], rec.data["source_id"]), rec


def test_source_ids_unique_per_system_and_entity(customers):
    les = generate_legal_entities()
    svcs = generate_service_codes()
    projects = generate_projects(customers, les, 1500)
    seen = Counter(
        (r.entity, r.system, r.data["source_id"]) for r in [*customers, *les, *svcs, *projects]
    )
    assert [k for k, n in seen.items() if n > 1] == []


def test_all_countries_present_with_system_specific_country_spelling(customers):
    erp_countries = {r.data["country"] for r in _erp(customers)}
    assert erp_countries == ALL_COUNTRIES  # ERP stores ISO codes only
    crm_countries = {r.data["country"] for r in customers if r.system == "crm"}
    assert {"Germany", "DE", "Deutschland", "United States", "US", "USA"} <= crm_countries


def test_erp_tax_ids_validate_with_stdnum(customers):
    erp = _erp(customers)
    assert len(erp) > 1500
    for rec in erp:
        tax, cc = rec.data["tax_id"], rec.data["country"]
        assert tax, rec
        assert TAX_VALIDATORS[cc].is_valid(tax), (cc, tax)


def test_tax_ids_never_shared_between_entities(customers):
    owner: dict[str, str] = {}
    for rec in _erp(customers):
        assert owner.setdefault(rec.data["tax_id"], rec.entity_key) == rec.entity_key


def test_crm_tax_ids_mostly_missing(customers):
    crm = [r for r in customers if r.system == "crm"]
    missing = sum(not r.data["tax_id"] for r in crm) / len(crm)
    assert 0.5 < missing < 0.75


# -- ground truth ----------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=0, max_value=80), seed=st.integers(min_value=0, max_value=10_000))
def test_exactly_n_entities_with_one_to_four_records(n, seed):
    recs = list(generate_customers(n, seed=seed))
    sizes = Counter(r.entity_key for r in recs)
    assert len(sizes) == n
    assert all(1 <= k <= 4 for k in sizes.values())


def test_most_companies_live_in_two_or_three_systems(by_key):
    n_systems = Counter(len({r.system for r in recs}) for recs in by_key.values())
    assert (n_systems[2] + n_systems[3]) / len(by_key) > 0.6
    assert n_systems[1] > 0


def test_intra_crm_duplicates_exist_only_in_crm(by_key):
    dups = Counter()
    for recs in by_key.values():
        for system, n in Counter(r.system for r in recs).items():
            if n > 1:
                dups[system] += 1
    assert set(dups) == {"crm"}
    assert 0.015 < dups["crm"] / len(by_key) < 0.05


def test_records_of_one_entity_really_vary(by_key):
    differ = accents = 0
    for recs in by_key.values():
        names = {r.system: r.data["name"] for r in recs}
        if "crm" in names and "erp" in names:
            differ += names["crm"] != names["erp"]
            accents += names["crm"].isascii() and not names["erp"].isascii()
    assert differ > 300 and accents > 5


def test_hard_negative_families(by_key):
    families: dict[str, set[str]] = defaultdict(set)
    for key, recs in by_key.items():
        fams = {r.family for r in recs}
        assert len(fams) == 1  # family is a property of the entity, not of a record
        if (fam := fams.pop()) is not None:
            families[fam].add(key)
    share = sum(len(keys) for keys in families.values()) / len(by_key)
    assert 0.08 <= share <= 0.18
    assert all(len(keys) >= 2 for keys in families.values())
    assert {f.split("-")[0] for f in families} == set(FAMILY_KINDS)


def test_unrelated_companies_never_share_a_name_or_domain(customers):
    # Look-alikes must come only from labelled families, otherwise the ground truth lies.
    keys_by: dict[tuple[str, str], set[str]] = defaultdict(set)
    family = {r.entity_key: r.family for r in customers}
    for r in customers:
        if r.system == "erp":
            keys_by[("name", r.data["name"].upper())].add(r.entity_key)
        if r.data["website"]:
            domain = re.sub(r"^(https?://)?(www\.)?", "", r.data["website"]).rstrip("/")
            keys_by[("domain", domain)].add(r.entity_key)
    shared = [keys for keys in keys_by.values() if len(keys) > 1]
    assert shared  # sister companies do share a domain ...
    for keys in shared:  # ... but only inside one family
        assert len({family[k] for k in keys}) == 1 and family[next(iter(keys))] is not None


def test_group_children_point_at_parent_in_same_system(customers):
    by_sys_id = {(r.system, r.data["source_id"]): r for r in customers}
    linked = 0
    for rec in customers:
        if parent_id := rec.data["parent_source_id"]:
            parent = by_sys_id[(rec.system, parent_id)]
            assert parent.family == rec.family and parent.family.startswith("group")
            assert parent.entity_key != rec.entity_key
            linked += 1
    assert linked > 20


def test_generic_name_families_share_name_but_not_city_or_phone(by_key):
    checked = 0
    fam_erp: dict[str, list[SyntheticRecord]] = defaultdict(list)
    for recs in by_key.values():
        fam_erp[recs[0].family or ""].extend(r for r in recs if r.system == "erp")
    for fam, recs in fam_erp.items():
        if fam.startswith("generic") and len(recs) >= 2:
            assert len({r.data["name"].upper().split(" ")[0] for r in recs}) == 1
            assert len({r.data["city"] for r in recs}) == len(recs)
            assert len({r.data["phone"] for r in recs}) == len(recs)
            checked += 1
    assert checked > 0


def test_brand_families_are_token_supersets(by_key):
    fam_names: dict[str, list[str]] = defaultdict(list)
    for recs in by_key.values():
        erp = [r for r in recs if r.system == "erp" and r.family and r.family.startswith("brand")]
        fam_names[recs[0].family or ""].extend(r.data["name"].upper().split()[0] for r in erp)
    multi = [v for v in fam_names.values() if len(v) >= 2]
    assert multi and all(len(set(v)) == 1 for v in multi)


def test_true_pairs_on_hand_made_list():
    def rec(key: str) -> SyntheticRecord:
        return SyntheticRecord("customer", "crm", {}, key)

    records = [rec("a"), rec("b"), rec("a"), rec("c"), rec("a"), rec("b")]
    assert true_pairs(records) == {(0, 2), (0, 4), (2, 4), (1, 5)}
    assert true_pairs([]) == set()
    assert true_pairs(iter([rec("x")])) == set()


def test_true_pairs_match_ground_truth_size(customers, by_key):
    pairs = true_pairs(customers)
    assert len(pairs) == sum(len(v) * (len(v) - 1) // 2 for v in by_key.values())
    assert all(i < j and customers[i].entity_key == customers[j].entity_key for i, j in pairs)


def test_systems_filter_and_validation():
    recs = list(generate_customers(100, seed=3, systems=("crm",)))
    assert {r.system for r in recs} == {"crm"}
    assert len({r.entity_key for r in recs}) == 100
    with pytest.raises(ValueError):
        generate_customers(10, systems=("sap",))
    with pytest.raises(ValueError):
        generate_customers(-1)


# -- legal entities, service codes, projects ----------------------------------------
def test_legal_entities():
    les = generate_legal_entities()
    erp = [r for r in les if r.system == "erp"]
    assert 7 <= len(erp) <= 12 and len({r.data["country"] for r in erp}) >= 6
    assert all(re.fullmatch(r"SUB-\d+", r.data["source_id"]) for r in erp)
    assert any(r.system == "psa" for r in les)
    for r in les:
        assert set(r.data) == set(LEGAL_ENTITY_FIELDS) and r.entity == "legal_entity"
    for r in erp:
        assert TAX_VALIDATORS[r.data["country"]].is_valid(r.data["tax_id"])


def test_service_codes_differ_between_erp_and_psa():
    svcs = generate_service_codes()
    erp = {r.entity_key: r for r in svcs if r.system == "erp"}
    psa = {r.entity_key: r for r in svcs if r.system == "psa"}
    assert 25 <= len(erp) <= 40 and len(psa) >= 20
    for r in svcs:
        assert set(r.data) == set(SERVICE_CODE_FIELDS)
        assert r.data["unit"] in {"hour", "day", "fixed", "month", "each"}
    assert all(re.fullmatch(r"ITEM-\d{4}", r.data["code"]) for r in erp.values())
    for key, p in psa.items():
        assert p.data["code"] != erp[key].data["code"]
    assert (
        erp["svc-005"].data["name"] == "Senior Consultant - Hourly"
        and psa["svc-005"].data["code"] == "SR-CONS"
    )


def test_projects_reference_same_system_customers_and_entities(customers):
    les = generate_legal_entities()
    projects = generate_projects(customers, les, 2000)
    cust_ids = {(r.system, r.data["source_id"]) for r in customers}
    le_ids = {(r.system, r.data["source_id"]) for r in les}
    assert {r.system for r in projects} == {"crm", "psa", "erp"}
    assert len({r.entity_key for r in projects}) == 2000
    for p in projects:
        d = p.data
        assert set(d) == set(PROJECT_FIELDS)
        assert (p.system, d["customer_source_id"]) in cust_ids
        if d["billing_legal_entity_source_id"]:
            assert (p.system, d["billing_legal_entity_source_id"]) in le_ids
        assert d["billing_method"] in {"", "tm", "fixed_fee", "milestone", "retainer"}
        assert d["status"] in {"planned", "active", "on_hold", "closed"}
        if d["start_date"] and d["end_date"]:
            assert date.fromisoformat(d["start_date"]) < date.fromisoformat(d["end_date"])
    shapes = {"crm": r"006[0-9A-Za-z]{15}", "psa": r"\d+", "erp": r"PRJ-\d{4}-\d{3,}"}
    assert all(re.fullmatch(shapes[p.system], p.data["source_id"]) for p in projects)
    psa = [p for p in projects if p.system == "psa"]
    no_dims = sum(
        not p.data["cost_center"] and not p.data["billing_legal_entity_source_id"] for p in psa
    )
    assert 0.1 < no_dims / len(psa) < 0.4
    assert all(
        p.data["billing_legal_entity_source_id"] and p.data["cost_center"]
        for p in projects
        if p.system == "erp"
    )


# -- export and scale -------------------------------------------------------------------
def test_write_csv_and_jsonl_round_trip(tmp_path, customers):
    sample = customers[:50]
    assert write_csv(sample, tmp_path / "c.csv", CUSTOMER_FIELDS) == 50
    with open(tmp_path / "c.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [r.data for r in sample]
    assert write_jsonl(sample, tmp_path / "c.jsonl") == 50
    lines = (tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [r.data for r in sample]
    write_jsonl(sample, tmp_path / "n.jsonl", fields=("name", "missing"))
    first = json.loads((tmp_path / "n.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first == {"name": sample[0].data["name"], "missing": ""}


def test_hundred_thousand_companies_stream():
    keys = set()
    n_records = 0
    for rec in generate_customers(100_000, seed=9):
        keys.add(rec.entity_key)
        n_records += 1
    assert len(keys) == 100_000 and 150_000 < n_records < 400_000
