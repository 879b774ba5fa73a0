"""Golden record pages (lineage, crosswalk, history, unmerge, undo, pins), search,
exception queues and the dashboard."""

from __future__ import annotations

import re

import pytest

from golden.models import (
    ExternalReference,
    GoldenRecord,
    MatchCandidate,
    MergeEvent,
    UnmergeProposal,
)
from golden.services import merge_candidate, pin_attribute
from tests.steward.conftest import golden, ingest


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def merged(candidate, steward):
    """The Blue Harbor pair merged by the steward into the CRM-first record."""
    merge_candidate(candidate, actor=steward, survivor=candidate.golden_a)
    return golden(candidate.golden_a.canonical_id), golden(candidate.golden_b.canonical_id)


def record_url(g) -> str:
    return f"/steward/records/{g.canonical_id}/"


# --- record page --------------------------------------------------------------------


@pytest.mark.django_db
def test_record_page_shows_values_with_lineage_crosswalk_and_history(steward_client, merged):
    survivor, _ = merged
    html = text(steward_client.get(record_url(survivor)))
    # Values with where they come from and by which rule.
    assert "+16175550100" in html and "Boston" in html
    assert 'class="sys sys-psa">PSA</span> <code>5531</code>' in html
    assert "system priority" in html or "most recently updated" in html
    # Crosswalk: both systems' IDs.
    assert "<code>001BH</code>" in html and "<code>5531</code>" in html
    # History: who did what, with field diffs.
    assert "merged into " + survivor.canonical_id in html
    assert "<strong>stella</strong>" in html
    assert (
        '<th scope="row">Phone</th><td class="old">—</td><td class="new">+16175550100</td>' in html
    )
    # The merge it holds can be undone; each record can be unmerged.
    assert "Undo merge" in html and html.count(">Unmerge</button>") == 2


@pytest.mark.django_db
def test_a_merged_id_redirects_to_its_survivor_with_a_notice(steward_client, merged):
    survivor, loser = merged
    response = steward_client.get(record_url(loser))
    assert response.status_code == 302 and response["Location"] == record_url(survivor)
    html = text(steward_client.get(response["Location"]))
    assert f"{loser.canonical_id} was merged into {survivor.canonical_id}" in html


@pytest.mark.django_db
def test_unknown_or_lowercase_ids(steward_client, candidate):
    assert steward_client.get("/steward/records/CUS-999999/").status_code == 404
    assert steward_client.get("/steward/records/XYZ-1/").status_code == 404
    cid = candidate.golden_a.canonical_id
    response = steward_client.get(f"/steward/records/{cid.lower()}/")
    assert response["Location"] == f"/steward/records/{cid}/"


@pytest.mark.django_db
def test_undo_merge_from_the_record_page_restores_both_records(steward_client, merged, candidate):
    survivor, loser = merged
    event = MergeEvent.objects.get()
    response = steward_client.post(
        f"{record_url(survivor)}undo-merge/", {"event": event.pk}, follow=True
    )
    assert f"Undid the merge: {loser.canonical_id} is active again" in text(response)
    assert golden(loser.canonical_id).status == "active"
    assert golden(survivor.canonical_id).source_records.count() == 1
    assert MatchCandidate.objects.get(pk=candidate.pk).status == "open"
    again = steward_client.post(
        f"{record_url(survivor)}undo-merge/", {"event": event.pk}, follow=True
    )
    assert "This merge was already undone." in text(again)


@pytest.mark.django_db
def test_unmerge_splits_a_source_record_out(steward_client, merged):
    survivor, _ = merged
    record = survivor.source_records.get(source_id="5531")
    response = steward_client.post(
        f"{record_url(survivor)}unmerge/", {"source_record": record.pk}, follow=True
    )
    record.refresh_from_db()
    assert record.golden_id != survivor.pk
    assert "Split PSA 5531 out into" in text(response)
    assert record.golden.canonical_id in text(response)
    pair = MatchCandidate.objects.get(golden_b=record.golden)
    assert pair.status == "not_a_match"


@pytest.mark.django_db
def test_unmerging_the_only_record_is_refused_with_the_reason(steward_client, candidate):
    a = candidate.golden_a
    record = a.source_records.get()
    response = steward_client.post(
        f"{record_url(a)}unmerge/", {"source_record": record.pk}, follow=True
    )
    assert "is the only record of" in text(response)
    record.refresh_from_db()
    assert record.golden_id == a.pk


@pytest.mark.django_db
def test_pin_validates_and_cleans_the_value_then_unpin_restores(steward_client, candidate):
    a = candidate.golden_a
    response = steward_client.post(
        f"{record_url(a)}pin/", {"attribute": "country", "value": "Deutschland"}, follow=True
    )
    a.refresh_from_db()
    assert a.attributes["country"] == "DE"  # cleaned as ingest cleans it
    assert a.lineage["country"]["rule"] == "steward_pin"
    html = text(response)
    assert "Pinned by stella" in html and "Pinned Country" in html

    response = steward_client.post(f"{record_url(a)}unpin/", {"attribute": "country"})
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.attributes["country"] == "US" and a.pins == {}


@pytest.mark.django_db
def test_an_invalid_pin_is_shown_as_a_field_error_and_not_stored(steward_client, candidate):
    a = candidate.golden_a
    response = steward_client.post(
        f"{record_url(a)}pin/", {"attribute": "country", "value": "Atlantis"}
    )
    assert response.status_code == 400
    assert "Unknown country" in text(response)
    a.refresh_from_db()
    assert a.pins == {}


@pytest.mark.django_db
def test_reference_attributes_cannot_be_pinned_from_the_form(steward_client, candidate):
    a = candidate.golden_a
    response = steward_client.post(
        f"{record_url(a)}pin/", {"attribute": "parent_source_id", "value": "X"}
    )
    assert response.status_code == 400
    a.refresh_from_db()
    assert a.pins == {}


@pytest.mark.django_db
def test_history_shows_pins_with_who_pinned(steward_client, steward, candidate):
    a = candidate.golden_a
    pin_attribute(a, "name", "Blue Harbor Partners (Boston)", actor=steward)
    html = text(steward_client.get(record_url(a)))
    assert "pinned name" in html
    assert "Blue Harbor Partners (Boston) (pinned by stella)" in html


# --- search -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["harbor", "BLUE HARBOR", "5531", "001BH"])
def test_search_finds_by_name_or_any_system_id(steward_client, candidate, query):
    html = text(steward_client.get(f"/steward/search/?q={query}"))
    assert candidate.golden_a.canonical_id in html or candidate.golden_b.canonical_id in html


@pytest.mark.django_db
def test_search_finds_by_canonical_id_and_target_assigned_id(steward_client, systems, candidate):
    a = candidate.golden_a
    ExternalReference.objects.create(golden=a, system=systems["erp"], external_id="C-9001")
    for query in [a.canonical_id, a.canonical_id.lower(), "C-9001"]:
        html = text(steward_client.get(f"/steward/search/?q={query}"))
        assert f'href="/steward/records/{a.canonical_id}/"' in html, query
        assert "1 result" in html, query


@pytest.mark.django_db
def test_search_marks_merged_records_and_filters_by_type(steward_client, merged):
    _, loser = merged
    html = text(steward_client.get("/steward/search/?q=blue"))
    assert f"Merged into {merged[0].canonical_id}" in html
    assert "0 results" in text(steward_client.get("/steward/search/?q=blue&entity_type=project"))


@pytest.mark.django_db
def test_search_answers_htmx_with_results_only(steward_client, candidate):
    response = steward_client.get("/steward/search/?q=harbor", HTTP_HX_REQUEST="true")
    assert "<html" not in text(response) and "2 results" in text(response)
    assert "result" not in text(steward_client.get("/steward/search/?q=", HTTP_HX_REQUEST="true"))


@pytest.fixture
def firms(systems):
    """A few names that look alike, to rank."""
    ingest(
        systems,
        "crm",
        {"source_id": "001AC", "name": "Acme Consulting GmbH", "country": "DE"},
        {"source_id": "001AL", "name": "Acme Logistics AG", "country": "DE"},
        {"source_id": "001NW", "name": "Northwind Consulting Partners Ltd", "country": "GB"},
        {"source_id": "001ST", "name": "Studio 5531 Design LLC", "country": "US"},
        {"source_id": "001MT", "name": "Merinova Tech Ltd", "country": "GB"},
    )
    return {g.name: g for g in GoldenRecord.objects.all()}


def result_names(html: str) -> list[str]:
    return re.findall(r"<td>([^<]+)</td>\s*<td>(?:Customer|Project)", html)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("Acme Consluting", "Acme Consulting GmbH"),  # a typo in one word
        ("acme consulting gmbh", "Acme Consulting GmbH"),
        ("Northwnd Consultng", "Northwind Consulting Partners Ltd"),  # a typo in each word
        ("Merinova Technology", "Merinova Tech Ltd"),  # an abbreviation as stored
        ("Merionva Tech", "Merinova Tech Ltd"),
        ("Harbuor Partners", "Blue Harbor Partners LLC"),
    ],
)
def test_search_finds_names_despite_typos_best_first(
    steward_client, candidate, firms, query, first
):
    html = text(steward_client.get("/steward/search/", {"q": query}))
    names = result_names(html)
    assert names and names[0] == first, names
    assert re.search(r'class="similarity"[^>]*>name \d+%<', html)


@pytest.mark.django_db
def test_search_ranks_by_similarity_and_leaves_out_unlike_names(steward_client, candidate, firms):
    html = text(steward_client.get("/steward/search/", {"q": "Acme Consulting"}))
    scores = dict(
        zip(result_names(html), map(int, re.findall(r">name (\d+)%<", html)), strict=True)
    )
    assert scores["Acme Consulting GmbH"] == 100  # the legal form is no part of the name
    assert scores["Acme Consulting GmbH"] > scores.get("Acme Logistics AG", 0)
    assert scores["Acme Consulting GmbH"] > scores["Northwind Consulting Partners Ltd"]
    assert list(scores.values()) == sorted(scores.values(), reverse=True)
    assert "Blue Harbor Partners LLC" not in scores and "Studio 5531 Design LLC" not in scores


@pytest.mark.django_db
def test_search_lists_exact_id_hits_before_names(steward_client, candidate, firms):
    # "5531" is Blue Harbor's PSA ID and part of the studio's name.
    html = text(steward_client.get("/steward/search/", {"q": "5531"}))
    names = result_names(html)
    assert names[0] == "Blue Harbor" and "Studio 5531 Design LLC" in names[1:]
    assert '<span class="badge id-hit">system ID</span>' in html
    cid = firms["Acme Consulting GmbH"].canonical_id
    html = text(steward_client.get("/steward/search/", {"q": cid.lower()}))
    assert '<span class="badge id-hit">canonical ID</span>' in html and "1 result" in html


@pytest.mark.django_db
def test_search_of_a_name_nothing_resembles_finds_nothing(steward_client, candidate, firms):
    html = text(steward_client.get("/steward/search/", {"q": "Zyxwv Quokka"}))
    assert "0 results" in html and "Nothing found" in html


@pytest.mark.django_db
def test_search_query_count_does_not_grow_with_the_results(
    steward_client, candidate, firms, django_assert_num_queries
):
    # session, user, groups; canonical ID; system IDs; names (and a second look when
    # every word has a typo); the records found; their source records and references.
    with django_assert_num_queries(10):
        steward_client.get("/steward/search/", {"q": "Northwnd Consultng"})
    with django_assert_num_queries(9):
        steward_client.get("/steward/search/", {"q": "consulting"})


@pytest.mark.django_db
def test_search_name_ranking_reads_a_bounded_number_of_rows(candidate, firms, monkeypatch):
    from golden.steward import selectors

    monkeypatch.setattr(selectors, "NAME_PREFILTER", 2)
    hits = selectors.search_golden_records("Acme Consulting")
    # The two names containing the most query words are the ones ranked.
    assert [h.golden.name for h in hits][:1] == ["Acme Consulting GmbH"]
    assert len(hits) <= 2


# --- exceptions ---------------------------------------------------------------------


@pytest.mark.django_db
def test_exceptions_list_rejected_records_with_errors_and_payload(steward_client, systems):
    [rejected] = ingest(
        systems, "erp", {"source_id": "C-7", "name": "Bad Country Ltd", "country": "Atlantis"}
    )
    assert rejected.action == "rejected"
    html = text(steward_client.get("/steward/exceptions/"))
    assert "<code>C-7</code>" in html
    assert "<strong>country</strong>: Unknown country" in html
    assert "<dt>name</dt><dd>Bad Country Ltd</dd>" in html


@pytest.fixture
def proposal(systems):
    acme = {"source_id": "1", "name": "Acme Consulting GmbH", "country": "DE"}
    ingest(systems, "erp", {**acme, "website": "acme-consulting.de"})
    crm = {"source_id": "X", "name": "ACME Consulting", "country": "DE"}
    ingest(systems, "crm", {**crm, "website": "https://acme-consulting.de"})
    ingest(
        systems,
        "crm",
        {"source_id": "X", "name": "Zenith Robotics Ltd", "country": "GB", "website": "zr.co.uk"},
    )
    return UnmergeProposal.objects.get()


@pytest.mark.django_db
def test_an_unmerge_proposal_can_be_unmerged_once(steward_client, proposal):
    html = text(steward_client.get("/steward/exceptions/"))
    assert "Zenith Robotics Ltd" in html and proposal.golden.canonical_id in html
    url = f"/steward/exceptions/proposals/{proposal.pk}/"
    response = steward_client.post(url, {"decision": "unmerge"}, follow=True)
    assert f"CRM X was split out of {proposal.golden.canonical_id}" in text(response)
    proposal.refresh_from_db()
    assert proposal.status == "unmerged"
    assert proposal.source_record.golden_id != proposal.golden_id
    again = steward_client.post(url, {"decision": "keep"}, follow=True)
    assert "This proposal was already decided." in text(again)
    proposal.refresh_from_db()
    assert proposal.status == "unmerged"


@pytest.mark.django_db
def test_an_unmerge_proposal_can_be_kept(steward_client, proposal):
    steward_client.post(f"/steward/exceptions/proposals/{proposal.pk}/", {"decision": "keep"})
    proposal.refresh_from_db()
    assert proposal.status == "kept" and proposal.source_record.golden_id == proposal.golden_id


@pytest.mark.django_db
def test_exceptions_list_projects_the_erp_cannot_bill(steward_client, systems):
    ingest(systems, "psa", {"source_id": "P-1", "name": "Audit 2026"}, entity_type="project")
    html = text(steward_client.get("/steward/exceptions/"))
    assert "Audit 2026" in html and "billing legal entity, currency" in html


# --- dashboard ----------------------------------------------------------------------


@pytest.mark.django_db
def test_dashboard_counts_records_review_items_decisions_and_exceptions(
    steward_client, steward, candidate, second_candidate, systems
):
    merge_candidate(candidate, actor=steward)
    ingest(systems, "erp", {"source_id": "C-7", "name": "Bad", "country": "Atlantis"})
    html = text(steward_client.get("/steward/"))
    assert "<strong>1</strong> pairs to review" in html
    assert "<strong>1</strong> rejected records" in html
    # Three active customers: merged Blue Harbor and the Green Field pair.
    assert '<span class="bar-label">Customer</span>' in html
    assert '<span class="bar-value">3</span>' in html
    assert "CRM (Salesforce)" in html and "PSA (Kantata)" in html
    assert "(1 in all)" in html  # one decision today
    assert "1 merged, 0 not a match" in html
    assert "?band=" in html  # bands link into the queue


@pytest.mark.django_db
def test_actions_on_a_merged_record_are_refused(steward_client, merged):
    survivor, loser = merged
    response = steward_client.post(
        f"{record_url(loser)}pin/", {"attribute": "name", "value": "X"}, follow=True
    )
    assert f"{loser.canonical_id} is merged: act on the record it was merged into." in text(
        response
    )
    assert golden(loser.canonical_id).pins == {}
