"""Dashboard figures: records by type and system, open review items by band and age,
decisions per day, auto-link rate, exceptions. Reads only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from golden.entities import ENTITIES
from golden.models import (
    GoldenRecord,
    MatchCandidate,
    RejectedRecord,
    SourceRecord,
    SourceSystem,
    UnmergeProposal,
)
from golden.steward.selectors import AGES, band_counts, projects_not_ready


@dataclass(frozen=True)
class Panel:
    """A dashboard card another app contributes (outbound sync registers one), so the
    workbench shows it without golden importing that app."""

    template: str
    context: Callable[[], dict[str, Any]]


PANELS: list[Panel] = []


def register_panel(panel: Panel) -> None:
    if panel not in PANELS:
        PANELS.append(panel)


def extra_panels() -> list[dict[str, Any]]:
    return [{"template": panel.template, **panel.context()} for panel in PANELS]


@dataclass
class Bar:
    label: str
    value: int
    percent: float
    href: str = ""


def bars(items: list[tuple[str, int, str]]) -> list[Bar]:
    top = max((value for _, value, _ in items), default=0) or 1
    return [Bar(label, value, round(100 * value / top, 1), href) for label, value, href in items]


def golden_by_type() -> list[Bar]:
    counts = Counter(
        dict(
            GoldenRecord.objects.filter(status=GoldenRecord.Status.ACTIVE)
            .values_list("entity_type")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    return bars([(spec.label, counts.get(name, 0), "") for name, spec in ENTITIES.items()])


def sources_by_system() -> list[Bar]:
    counts = dict(SourceRecord.objects.values_list("system").annotate(n=Count("id")).order_by())
    return bars([(s.name, counts.get(s.pk, 0), "") for s in SourceSystem.objects.all()])


def open_by_band() -> list[Bar]:
    pending = MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN)
    return bars([(b.label, n, f"?band={b.key}") for b, n in band_counts(pending)])


def open_by_age() -> list[Bar]:
    now = timezone.now()
    pending = MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN).order_by()
    buckets = {
        key: Count(
            "id",
            filter=Q(
                created_at__gt=now - timedelta(days=low_high[1]),
                created_at__lte=now - timedelta(days=low_high[0]),
            ),
        )
        for key, _, *low_high in AGES
    }
    buckets["older"] = Count("id", filter=Q(created_at__lte=now - timedelta(days=30)))
    counts = pending.aggregate(**buckets)
    labels = [(key, label) for key, label, *_ in AGES] + [("older", "over 30 days")]
    return bars([(label, counts[key], "") for key, label in labels])


@dataclass
class Day:
    day: date
    merged: int
    not_a_match: int

    @property
    def total(self) -> int:
        return self.merged + self.not_a_match


def decisions_per_day(days: int = 14) -> list[Day]:
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    rows = (
        MatchCandidate.objects.filter(
            decided_at__date__gte=start,
            status__in=[MatchCandidate.Status.MERGED, MatchCandidate.Status.NOT_A_MATCH],
        )
        .annotate(day=TruncDate("decided_at"))
        .values_list("day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(day, status): n for day, status, n in rows}
    return [
        Day(d, counts.get((d, "merged"), 0), counts.get((d, "not_a_match"), 0))
        for d in (start + timedelta(days=i) for i in range(days))
    ]


@dataclass
class Column:
    """One day's stacked column in the decisions chart (SVG user units)."""

    x: int
    label: str
    merged_y: float
    merged_h: float
    nam_y: float
    nam_h: float
    total: int

    @property
    def value_y(self) -> float:
        return self.nam_y - 4


CHART_BASE, CHART_HEIGHT, COLUMN_STEP = 130, 110, 50


def day_columns(days: list[Day]) -> list[Column]:
    top = max((d.total for d in days), default=0) or 1
    columns = []
    for i, d in enumerate(days):
        merged_h = round(CHART_HEIGHT * d.merged / top, 1)
        nam_h = round(CHART_HEIGHT * d.not_a_match / top, 1)
        columns.append(
            Column(
                i * COLUMN_STEP,
                d.day.strftime("%-d %b"),
                CHART_BASE - merged_h,
                merged_h,
                CHART_BASE - merged_h - nam_h,
                nam_h,
                d.total,
            )
        )
    return columns


def link_outcomes() -> dict[str, int]:
    """How source records were placed: linked on their own, or a new golden record."""
    counts = dict(
        SourceRecord.objects.values_list("link_evidence__decision")
        .annotate(n=Count("id"))
        .order_by()
    )
    linked = counts.get("auto_link", 0)
    total = sum(counts.values())
    return {"linked": linked, "total": total, "rate": round(100 * linked / total) if total else 0}


def exception_counts() -> dict[str, int]:
    return {
        "rejected": RejectedRecord.objects.filter(resolved_at=None).count(),
        "proposals": UnmergeProposal.objects.filter(status=UnmergeProposal.Status.OPEN).count(),
        "deferred": MatchCandidate.objects.filter(status=MatchCandidate.Status.DEFERRED).count(),
        "projects_not_ready": projects_not_ready(limit=0)[1],
    }
