"""The review queue, the compare page and the three decisions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from golden.models import GoldenRecord, MatchCandidate, MergeEvent
from golden.services import defer_candidate, mark_not_a_match
from tests.steward.conftest import BLUE_HARBOR_PSA, golden, ingest, logged_in


def text(response) -> str:
    return response.content.decode()


# --- queue --------------------------------------------------------------------------


@pytest.mark.django_db
def test_queue_lists_open_pairs_with_score_names_systems_and_band_counts(steward_client, candidate):
    html = text(steward_client.get("/steward/queue/"))
    assert "Blue Harbor Partners LLC" in html and "Blue Harbor<" in html
    assert candidate.golden_a.canonical_id in html and candidate.golden_b.canonical_id in html
    assert 'class="sys sys-crm">CRM' in html and 'class="sys sys-psa">PSA' in html
    assert "Customer" in html
    assert f'href="/steward/compare/{candidate.pk}/"' in html
    assert "1 pair" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("entity_type=customer", True),
        ("entity_type=project", False),
        ("country=US", True),
        ("system=psa", True),
        ("system=erp", False),
        ("status=deferred", False),
        ("status=open", True),
        ("sort=oldest", True),
        ("country=ZZ&sort=bogus", True),  # unknown values are ignored, not an error
    ],
)
def test_queue_filters(steward_client, candidate, query, shown):
    html = text(steward_client.get(f"/steward/queue/?{query}"))
    assert (f"/steward/compare/{candidate.pk}/" in html) is shown


@pytest.mark.django_db
def test_queue_band_filter_and_counts(steward_client, candidate):
    band = "very_high" if candidate.score >= 0.99 else "high" if candidate.score >= 0.9 else None
    band = band or ("medium" if candidate.score >= 0.75 else "low")
    html = text(steward_client.get(f"/steward/queue/?band={band}"))
    assert f"/steward/compare/{candidate.pk}/" in html
    other = "low" if band != "low" else "very_high"
    html = text(steward_client.get(f"/steward/queue/?band={other}"))
    assert f"/steward/compare/{candidate.pk}/" not in html
    assert "No pairs to review with these filters" in html


@pytest.mark.django_db
def test_queue_shows_deferred_pairs_and_drops_decided_ones(
    steward_client, steward, candidate, second_candidate
):
    defer_candidate(candidate, actor=steward, comment="ask the account owner")
    mark_not_a_match(second_candidate, actor=steward)
    html = text(steward_client.get("/steward/queue/"))
    assert "ask the account owner" in html and "Deferred" in html
    assert f"/steward/compare/{second_candidate.pk}/" not in html


@pytest.mark.django_db
def test_queue_answers_htmx_with_the_table_fragment(steward_client, candidate):
    response = steward_client.get("/steward/queue/?entity_type=customer", HTTP_HX_REQUEST="true")
    html = text(response)
    assert "<html" not in html and "<table" in html
    assert f"/steward/compare/{candidate.pk}/" in html


@pytest.mark.django_db
def test_queue_query_count_does_not_grow_with_the_queue(
    steward_client, candidate, second_candidate, django_assert_num_queries
):
    # session, user, groups; countries; systems; count; bands; page; two prefetches.
    with django_assert_num_queries(10):
        steward_client.get("/steward/queue/")


# --- compare ------------------------------------------------------------------------


@pytest.mark.django_db
def test_compare_shows_both_records_field_by_field_with_evidence(steward_client, candidate):
    html = text(steward_client.get(f"/steward/compare/{candidate.pk}/"))
    a, b = candidate.golden_a, candidate.golden_b
    assert f"A · {a.canonical_id}" in html and f"B · {b.canonical_id}" in html
    # Source systems and their IDs on each side.
    assert "001BH" in html and "5531" in html
    # Differences are marked: only A has a city, only B a phone, the names differ.
    assert 'class="diff-only_a"' in html and 'class="diff-only_b"' in html
    assert 'class="diff-different"' in html and "values differ" in html
    # The matcher's evidence in words, with its weight.
    for item in candidate.evidence:
        assert item["detail"].capitalize()[:30] in html
    weight = candidate.evidence[0]["weight"]
    assert f"{weight:+.1f}".replace("-", "−") in html


@pytest.mark.django_db
def test_compare_previews_the_golden_record_the_merge_will_store(steward_client, candidate):
    html = text(steward_client.get(f"/steward/compare/{candidate.pk}/"))
    assert f"After the merge: {candidate.golden_a.canonical_id}" in html
    assert "+16175550100" in html  # the PSA phone joins the survivor
    preview_attributes = _preview_attributes(candidate)
    steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/", {"survivor": candidate.golden_a_id}
    )
    assert golden(candidate.golden_a.canonical_id).attributes == preview_attributes


def _preview_attributes(candidate: MatchCandidate) -> dict:
    from golden.steward.selectors import merge_preview

    return merge_preview(candidate.golden_a, candidate.golden_b).attributes


@pytest.mark.django_db
def test_choosing_the_other_survivor_refreshes_the_preview_fragment(steward_client, candidate):
    b = candidate.golden_b
    response = steward_client.get(
        f"/steward/compare/{candidate.pk}/?survivor={b.pk}", HTTP_HX_REQUEST="true"
    )
    html = text(response)
    assert "<html" not in html
    assert f"After the merge: {b.canonical_id}" in html


@pytest.mark.django_db
def test_compare_query_count_is_fixed(steward_client, candidate, django_assert_num_queries):
    # session, user, groups; candidate; two goldens with sources and references (3 each);
    # neighbours (2); preview: sources, systems; decided-by and assignee are select_related;
    # the claim: read it, then savepoint, conditional update, re-read, save, history row,
    # release savepoint; related records of each side (merged in, subsidiaries, projects).
    with django_assert_num_queries(26):
        steward_client.get(f"/steward/compare/{candidate.pk}/")
    # Opening a pair you already hold reads the claim and writes nothing.
    with django_assert_num_queries(20):
        steward_client.get(f"/steward/compare/{candidate.pk}/")


@pytest.mark.django_db
def test_compare_of_an_unknown_pair_is_404(steward_client, db):
    assert steward_client.get("/steward/compare/999/").status_code == 404


@pytest.mark.django_db
def test_compare_links_to_the_next_and_previous_pair(steward_client, candidate, second_candidate):
    first, second = sorted([candidate, second_candidate], key=lambda c: (-c.score, c.pk))
    html = text(steward_client.get(f"/steward/compare/{first.pk}/"))
    assert f'rel="next" href="/steward/compare/{second.pk}/"' in html
    html = text(steward_client.get(f"/steward/compare/{second.pk}/"))
    assert f'rel="prev" href="/steward/compare/{first.pk}/"' in html


# --- decisions ----------------------------------------------------------------------


@pytest.mark.django_db
def test_merge_applies_the_survivor_choice_and_moves_on_to_the_next_pair(
    steward_client, steward, candidate, second_candidate
):
    a, b = candidate.golden_a, candidate.golden_b
    response = steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/", {"survivor": b.pk, "reason": "same firm"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/steward/compare/{second_candidate.pk}/"
    merged = golden(a.canonical_id)
    assert merged.status == "merged" and merged.merged_into_id == b.pk
    assert golden(b.canonical_id).source_records.count() == 2
    candidate.refresh_from_db()
    assert candidate.status == "merged" and candidate.decided_by == steward
    assert MergeEvent.objects.get().reason == "same firm"
    assert merged.history.latest().history_user == steward
    page = text(steward_client.get(response["Location"]))
    assert f'Merged {a.canonical_id} into <a href="/steward/records/{b.canonical_id}/">' in page


@pytest.mark.django_db
def test_merge_over_htmx_answers_with_hx_redirect(steward_client, candidate):
    response = steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/",
        {"survivor": candidate.golden_a_id},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/steward/queue/"
    follow = text(steward_client.get("/steward/queue/"))
    assert "The review queue is clear." in follow


@pytest.mark.django_db
def test_merge_refuses_a_survivor_outside_the_pair(steward_client, candidate, second_candidate):
    response = steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/",
        {"survivor": second_candidate.golden_a_id},
        follow=True,
    )
    assert "Select a valid choice" in text(response)
    candidate.refresh_from_db()
    assert candidate.status == "open"


@pytest.mark.django_db
def test_not_a_match_removes_the_pair_for_good(steward_client, steward, systems, candidate):
    response = steward_client.post(
        f"/steward/compare/{candidate.pk}/not-a-match/", {"reason": "two different firms"}
    )
    assert response["Location"] == "/steward/queue/"
    candidate.refresh_from_db()
    assert candidate.status == "not_a_match" and candidate.reason == "two different firms"
    ingest(systems, "psa", BLUE_HARBOR_PSA)  # re-sent unchanged: not proposed again
    assert f"/steward/compare/{candidate.pk}/" not in text(steward_client.get("/steward/queue/"))
    assert GoldenRecord.objects.filter(status="active").count() == 2


@pytest.mark.django_db
def test_defer_keeps_the_pair_with_the_comment(steward_client, candidate):
    steward_client.post(
        f"/steward/compare/{candidate.pk}/defer/", {"comment": "ask the account owner"}
    )
    candidate.refresh_from_db()
    assert candidate.status == "deferred" and candidate.reason == "ask the account owner"
    html = text(steward_client.get("/steward/queue/?status=deferred"))
    assert f"/steward/compare/{candidate.pk}/" in html
    compare = text(steward_client.get(f"/steward/compare/{candidate.pk}/"))
    assert "Deferred: ask the account owner" in compare and "/merge/" in compare


@pytest.mark.django_db
def test_a_second_decision_shows_already_decided_and_changes_nothing(
    steward, candidate, admin_user
):
    first, second = logged_in(steward), logged_in(admin_user)
    # Both stewards opened the pair (the first holds it now); the first merges.
    assert first.get(f"/steward/compare/{candidate.pk}/").status_code == 200
    assert second.get(f"/steward/compare/{candidate.pk}/").status_code == 200
    first.post(f"/steward/compare/{candidate.pk}/merge/", {"survivor": candidate.golden_a_id})
    response = second.post(
        f"/steward/compare/{candidate.pk}/not-a-match/", {"reason": "late"}, follow=True
    )
    html = text(response)
    assert "This pair was already decided (Merged) by stella." in html
    assert "This pair was decided: <strong>Merged</strong> by stella" in html
    assert "/not-a-match/" not in html  # no more action buttons on a decided pair
    candidate.refresh_from_db()
    assert candidate.status == "merged" and candidate.reason == ""
    assert MergeEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_second_merge_is_refused_with_a_clear_message(steward, candidate):
    client = logged_in(steward)
    url = f"/steward/compare/{candidate.pk}/merge/"
    client.post(url, {"survivor": candidate.golden_a_id})
    other = logged_in(User.objects.create_superuser("root", password="pw"))
    html = text(other.post(url, {"survivor": candidate.golden_b_id}, follow=True))
    assert "already decided" in html
    assert golden(candidate.golden_a.canonical_id).status == "active"
    assert MergeEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_pair_with_a_record_merged_elsewhere_offers_no_merge(
    steward_client, steward, candidate, second_candidate
):
    from golden.services import merge_golden_records

    # Blue Harbor B is merged into a Green Field record by another route.
    merge_golden_records(
        survivor=second_candidate.golden_a, merged=[candidate.golden_b], actor=steward
    )
    html = text(steward_client.get(f"/steward/compare/{candidate.pk}/"))
    assert "is no longer active" in html
    assert f"/steward/compare/{candidate.pk}/merge/" not in html
    assert f"/steward/compare/{candidate.pk}/not-a-match/" in html
    response = steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/",
        {"survivor": candidate.golden_a_id},
        follow=True,
    )
    assert "is merged, not active" in text(response)
    candidate.refresh_from_db()
    assert candidate.status == "open"


# --- picking the surviving value per field ------------------------------------------


@pytest.mark.django_db
def test_compare_offers_a_pick_only_where_both_records_have_differing_values(
    steward_client, candidate
):
    html = text(steward_client.get(f"/steward/compare/{candidate.pk}/"))
    # The names differ: survivorship, A's or B's value. Only A has a city, only B a phone.
    assert '<select name="pick_name" id="id_pick_name" form="merge" data-merge-choice>' in html
    assert '<option value="a">A&#x27;s value</option>' in html
    assert "pick_city" not in html and "pick_phone" not in html
    assert "Values picked in the table are pinned" in html


@pytest.mark.django_db
def test_the_preview_shows_picked_values_as_pins(steward_client, candidate):
    a, b = candidate.golden_a, candidate.golden_b
    response = steward_client.get(
        f"/steward/compare/{candidate.pk}/?survivor={a.pk}&pick_name=b", HTTP_HX_REQUEST="true"
    )
    html = text(response)
    assert "<html" not in html
    assert "except the values you picked (Name), which are pinned" in html
    assert (
        "<td>Blue Harbor Partners LLC</td>\n      <td>Blue Harbor</td>\n"
        '      <td class="origin">pinned by a steward (stella)</td>'
    ) in html
    # A side that is not offered, or a value that is not a side, is ignored.
    html = text(
        steward_client.get(
            f"/steward/compare/{candidate.pk}/?survivor={b.pk}&pick_city=a&pick_name=x",
            HTTP_HX_REQUEST="true",
        )
    )
    assert "pinned by a steward" not in html and "you picked" not in html


@pytest.mark.django_db
def test_merge_pins_the_picked_values_on_the_survivor(steward_client, steward, candidate):
    a, b = candidate.golden_a, candidate.golden_b
    preview = text(
        steward_client.get(
            f"/steward/compare/{candidate.pk}/?survivor={a.pk}&pick_name=b", HTTP_HX_REQUEST="true"
        )
    )
    response = steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/",
        {"survivor": a.pk, "pick_name": "b", "reason": "the name the client uses"},
        follow=True,
    )
    assert f"Merged {b.canonical_id} (pinned Name) into" in text(response)
    survivor = golden(a.canonical_id)
    assert survivor.attributes["name"] == "Blue Harbor"
    assert survivor.lineage["name"]["rule"] == "steward_pin"
    assert survivor.pins["name"]["value"] == "Blue Harbor"
    assert survivor.pins["name"]["by"] == "stella"
    assert golden(b.canonical_id).status == "merged"
    # The preview said so, and the record page shows the pin.
    assert "<td>Blue Harbor</td>" in preview
    page = text(steward_client.get(f"/steward/records/{a.canonical_id}/"))
    assert "Pinned by stella" in page


@pytest.mark.django_db
def test_merge_without_picks_leaves_survivorship_alone(steward_client, candidate):
    a = candidate.golden_a
    steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/", {"survivor": a.pk, "pick_name": ""}
    )
    survivor = golden(a.canonical_id)
    assert survivor.pins == {} and survivor.lineage["name"]["rule"] != "steward_pin"


@pytest.mark.django_db
def test_an_invalid_pick_refuses_the_merge(steward_client, candidate):
    response = steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/",
        {"survivor": candidate.golden_a_id, "pick_name": "both"},
        follow=True,
    )
    assert "Select a valid choice" in text(response)
    candidate.refresh_from_db()
    assert candidate.status == "open" and MergeEvent.objects.count() == 0


@pytest.mark.django_db
def test_undoing_a_merge_drops_the_picked_pins(steward_client, candidate):
    a = candidate.golden_a
    steward_client.post(
        f"/steward/compare/{candidate.pk}/merge/", {"survivor": a.pk, "pick_name": "b"}
    )
    event = MergeEvent.objects.get()
    steward_client.post(f"/steward/records/{a.canonical_id}/undo-merge/", {"event": event.pk})
    restored = golden(a.canonical_id)
    assert restored.pins == {} and restored.attributes["name"] == "Blue Harbor Partners LLC"


@pytest.mark.django_db
def test_compare_shows_related_records_of_each_side(steward_client, systems, candidate):
    # A subsidiary and a project of the CRM account, ingested from the same CRM.
    [child] = ingest(
        systems,
        "crm",
        {
            "source_id": "BH-UK",
            "name": "Blue Harbor UK Ltd",
            "country": "GB",
            "parent_source_id": "001BH",
        },
    )
    [project] = ingest(
        systems,
        "crm",
        {"source_id": "OPP-1", "name": "Harbor audit", "customer_source_id": "001BH"},
        entity_type="project",
    )
    html = text(steward_client.get(f"/steward/compare/{candidate.pk}/"))
    assert "Related records" in html
    assert child.canonical_id in html and project.canonical_id in html
