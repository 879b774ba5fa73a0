"""Merge, undo, unmerge and steward decisions: reversible, remembered, one decision wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden.exceptions import AlreadyClaimed, AlreadyDecided, MdmError, MergeConflict
from golden.models import (
    GoldenChange,
    GoldenRecord,
    MatchCandidate,
    MergeEvent,
    SourceRecord,
    UnmergeProposal,
)
from golden.services import candidates as service
from golden.services import (
    claim_candidate,
    decide_unmerge_proposal,
    defer_candidate,
    ingest_records,
    mark_not_a_match,
    merge_candidate,
    merge_candidate_with_picks,
    merge_golden_records,
    pin_attribute,
    release_candidate,
    undo_merge,
    unmerge_source_record,
    unpin_attribute,
)


def ingest(systems, system, *records):
    return ingest_records(
        entity_type="customer", system=systems[system], records=list(records), actor=None
    )


def golden(canonical_id):
    return GoldenRecord.objects.get(canonical_id=canonical_id)


def state():
    """Everything a merge may touch, without versions and timestamps."""
    return {
        g.canonical_id: (
            g.status,
            g.merged_into_id,
            g.attributes,
            g.pins,
            sorted(g.source_records.values_list("pk", flat=True)),
        )
        for g in GoldenRecord.objects.order_by("pk")
    }


@pytest.fixture
def pair(systems):
    [a] = ingest(
        systems,
        "crm",
        {"source_id": "1", "name": "Blue Harbor Partners LLC", "country": "US", "city": "Boston"},
    )
    [b] = ingest(
        systems,
        "psa",
        {
            "source_id": "2",
            "name": "Blue Harbor",
            "country": "US",
            "phone": "+1 617 555 0100",
        },
    )
    assert b.action == "queued_for_review"
    return golden(a.canonical_id), golden(b.canonical_id)


@pytest.mark.django_db
def test_merge_moves_records_and_feeds_changes(pair, steward):
    a, b = pair
    event = merge_golden_records(survivor=a, merged=[b], actor=steward)
    a.refresh_from_db()
    b.refresh_from_db()
    assert b.status == "merged" and b.merged_into == a
    assert a.source_records.count() == 2
    assert a.attributes["phone"] == "+16175550100"
    assert GoldenChange.objects.filter(golden=b, kind="merged").exists()
    assert MatchCandidate.objects.get().status == "merged"
    assert event.merged.get() == b
    assert b.history.latest().history_user == steward


@pytest.mark.django_db
def test_merge_refuses_inactive_or_mixed_records(pair, systems, steward):
    a, b = pair
    merge_golden_records(survivor=a, merged=[b], actor=steward)
    with pytest.raises(MergeConflict, match="merged, not active"):
        merge_golden_records(survivor=a, merged=[golden(b.canonical_id)], actor=steward)
    [project] = ingest_records(
        entity_type="project",
        system=systems["psa"],
        records=[{"source_id": "P", "name": "Audit"}],
        actor=None,
    )
    with pytest.raises(MergeConflict, match="not a customer"):
        merge_golden_records(survivor=a, merged=[golden(project.canonical_id)], actor=steward)
    with pytest.raises(MergeConflict, match="at least one"):
        merge_golden_records(survivor=a, merged=[a], actor=steward)


@pytest.mark.django_db
def test_undo_merge_restores_the_previous_state_exactly(pair, steward):
    a, b = pair
    pin_attribute(b, "name", "Blue Harbor (pinned)", actor=steward)
    before = state()
    event = merge_golden_records(survivor=a, merged=[b], actor=steward)
    undo_merge(event, actor=steward)
    assert state() == before
    assert MatchCandidate.objects.get().status == "open"
    assert GoldenChange.objects.filter(golden=b, kind="unmerged").exists()
    with pytest.raises(MergeConflict, match="already undone"):
        undo_merge(MergeEvent.objects.get(), actor=steward)


@pytest.mark.django_db
def test_undo_of_a_chained_merge_restores_the_chain(systems, steward):
    ids = [
        ingest(systems, "crm", {"source_id": str(i), "name": f"Firm {i} Ltd", "country": "GB"})[
            0
        ].canonical_id
        for i in range(3)
    ]
    a, b, c = (golden(i) for i in ids)
    merge_golden_records(survivor=b, merged=[c], actor=steward)
    before = state()
    event = merge_golden_records(survivor=a, merged=[golden(b.canonical_id)], actor=steward)
    assert golden(c.canonical_id).merged_into_id == a.pk  # resolution stays one hop
    undo_merge(event, actor=steward)
    assert state() == before


@pytest.mark.django_db
def test_unmerge_splits_a_record_out_and_remembers_not_a_match(pair, steward):
    a, b = pair
    merge_golden_records(survivor=a, merged=[b], actor=steward)
    record = SourceRecord.objects.get(source_id="2")
    new = unmerge_source_record(record, actor=steward)
    record.refresh_from_db()
    assert record.golden == new
    assert new.canonical_id not in {a.canonical_id, b.canonical_id}
    assert golden(a.canonical_id).source_records.count() == 1
    remembered = MatchCandidate.objects.get(status="not_a_match")
    assert {remembered.golden_a, remembered.golden_b} == {golden(a.canonical_id), new}
    with pytest.raises(MergeConflict, match="only record"):
        unmerge_source_record(record, actor=steward)


@pytest.mark.django_db
def test_not_a_match_is_remembered_when_records_are_resent(pair, systems, steward):
    candidate = MatchCandidate.objects.get()
    mark_not_a_match(candidate, actor=steward, reason="different firms")
    # Re-sending the same data, or a new record of the same golden, proposes nothing new.
    ingest(
        systems,
        "psa",
        {
            "source_id": "2",
            "name": "Blue Harbor",
            "country": "US",
            "phone": "+1 617 555 0100",
        },
    )
    assert list(MatchCandidate.objects.values_list("status", flat=True)) == ["not_a_match"]


@pytest.mark.django_db
def test_not_a_match_reopens_when_a_record_changes_materially(pair, systems, steward):
    candidate = MatchCandidate.objects.get()
    mark_not_a_match(candidate, actor=steward)
    ingest(
        systems,
        "psa",
        {
            "source_id": "2",
            "name": "Blue Harbor Partners",
            "country": "US",
            "city": "Boston",
            "phone": "+1 617 555 0100",
        },
    )
    candidate.refresh_from_db()
    assert candidate.status == "open"
    assert {e["field"] for e in candidate.evidence} >= {"name", "city"}


@pytest.mark.django_db
def test_a_second_decision_on_the_same_candidate_is_refused(pair, steward, admin_user):
    candidate = MatchCandidate.objects.get()
    merge_candidate(candidate, actor=steward)
    with pytest.raises(AlreadyDecided, match="stella"):
        mark_not_a_match(candidate, actor=admin_user)
    assert MergeEvent.objects.count() == 1


@pytest.mark.django_db
def test_deferred_candidates_can_still_be_decided(pair, steward):
    candidate = MatchCandidate.objects.get()
    defer_candidate(candidate, actor=steward, comment="ask the account owner")
    candidate.refresh_from_db()
    assert candidate.status == "deferred" and candidate.reason == "ask the account owner"
    event = merge_candidate(candidate, actor=steward)
    assert MatchCandidate.objects.get().status == "merged"
    undo_merge(event, actor=steward)
    assert MatchCandidate.objects.get().status == "deferred"


@pytest.mark.django_db
def test_a_record_that_no_longer_matches_is_proposed_for_unmerge(systems, steward):
    acme = {
        "source_id": "1",
        "name": "Acme Consulting GmbH",
        "country": "DE",
        "website": "acme-consulting.de",
    }
    ingest(systems, "erp", acme)
    [linked] = ingest(
        systems,
        "crm",
        {
            "source_id": "X",
            "name": "ACME Consulting",
            "country": "DE",
            "website": "https://acme-consulting.de",
        },
    )
    assert linked.action == "linked"
    # The CRM account is repurposed for another company.
    ingest(
        systems,
        "crm",
        {
            "source_id": "X",
            "name": "Zenith Robotics Ltd",
            "country": "GB",
            "website": "zenith-robotics.co.uk",
        },
    )
    proposal = UnmergeProposal.objects.get()
    assert proposal.source_record.source_id == "X"
    assert proposal.status == "open"
    decide_unmerge_proposal(proposal, unmerge=True, actor=steward)
    assert SourceRecord.objects.get(source_id="X").golden.canonical_id != linked.canonical_id


names = st.sampled_from(["Acme", "Acme Consulting", "Globex", "Initech", "Umbrella", "Hooli"])
cities = st.sampled_from(["Berlin", "Paris", "Boston", ""])
records = st.lists(
    st.tuples(names, cities, st.sampled_from(["crm", "psa", "erp"])), min_size=2, max_size=6
)


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=records, data=st.data())
def test_merge_then_undo_restores_the_previous_state(systems, steward, records, data):
    with transaction.atomic():
        for i, (name, city, system) in enumerate(records):
            ingest(
                systems, system, {"source_id": f"r{i}", "name": name, "city": city, "country": "DE"}
            )
        active = list(GoldenRecord.objects.filter(status="active").order_by("pk"))
        if len(active) >= 2:
            chosen = data.draw(
                st.lists(st.sampled_from(active), min_size=2, max_size=len(active), unique=True)
            )
            before = state()
            event = merge_golden_records(survivor=chosen[0], merged=chosen[1:], actor=steward)
            assert GoldenRecord.objects.get(pk=chosen[0].pk).source_records.count() == sum(
                len(before[g.canonical_id][4]) for g in chosen
            )
            undo_merge(event, actor=steward)
            assert state() == before
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_pins_survive_recomputation_and_unpin_restores_survivorship(pair, systems, steward):
    a, _ = pair
    pin_attribute(a, "name", "Blue Harbor Partners (HQ)", actor=steward)
    ingest(
        systems,
        "crm",
        {"source_id": "1", "name": "Blue Harbour Partners LLC", "country": "US", "city": "Boston"},
    )
    a.refresh_from_db()
    assert a.attributes["name"] == "Blue Harbor Partners (HQ)"
    assert a.lineage["name"]["rule"] == "steward_pin"
    unpin_attribute(a, "name", actor=steward)
    a.refresh_from_db()
    assert a.attributes["name"] == "Blue Harbour Partners LLC"
    with pytest.raises(MdmError, match="no attribute .colour. that can be pinned"):
        pin_attribute(a, "colour", "blue", actor=steward)


# --- claims ---------------------------------------------------------------------------


def _candidate_of(pair):
    a, b = pair
    return MatchCandidate.objects.get(golden_a=a, golden_b=b)


@pytest.mark.django_db
def test_a_claim_is_exclusive_and_says_who_holds_it_since_when(pair, steward, admin_user):
    candidate = _candidate_of(pair)
    held = claim_candidate(candidate, actor=steward)
    assert held.assigned_to == steward and held.assigned_at is not None
    assert claim_candidate(candidate, actor=steward).assigned_at == held.assigned_at  # no-op
    MatchCandidate.objects.filter(pk=candidate.pk).update(
        assigned_at=timezone.now() - timedelta(minutes=3, seconds=5)
    )
    with pytest.raises(AlreadyClaimed, match="^Claimed by stella 3 minutes ago.$") as refused:
        claim_candidate(candidate, actor=admin_user)
    assert refused.value.status_code == 409 and refused.value.code == "already_claimed"
    candidate.refresh_from_db()
    assert candidate.assigned_to == steward
    taken = claim_candidate(candidate, actor=admin_user, force=True)
    assert taken.assigned_to == admin_user
    reasons = list(candidate.history.order_by("history_id").values_list("history_change_reason"))
    assert reasons[-2:] == [("claimed",), ("taken over from stella",)]


@pytest.mark.django_db
def test_a_claim_lost_between_read_and_write_is_refused(pair, steward, admin_user, monkeypatch):
    """Two stewards claim at once: both read the pair unclaimed, one writes first. The
    conditional update of the other matches no row, so it is told who won."""
    candidate = _candidate_of(pair)
    real_current = service._current
    reads = []

    def read_then_lose_the_race(c):
        seen = real_current(c)
        if not reads:  # the rival's claim lands right after our read
            MatchCandidate.objects.filter(pk=c.pk).update(
                assigned_to=steward, assigned_at=seen.created_at
            )
        reads.append(seen.assigned_to_id)
        return seen

    monkeypatch.setattr(service, "_current", read_then_lose_the_race)
    with pytest.raises(AlreadyClaimed, match="Claimed by stella"):
        service.claim_candidate(candidate, actor=admin_user)
    assert reads[0] is None  # it did see the pair unclaimed
    candidate.refresh_from_db()
    assert candidate.assigned_to == steward


@pytest.mark.django_db
def test_claims_on_decided_pairs_and_release(pair, steward, admin_user):
    candidate = _candidate_of(pair)
    assert release_candidate(candidate, actor=steward) is False  # nothing to release
    claim_candidate(candidate, actor=steward)
    with pytest.raises(AlreadyClaimed):
        release_candidate(candidate, actor=admin_user)
    assert release_candidate(candidate, actor=steward) is True
    candidate.refresh_from_db()
    assert candidate.assigned_to is None and candidate.assigned_at is None
    assert candidate.history.latest().history_change_reason == "released"
    with pytest.raises(MdmError, match="Only a steward"):
        claim_candidate(candidate, actor=None)
    mark_not_a_match(candidate, actor=steward)
    with pytest.raises(AlreadyDecided, match="Not a match"):
        claim_candidate(candidate, actor=admin_user)


@pytest.mark.django_db
def test_only_the_holder_decides_a_claimed_pair_and_the_decision_releases_it(
    pair, steward, admin_user
):
    candidate = _candidate_of(pair)
    claim_candidate(candidate, actor=steward)
    for decide in (
        lambda: merge_candidate(candidate, actor=admin_user),
        lambda: mark_not_a_match(candidate, actor=admin_user),
        lambda: defer_candidate(candidate, actor=admin_user, comment="x"),
    ):
        with pytest.raises(AlreadyClaimed, match="Take it over to decide it"):
            decide()
    candidate.refresh_from_db()
    assert candidate.status == "open" and candidate.assigned_to == steward
    defer_candidate(candidate, actor=steward, comment="ask the owner")
    candidate.refresh_from_db()
    assert candidate.status == "deferred" and candidate.assigned_to is None
    claim_candidate(candidate, actor=admin_user)
    merge_candidate(candidate, actor=None)  # the system is not held back by a claim
    candidate.refresh_from_db()
    assert candidate.status == "merged" and candidate.assigned_to is None


# --- merge with picked values --------------------------------------------------------


@pytest.mark.django_db
def test_merge_with_picks_pins_the_picked_values_on_the_survivor(pair, steward):
    a, b = pair
    event = merge_candidate_with_picks(
        _candidate_of(pair),
        actor=steward,
        survivor=a,
        picks={"name": "Blue Harbor Partners"},
        reason="PSA has the legal name",
    )
    survivor = golden(a.canonical_id)
    assert event.survivor_id == a.pk and golden(b.canonical_id).status == "merged"
    assert survivor.attributes["name"] == "Blue Harbor Partners" == survivor.name
    assert survivor.lineage["name"]["rule"] == "steward_pin"
    assert survivor.lineage["name"]["pinned_by"] == "stella"
    assert survivor.attributes["phone"] == "+16175550100"  # survivorship for the rest
    # The change feed ends with the pinned value.
    last = GoldenChange.objects.filter(golden=survivor).latest("id")
    assert last.snapshot["attributes"]["name"] == "Blue Harbor Partners"
    # Undoing the merge takes the picks with it.
    undo_merge(event, actor=steward)
    restored = golden(a.canonical_id)
    assert restored.pins == {} and restored.attributes["name"] == "Blue Harbor Partners LLC"


@pytest.mark.django_db
def test_merge_with_picks_is_all_or_nothing(pair, steward):
    before = state()
    candidate = _candidate_of(pair)
    with pytest.raises(MdmError, match="no attribute 'colour'"):
        merge_candidate_with_picks(
            candidate, actor=steward, picks={"name": "Blue Harbor", "colour": "blue"}
        )
    assert state() == before
    candidate.refresh_from_db()
    assert candidate.status == "open" and MergeEvent.objects.count() == 0
