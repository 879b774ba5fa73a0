"""Local sandboxes of the target APIs: Salesforce (crm), Kantata OX (psa), NetSuite (erp).

Loopback servers (127.0.0.1 only) that reproduce the documented subset of each vendor's API
(auth, upsert semantics, error shapes, rate limits) for the demo and the connector tests.
The specification is shared/research/connector-targets.md, part 2; each vendor module's
docstring says what it reproduces and which unverified details it had to choose.

Starting one
    In-process (tests, demo):  `with start_sandbox("crm") as sf: ...` (background thread)
    As a process:              `manage.py run_sandbox crm|psa|erp [--port N] [--state FILE]
                                [--rate-limit 10/s] [--tls-dir DIR] [--tls|--no-tls]`
                               (first stdout line is the base URL; SIGTERM stops it)
    State is one SQLite file (`state_path`, default var/sandbox/<kind>.sqlite3 for the
    command, a temporary file for `start_sandbox`); a restart with it keeps every record,
    issued token and ID sequence.

Trusting the Salesforce sandbox (HTTPS, test CA)
    `RunningSandbox.ca_bundle` (or `GET /_sandbox/info` → `ca_bundle`) is the CA PEM, made
    once per TLS folder (default `tls/` beside the state file). Set
    `REQUESTS_CA_BUNDLE=<ca_bundle>`: this machine exports that variable globally and it
    overrides `requests.Session.verify`. With simple-salesforce, fetch the token yourself and
    pass `Salesforce(instance_url=..., session_id=..., session=requests.Session())`; its own
    login helpers are hard-wired to *.salesforce.com.

Default credentials (override with `config={...}` or `POST /_sandbox/config`)
    crm  client_id "mdm-sandbox", client_secret "sandbox-secret"; username
         "integration@mdm.sandbox", password "sandbox-password"; JWT bearer grant once
         `jwt_certificate_pem` is set. Tokens expire after `session_timeout` (7200 s) idle.
    erp  `Authorization: Bearer netsuite-sandbox-token` (static), or an M2M token from the
         client-credentials endpoint once `public_key_pem` is set (iss "mdm-netsuite-client",
         kid "mdm-sandbox-cert", scope rest_webservices, aud = the token URL).
    psa  `Authorization: Bearer kantata-sandbox-token`.

Control endpoints (no auth, never faulted; every sandbox)
    GET  /_sandbox/records[?object_type=]   JSON list of {object_type, external_id, id,
                                            fields, writes, created_at, updated_at, deleted}
    GET  /_sandbox/records.html             the same as an HTML table (or Accept: text/html)
    POST /_sandbox/reset                    clear records, tokens, counters and faults
    GET|POST|DELETE /_sandbox/faults        show / set ({"name": {params}}, null clears) / clear
    POST /_sandbox/seed                     {"object_type", "external_id", "fields", "count"}:
                                            insert without checks (duplicates → Salesforce 300)
    GET|POST /_sandbox/config, GET /_sandbox/info

Faults (`RunningSandbox.set_fault(name, **params)` or `POST /_sandbox/faults`); `count`
limits a fault to the next N requests it applies to, `duration` to N seconds:
    down               mode "503" (vendor-shaped 503) or "refuse" (port closed, open
                       connections cut; over HTTP it needs a duration)
    slow               delay=seconds before answering
    error_500          the next request(s) answer 500 in the vendor's shape (count 1)
    rate_limit         per_second=N: Salesforce 403 REQUEST_LIMIT_EXCEEDED, NetSuite 429,
                       Kantata 429 without Retry-After
    concurrency_limit  limit=N requests in flight (NetSuite has a standing limit of 15);
                       `GET /_sandbox/info` shows `in_flight_peak`, the most requests ever
                       in flight at once (since a reset or `DELETE /_sandbox/traffic`)
    throttle           the next `count` (1) API calls whose path contains `path` answer the
                       rate-limit error above (logged as refused traffic)
    drop_after_commit  the next write is applied, then the connection closes unanswered
    expire_session     the next request answers 401; Salesforce and NetSuite also revoke the
                       tokens they issued, so the client must authenticate again
    duplicate_race     (Salesforce) window=seconds a create by external ID stays in flight;
                       a concurrent upsert of the same ID answers 400 DUPLICATE_VALUE
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import RunningSandbox, SandboxApp, serve
from .faults import FaultError
from .kantata import KantataSandbox
from .netsuite import NetSuiteSandbox
from .salesforce import SalesforceSandbox

SANDBOXES: dict[str, type[SandboxApp]] = {
    "crm": SalesforceSandbox,
    "psa": KantataSandbox,
    "erp": NetSuiteSandbox,
}

__all__ = ["SANDBOXES", "FaultError", "RunningSandbox", "start_sandbox"]


def start_sandbox(
    kind: str,
    *,
    port: int = 0,
    state_path: str | Path | None = None,
    rate_limit: float | None = None,
    tls_dir: str | Path | None = None,
    tls: bool | None = None,
    config: dict[str, Any] | None = None,
    log_requests: bool = False,
) -> RunningSandbox:
    """Start the `kind` sandbox on 127.0.0.1 in a background thread of this process.

    - `port=0` picks a free port (read it back from `.url` / `.port`).
    - `state_path`: the SQLite state file; a fresh temporary one when None. Restarting with
      the same file keeps every record.
    - `rate_limit`: requests per second before the vendor's rate-limit answer.
    - `tls`: defaults to the vendor's need (on for Salesforce, off for the others); the test
      CA and server certificate live in `tls_dir` (default: `tls/` beside the state file).
    - `config`: vendor settings to override (credentials, limits; see `DEFAULT_CONFIG`).
    """
    try:
        app_cls = SANDBOXES[kind]
    except KeyError:
        raise ValueError(f"unknown sandbox {kind!r}; choose from {sorted(SANDBOXES)}") from None
    return serve(
        app_cls,
        port=port,
        state_path=state_path,
        rate_limit=rate_limit,
        tls_dir=tls_dir,
        tls=tls,
        config=config,
        log_requests=log_requests,
    )
