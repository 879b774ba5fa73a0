"""NetSuite REST record API sandbox (ERP).

Reproduces the research note's documented subset:

- `PUT /services/rest/record/v1/<type>/eid:<externalId>` upserts (only with an external ID,
  only with PUT) and answers 204 with the record's URL in `Location`; `POST` creates (204 +
  `Location`), `PATCH` updates, `GET` reads (by internal ID or `eid:`), `DELETE` deletes.
- External IDs: letters, digits, `_` and `-` only; one per record.
- Errors as `{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode",
  "o:errorPath"?, "o:urlPath"?}]}`.
- One account-wide concurrency limit (15 by default, as on a Tier 1 account): more requests
  in flight answer 429, with no Retry-After (none is documented).
- Auth: `Authorization: Bearer <token>`: a configured static token (as if obtained out of
  band) or one issued by the OAuth 2.0 client credentials (M2M) token endpoint, which takes a
  JWT `client_assertion` signed with the integration's certificate key (PS256 or ES256/384/512).

Record types: customer, subsidiary (our legal entities), job (projects; the note marks
`job` as unverified), serviceSaleItem (service codes; record ID `servicesaleitem` per
Oracle's REST record reference). Record type names match case-insensitively.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from .base import ApiError, Request, Response, Route, SandboxApp, route
from .jwt_assertion import JwtError, decode_unverified, verify_jwt
from .store import StoredRecord, Tx

RECORD = r"/services/rest/record/v1"
EXTERNAL_ID = re.compile(r"[A-Za-z0-9_-]+\Z")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110.html#section-"
_TYPES = {  # status -> (problem type URL, title)
    400: (_RFC9110 + "15.5.1", "Bad Request"),
    401: (_RFC9110 + "15.5.2", "Unauthorized"),
    404: (_RFC9110 + "15.5.5", "Not Found"),
    405: (_RFC9110 + "15.5.6", "Method Not Allowed"),
    429: ("https://www.rfc-editor.org/rfc/rfc6585.html#section-4", "Too Many Requests"),
    500: (_RFC9110 + "15.6.1", "Internal Server Error"),
    503: (_RFC9110 + "15.6.4", "Service Unavailable"),
}
ERROR_TYPE = "application/vnd.oracle.resource+json; type=error"
RECORD_TYPE = "application/vnd.oracle.resource+json; type=singular-resource"
COLLECTION_TYPE = "application/vnd.oracle.resource+json; type=collection"


@dataclass(frozen=True)
class NsField:
    name: str
    label: str
    type: str = "string"  # string boolean date ref refs (multi-select reference)
    required: bool = False
    ref: str | None = None  # record type a reference must point at (when modelled here)


@dataclass(frozen=True)
class NsRecordType:
    name: str  # the REST record ID, e.g. "customer"
    fields: tuple[NsField, ...]
    name_field: str  # shown as `refName` when another record references this one

    def field(self, name: str) -> NsField | None:
        return next((f for f in self.fields if f.name == name), None)


RECORD_TYPES: dict[str, NsRecordType] = {
    t.name.lower(): t
    for t in (
        NsRecordType(
            "customer",
            (
                NsField("companyName", "Company Name", required=True),
                NsField("isPerson", "Type", "boolean"),
                NsField("firstName", "First Name"),
                NsField("lastName", "Last Name"),
                NsField("entityId", "Customer ID"),
                NsField("email", "Email"),
                NsField("phone", "Phone"),
                NsField("url", "Web Address"),
                NsField("comments", "Comments"),
                NsField("defaultTaxReg", "Tax Reg. Number"),
                NsField("isInactive", "Inactive", "boolean"),
                NsField("currency", "Currency", "ref"),
                NsField("terms", "Terms", "ref"),
                NsField("parent", "Parent Company", "ref", ref="customer"),
                NsField("subsidiary", "Primary Subsidiary", "ref", required=True, ref="subsidiary"),
            ),
            "companyName",
        ),
        NsRecordType(
            "subsidiary",
            (
                NsField("name", "Name", required=True),
                NsField("legalName", "Legal Name"),
                NsField("federalIdNumber", "Tax ID"),
                NsField("country", "Country", "ref"),
                NsField("currency", "Currency", "ref"),
                NsField("isInactive", "Inactive", "boolean"),
                NsField("parent", "Subsubsidiary of", "ref", ref="subsidiary"),
            ),
            "name",
        ),
        NsRecordType(
            "job",
            (
                NsField("companyName", "Project Name", required=True),
                NsField("entityId", "Project ID"),
                NsField("parent", "Customer", "ref", required=True, ref="customer"),
                NsField("subsidiary", "Subsidiary", "ref", ref="subsidiary"),
                NsField("startDate", "Start Date", "date"),
                NsField("projectedEndDate", "Projected End Date", "date"),
                NsField("entityStatus", "Status", "ref"),
                NsField("jobType", "Project Type", "ref"),
                NsField("comments", "Comments"),
                NsField("isInactive", "Inactive", "boolean"),
            ),
            "companyName",
        ),
        NsRecordType(
            "serviceSaleItem",
            (
                NsField("itemId", "Item Name/Number", required=True),
                NsField("displayName", "Display Name/Code"),
                NsField("salesDescription", "Sales Description"),
                NsField("isInactive", "Inactive", "boolean"),
                NsField("includeChildren", "Include Children", "boolean"),
                NsField("subsidiary", "Subsidiary", "refs", ref="subsidiary"),
            ),
            "itemId",
        ),
    )
}


class NetSuiteSandbox(SandboxApp):
    kind = "erp"
    label = "NetSuite"
    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        "account_id": "1234567_SB1",
        "tokens": ["netsuite-sandbox-token"],  # static bearer tokens accepted as they are
        "client_id": "mdm-netsuite-client",  # integration record's client ID (JWT `iss`)
        "certificate_id": "mdm-sandbox-cert",  # certificate ID of the M2M mapping (JWT `kid`)
        "public_key_pem": None,  # PEM of the uploaded certificate or public key
        "token_ttl": 3600.0,  # issued access tokens live 60 minutes
        "concurrency_limit": 15,  # account-wide requests in flight (Tier 1)
    }
    ERRORS: ClassVar[dict[str, tuple[int, str, str]]] = {
        "unauthorized": (
            401,
            "INVALID_LOGIN",
            "Invalid login attempt. For more details, see the Login Audit Trail in the "
            "NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        ),
        "not_found": (
            404,
            "NONEXISTENT_ID",
            "The record instance does not exist. Provide a valid record instance ID.",
        ),
        "method_not_allowed": (405, "METHOD_NOT_ALLOWED", "The HTTP method is not allowed."),
        "malformed_json": (400, "INVALID_CONTENT", "The request body is not valid JSON."),
        "server_error": (500, "UNEXPECTED_ERROR", "An unexpected error occurred."),
        "unavailable": (503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
        "rate_limited": (
            429,
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Concurrent request limit exceeded. Request blocked.",
        ),
        "concurrency": (
            429,
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Concurrent request limit exceeded. Request blocked.",
        ),
    }

    def routes(self) -> list[Route]:
        one = RECORD + r"/(?P<rtype>\w+)/(?P<key>[^/]+)"
        return [
            route(
                "POST", r"/services/rest/auth/oauth2/v1/token", self.token, auth=False, data=False
            ),
            route("GET", RECORD + r"/(?P<rtype>\w+)/?", self.list_records),
            route("POST", RECORD + r"/(?P<rtype>\w+)/?", self.create, write=True),
            route("GET", one, self.get),
            route("PUT", one, self.upsert, write=True),
            route("PATCH", one, self.update, write=True),
            route("DELETE", one, self.delete, write=True),
        ]

    # -- vendor hooks ----------------------------------------------------------------------
    def error_response(self, status: int, code: str, message: str) -> Response:
        return _error(status, [{"detail": message, "o:errorCode": code}])

    def concurrency_limit(self) -> int | None:
        limit = self.config["concurrency_limit"]
        return None if limit is None else int(limit)

    def authenticate(self, req: Request) -> None:
        token = req.bearer_token()
        static = token is not None and token in self.config["tokens"]
        if not static and (token is None or not self.store.use_token(token, sliding=False)):
            raise self.fail("unauthorized")

    def expire_sessions(self) -> None:
        self.store.revoke_tokens()

    def new_id(self, tx: Tx, object_type: str) -> str:
        return str(tx.next_value(f"id:{object_type}"))

    # -- OAuth 2.0 client credentials (M2M) --------------------------------------------------
    def token(self, req: Request) -> Response:
        form = req.form()
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _oauth_error("invalid_request")
        assertion = form.get("client_assertion", "")
        try:
            header, _claims = decode_unverified(assertion)
            pem = self.config["public_key_pem"]
            if not pem or header.get("kid") != self.config["certificate_id"]:
                raise JwtError("unknown certificate")
            claims = verify_jwt(
                assertion,
                str(pem).encode(),
                issuer=str(self.config["client_id"]),
                audience=f"{self.base_url}/services/rest/auth/oauth2/v1/token",
            )
        except JwtError:
            return _oauth_error("invalid_client")
        if "rest_webservices" not in _scopes(claims.get("scope")):
            return _oauth_error("invalid_scope")
        token = secrets.token_urlsafe(48)
        ttl = float(self.config["token_ttl"])
        self.store.issue_token(token, str(claims["iss"]), ttl)
        return Response(
            200, {"access_token": token, "expires_in": str(int(ttl)), "token_type": "bearer"}
        )

    # -- records -----------------------------------------------------------------------------
    def list_records(self, req: Request, rtype: str) -> Response:
        rt = self._type(rtype)
        limit = min(int(req.arg("limit", "1000") or 1000), 1000)
        offset = int(req.arg("offset", "0") or 0)
        with self.store.transaction() as tx:
            records = tx.list(rt.name)
        page = records[offset : offset + limit]
        items = [{"links": [self._self_link(rt, r.sandbox_id)], "id": r.sandbox_id} for r in page]
        body = {
            "links": [{"rel": "self", "href": f"{self.base_url}{RECORD}/{rt.name}"}],
            "count": len(items),
            "hasMore": offset + limit < len(records),
            "items": items,
            "offset": offset,
            "totalResults": len(records),
        }
        return Response(200, body, content_type=COLLECTION_TYPE)

    def create(self, req: Request, rtype: str) -> Response:
        rt = self._type(rtype)
        body = self._body(req)
        external_id = body.pop("externalId", None)
        if external_id is not None:
            self._check_external_id(str(external_id), path=False)
        with self.store.transaction() as tx:
            fields = self._validated(tx, rt, body, {})
            if external_id is not None and tx.find(rt.name, str(external_id)):
                raise ApiError(
                    _error(
                        400,
                        [
                            _detail(
                                "USER_ERROR",
                                "Error while accessing a resource. A record with the same "
                                f"external ID already exists: {external_id}.",
                                path="externalId",
                            )
                        ],
                    )
                )
            record = tx.insert(rt.name, external_id, self.new_id(tx, rt.name), fields)
        return self._located(rt, record)

    def get(self, req: Request, rtype: str, key: str) -> Response:
        rt = self._type(rtype)
        with self.store.transaction() as tx:
            record = self._lookup(tx, rt, key)
            if record is None:
                raise self.fail("not_found")
            return Response(200, self._render(tx, rt, record), content_type=RECORD_TYPE)

    def upsert(self, req: Request, rtype: str, key: str) -> Response:
        rt = self._type(rtype)
        if not key.startswith("eid:"):
            msg = "Upsert is only supported with an external ID (eid:<externalId>) and PUT."
            raise ApiError(_error(400, [_detail("INVALID_REQUEST", msg, url_path=key)]))
        external_id = key.removeprefix("eid:")
        self._check_external_id(external_id, path=True)
        body = self._body(req)
        if str(body.pop("externalId", external_id)) != external_id:
            msg = "The external ID in the request body does not match the one in the URL."
            raise ApiError(_error(400, [_detail("USER_ERROR", msg, path="externalId")]))
        with self.store.transaction() as tx:
            existing = tx.find(rt.name, external_id)
            current = existing[0].fields if existing else {}
            fields = self._validated(tx, rt, body, current)
            if existing:
                record = tx.update(existing[0], {**current, **fields})
            else:
                record = tx.insert(rt.name, external_id, self.new_id(tx, rt.name), fields)
        return self._located(rt, record)

    def update(self, req: Request, rtype: str, key: str) -> Response:
        rt = self._type(rtype)
        body = self._body(req)
        body.pop("externalId", None)  # a record's single external ID is set once, by upsert
        with self.store.transaction() as tx:
            record = self._lookup(tx, rt, key)
            if record is None:
                raise self.fail("not_found")
            fields = self._validated(tx, rt, body, record.fields)
            record = tx.update(record, {**record.fields, **fields})
        return self._located(rt, record)

    def delete(self, req: Request, rtype: str, key: str) -> Response:
        rt = self._type(rtype)
        with self.store.transaction() as tx:
            record = self._lookup(tx, rt, key)
            if record is None:
                raise self.fail("not_found")
            tx.hard_delete(record)
        return Response(204)

    # -- validation ----------------------------------------------------------------------------
    def _validated(
        self, tx: Tx, rt: NsRecordType, body: dict[str, Any], current: dict[str, Any]
    ) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        fields: dict[str, Any] = {}
        for name, value in body.items():
            nsfield = rt.field(name)
            if nsfield is None:
                msg = f"Invalid field name: '{name}' is not a field of record type {rt.name}."
                details.append(_detail("INVALID_CONTENT", msg, path=name))
                continue
            problem = self._check(tx, nsfield, value)
            if problem:
                details.append(problem)
            fields[name] = _stored_value(nsfield, value)
        merged = {**current, **fields}
        details += self._missing(rt, merged)
        if details:
            raise ApiError(_error(400, details))
        return fields

    def _missing(self, rt: NsRecordType, merged: dict[str, Any]) -> list[dict[str, Any]]:
        required = [f for f in rt.fields if f.required and merged.get(f.name) in (None, "")]
        if rt.name == "customer" and merged.get("isPerson"):
            # Individuals need first and last names instead of a company name.
            required = [f for f in required if f.name != "companyName"]
            required += [rt.field(n) for n in ("firstName", "lastName") if not merged.get(n)]  # type: ignore[misc]
        return [
            _detail(
                "USER_ERROR",
                f"Error while accessing a resource. Please enter value(s) for: {f.label}.",
                path=f.name,
            )
            for f in required
        ]

    def _check(self, tx: Tx, nsfield: NsField, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if nsfield.type == "boolean" and not isinstance(value, bool):
            return _invalid_value(nsfield)
        if nsfield.type == "date" and not _is_date(value):
            return _invalid_value(nsfield)
        if nsfield.type == "string" and not isinstance(value, str | int | float):
            return _invalid_value(nsfield)
        if nsfield.type in ("ref", "refs"):
            return self._check_refs(tx, nsfield, value)
        return None

    def _check_refs(self, tx: Tx, nsfield: NsField, value: Any) -> dict[str, Any] | None:
        refs = value.get("items") if nsfield.type == "refs" and isinstance(value, dict) else [value]
        if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
            return _invalid_value(nsfield)
        for ref in refs:
            if not ({"id", "externalId"} & set(ref)):
                return _invalid_value(nsfield)
            if nsfield.ref and self._resolve(tx, nsfield.ref, ref) is None:
                shown = ref.get("id") or f"eid:{ref.get('externalId')}"
                msg = (
                    f"Error while accessing a resource. Invalid {nsfield.name} reference key "
                    f"{shown}."
                )
                return _detail("USER_ERROR", msg, path=nsfield.name)
        return None

    def _resolve(self, tx: Tx, rtype: str, ref: dict[str, Any]) -> StoredRecord | None:
        """A reference by internal ID (`{"id": "5"}`, also `"eid:X"`) or `{"externalId": "X"}`."""
        key = str(ref["id"]) if ref.get("id") is not None else f"eid:{ref.get('externalId')}"
        return self._lookup(tx, RECORD_TYPES[rtype.lower()], key)

    # -- helpers ---------------------------------------------------------------------------------
    def _type(self, rtype: str) -> NsRecordType:
        rt = RECORD_TYPES.get(rtype.lower())
        if rt is None:
            msg = f"Record type '{rtype}' does not exist."
            raise ApiError(_error(404, [_detail("NONEXISTENT_ID", msg, url_path=rtype)]))
        return rt

    def _lookup(self, tx: Tx, rt: NsRecordType, key: str) -> StoredRecord | None:
        if key.startswith("eid:"):
            found = tx.find(rt.name, key.removeprefix("eid:"))
            return found[0] if found else None
        return tx.get(rt.name, key)

    def _body(self, req: Request) -> dict[str, Any]:
        body = self.parse_json(req)
        if not isinstance(body, dict):
            raise self.fail("malformed_json", "The request body must be a JSON object.")
        return body

    def _check_external_id(self, external_id: str, *, path: bool) -> None:
        if EXTERNAL_ID.match(external_id):
            return
        msg = (
            f"Invalid external ID '{external_id}'. An external ID may contain only letters, "
            "numbers, underscore (_) and hyphen (-)."
        )
        where = {"url_path": f"eid:{external_id}"} if path else {"path": "externalId"}
        raise ApiError(_error(400, [_detail("INVALID_ID", msg, **where)]))

    def _self_link(self, rt: NsRecordType, internal_id: str) -> dict[str, str]:
        return {"rel": "self", "href": f"{self.base_url}{RECORD}/{rt.name}/{internal_id}"}

    def _located(self, rt: NsRecordType, record: StoredRecord) -> Response:
        return Response(204, headers={"Location": self._self_link(rt, record.sandbox_id)["href"]})

    def _render(self, tx: Tx, rt: NsRecordType, record: StoredRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "links": [self._self_link(rt, record.sandbox_id)],
            "id": record.sandbox_id,
        }
        if record.external_id:
            out["externalId"] = record.external_id
        for name, value in record.fields.items():
            nsfield = rt.field(name)
            out[name] = self._render_ref(tx, nsfield, value) if nsfield and nsfield.ref else value
        out["dateCreated"] = record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        out["lastModifiedDate"] = record.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return out

    def _render_ref(self, tx: Tx, nsfield: NsField, value: Any) -> Any:
        """References come back as `{"links", "id", "refName"}`, as NetSuite expands them."""
        if value is None or nsfield.ref is None:
            return value
        target = RECORD_TYPES[nsfield.ref.lower()]
        refs = value["items"] if nsfield.type == "refs" else [value]
        expanded = []
        for ref in refs:
            record = self._resolve(tx, nsfield.ref, ref)
            if record is None:
                expanded.append(ref)
                continue
            expanded.append(
                {
                    "links": [self._self_link(target, record.sandbox_id)],
                    "id": record.sandbox_id,
                    "refName": record.fields.get(target.name_field),
                }
            )
        return {"items": expanded} if nsfield.type == "refs" else expanded[0]


def _detail(
    code: str, detail: str, *, path: str | None = None, url_path: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path:
        out["o:errorPath"] = path
    if url_path:
        out["o:urlPath"] = url_path
    return out


def _error(status: int, details: list[dict[str, Any]]) -> Response:
    kind, title = _TYPES.get(status, (_RFC9110 + "15", "Error"))
    body = {"type": kind, "title": title, "status": status, "o:errorDetails": details}
    return Response(status, body, content_type=ERROR_TYPE)


def _invalid_value(nsfield: NsField) -> dict[str, Any]:
    msg = (
        "Error while accessing a resource. You have entered an invalid field value for "
        f"{nsfield.label}."
    )
    return _detail("USER_ERROR", msg, path=nsfield.name)


def _stored_value(nsfield: NsField, value: Any) -> Any:
    """Keep references as sent: the lookup by `id` or `externalId` resolves on read."""
    if nsfield.type == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def _scopes(claim: Any) -> list[str]:
    """The `scope` claim as a list: a JSON array or a space/comma separated string."""
    if isinstance(claim, list):
        return [str(s) for s in claim]
    return str(claim or "").replace(",", " ").split()


def _oauth_error(code: str) -> Response:
    return Response(400, {"error": code})
