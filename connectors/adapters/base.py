"""The adapter interface every target implements, and the HTTP helper they share.

An adapter gets a ``Delivery`` (plain data, no ORM rows) and answers with an
``UpsertResult`` (the ID the target assigned) or raises ``AdapterError``: ``permanent``
for what retrying cannot fix (validation errors: the target's message goes to the
exception queue), otherwise retryable, with ``retry_after`` when the target said when.
``upsert_batch`` answers one result or error per delivery; adapters whose API takes
several records in one call override it and raise ``batch_limit``. Without such an API the
default sends a batch's records one request each, up to ``max_concurrency`` (target
config) at once, each request still taking its slot from the target's pacing.
"""

from __future__ import annotations

import contextvars
import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter

from connectors.adapters.mappings import ObjectMapping, mapping_for
from connectors.pacing import Pacer, pacer_for

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Records one default upsert_batch call takes when they go out concurrently: the whole
# claimed batch (its size is the target's batch_size).
CONCURRENT_BATCH_LIMIT = 1000
# How often a caller waiting on concurrent sends gets its heartbeat (the claim's lease).
HEARTBEAT_SECONDS = 1.0


@dataclass(frozen=True)
class Delivery:
    """One outbound message as an adapter sees it."""

    message_id: int
    target: str
    entity_type: str
    canonical_id: str
    version: int
    operation: str  # "upsert" | "retire"
    attributes: Mapping[str, Any]
    status: str = "active"  # the golden record's status at this version
    merged_into: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # the route's options


@dataclass(frozen=True)
class UpsertResult:
    external_id: str
    object_type: str
    created: bool | None = None
    http_status: int | None = None


@dataclass(frozen=True)
class Dependency:
    """A record this one points at, which must exist in the target first. ``canonical_id``
    is None when golden could not resolve the reference yet."""

    field: str
    entity_type: str
    canonical_id: str | None


@dataclass
class Check:
    """Pre-send validation: problems are permanent; dependencies make the message wait."""

    problems: list[str] = field(default_factory=list)
    dependencies: list[Dependency] = field(default_factory=list)


class AdapterError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.http_status = http_status

    def __str__(self) -> str:
        return self.message


class Adapter(ABC):
    """One target API. Subclasses map fields and speak the vendor's protocol."""

    kind: ClassVar[str]  # registry name, e.g. "salesforce"
    label: ClassVar[str]
    # Whether upsert() may run in several threads at once, for different records.
    sends_concurrently: ClassVar[bool] = True

    def __init__(self, code: str, config: Mapping[str, Any]) -> None:
        self.code = code
        self.config = dict(config)
        self.timeout = float(self.config.get("timeout", 15.0))
        self.pacer: Pacer | None = pacer_for(code, self.config)
        wanted = max(1, int(self.config.get("max_concurrency") or 1))
        self.max_concurrency = wanted if self.sends_concurrently else 1

    @property
    def batch_limit(self) -> int:
        """Records one ``upsert_batch`` call takes at most: with concurrent sends the whole
        batch, else one (the caller renews its claim between calls)."""
        return CONCURRENT_BATCH_LIMIT if self.max_concurrency > 1 else 1

    def paced_session(self) -> TargetSession:
        """An HTTP session for this target: timeout, pinned CA, and the shared pacing."""
        return TargetSession(
            timeout=self.timeout,
            ca_bundle=self.config.get("ca_bundle"),
            pacer=self.pacer,
            pool_size=self.max_concurrency,
        )

    @classmethod
    def supports(cls, entity_type: str) -> bool:
        return mapping_for(cls.kind, entity_type) is not None

    def mapping(self, entity_type: str) -> ObjectMapping:
        found = mapping_for(self.kind, entity_type, self.config.get("field_mappings"))
        if found is None:
            raise AdapterError(f"{self.label} has no mapping for {entity_type}", permanent=True)
        return found

    def check(self, delivery: Delivery) -> Check:
        from connectors.adapters.validation import check_delivery

        return check_delivery(self.kind, self.label, self.mapping(delivery.entity_type), delivery)

    @abstractmethod
    def upsert(self, delivery: Delivery) -> UpsertResult: ...

    def send_lane(self, delivery: Delivery) -> str:
        """Deliveries of one lane are sent one after another, in batch order; lanes run
        concurrently. One golden record is one lane (a batch holds one version of it, but
        two sends of one record must never overlap)."""
        return delivery.canonical_id

    def upsert_batch(
        self, deliveries: Sequence[Delivery], *, heartbeat: Callable[[], None] | None = None
    ) -> list[UpsertResult | AdapterError]:
        """One outcome per delivery, in order. Without a batch API: one upsert each, up to
        ``max_concurrency`` at once (lanes, see ``send_lane``). The calling thread only
        waits, calling ``heartbeat`` now and then: whatever it holds (its database
        connection) is never touched by the senders. An exception other than
        ``AdapterError`` (an adapter bug) is raised once every lane has finished."""
        outcomes: list[UpsertResult | AdapterError | None] = [None] * len(deliveries)

        def send(indexes: list[int], beat: Callable[[], None] | None = None) -> None:
            for index in indexes:
                try:
                    outcomes[index] = self.upsert(deliveries[index])
                except AdapterError as exc:
                    outcomes[index] = exc
                if beat is not None:
                    beat()

        lanes: dict[str, list[int]] = {}
        for index, delivery in enumerate(deliveries):
            lanes.setdefault(self.send_lane(delivery), []).append(index)
        workers = min(self.max_concurrency, len(lanes))
        if workers <= 1:
            send(list(range(len(deliveries))), heartbeat)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"send-{self.code}") as pool:
                # Each lane runs in a copy of this context: log lines keep the correlation ID.
                futures: list[Future[None]] = [
                    pool.submit(contextvars.copy_context().run, send, indexes)
                    for indexes in lanes.values()
                ]
                unfinished = set(futures)
                while unfinished:
                    _, unfinished = wait(unfinished, timeout=HEARTBEAT_SECONDS)
                    if heartbeat is not None:
                        heartbeat()
            for future in futures:
                future.result()
        return [outcome for outcome in outcomes if outcome is not None]

    @abstractmethod
    def retire(self, delivery: Delivery) -> UpsertResult | None:
        """Deactivate the record; None when the target never had it."""

    @abstractmethod
    def fetch_by_external_id(self, entity_type: str, canonical_id: str) -> dict[str, Any] | None:
        """The target's record for a canonical ID, or None."""


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------
class TargetSession(requests.Session):
    """A session with a default timeout, when given a pinned CA bundle, and when given
    the target's pacer (every request waits for its slot; a 429 with Retry-After holds
    every worker off).

    requests lets ``REQUESTS_CA_BUNDLE`` override ``Session.verify``; passing ``verify``
    per request is what makes a configured bundle stick. simple-salesforce calls
    ``session.request`` without a timeout, so the default lives here too.
    """

    def __init__(
        self,
        *,
        timeout: float,
        ca_bundle: str | None = None,
        pacer: Pacer | None = None,
        pool_size: int = 1,
    ) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.pinned_verify = ca_bundle or None
        self.pacer = pacer
        if pool_size > DEFAULT_POOLSIZE:
            # One kept-alive connection per concurrent sender.
            for prefix in ("http://", "https://"):
                self.mount(prefix, HTTPAdapter(pool_maxsize=pool_size))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        if self.pinned_verify:
            kwargs.setdefault("verify", self.pinned_verify)
        if self.pacer is not None:
            self.pacer.acquire()
        response = super().request(method, url, *args, **kwargs)
        if self.pacer is not None and response.status_code == 429:
            self.pacer.refused(parse_retry_after(response.headers.get("Retry-After")))
        return response


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def network_error(exc: requests.RequestException, target: str) -> AdapterError:
    kind = "timed out" if isinstance(exc, requests.Timeout) else "failed"
    return AdapterError(f"{target}: request {kind}: {exc.__class__.__name__}", permanent=False)


def error_for_response(
    response: requests.Response, message: str, *, retryable: bool | None = None
) -> AdapterError:
    """Classify an HTTP error: 408/425/429/5xx retryable, other 4xx permanent."""
    status = response.status_code
    if retryable is None:
        retryable = status in RETRYABLE_STATUSES or status >= 500
    return AdapterError(
        f"HTTP {status}: {message}",
        permanent=not retryable,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        http_status=status,
    )


class HttpClient:
    """JSON over HTTP with one re-authentication on 401 and shared error classification.

    ``auth(refresh)`` returns the auth headers, fetching new credentials when ``refresh``;
    ``describe(response)`` turns the vendor's error body into one readable message.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session,
        auth: Callable[[bool], dict[str, str]],
        describe: Callable[[requests.Response], str],
        label: str,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.auth = auth
        self.describe = describe
        self.label = label

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        allow: tuple[int, ...] = (),
    ) -> requests.Response:
        """The response when it is a success or one of ``allow``; else AdapterError."""
        response = self._send(method, path, json, params, refresh=False)
        if response.status_code == 401:
            response = self._send(method, path, json, params, refresh=True)
        if response.status_code < 300 or response.status_code in allow:
            return response
        # A second 401 after fresh credentials: retryable (an auth outage heals; wrong
        # credentials end dead after max attempts, visible in the exception queue).
        return_retryable = True if response.status_code == 401 else None
        raise error_for_response(response, self.describe(response), retryable=return_retryable)

    def _send(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        *,
        refresh: bool,
    ) -> requests.Response:
        headers = {"Accept": "application/json", **self.auth(refresh)}
        try:
            return self.session.request(
                method, self.base_url + path, json=json, params=params, headers=headers
            )
        except requests.RequestException as exc:
            raise network_error(exc, self.label) from exc


def json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
