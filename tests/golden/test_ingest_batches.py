"""Batched ingestion keeps the guarantees of one-by-one ingestion: the same clustering
whatever the batch size, all-or-nothing per record, history and change feed for every
golden change, idempotent replays, no duplicates under concurrent inserts."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden import synthetic
from golden.models import (
    BlockingKey,
    GoldenChange,
    GoldenRecord,
    MatchCandidate,
    RejectedRecord,
    SourceRecord,
    SourceSystem,
)
from golden.services import Action, ingest_records
from mdm.context import correlation_scope

ACME_CRM = {
    "source_id": "001A000001",
    "name": "Acme Consulting",
    "tax_id": "DE136695976",
    "country": "DE",
    "website": "https://www.acme-consulting.de",
    "updated_at": "2026-02-01T09:00:00Z",
}
# The same company entered twice in the CRM.
ACME_CRM_DUPLICATE = {
    "source_id": "001A000002",
    "name": "ACME Consulting GmbH",
    "tax_id": "DE 136 695 976",
    "country": "Germany",
    "website": "acme-consulting.de",
    "updated_at": "2026-02-02T09:00:00Z",
}
OTHER = {"source_id": "001B", "name": "Northwind Traders", "country": "FR", "city": "Lyon"}

# Small enough to ingest many times over, with duplicates across and within systems,
# generic names and sister companies. The property test sends them all as one system's
# records (source IDs kept apart by the system they came from), so a batch holds
# duplicates of one company more often than not.
ROWS = [
    {**r.data, "source_id": f"{r.system}-{r.data['source_id']}"}
    for r in synthetic.generate_customers(14, seed=11)
]


def ingest(system, *records, actor=None):
    return ingest_records(
        entity_type="customer",
        system=SourceSystem.objects.get(code=system),
        records=list(records),
        actor=actor,
    )


def ingest_in_batches(cuts: list[int]) -> None:
    bounds = [0, *sorted({c % (len(ROWS) + 1) for c in cuts}), len(ROWS)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        if end > start:
            ingest("crm", *ROWS[start:end])


def outcome() -> tuple:
    """Clustering, review pairs and change feed, by source IDs (canonical IDs are handed
    out from a sequence and differ between runs)."""
    members: dict[int, set] = {}
    for golden_id, system, source_id in SourceRecord.objects.values_list(
        "golden_id", "system__code", "source_id"
    ):
        members.setdefault(golden_id, set()).add((system, source_id))
    cluster = {g: frozenset(m) for g, m in members.items()}
    reviews = frozenset(
        frozenset([cluster[a], cluster[b]])
        for a, b in MatchCandidate.objects.values_list("golden_a_id", "golden_b_id")
    )
    versions = frozenset(
        (cluster[pk], version, tuple(g.changes.values_list("kind", "version")))
        for g in GoldenRecord.objects.all()
        for pk, version in [(g.pk, g.version)]
    )
    links = Counter(SourceRecord.objects.values_list("link_evidence__decision", flat=True))
    return frozenset(cluster.values()), reviews, versions, links


def rolled_back(run) -> tuple:
    with transaction.atomic():
        run()
        result = outcome()
        transaction.set_rollback(True)
    return result


@pytest.mark.django_db
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cuts=st.lists(st.integers(0, len(ROWS)), max_size=5))
def test_clustering_does_not_depend_on_how_records_are_batched(cuts):
    one_by_one = rolled_back(lambda: ingest_in_batches(list(range(len(ROWS)))))
    batched = rolled_back(lambda: ingest_in_batches(cuts))
    assert batched == one_by_one
    clusters, reviews, _, _ = batched
    # The data has duplicates to find and pairs to review, so the comparison says something.
    assert len(clusters) < len(ROWS)
    assert reviews


@pytest.mark.django_db
def test_duplicates_in_one_batch_link_to_each_other(systems):
    first, second, other = ingest("crm", ACME_CRM, ACME_CRM_DUPLICATE, OTHER)
    assert first.action == Action.CREATED
    assert second.action == Action.LINKED
    assert second.canonical_id == first.canonical_id
    assert other.action == Action.CREATED
    golden = GoldenRecord.objects.get(canonical_id=first.canonical_id)
    assert golden.source_records.count() == 2
    assert SourceRecord.objects.get(source_id="001A000002").link_evidence["decision"] == (
        "auto_link"
    )
    # Linking the second record changed the golden record: a second version, fed.
    assert list(golden.changes.values_list("kind", "version")) == [
        ("created", 1),
        ("updated", 2),
    ]
    assert BlockingKey.objects.filter(source_record__source_id="001A000002").exists()


@pytest.mark.django_db
def test_every_golden_change_has_history_and_a_change_feed_row(systems, crm_integration):
    with correlation_scope("batch-42"):
        results = ingest("crm", ACME_CRM, ACME_CRM_DUPLICATE, OTHER, actor=crm_integration)
    goldens = GoldenRecord.objects.filter(canonical_id__in={r.canonical_id for r in results})
    assert goldens.count() == 2
    for golden in goldens:
        history = list(golden.history.order_by("history_id"))
        assert history, golden
        assert {h.correlation_id for h in history} == {"batch-42"}
        assert {h.history_user for h in history} == {crm_integration}
        assert history[-1].version == golden.version
        assert history[-1].attributes == golden.attributes
        changes = list(golden.changes.all())
        assert [c.version for c in changes] == list(range(1, golden.version + 1))
        assert {(c.actor, c.correlation_id) for c in changes} == {("crm-sync", "batch-42")}
        assert changes[-1].snapshot["attributes"] == golden.attributes
    for record in SourceRecord.objects.all():
        [created] = record.history.all()
        assert created.history_type == "+"
        assert created.history_user == crm_integration
        assert created.correlation_id == "batch-42"


@pytest.mark.django_db
def test_replaying_a_batch_changes_nothing(systems):
    batch = [ACME_CRM, ACME_CRM_DUPLICATE, OTHER]
    first = ingest("crm", *batch)
    counts = (
        SourceRecord.objects.count(),
        GoldenChange.objects.count(),
        GoldenRecord.history.count(),
        SourceRecord.history.count(),
        BlockingKey.objects.count(),
    )
    again = ingest("crm", *[dict(r) for r in batch])
    assert [r.action for r in again] == [Action.UNCHANGED] * 3
    assert [r.canonical_id for r in again] == [r.canonical_id for r in first]
    assert counts == (
        SourceRecord.objects.count(),
        GoldenChange.objects.count(),
        GoldenRecord.history.count(),
        SourceRecord.history.count(),
        BlockingKey.objects.count(),
    )


@pytest.mark.django_db
def test_a_record_sent_twice_in_one_batch_is_stored_once_newest_wins(systems):
    newer = {**OTHER, "city": "Paris", "updated_at": "2026-03-01T00:00:00Z"}
    older = {**OTHER, "city": "Nice", "updated_at": "2026-01-01T00:00:00Z"}
    results = ingest("crm", OTHER, ACME_CRM, newer, older)
    assert [r.action for r in results] == [
        Action.CREATED,
        Action.CREATED,
        Action.UPDATED,
        Action.UNCHANGED,
    ]
    assert "updated_at" in results[3].warnings
    assert SourceRecord.objects.filter(source_id=OTHER["source_id"]).count() == 1
    assert GoldenRecord.objects.get(canonical_id=results[0].canonical_id).attributes["city"] == (
        "Paris"
    )


@pytest.mark.django_db
def test_a_record_the_database_refuses_is_rejected_and_the_others_land(systems):
    refused = {"source_id": "nul", "name": "Bad\x00Name", "country": "FR"}
    results = ingest("crm", ACME_CRM, refused, ACME_CRM_DUPLICATE, OTHER)
    assert [r.action for r in results] == [
        Action.CREATED,
        Action.REJECTED,
        Action.LINKED,
        Action.CREATED,
    ]
    assert "non_field_errors" in results[1].errors
    assert sorted(SourceRecord.objects.values_list("source_id", flat=True)) == [
        "001A000001",
        "001A000002",
        "001B",
    ]
    assert RejectedRecord.objects.get().source_id == "nul"
    # Nothing of the refused record was half-written.
    assert GoldenRecord.objects.count() == 2
    assert GoldenChange.objects.count() == 3


def while_uncommitted(first_request, second_request):
    """Run ``first_request`` in a transaction of its own (another thread and connection)
    and, while it holds its writes uncommitted for a second, ``second_request``; the
    second's result once both are done."""
    done = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                first_request()
                done.set()
                # Hold the uncommitted writes while the second request runs into them.
                threading.Event().wait(1.0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            done.set()
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    done.wait(10)
    result = second_request()
    thread.join(10)
    assert not errors
    return result


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_inserts_of_the_same_record_never_duplicate():
    """Two requests carry the same new record: the one that commits second waits on the
    first's insert, then takes the record as stored; its other records still land."""
    second = while_uncommitted(
        lambda: ingest("crm", ACME_CRM),
        lambda: ingest("crm", OTHER, ACME_CRM, ACME_CRM_DUPLICATE),
    )
    assert [r.action for r in second] == [Action.CREATED, Action.UNCHANGED, Action.LINKED]
    assert SourceRecord.objects.filter(source_id=ACME_CRM["source_id"]).count() == 1
    assert SourceRecord.objects.count() == 3
    assert second[1].canonical_id == second[2].canonical_id


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("second_is_update", [False, True])
def test_concurrent_links_to_one_golden_record_lose_no_record_in_survivorship(
    second_is_update,
):
    """Two requests each link a record to the same golden record. The second waits for
    the first to commit, so its survivorship sees the first's record too: the golden
    record ends up with the CRM's phone and the PSA's industry, not just one of them."""
    erp = {**ACME_CRM, "source_id": "C-1", "website": ""}
    crm = {**ACME_CRM, "phone": "+49 30 1234567"}
    psa = {**ACME_CRM, "source_id": "5531", "website": "", "industry": "Consulting"}
    [created] = ingest("erp", erp)
    if second_is_update:  # the PSA record is stored already; the second request changes it
        ingest("psa", {**psa, "industry": ""})
    linked: list = []
    [second] = while_uncommitted(
        lambda: linked.extend(ingest("crm", crm)), lambda: ingest("psa", psa)
    )
    assert [r.action for r in linked] == [Action.LINKED]
    assert second.action == (Action.UPDATED if second_is_update else Action.LINKED)
    golden = GoldenRecord.objects.get(canonical_id=created.canonical_id)
    assert golden.attributes["phone"] == "+49301234567"
    assert golden.attributes["industry"] == "Consulting"
    assert golden.source_records.count() == 3
