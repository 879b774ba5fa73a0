"""End to end in real headless Chromium (Debian's ``chromium``, driven by Playwright; no
browser download): log in, work the queue with the keyboard, merge, read lineage and
history, undo, unmerge, not a match, and a viewer who cannot act. Screenshots of every
main page land in test-artifacts/steward/ for a person to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright import sync_api
from playwright.sync_api import expect

from golden.models import GoldenRecord, MatchCandidate, SourceRecord
from golden.services import claim_candidate
from tests.steward.conftest import golden, ingest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "steward"
LAPTOP = {"width": 1280, "height": 800}
LARGE = {"width": 1920, "height": 1080}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def page(db, live_server, monkeypatch) -> Iterator:
    """A fresh Chromium per test, started only after the database is set up: Playwright's
    sync API switches greenlet context, and Django would then hand out a new connection
    object that knows nothing of the serialized seed data (roles, systems) to restore.
    Its event loop runs in this thread, so Django's async-safety check is relaxed here;
    the ORM calls the test makes between browser steps stay plain synchronous code."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport=LAPTOP, base_url=live_server.url)
        context.set_default_timeout(10_000)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        yield tab
        context.close()
        browser.close()
        # Connections the test opened inside Playwright's context belong to it: close
        # them here, or PostgreSQL refuses to drop the test database at the end.
        connections.close_all()
    assert errors == [], f"JavaScript errors: {errors}"


def log_in(page, username: str, password: str) -> None:
    page.goto("/steward/queue/")
    expect(page).to_have_url(re.compile(r"/steward/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/steward/queue/$"))
    page.wait_for_load_state()  # shortcuts work once the deferred scripts have run


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_no_horizontal_overflow(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def test_steward_clears_a_pair_with_the_keyboard_then_undoes_and_unmerges(
    page, steward, candidate, second_candidate
):
    a, b = candidate.golden_a, candidate.golden_b
    first = min([candidate, second_candidate], key=lambda c: (-c.score, c.pk))
    assert first == candidate, "Blue Harbor should head the queue"
    log_in(page, "stella", "pw-stella")
    expect(page.get_by_text("2 pairs")).to_be_visible()
    assert_no_horizontal_overflow(page)
    shoot(page, "queue-laptop")

    # j selects the first pair, Enter opens it.
    page.keyboard.press("j")
    expect(page.locator("tr[data-queue-row]").first).to_have_attribute("aria-current", "true")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/steward/compare/{candidate.pk}/$"))
    page.wait_for_load_state()
    detail = candidate.evidence[0]["detail"]
    expect(page.get_by_text(detail[0].upper() + detail[1:]).first).to_be_visible()
    expect(page.get_by_role("heading", name=f"After the merge: {a.canonical_id}")).to_be_visible()
    expect(page.locator(".badge.claim-mine")).to_have_text("Assigned to you")  # opened = claimed
    assert MatchCandidate.objects.get(pk=candidate.pk).assigned_to == steward
    assert_no_horizontal_overflow(page)
    shoot(page, "compare-laptop")

    # Keep B's name: the preview (htmx) shows it as the steward's pin.
    preview_name = page.locator("#merge-preview tr", has_text="Name")
    expect(preview_name).to_contain_text("Blue Harbor Partners LLC")
    page.get_by_label("Keep for Name").select_option("b")
    expect(preview_name).to_contain_text("pinned by a steward (stella)")
    expect(page.locator("#merge-preview")).to_contain_text("except the values you picked (Name)")
    shoot(page, "compare-picked")
    page.keyboard.press("Escape")  # leave the select: shortcuts wait while it has the focus

    # s switches the survivor; the preview follows (htmx), and back again.
    page.keyboard.press("s")
    expect(page.get_by_role("heading", name=f"After the merge: {b.canonical_id}")).to_be_visible()
    page.keyboard.press("s")
    expect(page.get_by_role("heading", name=f"After the merge: {a.canonical_id}")).to_be_visible()

    # m focuses Merge, Enter confirms; work goes on with the next pair.
    page.keyboard.press("m")
    expect(page.get_by_role("button", name="Merge m")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/steward/compare/{second_candidate.pk}/$"))
    assert golden(b.canonical_id).merged_into_id == a.pk
    assert golden(a.canonical_id).attributes["name"] == "Blue Harbor"

    # The notice links to the survivor: lineage, crosswalk and history are there.
    page.get_by_role("link", name=a.canonical_id).first.click()
    expect(page).to_have_url(re.compile(rf"/steward/records/{a.canonical_id}/$"))
    values = page.locator("table.values")
    expect(values.get_by_role("row", name=re.compile("Phone"))).to_contain_text("PSA 5531")
    expect(values.get_by_role("row", name=re.compile("City"))).to_contain_text("CRM 001BH")
    name_row = values.get_by_role("row", name=re.compile("^Name"))
    expect(name_row).to_contain_text("Blue Harbor")
    expect(name_row).to_contain_text("Pinned by stella")
    expect(page.locator("ol.timeline")).to_contain_text(f"stella · merged into {a.canonical_id}")
    assert_no_horizontal_overflow(page)
    shoot(page, "record-after-merge")

    # Undo the merge: both records active again, the pair back in the queue.
    page.get_by_role("button", name="Undo merge").click()
    expect(page.get_by_text(f"Undid the merge: {b.canonical_id} is active again")).to_be_visible()
    assert golden(b.canonical_id).status == GoldenRecord.Status.ACTIVE
    assert MatchCandidate.objects.get(pk=candidate.pk).status == "open"

    # Merge again with the mouse, then split the PSA record back out.
    page.goto(f"/steward/compare/{candidate.pk}/")
    page.get_by_role("button", name="Merge m").click()
    page.goto(f"/steward/records/{a.canonical_id}/")
    page.get_by_role("button", name="Unmerge PSA 5531 into a golden record of its own").click()
    expect(page.get_by_text("Split PSA 5531 out into")).to_be_visible()
    record = SourceRecord.objects.get(source_id="5531")
    assert record.golden_id not in {a.pk, b.pk}
    shoot(page, "record-after-unmerge")


def test_not_a_match_removes_the_pair_from_the_queue(page, steward, candidate):
    log_in(page, "stella", "pw-stella")
    page.keyboard.press("j")
    page.keyboard.press("n")  # from the queue: opens the pair at "not a match"
    expect(page).to_have_url(re.compile(rf"/steward/compare/{candidate.pk}/#action=not-a-match$"))
    reason = page.get_by_label("Why not (optional)")
    expect(reason).to_be_focused()
    reason.fill("different firms, same street")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/steward/queue/$"))
    expect(page.get_by_text("are not a match; the pair will not be proposed again")).to_be_visible()
    expect(page.get_by_text("No pairs to review")).to_be_visible()
    candidate.refresh_from_db()
    assert candidate.status == "not_a_match" and candidate.reason == "different firms, same street"


def test_viewer_reads_but_sees_no_action_buttons(page, viewer, candidate, systems):
    ingest(systems, "erp", {"source_id": "C-7", "name": "Bad Country Ltd", "country": "Atlantis"})
    log_in(page, "victor", "pw-victor")
    page.goto(f"/steward/compare/{candidate.pk}/")
    expect(page.get_by_text("only data stewards can decide it")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Merge|Not a match|Defer"))).to_have_count(0)
    page.keyboard.press("m")  # nothing to focus, nothing happens
    assert MatchCandidate.objects.get(pk=candidate.pk).status == "open"
    shoot(page, "compare-viewer")
    page.goto(f"/steward/records/{candidate.golden_a.canonical_id}/")
    expect(page.get_by_role("button", name=re.compile("Unmerge|Pin|Undo"))).to_have_count(0)
    page.goto("/steward/exceptions/")
    expect(page.get_by_text("Unknown country")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(2)  # search and log out only


def test_main_pages_at_laptop_and_large_widths(
    page, steward, admin_user, candidate, second_candidate, systems
):
    ingest(systems, "erp", {"source_id": "C-7", "name": "Bad Country Ltd", "country": "Atlantis"})
    ingest(systems, "psa", {"source_id": "P-1", "name": "Audit 2026"}, entity_type="project")
    claim_candidate(second_candidate, actor=admin_user)  # ada is working on Green Field
    log_in(page, "stella", "pw-stella")
    page.keyboard.press("/")
    page.keyboard.type("C-1187")
    page.keyboard.press("Enter")
    expect(page.locator("#search-results")).to_contain_text("1 result")
    expect(page.locator(".xid.hit")).to_contain_text("C-1187")
    # Names are found despite typos, as the steward types (htmx).
    page.locator("#q").fill("Gren Feild Advisers")
    expect(page.locator("#search-results")).to_contain_text("Green Field Advisors Ltd")
    expect(page.locator("#search-results .similarity").first).to_contain_text("name ")
    shoot(page, "search-fuzzy")
    pages = {
        "dashboard": "/steward/",
        "queue": "/steward/queue/",
        "compare": f"/steward/compare/{candidate.pk}/",
        "record": f"/steward/records/{candidate.golden_a.canonical_id}/",
        "search": "/steward/search/?q=harbor",
        "exceptions": "/steward/exceptions/",
    }
    for width, viewport in [("laptop", LAPTOP), ("large", LARGE)]:
        page.set_viewport_size(viewport)
        for name, url in pages.items():
            page.goto(url)
            expect(page.locator("h1")).to_be_visible()
            assert_no_horizontal_overflow(page)
            shoot(page, f"{name}-{width}")
    # Ada's pair: stella sees who holds it, cannot decide it, and may take it over.
    page.set_viewport_size(LAPTOP)
    page.goto(f"/steward/compare/{second_candidate.pk}/")
    expect(page.get_by_text("Claimed by ada just now.").first).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Merge|Not a match|Defer"))).to_have_count(0)
    shoot(page, "compare-claimed")
    page.goto("/steward/queue/")
    expect(page.locator("td.assignee", has_text="ada")).to_have_count(1)
    expect(page.locator("td.assignee", has_text="You")).to_have_count(1)
    page.goto(f"/steward/compare/{second_candidate.pk}/")
    page.get_by_role("button", name="Take over").click()
    expect(page.get_by_text("You took this pair over from ada.")).to_be_visible()
    expect(page.get_by_role("button", name="Merge m")).to_be_visible()
    assert MatchCandidate.objects.get(pk=second_candidate.pk).assigned_to == steward
    page.goto("/steward/")
    page.keyboard.press("?")
    expect(page.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="Keyboard shortcuts")).to_be_hidden()
