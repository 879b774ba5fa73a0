"""Shared sandbox machinery: the HTTP server, the request pipeline, control endpoints.

A vendor module subclasses `SandboxApp` and declares only what differs between vendors:
its routes, its auth check, its error shape (`error_response` plus the `ERRORS` table that
names the generic failures: 401, 404, 429/403, 500, 503 …) and how it mints IDs. Everything
else is here, once:

- the pipeline every vendor request goes through (see `SandboxApp._vendor`): route match →
  `down` → concurrency gate → `slow` → rate limit and `throttle` → `error_500` →
  `expire_session` → auth → metering → handler → `drop_after_commit`;
- the `/_sandbox/...` control endpoints (no auth, never faulted): records as JSON or HTML,
  reset, faults, seeding, config, info, and the traffic seen (when each API call arrived
  and whether the rate limit admitted it: what a client's pacing is judged by);
- `RunningSandbox`: a ThreadingHTTPServer on 127.0.0.1 in a background thread, optional TLS,
  and the "stop listening for a while" outage used by the `down` fault in `refuse` mode.
"""

from __future__ import annotations

import html
import json
import logging
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from .faults import ConcurrencyGate, FaultBoard, FaultError, RateLimiter
from .store import SandboxStore, StoredRecord, Tx
from .tls import ensure_tls_files

HOST = "127.0.0.1"  # sandboxes never listen anywhere else
log = logging.getLogger(__name__)
REQUIRED_FAULT_PARAMS = {"rate_limit": "per_second", "concurrency_limit": "limit"}
JSON_TYPE = "application/json;charset=UTF-8"


# --------------------------------------------------------------------------------------
# Requests, responses, errors
# --------------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str  # percent-encoded, without the query string
    query: dict[str, list[str]]
    headers: Message
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def bearer_token(self) -> str | None:
        """`Authorization: Bearer <t>` (Salesforce also accepts the older `OAuth <t>`)."""
        scheme, _, token = (self.header("Authorization") or "").partition(" ")
        if scheme.lower() in ("bearer", "oauth") and token.strip():
            return token.strip()
        return None

    def form(self) -> dict[str, str]:
        pairs = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in pairs.items()}

    def wants_html(self) -> bool:
        accept = self.header("Accept") or ""
        return "text/html" in accept and "application/json" not in accept


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able, or str/bytes with `content_type`
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    close: bool = False  # send `Connection: close`

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


class Drop:
    """Handler outcome: close the connection without answering (the write is applied)."""


DROP = Drop()


class ApiError(Exception):
    """Carries a finished vendor-shaped error response up to the pipeline."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    text: str  # the pattern as written, for `/_sandbox/info`
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True  # needs the vendor's credentials
    data: bool = True  # an API call: metered, rate limited, subject to error faults
    write: bool = False  # `drop_after_commit` applies


def route(
    method: str,
    pattern: str,
    handler: Handler,
    *,
    auth: bool = True,
    data: bool = True,
    write: bool = False,
) -> Route:
    """`pattern` uses named groups for path parameters; they arrive percent-decoded."""
    return Route(method, pattern, re.compile(pattern + r"\Z"), handler, auth, data, write)


# --------------------------------------------------------------------------------------
# The app: one per sandbox; vendors subclass it
# --------------------------------------------------------------------------------------
class Listener:
    """What the app may ask of the server running it (implemented by RunningSandbox)."""

    def go_dark(self, duration: float | None) -> None: ...

    def resume(self) -> None: ...


class SandboxApp:
    kind: ClassVar[str] = ""  # crm | psa | erp
    label: ClassVar[str] = ""
    default_tls: ClassVar[bool] = False
    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {}
    # generic failure -> (HTTP status, vendor error code, message)
    ERRORS: ClassVar[dict[str, tuple[int, str, str]]] = {}
    # vendor-only fault switches: name -> (parameters, default count)
    EXTRA_FAULTS: ClassVar[dict[str, tuple[frozenset[str], int | None]]] = {}

    def __init__(self, store: SandboxStore, *, config: dict[str, Any] | None = None) -> None:
        self.store = store
        self.config = dict(self.DEFAULT_CONFIG)
        self.configure(**(config or {}))
        self.faults = FaultBoard()
        for name, (params, count) in self.EXTRA_FAULTS.items():
            self.faults.register(name, params, count)
        self.limiter = RateLimiter()
        self.gate = ConcurrencyGate()
        self.traffic = TrafficLog()
        self.base_url = ""
        self.ca_bundle: Path | None = None
        self.listener: Listener = Listener()
        self._routes = self.routes()

    # -- what vendors implement ----------------------------------------------------------
    def routes(self) -> list[Route]:
        raise NotImplementedError

    def error_response(self, status: int, code: str, message: str) -> Response:
        raise NotImplementedError

    def authenticate(self, req: Request) -> None:
        """Raise `self.fail("unauthorized")` unless the request carries valid credentials."""
        raise NotImplementedError

    def new_id(self, tx: Tx, object_type: str) -> str:
        raise NotImplementedError

    def expire_sessions(self) -> None:
        """Invalidate issued tokens (vendors with a token endpoint)."""

    def meter(self, req: Request) -> None:
        """Count an authenticated API call (Salesforce's daily allocation)."""

    def decorate(self, req: Request, response: Response) -> Response:
        """Add headers every vendor response carries (Salesforce's Sforce-Limit-Info)."""
        return response

    def seed(self, tx: Tx, object_type: str, external_id: str | None, fields: dict) -> StoredRecord:
        """Insert bypassing validation and uniqueness (duplicates for Salesforce's 300)."""
        return tx.insert(object_type, external_id, self.new_id(tx, object_type), fields)

    # -- helpers for vendors -------------------------------------------------------------
    def fail(self, key: str, message: str | None = None) -> ApiError:
        status, code, default = self.ERRORS[key]
        return ApiError(self.error_response(status, code, message or default))

    def parse_json(self, req: Request) -> Any:
        try:
            return json.loads(req.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.fail("malformed_json", f"Malformed JSON in request body: {exc}") from None

    def configure(self, **values: Any) -> None:
        unknown = set(values) - set(self.DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"unknown {self.kind} sandbox settings: {sorted(unknown)}")
        self.config.update(values)

    # -- fault switches --------------------------------------------------------------------
    def set_fault(self, name: str, **params: Any) -> None:
        if name == "down" and params.get("mode", "503") not in ("503", "refuse"):
            raise FaultError("down takes mode '503' (answer 503) or 'refuse' (close the port)")
        needed = REQUIRED_FAULT_PARAMS.get(name)
        if needed and needed not in params:
            raise FaultError(f"fault {name!r} needs {needed!r}")
        self.faults.set(name, **params)
        if name == "rate_limit":
            self.limiter.reset()
        if name == "down" and params.get("mode", "503") == "refuse":
            self.listener.go_dark(params.get("duration"))

    def reset(self) -> None:
        """A fresh sandbox: no records, tokens, counters, faults or traffic."""
        self.store.reset()
        self.clear_faults()
        self.limiter.reset()
        self.traffic.reset()
        self.gate.reset_peak()

    def clear_faults(self, *names: str) -> None:
        refusing = self.faults.active("down")
        self.faults.clear(*names)
        if refusing is not None and self.faults.active("down") is None:
            self.listener.resume()

    # -- the pipeline ----------------------------------------------------------------------
    def handle(self, req: Request) -> Response | Drop:
        if req.path == "/_sandbox" or req.path.startswith("/_sandbox/"):
            return self._control(req)
        try:
            outcome = self._vendor(req)
        except ApiError as err:
            outcome = err.response
        except Exception:
            # A sandbox bug must still look like the vendor failing, not a dropped socket.
            log.exception("%s sandbox failed on %s %s", self.label, req.method, req.path)
            outcome = self.fail("server_error").response
        return outcome if isinstance(outcome, Drop) else self.decorate(req, outcome)

    def _vendor(self, req: Request) -> Response | Drop:
        found, params = self._match(req)
        down = self.faults.active("down")
        if down is not None:
            # In refuse mode a request can still arrive on a connection opened before the
            # outage; hang up on it as a dying server would.
            if down.params.get("mode") == "refuse":
                return DROP
            raise self.fail("unavailable")
        concurrency = self.faults.active("concurrency_limit")
        limit = int(concurrency.params["limit"]) if concurrency else self.concurrency_limit()
        with self.gate.enter(limit) as admitted:
            if not admitted:
                raise self.fail("concurrency")
            slow = self.faults.consume("slow")
            if slow is not None:
                self.faults.pause(float(slow.params.get("delay", 1.0)))
            if found.data:
                self._guard(req, found)
            response = found.handler(req, **params)
            if found.write and self.faults.consume("drop_after_commit"):
                return DROP
            return response

    def concurrency_limit(self) -> int | None:
        """A vendor's standing in-flight limit (NetSuite's account concurrency)."""
        return None

    def _guard(self, req: Request, found: Route) -> None:
        rate = self.faults.active("rate_limit")
        admitted = rate is None or self.limiter.admit(float(rate.params["per_second"]))
        admitted = admitted and not self._throttled(req)
        self.traffic.note(admitted)
        if not admitted:
            raise self.fail("rate_limited")
        if self.faults.consume("error_500"):
            raise self.fail("server_error")
        if found.auth:
            if self.faults.consume("expire_session"):
                self.expire_sessions()
                raise self.fail("unauthorized")
            self.authenticate(req)
            self.meter(req)

    def _throttled(self, req: Request) -> bool:
        """The `throttle` fault: this call is refused as over the vendor's limit."""
        throttle = self.faults.active("throttle")
        if throttle is None or str(throttle.params.get("path") or "") not in req.path:
            return False
        return self.faults.consume("throttle") is not None

    def _match(self, req: Request) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for candidate in self._routes:
            m = candidate.pattern.match(req.path)
            if m is None:
                continue
            if candidate.method == req.method:
                return candidate, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed.append(candidate.method)
        if allowed:
            err = self.fail("method_not_allowed", f"HTTP Method '{req.method}' not allowed.")
            err.response.headers["Allow"] = ", ".join(sorted(set(allowed)))
            raise err
        raise self.fail("not_found")

    # -- control endpoints -----------------------------------------------------------------
    def _control(self, req: Request) -> Response:
        table: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", ""): self._info,
            ("GET", "/info"): self._info,
            ("GET", "/records"): self._records,
            ("GET", "/records.html"): self._records_html,
            ("POST", "/reset"): self._reset,
            ("GET", "/faults"): self._faults_get,
            ("POST", "/faults"): self._faults_post,
            ("DELETE", "/faults"): self._faults_delete,
            ("POST", "/seed"): self._seed,
            ("GET", "/config"): self._config_get,
            ("GET", "/traffic"): self._traffic,
            ("DELETE", "/traffic"): self._traffic_reset,
            ("POST", "/config"): self._config_post,
        }
        action = table.get((req.method, req.path.removeprefix("/_sandbox").rstrip("/")))
        if action is None:
            response = Response(404, {"error": f"no control endpoint {req.method} {req.path}"})
        else:
            try:
                response = action(req)
            except ApiError as err:  # e.g. seeding an object type the vendor doesn't have
                response = err.response
            except (ValueError, TypeError, KeyError) as exc:
                response = Response(400, {"error": str(exc)})
        # Control calls are rare; closing keeps them off connections an outage would cut.
        response.close = True
        return response

    def _info(self, req: Request) -> Response:
        return Response(200, self.info())

    def info(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "url": self.base_url,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None,
            "state_path": str(self.store.path),
            "config": self.config,
            "faults": self.faults.snapshot(),
            "in_flight_peak": self.gate.peak,
            "routes": [f"{r.method} {r.text}" for r in self._routes],
        }

    def _records(self, req: Request) -> Response:
        if req.wants_html():
            return self._records_html(req)
        records = self.store.records(req.arg("object_type"))
        return Response(200, [r.as_json() for r in records])

    def _records_html(self, req: Request) -> Response:
        records = self.store.records(req.arg("object_type"))
        return Response(
            200, render_records_html(self.label, records), content_type="text/html;charset=UTF-8"
        )

    def _reset(self, req: Request) -> Response:
        self.reset()
        return Response(200, {"reset": True})

    def _faults_get(self, req: Request) -> Response:
        return Response(200, self.faults.snapshot())

    def _faults_post(self, req: Request) -> Response:
        """`{"error_500": {"count": 2}, "slow": {"delay": 0.5}, "down": null, ...}`.

        An object sets the fault (`true` or `{}` takes the defaults), `null` clears it.
        """
        body = json.loads(req.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("body must be an object of fault name -> parameters or null")
        for name, params in body.items():
            if params is None or params is False:
                self.clear_faults(name)
                continue
            params = {} if params is True else dict(params)
            if name == "down" and params.get("mode") == "refuse" and "duration" not in params:
                # Over HTTP nobody could switch it back on: the port is closed.
                raise ValueError("down in refuse mode needs a duration when set over HTTP")
            try:
                self.set_fault(name, **params)
            except FaultError as exc:
                raise ValueError(str(exc)) from None
        return Response(200, self.faults.snapshot())

    def _faults_delete(self, req: Request) -> Response:
        self.clear_faults()
        return Response(200, {})

    def _seed(self, req: Request) -> Response:
        """`{"object_type", "external_id", "fields", "count"}`: insert without any checks."""
        body = json.loads(req.body or b"{}")
        count = int(body.get("count", 1))
        with self.store.transaction() as tx:
            created = [
                self.seed(
                    tx, body["object_type"], body.get("external_id"), dict(body.get("fields") or {})
                )
                for _ in range(count)
            ]
        return Response(201, [r.as_json() for r in created])

    def _traffic(self, req: Request) -> Response:
        return Response(200, self.traffic.snapshot())

    def _traffic_reset(self, req: Request) -> Response:
        self.traffic.reset()
        self.gate.reset_peak()
        return Response(200, self.traffic.snapshot())

    def _config_get(self, req: Request) -> Response:
        return Response(200, self.config)

    def _config_post(self, req: Request) -> Response:
        self.configure(**json.loads(req.body or b"{}"))
        return Response(200, self.config)


def render_records_html(label: str, records: list[StoredRecord]) -> str:
    """The small page a person looks at during the demo; everything escaped."""
    rows = []
    for r in records:
        fields = json.dumps(r.fields, ensure_ascii=False, sort_keys=True)
        cells = [
            r.object_type,
            r.external_id or "",
            r.sandbox_id,
            str(r.writes),
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
            "yes" if r.deleted else "",
            fields,
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = ["object type", "external ID", "ID", "writes", "created", "updated", "deleted", "fields"]
    title = html.escape(f"{label} sandbox: {len(records)} records")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        "td:last-child{font-family:monospace;font-size:90%}</style></head><body>"
        f"<h1>{title}</h1><table><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>"
    )


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------
_current = threading.local()  # the connection the calling handler thread is serving


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler may close the server it runs in (refuse outage)
    allow_reuse_address = True

    def __init__(
        self, app: SandboxApp, port: int, ssl_context: ssl.SSLContext | None, log: bool
    ) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.log_requests = log
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__((HOST, port), SandboxRequestHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Headers and body go out in separate writes; without this, Nagle plus the client's
        # delayed ACK add ~40 ms to every response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            # The handshake runs in the handler thread, so a slow client can't stall accept().
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)

    def drop_connections(self) -> None:
        """Cut every open connection except the caller's own (it still owes an answer)."""
        mine = getattr(_current, "connection", None)
        with self._conn_lock:
            victims = [c for c in self._connections if c is not mine]
        for conn in victims:
            _hang_up(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # resets, TLS handshake failures, timeouts: routine
            return
        super().handle_error(request, client_address)


def _hang_up(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs and requests' pools use
    timeout = 60
    server: SandboxHTTPServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def _serve(self) -> None:
        _current.connection = self.request
        parts = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        outcome = self.server.app.handle(req)
        if isinstance(outcome, Drop):
            self.close_connection = True
            _hang_up(self.request)
            return
        self._send(outcome)

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        payload = response.payload()
        self.send_response(response.status, _reason(response.status))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
        if response.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if payload and response.status not in (204, 304):
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        if self.server.log_requests:
            super().log_message(format, *args)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class TrafficLog:
    """When each API call reached the rate limit check (wall-clock seconds), admitted or
    refused. Control calls and token requests are not API calls and are not logged; the
    newest 100,000 calls are kept."""

    def __init__(self) -> None:
        self._calls: deque[tuple[float, bool]] = deque(maxlen=100_000)
        self._lock = threading.Lock()

    def note(self, admitted: bool) -> None:
        with self._lock:
            self._calls.append((time.time(), admitted))

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def snapshot(self) -> dict[str, list[float]]:
        with self._lock:
            calls = list(self._calls)
        return {
            "admitted": [t for t, ok in calls if ok],
            "refused": [t for t, ok in calls if not ok],
        }


def busiest_second(times: list[float]) -> int:
    """The most calls in any one-second window (the window a per-second limit counts)."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


# --------------------------------------------------------------------------------------
# Running a sandbox
# --------------------------------------------------------------------------------------
class RunningSandbox(Listener):
    """A sandbox serving in a background thread of this process."""

    def __init__(
        self,
        app: SandboxApp,
        *,
        port: int,
        ssl_context: ssl.SSLContext | None,
        ca_bundle: Path | None,
        log_requests: bool,
    ) -> None:
        self.app = app
        self.kind = app.kind
        self.ca_bundle = ca_bundle
        self._ssl_context = ssl_context
        self._log = log_requests
        self._lock = threading.RLock()
        self._server: SandboxHTTPServer | None = None
        self._timer: threading.Timer | None = None
        self._stopped = False
        self.port = port
        self._listen()
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://{HOST}:{self.port}"
        app.base_url = self.url
        app.ca_bundle = ca_bundle
        app.listener = self

    # -- the API tests and the demo use ------------------------------------------------
    @property
    def state(self) -> SandboxStore:
        return self.app.store

    @property
    def state_path(self) -> Path:
        return self.app.store.path

    def records(self, object_type: str | None = None) -> list[dict[str, Any]]:
        return [r.as_json() for r in self.app.store.records(object_type)]

    def set_fault(self, name: str, **params: Any) -> None:
        self.app.set_fault(name, **params)

    def clear_faults(self, *names: str) -> None:
        self.app.clear_faults(*names)

    def faults(self) -> dict[str, Any]:
        return self.app.faults.snapshot()

    def traffic(self) -> dict[str, list[float]]:
        return self.app.traffic.snapshot()

    def configure(self, **values: Any) -> None:
        self.app.configure(**values)

    def reset(self) -> None:
        self.app.reset()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
            self._close_server()
        self.app.faults.clear()  # wakes requests waiting in a `slow` delay
        self.app.store.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- Listener: the `down` fault in refuse mode -------------------------------------
    def go_dark(self, duration: float | None) -> None:
        with self._lock:
            self._close_server()
            if duration is not None:
                self._timer = threading.Timer(float(duration), self.resume)
                self._timer.daemon = True
                self._timer.start()

    def resume(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._server is None and not self._stopped:
                self._listen()
        self.app.faults.clear("down")

    # -- internals -----------------------------------------------------------------------
    def _listen(self) -> None:
        server = SandboxHTTPServer(self.app, self.port, self._ssl_context, self._log)
        self.port = server.server_address[1]  # port 0 picks one; keep it for restarts
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() returns within one poll
            name=f"sandbox-{self.kind}-{self.port}",
            daemon=True,
        )
        thread.start()
        self._server = server

    def _close_server(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._server = None


def serve(
    app_cls: type[SandboxApp],
    *,
    port: int = 0,
    state_path: str | Path | None = None,
    rate_limit: float | None = None,
    tls_dir: str | Path | None = None,
    tls: bool | None = None,
    config: dict[str, Any] | None = None,
    log_requests: bool = False,
) -> RunningSandbox:
    """Start `app_cls` on 127.0.0.1 in a background thread (see `start_sandbox`)."""
    if state_path is None:
        state_path = Path(tempfile.mkdtemp(prefix=f"mdm-sandbox-{app_cls.kind}-")) / "state.sqlite3"
    state_path = Path(state_path)
    use_tls = app_cls.default_tls if tls is None else tls
    ssl_context, ca_bundle = None, None
    if use_tls:
        files = ensure_tls_files(Path(tls_dir) if tls_dir else state_path.parent / "tls")
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(files.server_cert, files.server_key)
        ca_bundle = files.ca_cert
    app = app_cls(SandboxStore(state_path), config=config)
    if rate_limit:
        app.set_fault("rate_limit", per_second=rate_limit)
    return RunningSandbox(
        app, port=port, ssl_context=ssl_context, ca_bundle=ca_bundle, log_requests=log_requests
    )
