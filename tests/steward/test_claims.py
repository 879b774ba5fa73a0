"""Claiming review pairs so two stewards do not work the same one: opening a pair claims
it, others see who holds it and may take it over, a decision releases it, and the queue
shows and filters by assignee."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from golden.models import MatchCandidate, MergeEvent
from golden.services import claim_candidate
from tests.steward.conftest import logged_in


def text(response) -> str:
    return response.content.decode()


def compare_url(candidate: MatchCandidate, action: str = "") -> str:
    return f"/steward/compare/{candidate.pk}/{action + '/' if action else ''}"


def claimed_minutes_ago(candidate: MatchCandidate, user, minutes: int) -> None:
    MatchCandidate.objects.filter(pk=candidate.pk).update(
        assigned_to=user, assigned_at=timezone.now() - timedelta(minutes=minutes, seconds=5)
    )


@pytest.mark.django_db
def test_opening_a_pair_claims_it_for_the_steward(steward_client, steward, candidate):
    html = text(steward_client.get(compare_url(candidate)))
    candidate.refresh_from_db()
    assert candidate.assigned_to == steward and candidate.assigned_at is not None
    assert "Assigned to you" in html
    assert f'action="{compare_url(candidate, "release")}"' in html
    latest = candidate.history.latest()
    assert latest.history_user == steward and latest.history_change_reason == "claimed"
    # Opening it again changes nothing: no new claim, no new history row.
    claimed_at = candidate.assigned_at
    steward_client.get(compare_url(candidate))
    candidate.refresh_from_db()
    assert candidate.assigned_at == claimed_at and candidate.history.count() == 2


@pytest.mark.django_db
def test_a_decided_pair_is_not_claimed(steward_client, steward, candidate):
    steward_client.post(compare_url(candidate, "not-a-match"), {"reason": "no"})
    steward_client.get(compare_url(candidate))
    candidate.refresh_from_db()
    assert candidate.assigned_to is None


@pytest.mark.django_db
def test_a_pair_held_by_another_steward_says_who_and_since_when(steward, admin_user, candidate):
    claimed_minutes_ago(candidate, steward, 3)
    other = logged_in(admin_user)
    html = text(other.get(compare_url(candidate)))
    assert "Claimed by stella 3 minutes ago." in html
    assert "Another steward has this pair" in html
    assert f'action="{compare_url(candidate, "take-over")}"' in html
    # No decision buttons for them until they take it over; the claim stays stella's.
    for action in ("merge", "not-a-match", "defer", "release"):
        assert compare_url(candidate, action) not in html, action
    candidate.refresh_from_db()
    assert candidate.assigned_to == steward


@pytest.mark.django_db
def test_a_decision_by_someone_not_holding_the_pair_is_refused(steward, admin_user, candidate):
    claimed_minutes_ago(candidate, steward, 3)
    other = logged_in(admin_user)
    for action, data in [
        ("merge", {"survivor": candidate.golden_a_id}),
        ("not-a-match", {"reason": "late"}),
        ("defer", {"comment": "later"}),
    ]:
        html = text(other.post(compare_url(candidate, action), data, follow=True))
        assert "Claimed by stella 3 minutes ago. Take it over to decide it." in html, action
    candidate.refresh_from_db()
    assert candidate.status == "open" and candidate.assigned_to == steward
    assert candidate.reason == "" and MergeEvent.objects.count() == 0


@pytest.mark.django_db
def test_take_over_moves_the_claim_and_the_old_holder_is_refused(steward, admin_user, candidate):
    first, second = logged_in(steward), logged_in(admin_user)
    first.get(compare_url(candidate))
    response = second.post(compare_url(candidate, "take-over"), follow=True)
    html = text(response)
    assert "You took this pair over from stella." in html
    assert "Assigned to you" in html
    candidate.refresh_from_db()
    assert candidate.assigned_to == admin_user
    assert candidate.history.latest().history_change_reason == "taken over from stella"
    # stella's open page is stale now: her merge is refused, and says who holds it.
    html = text(
        first.post(
            compare_url(candidate, "merge"), {"survivor": candidate.golden_a_id}, follow=True
        )
    )
    assert "Claimed by ada just now. Take it over to decide it." in html
    candidate.refresh_from_db()
    assert candidate.status == "open"


@pytest.mark.django_db
def test_release_gives_the_pair_back_to_the_queue(steward_client, steward, admin_user, candidate):
    steward_client.get(compare_url(candidate))
    response = steward_client.post(compare_url(candidate, "release"))
    assert response.status_code == 302 and response["Location"] == "/steward/queue/"
    candidate.refresh_from_db()
    assert candidate.assigned_to is None and candidate.assigned_at is None
    assert "any steward can pick it up" in text(steward_client.get("/steward/queue/"))
    # Someone else's claim cannot be released from under them.
    claimed_minutes_ago(candidate, admin_user, 1)
    html = text(steward_client.post(compare_url(candidate, "release"), follow=True))
    assert "Claimed by ada 1 minute ago." in html
    candidate.refresh_from_db()
    assert candidate.assigned_to == admin_user


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("merge", {"survivor": "a"}),
        ("not-a-match", {"reason": "different firms"}),
        ("defer", {"comment": "ask the account owner"}),
    ],
)
def test_a_decision_releases_the_claim(steward_client, steward, candidate, action, data):
    if data.get("survivor") == "a":
        data = {"survivor": candidate.golden_a_id}
    steward_client.get(compare_url(candidate))
    steward_client.post(compare_url(candidate, action), data)
    candidate.refresh_from_db()
    assert candidate.status != "open"
    assert candidate.assigned_to is None and candidate.assigned_at is None
    # The decision's own history row already shows the pair released.
    assert candidate.history.latest().assigned_to_id is None


@pytest.mark.django_db
def test_work_goes_on_with_a_pair_nobody_else_holds(
    steward_client, steward, admin_user, candidate, second_candidate, systems
):
    from tests.steward.conftest import make_pair

    third = make_pair(
        systems,
        ("crm", {"source_id": "001RT", "name": "Red Tower Consulting GmbH", "country": "DE"}),
        ("erp", {"source_id": "D-77", "name": "Red Tower", "country": "DE"}),
    )
    # The next pair in queue order is held by ada: the steward is sent past it.
    first, *rest = sorted([candidate, second_candidate, third], key=lambda c: (-c.score, c.pk))
    held, free = rest
    claim_candidate(held, actor=admin_user)
    steward_client.get(compare_url(first))
    response = steward_client.post(compare_url(first, "not-a-match"), {"reason": ""})
    assert response["Location"] == compare_url(free)
    # The j/k links skip it too.
    html = text(steward_client.get(compare_url(free)))
    assert compare_url(held) not in html


# --- queue --------------------------------------------------------------------------


@pytest.mark.django_db
def test_queue_shows_who_holds_each_pair(
    steward_client, steward, admin_user, candidate, second_candidate
):
    claimed_minutes_ago(candidate, admin_user, 3)
    claim_candidate(second_candidate, actor=steward)
    html = text(steward_client.get("/steward/queue/"))
    assert '<th scope="col">Assigned</th>' in html
    assert '<span class="who">ada</span>' in html
    assert '<span class="who me">You</span>' in html
    assert "3\xa0minutes" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("assigned", "shown"),
    [("", {"mine", "theirs", "free"}), ("me", {"mine"}), ("unassigned", {"free"})],
)
def test_queue_filters_by_assignee(
    steward_client, steward, admin_user, candidate, second_candidate, systems, assigned, shown
):
    from tests.steward.conftest import make_pair

    free = make_pair(
        systems,
        ("crm", {"source_id": "001RT", "name": "Red Tower Consulting GmbH", "country": "DE"}),
        ("erp", {"source_id": "D-77", "name": "Red Tower", "country": "DE"}),
    )
    claim_candidate(candidate, actor=steward)
    claim_candidate(second_candidate, actor=admin_user)
    pairs = {"mine": candidate, "theirs": second_candidate, "free": free}
    html = text(steward_client.get(f"/steward/queue/?assigned={assigned}"))
    listed = {name for name, c in pairs.items() if f'href="{compare_url(c)}"' in html}
    assert listed == shown
    assert '<option value="me"' in html and "Assigned to me" in html


@pytest.mark.django_db
def test_viewer_cannot_claim_take_over_or_release(viewer_client, steward, candidate):
    claim_candidate(candidate, actor=steward)
    for action in ("take-over", "release"):
        assert viewer_client.post(compare_url(candidate, action)).status_code == 403
    html = text(viewer_client.get(compare_url(candidate)))
    assert "Claimed by stella just now" in html
    candidate.refresh_from_db()
    assert candidate.assigned_to == steward
