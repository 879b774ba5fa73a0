"""The workbench's sync page: per-target status, and failed or dead deliveries with the
target's message and a replay button. It lives in connectors (golden never imports this
app) and reuses the workbench's access rules and layout."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse

from connectors import selectors, services
from connectors.models import OutboundMessage
from golden.exceptions import MdmError
from golden.roles import can_steward
from golden.steward.dashboard import Panel
from golden.steward.views import action, page

PROBLEMS = list(OutboundMessage.REPLAYABLE)


def _dashboard_context() -> dict[str, Any]:
    totals = {status: 0 for status in OutboundMessage.Status.values}
    for row in selectors.sync_report():
        for status in totals:
            totals[status] += row[status]
    return {"sync": totals, "sync_problems": totals["failed"] + totals["dead"]}


dashboard_panel = Panel("connectors/_dashboard_sync.html", _dashboard_context)


@page
def sync_status(request: HttpRequest) -> HttpResponse:
    problems = (
        OutboundMessage.objects.filter(status__in=PROBLEMS)
        .select_related("target")
        .order_by("-updated_at")[:200]
    )
    context = {
        "report": selectors.sync_report(),
        "problems": problems,
        "problem_total": OutboundMessage.objects.filter(status__in=PROBLEMS).count(),
        "can_act": can_steward(request.user),
    }
    return render(request, "connectors/sync.html", context)


@action
def replay(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        message = services.replay_message(pk)
    except MdmError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{message.canonical_id} to {message.target.code} is queued for delivery again.",
        )
    return redirect(reverse("sync-status"))


@action
def replay_all(request: HttpRequest) -> HttpResponse:
    ids = list(OutboundMessage.objects.filter(status__in=PROBLEMS).values_list("pk", flat=True))
    replayed = services.replay_messages(ids)
    messages.success(request, f"{len(replayed)} deliveries queued again.")
    return redirect(reverse("sync-status"))


urlpatterns = [
    path("", sync_status, name="sync-status"),
    path("<int:pk>/replay/", replay, name="sync-replay"),
    path("replay-all/", replay_all, name="sync-replay-all"),
]
