"""Who may see and do what in the workbench: login required, viewers read, stewards act,
CSRF on every form."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from golden.models import MatchCandidate, MergeEvent, SourceRecord
from golden.services import merge_candidate
from tests.steward.conftest import logged_in


def page_urls(candidate: MatchCandidate) -> list[str]:
    return [
        "/steward/",
        "/steward/queue/",
        f"/steward/compare/{candidate.pk}/",
        f"/steward/records/{candidate.golden_a.canonical_id}/",
        "/steward/search/?q=blue",
        "/steward/exceptions/",
    ]


def action_posts(candidate: MatchCandidate) -> list[tuple[str, dict]]:
    a, b = candidate.golden_a, candidate.golden_b
    record = SourceRecord.objects.filter(golden=a).first()
    return [
        (f"/steward/compare/{candidate.pk}/take-over/", {}),
        (f"/steward/compare/{candidate.pk}/release/", {}),
        (f"/steward/compare/{candidate.pk}/merge/", {"survivor": a.pk}),
        (f"/steward/compare/{candidate.pk}/not-a-match/", {"reason": "no"}),
        (f"/steward/compare/{candidate.pk}/defer/", {"comment": "later"}),
        (f"/steward/records/{a.canonical_id}/pin/", {"attribute": "name", "value": "X"}),
        (f"/steward/records/{a.canonical_id}/unpin/", {"attribute": "name"}),
        (f"/steward/records/{b.canonical_id}/unmerge/", {"source_record": record.pk}),
        (f"/steward/records/{a.canonical_id}/undo-merge/", {"event": 1}),
        ("/steward/exceptions/proposals/1/", {"decision": "keep"}),
    ]


def state() -> list[tuple]:
    return list(MatchCandidate.objects.values_list("pk", "status", "reason", "assigned_to")) + [
        (MergeEvent.objects.count(),)
    ]


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client, candidate):
    for url in page_urls(candidate):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/steward/login/?next=/steward/"), url


@pytest.mark.django_db
def test_anonymous_posts_change_nothing_and_go_to_login(client, candidate):
    before = state()
    for url, data in action_posts(candidate):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/steward/login/"), url
    assert state() == before


@pytest.mark.django_db
def test_a_user_without_a_role_is_refused(candidate):
    nobody = logged_in(User.objects.create_user("nobody", password="pw"))
    for url in page_urls(candidate):
        assert nobody.get(url).status_code == 403, url


@pytest.mark.django_db
def test_viewer_reads_every_page_without_action_buttons(viewer_client, candidate):
    for url in page_urls(candidate):
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "/merge/" not in html and "/not-a-match/" not in html, url
        assert "/unmerge/" not in html and "/pin/" not in html, url
    compare = viewer_client.get(f"/steward/compare/{candidate.pk}/").content.decode()
    assert "only data stewards can decide" in compare
    assert "/take-over/" not in compare and "/release/" not in compare
    candidate.refresh_from_db()
    assert candidate.assigned_to is None  # reading a pair does not claim it


@pytest.mark.django_db
def test_viewer_posts_are_forbidden_and_change_nothing(viewer_client, candidate):
    before = state()
    for url, data in action_posts(candidate):
        assert viewer_client.post(url, data).status_code == 403, url
    assert state() == before


@pytest.mark.django_db
def test_actions_answer_only_to_post(steward_client, candidate):
    for url, _ in action_posts(candidate):
        assert steward_client.get(url).status_code == 405, url


@pytest.mark.django_db
def test_superuser_can_act(admin_user, candidate):
    client = logged_in(admin_user)
    response = client.post(f"/steward/compare/{candidate.pk}/not-a-match/", {"reason": ""})
    assert response.status_code == 302
    candidate.refresh_from_db()
    assert candidate.status == "not_a_match" and candidate.decided_by == admin_user


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@pytest.mark.django_db
def test_every_steward_form_carries_a_csrf_token(steward_client, candidate):
    merge_candidate(candidate, actor=None)  # so the record page offers unmerge and undo
    pages = [
        f"/steward/records/{candidate.golden_a.canonical_id}/",
        f"/steward/compare/{candidate.pk}/",
        "/steward/queue/",
    ]
    for url in pages:
        html = steward_client.get(url).content.decode()
        posts = html.count('method="post"')
        assert html.count("csrfmiddlewaretoken") == posts, url


@pytest.mark.django_db
def test_csrf_is_enforced_on_actions(steward, candidate):
    client = logged_in(steward, enforce_csrf_checks=True)
    merge_url = f"/steward/compare/{candidate.pk}/merge/"
    data = {"survivor": candidate.golden_a_id}
    assert client.post(merge_url, data).status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == "open"

    token = csrf_token_from(client.get(f"/steward/compare/{candidate.pk}/").content.decode())
    response = client.post(merge_url, {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    candidate.refresh_from_db()
    assert candidate.status == "merged"


@pytest.mark.django_db
def test_csrf_is_enforced_for_htmx_requests_through_the_header(steward, candidate):
    client = logged_in(steward, enforce_csrf_checks=True)
    url = f"/steward/compare/{candidate.pk}/defer/"
    assert client.post(url, {"comment": "x"}, HTTP_HX_REQUEST="true").status_code == 403
    token = csrf_token_from(client.get(f"/steward/compare/{candidate.pk}/").content.decode())
    response = client.post(url, {"comment": "x"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/steward/queue/"


@pytest.mark.django_db
def test_login_page_logs_a_steward_in_and_back_to_where_they_were(steward, candidate):
    client = Client()
    target = f"/steward/compare/{candidate.pk}/"
    login = client.get(f"/steward/login/?next={target}")
    assert login.status_code == 200
    response = client.post(
        "/steward/login/", {"username": "stella", "password": "pw-stella", "next": target}
    )
    assert response.status_code == 302 and response["Location"] == target
    assert client.get(target).status_code == 200
    assert client.post("/steward/logout/").status_code == 302
    assert client.get(target).status_code == 302
