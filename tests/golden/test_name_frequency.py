"""How common a name is: prefix counts per system and place, the name levels they decide,
and the TermFrequency table that keeps the same counts as records arrive or change."""

from __future__ import annotations

import importlib
from collections import Counter

import pytest
from django.apps import apps
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import synthetic
from golden.entities import EntityType
from golden.matching import find_matches, key_values, stored_features
from golden.matching.comparators import compare_name
from golden.matching.comparators import compare_text_name as compare_name_of_services
from golden.matching.features import features_of
from golden.matching.frequency import (
    COUNTRY,
    EVERYWHERE,
    RunningCounts,
    TermCounts,
    annotate_all,
    annotate_from_store,
    shared_place,
    terms_of,
)
from golden.migrations._backfill import refresh_match_data
from golden.models import BlockingKey, SourceRecord, SourceSystem, TermFrequency
from golden.services import ingest_by_system, ingest_records


def customer(**values):
    return features_of(EntityType.CUSTOMER, values)


def test_terms_are_the_prefixes_of_the_name_in_each_place():
    record = customer(name="Keller & Kohler AG", country="CH", city="Basel")
    assert record.name == "keller and kohler"
    assert sorted(terms_of(record)) == sorted(
        [
            "p:keller",
            "p:CH:keller",
            "p@basel:keller",
            "p:keller kohler",
            "p:CH:keller kohler",
            "p@basel:keller kohler",
        ]
    )
    assert terms_of(customer(name="Keller AG")) == ["p:keller"]
    assert terms_of(customer(country="CH")) == []
    # One customer's projects share phrases by design: not counted.
    assert terms_of(features_of(EntityType.PROJECT, {"name": "Keller Migration"})) == []


def test_a_service_name_on_every_rate_card_is_common():
    def service(name, category=""):
        return features_of(EntityType.SERVICE_CODE, {"name": name, "category": category})

    psa_senior, psa_sap, *_, erp_senior, erp_sap = counted(
        (service("Senior Consultant"), "psa"),
        (service("SAP Migration Assessment"), "psa"),
        (service("Senior Consultant", "Advisory"), "psa"),
        (service("Senior Consultant", "Delivery"), "psa"),
        (service("Senior Consultant - Hourly"), "erp"),
        (service("SAP Migration Assessment - Fixed Fee"), "erp"),
    )
    assert compare_name_of_services(psa_senior, erp_senior) == "exact_common"
    assert compare_name_of_services(psa_sap, erp_sap) == "exact"


def test_the_place_is_the_narrowest_two_records_share():
    basel = customer(name="x", country="CH", city="Basel")
    assert shared_place(basel, customer(name="x", country="CH", city="Basel")) == 2
    assert shared_place(basel, customer(name="x", city="Basel")) == 2
    assert shared_place(basel, customer(name="x", country="CH", city="Zurich")) == COUNTRY
    assert shared_place(basel, customer(name="x")) == EVERYWHERE
    # Two countries: a city of the same name is another city.
    assert shared_place(basel, customer(name="x", country="FR", city="Basel")) == EVERYWHERE


# Two Keller firms in Switzerland, one per city, as the ERP holds them; the PSA shortens.
ERP_BASEL = customer(name="Keller & Kohler AG", country="CH", city="Basel")
ERP_ZURICH = customer(name="Keller Consulting AG", country="CH", city="Zurich")
PSA_BASEL = customer(name="Keller", country="CH", city="Basel")
PSA_SWISS = customer(name="Keller", country="CH")


def counted(*records_and_systems):
    records = [record for record, _ in records_and_systems]
    return annotate_all(records, [system for _, system in records_and_systems])


def test_a_short_name_is_distinctive_where_no_other_firm_begins_alike():
    erp_basel, erp_zurich, psa_basel, psa_swiss = counted(
        (ERP_BASEL, "erp"), (ERP_ZURICH, "erp"), (PSA_BASEL, "psa"), (PSA_SWISS, "psa")
    )
    # In Basel one ERP firm's name begins "Keller"; in Switzerland two do: one of two.
    assert compare_name(psa_basel, erp_basel) == "contained"
    assert compare_name(psa_swiss, erp_basel) == "contained_few"
    assert compare_name(psa_swiss, erp_zurich) == "contained_few"
    # With a third firm, "Keller" says less still.
    *_, third_psa_swiss, third_erp_basel = counted(
        (ERP_ZURICH, "erp"),
        (customer(name="Keller Bau AG", country="CH", city="Bern"), "erp"),
        (PSA_SWISS, "psa"),
        (ERP_BASEL, "erp"),
    )
    assert compare_name(third_psa_swiss, third_erp_basel) == "contained_common"
    # A word inside the name, not its beginning, is how other firms are named too.
    assert compare_name(customer(name="Kohler", country="CH", city="Basel"), erp_basel) == (
        "contained_common"
    )


def test_an_identical_name_is_common_where_several_records_of_one_system_begin_with_it():
    berlin = customer(name="Meridian Analytics GmbH", country="DE", city="Berlin")
    munich = customer(name="Meridian Analytics Services GmbH", country="DE", city="Munich")
    crm_berlin = customer(name="Meridian Analytics", country="DE", city="Berlin")
    crm_germany = customer(name="Meridian Analytics", country="DE")
    erp_berlin, _, crm_in_berlin, crm_in_germany = counted(
        (berlin, "erp"), (munich, "erp"), (crm_berlin, "crm"), (crm_germany, "crm")
    )
    assert compare_name(crm_in_berlin, erp_berlin) == "exact"
    assert compare_name(crm_in_germany, erp_berlin) == "exact_few"
    *_, crm_among_three, erp_among_three = counted(
        (munich, "erp"),
        (customer(name="Meridian Analytics Partners", country="DE"), "erp"),
        (crm_germany, "crm"),
        (berlin, "erp"),
    )
    assert compare_name(crm_among_three, erp_among_three) == "exact_common"
    # One firm's records in several systems do not make its name common.
    one_firm = counted((berlin, "erp"), (crm_berlin, "crm"), (crm_germany, "psa"))
    assert compare_name(one_firm[0], one_firm[2]) == "exact"


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("Lyranoua", "Lyranova Group"),  # a typo in the brand
        ("Paxytrone Aerospace", "Paxytron Aerospace Worldwide"),
        ("Paxytroneaerospace", "Paxytron Aerospace Worldwide"),  # a space lost
        ("Lumicomm Edia", "Lumicom Media Associates"),  # a space moved
        ("Zorneix Media", "Zorenix Media & Company"),  # two letters swapped
        ("Noripath Sovutions", "Noripath Solutions Industries"),
    ],
)
def test_a_name_with_a_typo_that_begins_another_is_contained_typo(short, long):
    psa, erp, *_ = counted(
        (customer(name=short, country="GB"), "psa"),
        (customer(name=long, country="GB"), "erp"),
        (customer(name="Harbor Lane Digital", country="GB"), "erp"),
    )
    assert compare_name(psa, erp) == "contained_typo"
    assert compare_name(erp, psa) == "contained_typo"


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("Acme", "Acmex Group"),  # too short to tell from a typo
        ("Xyranova", "Lyranova Group"),  # the first letters differ
        ("Lyranxyz", "Lyranova Group"),  # more than one edit
        ("Lyranova Group Holdings", "Lyranova"),  # the longer name is not spelt
    ],
)
def test_other_names_are_not_contained_typo(short, long):
    a, b = counted((customer(name=short), "psa"), (customer(name=long), "erp"))
    assert compare_name(a, b) != "contained_typo"


def test_a_typo_where_another_firm_begins_alike_is_common():
    psa, erp, _ = counted(
        (customer(name="Lyranoua", country="GB"), "psa"),
        (customer(name="Lyranova Group", country="GB"), "erp"),
        (customer(name="Lyranova Capital", country="GB"), "erp"),
    )
    assert compare_name(psa, erp) == "contained_common"


def test_a_typo_in_a_distinctive_name_is_very_similar_past_its_first_letters():
    psa, erp, psa_early, other_erp = counted(
        (customer(name="Blue Field Sofuware", country="GB"), "psa"),
        (customer(name="Blue Field Software", country="GB"), "erp"),
        (customer(name="Bleu Field Software", country="GB"), "psa"),
        (customer(name="Blue Fiord Trading", country="GB"), "erp"),
    )
    assert compare_name(psa, erp) == "very_similar"
    # A typo in the first three letters, or a name other firms' names begin like.
    assert compare_name(psa_early, erp) == "very_similar_common"
    two_firms = counted(
        (customer(name="Blue Field Sofuware", country="GB"), "psa"),
        (customer(name="Blue Field Software", country="GB"), "erp"),
        (customer(name="Blue Field Software Consulting", country="GB"), "erp"),
    )
    assert compare_name(two_firms[0], two_firms[1]) == "very_similar_common"
    assert other_erp.name_start == "blu"


def test_uncounted_features_compare_as_before_counting():
    assert compare_name(PSA_BASEL, ERP_BASEL) == "contained"
    assert compare_name(PSA_BASEL, PSA_SWISS) == "exact"


RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["crm", "psa", "erp"]),
        st.sampled_from(["Keller", "Keller Kohler", "Keller & Kohler AG", "Kohler", "Berg Ltd"]),
        st.sampled_from(["", "CH", "DE"]),
        st.sampled_from(["", "Basel", "Zurich"]),
    ),
    max_size=14,
)


def features_and_systems(rows):
    return (
        [customer(name=name, country=country, city=city) for _, name, country, city in rows],
        [system for system, *_ in rows],
    )


@settings(max_examples=150, deadline=None)
@given(stored=RECORDS, arriving=RECORDS, system=st.sampled_from(["crm", "psa", "erp"]))
def test_running_counts_see_each_arrival_as_if_it_came_alone(stored, arriving, system):
    stored_features, stored_systems = features_and_systems(stored)
    arriving = [(system, *rest) for _, *rest in arriving]
    arriving_features, _ = features_and_systems(arriving)
    per_system = Counter(
        (holder, term)
        for record, holder in zip(stored_features, stored_systems, strict=True)
        for term in terms_of(record)
    )
    running = RunningCounts(dict(per_system), system)
    for k, record in enumerate(arriving_features):
        seen = TermCounts(
            Counter(
                (holder, term)
                for record, holder in zip(
                    stored_features + arriving_features[: k + 1],
                    stored_systems + [system] * (k + 1),
                    strict=True,
                )
                for term in terms_of(record)
            )
        )
        assert running.arrive(record) == seen.annotated(record)
    assert running.arrived == Counter(t for f in arriving_features for t in terms_of(f))


@settings(max_examples=100, deadline=None)
@given(rows=RECORDS)
def test_counts_do_not_depend_on_the_order_records_come_in(rows):
    features, systems = features_and_systems(rows)
    forward = annotate_all(list(features), systems)
    backward = annotate_all(features[::-1], systems[::-1])[::-1]
    assert forward == backward
    # A record counts itself in every place it names.
    for record in forward:
        for everywhere, country, city in record.prefix_counts:
            assert everywhere >= 1
            assert (country >= 1) == bool(record.country)
            assert (city >= 1) == bool(record.city)


# ----------------------------------------------------------------- the stored counts


def stored_counts() -> Counter:
    return Counter(
        {
            (system, term): records
            for system, term, records in TermFrequency.objects.filter(
                entity_type=EntityType.CUSTOMER
            ).values_list("system__code", "term", "records")
            if records
        }
    )


def counts_of_stored_records() -> Counter:
    from golden.matching import record_features

    counts: Counter = Counter()
    for record in SourceRecord.objects.filter(entity_type=EntityType.CUSTOMER).select_related(
        "system", "golden"
    ):
        counts.update((record.system.code, term) for term in terms_of(record_features(record)))
    return counts


@pytest.mark.django_db
def test_the_table_counts_the_stored_records_as_they_arrive_and_change(systems):
    ingest_by_system(synthetic.generate_customers(40, seed=3), batch_size=17)
    assert stored_counts() == counts_of_stored_records()
    assert stored_counts()
    # A record renamed moves its counts from the old name to the new one.
    record = SourceRecord.objects.filter(system__code="crm", entity_type="customer").first()
    renamed = {**record.payload, "name": "Zephyrine Holdings Ltd", "updated_at": ""}
    [result] = ingest_records(
        entity_type="customer", system=systems["crm"], records=[renamed], actor=None
    )
    assert result.action == "updated"
    assert stored_counts() == counts_of_stored_records()
    assert stored_counts()[("crm", "p:zephyrine holdings")] == 1


@pytest.mark.django_db
def test_batch_and_incremental_matching_see_the_same_counts(systems):
    from golden.matching import record_features

    ingest_by_system(synthetic.generate_customers(40, seed=4), batch_size=50)
    records = list(
        SourceRecord.objects.filter(entity_type="customer").select_related("system", "golden")
    )
    features = [record_features(r) for r in records]
    in_memory = annotate_all(list(features), [r.system.code for r in records])
    assert annotate_from_store(features) == in_memory


@pytest.mark.django_db
def test_the_migration_counts_the_records_stored_before_it(systems):
    ingest_by_system(synthetic.generate_customers(25, seed=5), batch_size=100)
    expected = stored_counts()
    TermFrequency.objects.all().delete()
    migration = importlib.import_module("golden.migrations.0011_term_frequency")
    migration.count_terms(apps, None)
    assert stored_counts() == expected


@pytest.mark.django_db
def test_refreshing_match_data_recomputes_features_keys_and_counts(systems):
    ingest_by_system(synthetic.generate_customers(25, seed=5), batch_size=100)
    # A project's keys name its customer's golden record: they are kept as they are.
    [customer_record, *_] = SourceRecord.objects.filter(system__code="crm")
    ingest_records(
        entity_type="project",
        system=SourceSystem.objects.get(code="crm"),
        records=[
            {
                "source_id": "P-1",
                "name": "ERP Rollout",
                "customer_source_id": customer_record.source_id,
            }
        ],
        actor=None,
    )
    project = SourceRecord.objects.get(entity_type="project")
    project_keys = sorted(
        BlockingKey.objects.filter(source_record=project).values_list("key", flat=True)
    )
    records = list(SourceRecord.objects.filter(entity_type="customer").order_by("id"))
    expected_keys = sorted(
        (record.pk, key, bytes(codes))
        for record in records
        for _, _, key, codes in key_values(
            record.pk, record.entity_type, features_of("customer", record.cleaned)
        )
    )
    expected_counts = stored_counts()
    # As a store written before a change to the features looks.
    SourceRecord.objects.update(match_features={"v": 1})
    BlockingKey.objects.filter(id__in=BlockingKey.objects.values("id")[:40]).delete()
    BlockingKey.objects.update(codes=None)
    TermFrequency.objects.all().delete()
    refresh_match_data(apps)
    for record in SourceRecord.objects.filter(entity_type="customer").order_by("id"):
        assert record.match_features == stored_features(features_of("customer", record.cleaned))
    project.refresh_from_db()
    assert project.match_features == stored_features(features_of("project", project.cleaned))
    assert (
        sorted(BlockingKey.objects.filter(source_record=project).values_list("key", flat=True))
        == project_keys
    )
    assert project_keys
    assert (
        sorted(
            (record_id, key, bytes(codes))
            for record_id, key, codes in BlockingKey.objects.filter(
                source_record__entity_type="customer"
            ).values_list("source_record_id", "key", "codes")
        )
        == expected_keys
    )
    assert stored_counts() == expected_counts


@pytest.mark.django_db
def test_search_before_create_weighs_a_name_by_the_stored_counts(systems):
    ingest_records(
        entity_type="customer",
        system=SourceSystem.objects.get(code="erp"),
        records=[
            {"source_id": "C-1", "name": "Meridian Analytics GmbH", "country": "DE"},
            {"source_id": "C-2", "name": "Meridian Analytics Services GmbH", "country": "DE"},
        ],
        actor=None,
    )
    probe = customer(name="Meridian Analytics GmbH", country="DE", city="Berlin")
    [match, *_] = find_matches(EntityType.CUSTOMER, probe)
    name = next(e for e in match.score.evidence if e["field"] == "name")
    assert name["level"] == "exact_few"
    assert name["detail"].endswith(
        ': 2 records of one system in DE have names beginning "meridian analytics"'
    )
    assert match.decision != "link"
