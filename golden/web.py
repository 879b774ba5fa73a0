"""Small server-rendered pages outside the steward workbench: home and health."""

from __future__ import annotations

from collections import Counter

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from golden.entities import ENTITIES
from golden.models import GoldenRecord, MatchCandidate, RejectedRecord, SourceRecord


def home(request: HttpRequest) -> HttpResponse:
    golden = Counter(
        GoldenRecord.objects.filter(status=GoldenRecord.Status.ACTIVE).values_list(
            "entity_type", flat=True
        )
    )
    sources = Counter(SourceRecord.objects.values_list("system__code", "entity_type"))
    systems = sorted({system for system, _ in sources})
    rows = [
        {
            "label": spec.label,
            "api_path": spec.api_path,
            "golden": golden.get(name, 0),
            "sources": [sources.get((system, name), 0) for system in systems],
        }
        for name, spec in ENTITIES.items()
    ]
    context = {
        "rows": rows,
        "systems": systems,
        "open_candidates": MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN).count(),
        "open_rejections": RejectedRecord.objects.filter(resolved_at=None).count(),
    }
    return render(request, "golden/home.html", context)


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Liveness of the database and the cache/broker, for load balancers and compose."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is "down", reported by name
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        cache.set("health-probe", "1", 5)
        checks["cache"] = "ok" if cache.get("health-probe") == "1" else "error: no round trip"
    except Exception as exc:  # noqa: BLE001
        checks["cache"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
