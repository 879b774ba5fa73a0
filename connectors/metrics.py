"""Prometheus metrics at ``GET /metrics``, computed from the database at scrape time.

Nothing is counted in process memory: every scrape builds a fresh registry holding one
``MdmCollector``, which reads the outbox and golden's tables with a handful of aggregate
queries. Any number of web processes therefore answer the same figures, and a restart
loses nothing.

Gauges (labels in braces):

- ``mdm_sync_messages{target, entity_type, status}``: outbound messages per status
  (held, pending, in_flight, delivered, failed, dead, skipped); every enabled route and
  every (target, entity type) with messages gets all seven series, zeros included;
- ``mdm_sync_oldest_pending_age_seconds{target, entity_type}``: age of the oldest pending
  message (0 when nothing is pending);
- ``mdm_sync_delivery_latency_seconds{target, entity_type}``: mean fan-out-to-delivery
  latency of the messages delivered in the last hour (no series without deliveries);
- ``mdm_sync_throttled_attempts{target, entity_type}``: delivery attempts the target
  refused for its rate or concurrency limit in the last hour (429, Salesforce's 403
  ``REQUEST_LIMIT_EXCEEDED``);
- ``mdm_golden_records{entity_type, status}``: golden records (active, merged, retired);
- ``mdm_review_candidates_open{entity_type}``: match candidates waiting for a steward;
- ``mdm_rejected_records_unresolved{system, entity_type}``: ingested records that failed
  validation and were not fixed by a later ingest.

Counters per paced target (``rate_limit`` set), read from the pacing bucket's counters in
Redis (``connectors.pacing``), which every worker process updates:

- ``mdm_sync_pacing_requests_total{target}``: requests that took a slot;
- ``mdm_sync_pacing_delayed_requests_total{target}``: those that had to wait for it;
- ``mdm_sync_pacing_wait_seconds_total{target}``: seconds waited in all;
- ``mdm_sync_pacing_refused_total{target}``: 429 answers to paced requests.

The sync figures are ``connectors.selectors.sync_report`` and ``pacing_report`` (what
``manage.py sync_report`` prints), so the endpoint and the report always agree.

Access: when ``MDM_METRICS_TOKEN`` is set, a scrape needs ``Authorization: Bearer
<token>`` (Prometheus: ``authorization: {credentials: ...}`` in the scrape config);
unset, the endpoint is open, as is usual for a port only the scraper reaches.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from connectors.adapters import registry as adapters
from connectors.models import TargetBinding
from connectors.selectors import STATUSES, pacing_report, sync_report
from golden.entities import EntityType
from golden.models import GoldenRecord, MatchCandidate, RejectedRecord

ENTITY_TYPES = [value for value, _ in EntityType.CHOICES]
GOLDEN_STATUSES = [s.value for s in GoldenRecord.Status]


class MdmCollector:
    """Reads the figures from the database each time Prometheus scrapes."""

    def __init__(self, *, latency_window: timedelta = timedelta(hours=1)) -> None:
        self.latency_window = latency_window

    def collect(self) -> Iterator[Metric]:
        yield from self._sync()
        yield from self._pacing()
        yield from self._golden()

    # -- outbound sync ----------------------------------------------------------------------
    def _routes(self) -> set[tuple[str, str]]:
        """(target, entity type) pairs that are routed and mapped: their series exist even
        before the first message, so alerts see a zero rather than nothing."""
        bindings = TargetBinding.objects.filter(
            is_enabled=True, system__is_active=True
        ).select_related("system")
        return {
            (b.system.code, b.entity_type)
            for b in bindings
            if adapters.supports(b.system, b.entity_type)
        }

    def _sync(self) -> Iterator[Metric]:
        labels = ["target", "entity_type"]
        messages = GaugeMetricFamily(
            "mdm_sync_messages",
            "Outbound messages per target, entity type and status.",
            labels=[*labels, "status"],
        )
        oldest = GaugeMetricFamily(
            "mdm_sync_oldest_pending_age_seconds",
            "Age of the oldest pending outbound message (0 when none is pending).",
            labels=labels,
        )
        latency = GaugeMetricFamily(
            "mdm_sync_delivery_latency_seconds",
            "Mean time from fan-out to delivery of the messages delivered in the last "
            f"{self.latency_window.total_seconds():.0f} seconds.",
            labels=labels,
        )
        throttled = GaugeMetricFamily(
            "mdm_sync_throttled_attempts",
            "Delivery attempts the target refused for its rate or concurrency limit in the "
            f"last {self.latency_window.total_seconds():.0f} seconds.",
            labels=labels,
        )
        rows = {
            (r["target"], r["entity_type"]): r
            for r in sync_report(latency_window=self.latency_window)
        }
        for key in sorted(self._routes() | set(rows)):
            row = rows.get(key, {})
            for status in STATUSES:
                messages.add_metric([*key, status], row.get(status, 0))
            oldest.add_metric(list(key), row.get("oldest_pending_age_seconds") or 0.0)
            if row.get("delivery_latency_seconds") is not None:
                latency.add_metric(list(key), row["delivery_latency_seconds"])
            throttled.add_metric(list(key), row.get("throttled", 0))
        yield from (messages, oldest, latency, throttled)

    def _pacing(self) -> Iterator[Metric]:
        families = {
            "requests": CounterMetricFamily(
                "mdm_sync_pacing_requests",
                "Requests paced by the target's bucket.",
                labels=["target"],
            ),
            "delayed": CounterMetricFamily(
                "mdm_sync_pacing_delayed_requests",
                "Paced requests that waited for their slot.",
                labels=["target"],
            ),
            "wait_seconds": CounterMetricFamily(
                "mdm_sync_pacing_wait_seconds",
                "Seconds paced requests waited for their slots, in all.",
                labels=["target"],
            ),
            "refused": CounterMetricFamily(
                "mdm_sync_pacing_refused",
                "429 answers to paced requests (rate or concurrency limit).",
                labels=["target"],
            ),
        }
        for row in pacing_report():
            for name, family in families.items():
                family.add_metric([row["target"]], row[name])
        yield from families.values()

    # -- golden -----------------------------------------------------------------------------
    def _golden(self) -> Iterator[Metric]:
        records = GaugeMetricFamily(
            "mdm_golden_records",
            "Golden records per entity type and status.",
            labels=["entity_type", "status"],
        )
        counts = {
            (r["entity_type"], r["status"]): r["n"]
            for r in GoldenRecord.objects.order_by()
            .values("entity_type", "status")
            .annotate(n=Count("pk"))
        }
        for entity_type in ENTITY_TYPES:
            for status in GOLDEN_STATUSES:
                records.add_metric([entity_type, status], counts.get((entity_type, status), 0))
        yield records

        candidates = GaugeMetricFamily(
            "mdm_review_candidates_open",
            "Match candidates waiting for a steward's decision.",
            labels=["entity_type"],
        )
        open_counts = dict(
            MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN)
            .order_by()
            .values_list("entity_type")
            .annotate(n=Count("pk"))
        )
        for entity_type in ENTITY_TYPES:
            candidates.add_metric([entity_type], open_counts.get(entity_type, 0))
        yield candidates

        rejected = GaugeMetricFamily(
            "mdm_rejected_records_unresolved",
            "Ingested records rejected by validation and not yet resolved.",
            labels=["system", "entity_type"],
        )
        for row in (
            RejectedRecord.objects.filter(resolved_at=None)
            .order_by("system__code", "entity_type")
            .values("system__code", "entity_type")
            .annotate(n=Count("pk"))
        ):
            rejected.add_metric([row["system__code"], row["entity_type"]], row["n"])
        yield rejected


def authorized(request: HttpRequest) -> bool:
    token = getattr(settings, "MDM_METRICS_TOKEN", "")
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format (or OpenMetrics, when the scraper asks for it)."""
    if not authorized(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MdmCollector())
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)


# ``path("metrics", include("connectors.metrics"))`` in mdm/urls.py.
urlpatterns = [path("", view, name="metrics")]
