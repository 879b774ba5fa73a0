"""Salesforce REST API sandbox (CRM; also Certinia PSA, which is the same API on pse__Proj__c).

HTTPS only, because simple-salesforce builds every URL as https. Reproduces the documented
subset in the research note (part 2):

- OAuth token endpoint: client credentials, username-password and JWT bearer grants;
  Salesforce's OAuth error bodies (`invalid_client_id`, `invalid_client`, `invalid_grant`…).
- Bearer auth on the data API, 401 `INVALID_SESSION_ID` for a missing, unknown or expired
  token (inactivity timeout, 2 hours by default).
- Upsert by external ID: 201 on create; on update 200 with `created: false` from API v46.0,
  204 before (the cut-over version is unverified in the note); 300 with the matching record
  URLs when several records share the external ID, nothing written; `?updateOnly=true`.
- sObject Collections upsert (v46.0+, at most 200 records, `allOrNone`, per-record results).
- The documented race: an upsert of an external ID whose create is still in flight fails
  with DUPLICATE_VALUE (widen the window with the `duplicate_race` fault to make it testable).
- Daily API allocation: `Sforce-Limit-Info: api-usage=N/M` on every data response, 403
  `REQUEST_LIMIT_EXCEEDED` past M (and for the per-second `rate_limit` fault).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from . import soql
from .base import ApiError, Request, Response, Route, SandboxApp, route
from .jwt_assertion import JwtError, verify_jwt
from .sf_schema import (
    EXTERNAL_ID_FIELD,
    SOBJECTS,
    SField,
    SObjectType,
    error,
    make_id,
    normalize_id,
    sobject,
    validate,
)
from .store import StoredRecord, Tx

API_VERSIONS = tuple(f"{v}.0" for v in range(31, 65))
RESPONSE_BODY_ON_UPDATE_SINCE = 46.0
COLLECTIONS_SINCE = 46.0
COLLECTION_LIMIT = 200
ORG_ID = make_id("00D", 1)
USER_ID = make_id("005", 1)
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DATA = r"/services/data/v(?P<version>\d+\.\d)"
ROLLED_BACK = error(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)


def _release_label(version: float) -> str:
    """v59.0 was Winter '24; three releases a year (Winter, Spring, Summer)."""
    offset = int(version) - 59
    season = ("Winter", "Spring", "Summer")[offset % 3]
    return f"{season} '{24 + offset // 3}"


def _sf_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


class SalesforceSandbox(SandboxApp):
    kind = "crm"
    label = "Salesforce"
    default_tls = True
    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        "client_id": "mdm-sandbox",
        "client_secret": "sandbox-secret",
        "username": "integration@mdm.sandbox",
        "password": "sandbox-password",  # the password flow sends password + security token
        "jwt_certificate_pem": None,  # PEM of the connected app's certificate (JWT grant)
        "session_timeout": 7200.0,  # seconds of inactivity before a token expires
        "api_limit": 100_000,  # the org's daily API request allocation
    }
    ERRORS: ClassVar[dict[str, tuple[int, str, str]]] = {
        "unauthorized": (401, "INVALID_SESSION_ID", "Session expired or invalid"),
        "not_found": (404, "NOT_FOUND", "The requested resource does not exist"),
        "method_not_allowed": (405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed"),
        "malformed_json": (400, "JSON_PARSER_ERROR", "Malformed JSON"),
        "server_error": (
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact "
            "support: 1234567890-12345 (-1234567890)",
        ),
        "unavailable": (503, "SERVER_UNAVAILABLE", "Server temporarily unavailable"),
        "rate_limited": (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        "concurrency": (403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
    }
    # While set, a create by external ID takes `window` seconds to commit; any upsert of the
    # same external ID meanwhile answers DUPLICATE_VALUE (the race the note documents).
    EXTRA_FAULTS: ClassVar[dict[str, tuple[frozenset[str], int | None]]] = {
        "duplicate_race": (frozenset({"window", "duration"}), None),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._creating: dict[tuple[str, str], str] = {}  # (sobject, external ID) -> new Id
        self._creating_lock = threading.Lock()

    # -- routes ----------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        sobj = DATA + r"/sobjects/(?P<sobject>\w+)"
        return [
            route("POST", r"/services/oauth2/token", self.token, auth=False, data=False),
            route("GET", r"/services/data/?", self.versions, auth=False),
            route("GET", DATA + r"/?", self.resources),
            route("GET", DATA + r"/limits/?", self.limits),
            route("GET", DATA + r"/query/?", self.query),
            route("GET", DATA + r"/sobjects/?", self.list_sobjects),
            route("GET", sobj + r"/describe/?", self.describe),
            route("POST", sobj + r"(?:/Id)?/?", self.create, write=True),
            route("GET", sobj + r"/(?P<record_id>\w+)", self.get_by_id),
            route("PATCH", sobj + r"/(?P<record_id>\w+)", self.update_by_id, write=True),
            route("DELETE", sobj + r"/(?P<record_id>\w+)", self.delete_by_id, write=True),
            route("GET", sobj + r"/(?P<field>\w+)/(?P<value>[^/]+)", self.get_by_external_id),
            route("PATCH", sobj + r"/(?P<field>\w+)/(?P<value>[^/]+)", self.upsert, write=True),
            route(
                "DELETE",
                sobj + r"/(?P<field>\w+)/(?P<value>[^/]+)",
                self.delete_by_external_id,
                write=True,
            ),
            route(
                "PATCH",
                DATA + r"/composite/sobjects/(?P<sobject>\w+)/(?P<field>\w+)",
                self.collection_upsert,
                write=True,
            ),
        ]

    # -- vendor hooks ----------------------------------------------------------------------
    def error_response(self, status: int, code: str, message: str) -> Response:
        return Response(status, [{"message": message, "errorCode": code}])

    def authenticate(self, req: Request) -> None:
        token = req.bearer_token()
        timeout = float(self.config["session_timeout"])
        if token is None or not self.store.use_token(token, sliding=True, ttl=timeout):
            raise self.fail("unauthorized")

    def expire_sessions(self) -> None:
        self.store.revoke_tokens()

    def meter(self, req: Request) -> None:
        with self.store.transaction() as tx:
            if tx.counter("api_usage") >= int(self.config["api_limit"]):
                raise self.fail("rate_limited")
            tx.next_value("api_usage")

    def decorate(self, req: Request, response: Response) -> Response:
        if req.path.startswith("/services/data"):
            with self.store.transaction() as tx:
                used = tx.counter("api_usage")
            response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{self.config['api_limit']}"
        return response

    def new_id(self, tx: Tx, object_type: str) -> str:
        otype = sobject(object_type)
        prefix = otype.key_prefix if otype else "a00"
        return make_id(prefix, tx.next_value("record_id"))

    def seed(self, tx: Tx, object_type: str, external_id: str | None, fields: dict) -> StoredRecord:
        otype = self._sobject(object_type)
        if external_id is not None:
            fields = {**fields, EXTERNAL_ID_FIELD: external_id}
        return tx.insert(otype.name, external_id, self.new_id(tx, otype.name), fields)

    # -- OAuth -------------------------------------------------------------------------------
    def token(self, req: Request) -> Response:
        params = {**{k: v[0] for k, v in req.query.items()}, **req.form()}
        grant = params.get("grant_type", "")
        if grant == JWT_GRANT:
            return self._jwt_grant(params)
        if grant not in ("client_credentials", "password"):
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        basic = _basic_credentials(req)
        if basic:
            client_id, secret = basic
        if client_id != self.config["client_id"]:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(secret, str(self.config["client_secret"])):
            return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password" and not self._password_ok(params):
            return _oauth_error("invalid_grant", "authentication failure")
        return self._issue_token(client_id)

    def _password_ok(self, params: dict[str, str]) -> bool:
        return params.get("username") == self.config["username"] and hmac.compare_digest(
            params.get("password", ""), str(self.config["password"])
        )

    def _jwt_grant(self, params: dict[str, str]) -> Response:
        pem = self.config["jwt_certificate_pem"]
        audiences = ("https://login.salesforce.com", "https://test.salesforce.com", self.base_url)
        try:
            if not pem:
                raise JwtError("no certificate uploaded for the connected app")
            claims = verify_jwt(
                params.get("assertion", ""), str(pem).encode(), issuer=str(self.config["client_id"])
            )
            if claims.get("aud") not in audiences or claims.get("sub") != self.config["username"]:
                raise JwtError("wrong audience or subject")
        except JwtError:
            return _oauth_error("invalid_grant", "invalid assertion")
        return self._issue_token(str(self.config["client_id"]))

    def _issue_token(self, client_id: str) -> Response:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        self.store.issue_token(token, client_id, float(self.config["session_timeout"]))
        issued_at = str(int(time.time() * 1000))
        identity = f"{self.base_url}/id/{ORG_ID}/{USER_ID}"
        mac = hmac.new(
            str(self.config["client_secret"]).encode(),
            (identity + issued_at).encode(),
            hashlib.sha256,
        )
        return Response(
            200,
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": base64.b64encode(mac.digest()).decode(),
                "scope": "api",
            },
        )

    # -- discovery ---------------------------------------------------------------------------
    def versions(self, req: Request) -> Response:
        return Response(
            200,
            [
                {"label": _release_label(float(v)), "url": f"/services/data/v{v}", "version": v}
                for v in API_VERSIONS
            ],
        )

    def resources(self, req: Request, version: str) -> Response:
        self._version(version)
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "composite", "limits")
        return Response(200, {name: f"{base}/{name}" for name in names})

    def limits(self, req: Request, version: str) -> Response:
        self._version(version)
        with self.store.transaction() as tx:
            used = tx.counter("api_usage")
        limit = int(self.config["api_limit"])
        return Response(
            200, {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)}}
        )

    def list_sobjects(self, req: Request, version: str) -> Response:
        self._version(version)
        objects = [o.describe() for o in SOBJECTS.values()]
        return Response(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    def describe(self, req: Request, version: str, sobject: str) -> Response:
        self._version(version)
        otype = self._sobject(sobject)
        system = [SField("Id", "Record ID", "id", 18).describe()]
        fields = system + [f.describe() for f in otype.fields]
        return Response(200, {**otype.describe(), "fields": fields})

    # -- single records by Id -----------------------------------------------------------------
    def create(self, req: Request, version: str, sobject: str) -> Response:
        self._version(version)
        otype = self._sobject(sobject)
        body = self._body(req)
        with self.store.transaction() as tx:
            changes = self._validated(tx, otype, body, {})
            ext = changes.get(EXTERNAL_ID_FIELD)
            if ext is not None:
                self._refuse_duplicate(tx, otype, ext)
            record = tx.insert(otype.name, ext, self.new_id(tx, otype.name), changes)
        return Response(201, {"id": record.sandbox_id, "success": True, "errors": []})

    def get_by_id(self, req: Request, version: str, sobject: str, record_id: str) -> Response:
        v = self._version(version)
        otype = self._sobject(sobject)
        with self.store.transaction() as tx:
            record = self._by_id(tx, otype, record_id)
        return Response(200, self._render(v, otype, record, req.arg("fields")))

    def update_by_id(self, req: Request, version: str, sobject: str, record_id: str) -> Response:
        self._version(version)
        otype = self._sobject(sobject)
        body = self._body(req)
        with self.store.transaction() as tx:
            record = self._by_id(tx, otype, record_id)
            changes = self._validated(tx, otype, body, record.fields)
            ext = changes.get(EXTERNAL_ID_FIELD, record.external_id)
            if ext is not None and ext != record.external_id:
                self._refuse_duplicate(tx, otype, ext)
                tx.set_external_id(record, ext)
            tx.update(record, {**record.fields, **changes})
        return Response(204)

    def delete_by_id(self, req: Request, version: str, sobject: str, record_id: str) -> Response:
        self._version(version)
        otype = self._sobject(sobject)
        with self.store.transaction() as tx:
            tx.soft_delete(self._by_id(tx, otype, record_id))
        return Response(204)

    # -- single records by external ID ------------------------------------------------------
    def get_by_external_id(
        self, req: Request, version: str, sobject: str, field: str, value: str
    ) -> Response:
        v = self._version(version)
        otype = self._sobject(sobject)
        self._external_field(otype, field)
        with self.store.transaction() as tx:
            found = self._one_by_external_id(tx, version, otype, value)
        if isinstance(found, Response):
            return found
        return Response(200, self._render(v, otype, found, req.arg("fields")))

    def delete_by_external_id(
        self, req: Request, version: str, sobject: str, field: str, value: str
    ) -> Response:
        self._version(version)
        otype = self._sobject(sobject)
        self._external_field(otype, field)
        with self.store.transaction() as tx:
            found = self._one_by_external_id(tx, version, otype, value)
            if isinstance(found, Response):
                return found
            tx.soft_delete(found)
        return Response(204)

    def _one_by_external_id(
        self, tx: Tx, version: str, otype: SObjectType, value: str
    ) -> StoredRecord | Response:
        """The one record with this external ID, or the 300 Salesforce answers for several;
        none is a NOT_FOUND error."""
        matches = tx.find(otype.name, value)
        if len(matches) > 1:
            return self._multiple(version, otype, matches)
        if not matches:
            raise self.fail("not_found")
        return matches[0]

    def upsert(self, req: Request, version: str, sobject: str, field: str, value: str) -> Response:
        v = self._version(version)
        otype = self._sobject(sobject)
        ext = self._external_field(otype, field)
        body = self._body(req)
        self._check_body_external_id(ext, body, value)
        with self.store.transaction() as tx:
            matches = tx.find(otype.name, value)
            if len(matches) > 1:
                return self._multiple(version, otype, matches)
            if matches:
                changes = self._validated(tx, otype, body, matches[0].fields)
                tx.update(matches[0], {**matches[0].fields, **changes})
                return self._upserted(v, matches[0].sandbox_id, created=False)
            if req.arg("updateOnly", "").lower() == "true":
                raise self.fail("not_found")
            changes = self._validated(tx, otype, body, {})
            new_id = self.new_id(tx, otype.name)
        # The create commits outside the lookup's transaction, as Salesforce's does: an
        # upsert of the same external ID arriving meanwhile hits the unique index.
        with self._claim(otype, value, new_id):
            race = self.faults.active("duplicate_race")
            if race is not None:
                self.faults.pause(float(race.params.get("window", 1.0)))
            with self.store.transaction() as tx:
                self._refuse_duplicate(tx, otype, value)
                tx.insert(otype.name, value, new_id, {**changes, ext.name: value})
        return self._upserted(v, new_id, created=True)

    # -- sObject Collections upsert ----------------------------------------------------------
    def collection_upsert(self, req: Request, version: str, sobject: str, field: str) -> Response:
        self._version(version, since=COLLECTIONS_SINCE)
        otype = self._sobject(sobject)
        ext = self._external_field(otype, field)
        body = self._body(req)
        records = body.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise self.fail("malformed_json", "records must be a JSON array of objects")
        if len(records) > COLLECTION_LIMIT:
            msg = "record limit reached. cannot submit more than 200 records into this call"
            raise ApiError(self.error_response(400, "EXCEEDED_ID_LIMIT", msg))
        repeated = Counter(str(r.get(ext.name)) for r in records if r.get(ext.name) is not None)
        with self.store.transaction() as tx:
            results = [self._collection_one(tx, otype, ext, r, repeated) for r in records]
            if body.get("allOrNone") and not all(r["success"] for r in results):
                tx.rollback_only = True
                results = [r if not r["success"] else _failed(ROLLED_BACK) for r in results]
        return Response(200, results)

    def _collection_one(
        self, tx: Tx, otype: SObjectType, ext: SField, record: dict[str, Any], repeated: Counter
    ) -> dict[str, Any]:
        kind = (record.get("attributes") or {}).get("type")
        if kind is None or kind.lower() != otype.name.lower():
            return _failed(error("INVALID_TYPE", f"Records must be of type {otype.name}"))
        value = record.get(ext.name)
        if value in (None, ""):
            return _failed(error("MISSING_ARGUMENT", f"{ext.name} not specified"))
        value = str(value)
        if repeated[value] > 1:
            return _failed(
                error("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}")
            )
        if (otype.name, value) in self._creating:
            holder = self._creating[(otype.name, value)]
            return _failed(_duplicate_value(ext.name, holder))
        matches = tx.find(otype.name, value)
        if len(matches) > 1:
            ids = ", ".join(m.sandbox_id for m in matches)
            msg = f"{ext.name}: more than one record found for external id field: [{ids}]"
            return _failed(error("DUPLICATE_EXTERNAL_ID", msg))
        current = matches[0].fields if matches else {}
        changes, errors = validate(tx, otype, record, current)
        if errors:
            return _failed(errors[0])
        if matches:
            tx.update(matches[0], {**current, **changes})
            return {"id": matches[0].sandbox_id, "success": True, "errors": [], "created": False}
        new = tx.insert(otype.name, value, self.new_id(tx, otype.name), changes)
        return {"id": new.sandbox_id, "success": True, "errors": [], "created": True}

    # -- query ---------------------------------------------------------------------------------
    def query(self, req: Request, version: str) -> Response:
        v = self._version(version)
        try:
            parsed = soql.parse(req.arg("q") or "")
        except soql.SoqlError as exc:
            raise ApiError(self.error_response(400, "MALFORMED_QUERY", str(exc))) from None
        otype = sobject(parsed.sobject)
        if otype is None:
            msg = f"sObject type '{parsed.sobject}' is not supported."
            raise ApiError(self.error_response(400, "INVALID_TYPE", msg))
        with self.store.transaction() as tx:
            rows = [self._render(v, otype, r) for r in tx.list(otype.name)]
        rows = self._select(otype, parsed, rows)
        return Response(200, {"totalSize": len(rows), "done": True, "records": rows})

    def _select(
        self, otype: SObjectType, q: soql.Query, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        names = {k.lower(): k for k in rows[0]} if rows else self._column_names(otype)
        wanted = [*q.fields, *(c.field for c in q.where), *([q.order_by] if q.order_by else [])]
        unknown = [f for f in wanted if f.lower() not in names]
        if unknown:
            msg = f"No such column '{unknown[0]}' on entity '{otype.name}'."
            raise ApiError(self.error_response(400, "INVALID_FIELD", msg))
        for cond in q.where:
            rows = [r for r in rows if cond.matches(r.get(names[cond.field.lower()]))]
        if q.order_by:
            key = names[q.order_by.lower()]
            rows.sort(key=lambda r: (r.get(key) is None, str(r.get(key))), reverse=q.descending)
        if q.limit is not None:
            rows = rows[: q.limit]
        keep = ["attributes", *(names[f.lower()] for f in q.fields)]
        return [{k: r.get(k) for k in keep} for r in rows]

    def _column_names(self, otype: SObjectType) -> dict[str, str]:
        columns = [
            "attributes",
            "Id",
            "IsDeleted",
            "CreatedDate",
            "LastModifiedDate",
            "SystemModstamp",
            *(f.name for f in otype.fields),
        ]
        return {c.lower(): c for c in columns}

    # -- helpers ---------------------------------------------------------------------------
    def _version(self, version: str, *, since: float = 0.0) -> float:
        if version not in API_VERSIONS or float(version) < since:
            raise self.fail("not_found")
        return float(version)

    def _sobject(self, name: str) -> SObjectType:
        otype = sobject(name)
        if otype is None:
            raise self.fail("not_found")
        return otype

    def _external_field(self, otype: SObjectType, name: str) -> SField:
        sfield = otype.field(name)
        if sfield is None or not sfield.external_id:
            msg = f"Provided external ID field does not exist or is not accessible: {name}"
            raise self.fail("not_found", msg)
        return sfield

    def _body(self, req: Request) -> dict[str, Any]:
        body = self.parse_json(req)
        if not isinstance(body, dict):
            raise self.fail("malformed_json", "Expected a JSON object in the request body")
        return body

    def _check_body_external_id(self, ext: SField, body: dict[str, Any], value: str) -> None:
        in_body = next((v for k, v in body.items() if k.lower() == ext.name.lower()), value)
        if str(in_body) != value:
            msg = f"The external ID field {ext.name} in the body does not match the URL"
            raise ApiError(Response(400, [error("INVALID_FIELD", msg, [ext.name])]))

    def _validated(
        self, tx: Tx, otype: SObjectType, body: dict[str, Any], current: dict[str, Any]
    ) -> dict[str, Any]:
        changes, errors = validate(tx, otype, body, current)
        if errors:
            raise ApiError(Response(400, errors))
        return changes

    def _refuse_duplicate(self, tx: Tx, otype: SObjectType, value: str) -> None:
        existing = tx.find(otype.name, value)
        if existing:
            raise ApiError(
                Response(400, [_duplicate_value(EXTERNAL_ID_FIELD, existing[0].sandbox_id)])
            )

    @contextmanager
    def _claim(self, otype: SObjectType, value: str, new_id: str) -> Iterator[None]:
        key = (otype.name, value)
        with self._creating_lock:
            holder = self._creating.get(key)
            if holder is not None:
                raise ApiError(Response(400, [_duplicate_value(EXTERNAL_ID_FIELD, holder)]))
            self._creating[key] = new_id
        try:
            yield
        finally:
            with self._creating_lock:
                self._creating.pop(key, None)

    def _by_id(self, tx: Tx, otype: SObjectType, record_id: str) -> StoredRecord:
        full = normalize_id(record_id)
        if full is None:
            msg = f"Provided external ID field does not exist or is not accessible: {record_id}"
            raise self.fail("not_found", msg)
        record = tx.get(otype.name, full)
        if record is None:
            raise self.fail("not_found")
        if record.deleted:
            raise ApiError(self.error_response(404, "ENTITY_IS_DELETED", "entity is deleted"))
        return record

    def _multiple(self, version: str, otype: SObjectType, matches: list[StoredRecord]) -> Response:
        urls = [self._url(version, otype, m.sandbox_id) for m in matches]
        return Response(300, urls)

    def _upserted(self, version: float, record_id: str, *, created: bool) -> Response:
        body: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
        if version >= RESPONSE_BODY_ON_UPDATE_SINCE:
            body["created"] = created
        elif not created:
            return Response(204)
        return Response(201 if created else 200, body)

    def _url(self, version: str | float, otype: SObjectType, record_id: str) -> str:
        return f"/services/data/v{float(version):.1f}/sobjects/{otype.name}/{record_id}"

    def _render(
        self, version: float, otype: SObjectType, record: StoredRecord, fields: str | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": otype.name, "url": self._url(version, otype, record.sandbox_id)},
            "Id": record.sandbox_id,
            "IsDeleted": record.deleted,
            "CreatedDate": _sf_time(record.created_at),
            "LastModifiedDate": _sf_time(record.updated_at),
            "SystemModstamp": _sf_time(record.updated_at),
        }
        out.update({f.name: record.fields.get(f.name) for f in otype.fields})
        if fields:
            wanted = {f.strip().lower() for f in fields.split(",")}
            out = {k: v for k, v in out.items() if k == "attributes" or k.lower() in wanted}
        return out


def _oauth_error(code: str, description: str) -> Response:
    return Response(400, {"error": code, "error_description": description})


def _basic_credentials(req: Request) -> tuple[str, str] | None:
    scheme, _, encoded = (req.header("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return client_id, secret


def _duplicate_value(field: str, holder_id: str) -> dict[str, Any]:
    msg = f"duplicate value found: {field} duplicates value on record with id: {holder_id}"
    return error("DUPLICATE_VALUE", msg)


def _failed(err: dict[str, Any]) -> dict[str, Any]:
    """A per-record collection result: errors carry `statusCode`, not `errorCode`."""
    return {
        "success": False,
        "errors": [
            {"statusCode": err["errorCode"], "message": err["message"], "fields": err["fields"]}
        ],
    }
