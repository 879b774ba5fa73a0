"""Tryton (ERP, installed from PyPI) over JSON-RPC with a session.

- ``POST /<db>/rpc/`` with ``{"id", "method", "params"}``. ``common.db.login`` answers
  ``[user id, token, bus url]``; later calls send ``Authorization: Session
  base64("<login>:<user id>:<token>")``, and ``model.<model>.<method>`` calls end with
  the user's context (``res.user.get_preferences``). A session expires after 5 idle
  minutes (``[session] timeout``): Tryton then answers **401 with an empty body**, and
  the call logs in again and is sent once more (a second 401 is retryable).
- Errors come back as **HTTP 200** with ``{"error": [...]}``: ``UserError`` (every
  validation error: domain, required, unique code, invalid VAT number, access rules) and
  ``UserWarning`` are permanent, with Tryton's message; ``ConcurrencyException`` and
  server faults (an exception's text and traceback) are retryable, and so are network
  errors, timeouts, 408/425/429 and 5xx.
- Paced like every target (``rate_limit``, the shared bucket), the login included. A batch
  is sent one record at a time (``sends_concurrently`` is off).

Tryton has no upsert and no generic external ID, so each object has a key:

- customer → ``party.party`` whose ``code`` is the canonical ID (unique; set by us at
  creation, read-only after);
- legal entity → ``company.company`` on the party coded with the canonical ID (a party
  left without its company by an interrupted delivery is adopted). The API user is made
  a member of every company it creates, so it can write that company's projects;
- service code → a service ``product.product`` (template ``type='service'``) whose code
  is golden's service code; found by the crosswalk's product ID, then by that code;
- project → ``project.work`` (``type='project'``). Its number is assigned by Tryton and
  cannot be set, so the crosswalk (``golden.ExternalReference``, written by the delivery
  path from ``UpsertResult.external_id``) keeps the work's ID. The work's comment also
  carries ``[mdm:<canonical ID>]``: a create whose answer was lost (connection dropped
  after Tryton committed) is found by it and updated, not created twice.

Retire deactivates the party, the company's party or the product, and sets a project's
status to Done. Lookups read inactive records too (``active_test: false``), so a record
that comes back is reactivated, never duplicated.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import re
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import requests

from connectors.adapters.base import (
    Adapter,
    AdapterError,
    Check,
    Delivery,
    HttpClient,
    TargetSession,
    UpsertResult,
    error_for_response,
    network_error,
)
from connectors.adapters.mappings import ObjectMapping, mapped_fields, reference_ids
from connectors.pacing import Pacer
from golden.entities import EntityType

C, L, P, S = (
    EntityType.CUSTOMER,
    EntityType.LEGAL_ENTITY,
    EntityType.PROJECT,
    EntityType.SERVICE_CODE,
)
ALL = {"active_test": False}  # lookups see inactive records too
# Golden's service-code units → product.uom symbols (Tryton has no month unit).
UOM_SYMBOLS = {"hour": "h", "day": "d"}
DEFAULT_UOM_SYMBOL = "u"
EU_VAT_PREFIXES = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI".split()
)
# Identifier types this adapter owns on a party: the EU VAT number, or an untyped one.
TAX_IDENTIFIER_TYPES = ("eu_vat", None)


# --------------------------------------------------------------------------------------
# JSON-RPC
# --------------------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """Python values as Tryton's JSON-RPC expects them (dates and decimals are objects)."""
    if isinstance(value, dt.datetime):
        raise TypeError("datetimes are not sent to Tryton")
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, Mapping):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Tryton's JSON objects back to plain JSON (dates as ISO strings, decimals as str)."""
    if isinstance(value, dict):
        kind = value.get("__class__")
        if kind == "date":
            return dt.date(value["year"], value["month"], value["day"]).isoformat()
        if kind == "datetime":
            return dt.datetime(
                value["year"],
                value["month"],
                value["day"],
                value.get("hour", 0),
                value.get("minute", 0),
                value.get("second", 0),
            ).isoformat()
        if kind == "Decimal":
            return value["decimal"]
        if kind == "bytes":
            return value.get("base64")
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def as_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise AdapterError(f"Tryton: {value!r} is not a date", permanent=True) from exc


def tryton_error(error: Any, method: str) -> AdapterError:
    """Classify a JSON-RPC ``error``: UserError/UserWarning permanent, others retryable."""
    parts = list(error) if isinstance(error, list | tuple) else [error]
    kind = parts[0] if parts else None
    args = parts[1] if len(parts) > 1 else None
    if kind == "UserError" and isinstance(args, list | tuple) and args:
        message = str(args[0])
        if len(args) > 1 and args[1]:
            message += f" {args[1]}"
        return AdapterError(f"Tryton UserError: {message}", permanent=True)
    if kind == "UserWarning" and isinstance(args, list | tuple) and len(args) > 1:
        return AdapterError(f"Tryton UserWarning: {args[1]}", permanent=True)
    if kind == "ConcurrencyException":
        return AdapterError(f"Tryton ConcurrencyException: {args}", permanent=False)
    if kind == "LoginException":
        return AdapterError(f"Tryton asks for another login parameter: {args}", permanent=False)
    # Anything else is a server-side exception: its text (and a traceback). Often
    # transient (a locked database, a restart); a bug ends dead after max attempts.
    return AdapterError(f"Tryton server error in {method}: {str(kind)[:300]}", permanent=False)


def describe_tryton(response: requests.Response) -> str:
    if response.status_code == 401:
        return "Tryton refused the session"
    text = response.text.strip()
    if not text or text.lstrip().startswith("<"):
        return response.reason or "no body"
    return text[:500]


class TrytonRPC:
    """One user's JSON-RPC session on one Tryton database: login on first use and again
    once on a 401; errors classified as ``AdapterError``."""

    label = "Tryton"

    def __init__(
        self,
        url: str,
        database: str,
        user: str,
        password: str,
        *,
        timeout: float = 15.0,
        language: str = "en",
        ca_bundle: str | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.user = user
        self.password = password
        self.language = language
        # The target's pacing, when given, covers every call, the login included.
        self.session = TargetSession(timeout=timeout, ca_bundle=ca_bundle, pacer=pacer)
        self.http = HttpClient(
            f"{self.url}/{database}",
            session=self.session,
            auth=self._auth,
            describe=describe_tryton,
            label=self.label,
        )
        self.user_id: int | None = None
        self.context: dict[str, Any] = {}
        self.logins = 0  # how many times this client logged in (tests count re-logins)
        self._header: str | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"{self.url}/{self.database}/rpc/"

    @property
    def session_header(self) -> str | None:
        return self._header

    def call(self, method: str, *args: Any, context: Mapping[str, Any] | None = None) -> Any:
        """``model.*`` methods get the user's context (plus ``context``) as last param."""
        params = [encode(a) for a in args]
        if method.startswith("model."):
            params.append({**self.context, **(context or {})})
        body = {"id": next(self._ids), "method": method, "params": params}
        response = self.http.request("POST", "/rpc/", json=body)
        return self._result(response, method)

    def model(self, model: str, method: str, *args: Any, **context: Any) -> Any:
        return self.call(f"model.{model}.{method}", *args, context=context)

    def forget_session(self) -> None:
        """Drop the session locally; the next call logs in again."""
        with self._lock:
            self._header = None

    def logout(self) -> None:
        """End the session on the server (the client keeps sending it: a 401 follows)."""
        if self._header:
            self.call("common.db.logout")

    # -- internals ---------------------------------------------------------------------
    def _auth(self, refresh: bool) -> dict[str, str]:
        with self._lock:
            if refresh or self._header is None:
                self._login()
            assert self._header is not None
            return {"Authorization": self._header}

    def _login(self) -> None:
        params = [self.user, {"password": self.password}, self.language]
        result = self._raw("common.db.login", params, None, "login")
        if not isinstance(result, list) or len(result) < 2:
            raise AdapterError(f"Tryton login answered {result!r}", permanent=False)
        user_id, token = result[0], result[1]
        token_text = f"{self.user}:{user_id}:{token}".encode()
        header = "Session " + base64.b64encode(token_text).decode("ascii")
        context = self._raw("model.res.user.get_preferences", [True, {}], header, "preferences")
        self.user_id, self._header = int(user_id), header
        self.context = dict(context or {})
        self.logins += 1

    def _raw(self, method: str, params: list[Any], header: str | None, what: str) -> Any:
        """One call outside the re-login loop (the login itself and its preferences)."""
        headers = {"Accept": "application/json"}
        if header:
            headers["Authorization"] = header
        body = {"id": next(self._ids), "method": method, "params": params}
        try:
            response = self.session.request("POST", self.endpoint, json=body, headers=headers)
        except requests.RequestException as exc:
            raise network_error(exc, self.label) from exc
        if response.status_code != 200:
            # A refused login is retryable: an auth outage heals, and wrong credentials
            # end dead after max attempts, in the exception queue.
            message = f"Tryton {what} as {self.user!r} failed: {describe_tryton(response)}"
            refused = response.status_code in (401, 403)
            raise error_for_response(response, message, retryable=True if refused else None)
        return self._result(response, method)

    @staticmethod
    def _result(response: requests.Response, method: str) -> Any:
        try:
            body = response.json()
        except ValueError as exc:
            raise AdapterError(
                f"Tryton answered {method} with something other than JSON-RPC",
                permanent=False,
                http_status=response.status_code,
            ) from exc
        if not isinstance(body, dict):
            raise AdapterError(f"Tryton answered {method} with {body!r:.200}", permanent=False)
        if body.get("error") is not None:
            raise tryton_error(body["error"], method)
        return body.get("result")


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def split_fields(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"name": …, "address.city": …}`` → ``{"": {"name": …}, "address": {"city": …}}``."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        group, _, name = key.rpartition(".")
        groups.setdefault(group, {})[name] = value
    return groups


def compact(code: Any) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", str(code or "")).upper()


def tax_identifier_type(code: str) -> str | None:
    """``eu_vat`` for an EU VAT number (Tryton checks it), else an untyped identifier."""
    return "eu_vat" if compact(code)[:2] in EU_VAT_PREFIXES else None


def marker(canonical_id: str) -> str:
    return f"[mdm:{canonical_id}]"


def crosswalk_id(target: str, canonical_id: str) -> int | None:
    """The ID this target assigned to the golden record, as the crosswalk keeps it."""
    from golden.models import ExternalReference

    value = (
        ExternalReference.objects.filter(system__code=target, golden__canonical_id=canonical_id)
        .values_list("external_id", flat=True)
        .first()
    )
    return int(value) if value and str(value).isdigit() else None


# --------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------
class TrytonAdapter(Adapter):
    kind = "tryton"
    label = "Tryton"
    # Its lookups read the crosswalk (a database connection of the calling thread), and
    # Tryton on SQLite serialises writes anyway: a batch goes one record at a time.
    sends_concurrently = False

    def __init__(self, code: str, config: Mapping[str, Any]) -> None:
        super().__init__(code, config)
        self.rpc = TrytonRPC(
            str(self.config["url"]),
            str(self.config.get("database") or "tryton"),
            str(self.config.get("user") or "admin"),
            str(self.config.get("password") or ""),
            timeout=self.timeout,
            language=str(self.config.get("language") or "en"),
            ca_bundle=self.config.get("ca_bundle") or None,
            pacer=self.pacer,
        )
        self._lookups: dict[tuple[str, str], int] = {}
        self._lookups_for: int = -1  # the login they were made under

    # -- interface ---------------------------------------------------------------------
    def check(self, delivery: Delivery) -> Check:
        check = super().check(delivery)
        if delivery.operation != "upsert":
            return check
        needs = {
            C: ("name",),
            L: ("name", "base_currency"),
            S: ("name", "code"),
            P: ("name",),
        }.get(delivery.entity_type, ())
        noun = delivery.entity_type.replace("_", " ")
        for attribute in needs:
            if delivery.attributes.get(attribute) in (None, ""):
                check.problems.append(f"{self.label} {noun} needs {attribute.replace('_', ' ')}")
        return check

    def upsert(self, delivery: Delivery) -> UpsertResult:
        mapping = self.mapping(delivery.entity_type)
        handler = {
            C: self._upsert_customer,
            L: self._upsert_legal_entity,
            S: self._upsert_service,
            P: self._upsert_project,
        }[delivery.entity_type]
        external_id, created = handler(delivery, mapping)
        return UpsertResult(str(external_id), mapping.object_type, created, 200)

    def retire(self, delivery: Delivery) -> UpsertResult | None:
        mapping = self.mapping(delivery.entity_type)
        kind, canonical = delivery.entity_type, delivery.canonical_id
        if kind == C:
            found = self._party_id(canonical)
            if found is not None:
                self.rpc.model("party.party", "write", [found], {"active": False})
        elif kind == L:
            company = self._company(canonical)
            found = company["id"] if company else None
            if company:
                self.rpc.model("party.party", "write", [company["party"]], {"active": False})
        elif kind == S:
            product = self._product(canonical, None)
            found = product["id"] if product else None
            if product:
                self.rpc.model(
                    "product.template", "write", [product["template"]], {"active": False}
                )
                self.rpc.model("product.product", "write", [product["id"]], {"active": False})
        else:
            found = self._work_id(canonical)
            if found is not None:
                comment = marker(canonical)
                if delivery.merged_into:
                    comment += f"\nMerged into {delivery.merged_into} in MDM"
                values = {**self._status(done=True), "comment": comment}
                self.rpc.model("project.work", "write", [found], values)
        if found is None:
            return None
        return UpsertResult(str(found), mapping.object_type, False, 200)

    def fetch_by_external_id(self, entity_type: str, canonical_id: str) -> dict[str, Any] | None:
        self.mapping(entity_type)  # a clear error for an unmapped type
        if entity_type == C:
            party_id = self._party_id(canonical_id)
            return None if party_id is None else self._read_party(party_id)
        if entity_type == L:
            company = self._company(canonical_id)
            if company is None:
                return None
            [row] = self.rpc.model("company.company", "read", [company["id"]], ["currency.code"])
            return {
                "id": company["id"],
                "currency": (row.get("currency.") or {}).get("code"),
                "party": self._read_party(company["party"]),
            }
        if entity_type == S:
            product = self._product(canonical_id, None)
            if product is None:
                return None
            fields = ["code", "name", "active", "type", "template", "default_uom.symbol"]
            [row] = self.rpc.model("product.product", "read", [product["id"]], fields, **ALL)
            return decode(row)
        work_id = self._work_id(canonical_id)
        if work_id is None:
            return None
        fields = [
            "name",
            "number",
            "type",
            "comment",
            "party",
            "company",
            "status.name",
            "timesheet_available",
            "timesheet_start_date",
            "timesheet_end_date",
        ]
        [row] = self.rpc.model("project.work", "read", [work_id], fields)
        return decode(row)

    # -- customers and legal entities: parties -----------------------------------------
    def _upsert_customer(self, delivery: Delivery, mapping: ObjectMapping) -> tuple[int, bool]:
        groups = split_fields(mapped_fields(mapping, delivery.attributes))
        active = delivery.attributes.get("status") != "inactive"
        return self._upsert_party(delivery.canonical_id, groups, active=active)

    def _upsert_legal_entity(self, delivery: Delivery, mapping: ObjectMapping) -> tuple[int, bool]:
        groups = split_fields(mapped_fields(mapping, delivery.attributes))
        company_values: dict[str, Any] = {}
        currency = groups.pop("company", {}).get("currency")
        if currency:
            company_values["currency"] = self._lookup("currency.currency", "code", currency)
        party_id, _ = self._upsert_party(delivery.canonical_id, groups, active=True)
        found = self.rpc.model(
            "company.company",
            "search_read",
            [("party", "=", party_id)],
            0,
            1,
            None,
            ["id", "currency"],
        )
        if found:
            company_id, created = found[0]["id"], False
            if company_values.get("currency") not in (None, found[0]["currency"]):
                self.rpc.model("company.company", "write", [company_id], company_values)
        else:
            if "currency" not in company_values:
                raise AdapterError("Tryton company needs a base currency", permanent=True)
            [company_id] = self.rpc.model(
                "company.company", "create", [{"party": party_id, **company_values}]
            )
            created = True
        self._join_company(company_id)
        return company_id, created

    def _upsert_party(
        self, code: str, groups: Mapping[str, Mapping[str, Any]], *, active: bool
    ) -> tuple[int, bool]:
        own = dict(groups.get("", {}))
        address = self._address_values(groups.get("address", {}))
        contacts = {k: v for k, v in groups.get("contact", {}).items()}
        tax = groups.get("identifier", {}).get("tax")
        party_id = self._party_id(code)
        if party_id is None:
            values: dict[str, Any] = {**own, "code": code, "active": active, "addresses": []}
            if any(v not in (None, "") for v in address.values()):
                values["addresses"] = [["create", [address]]]
            mechanisms = [{"type": kind, "value": str(v)} for kind, v in contacts.items() if v]
            if mechanisms:
                values["contact_mechanisms"] = [["create", mechanisms]]
            if tax:
                identifier = {"type": tax_identifier_type(str(tax)), "code": str(tax)}
                values["identifiers"] = [["create", [identifier]]]
            try:
                [party_id] = self.rpc.model("party.party", "create", [values])
                return party_id, True
            except AdapterError as exc:
                # "The code on party must be unique": created meanwhile by another
                # process; update it instead.
                party_id = self._party_id(code) if exc.permanent else None
                if party_id is None:
                    raise
        [party] = self.rpc.model(
            "party.party",
            "read",
            [party_id],
            ["active", "addresses", "contact_mechanisms", "identifiers"],
            **ALL,
        )
        if not party["active"]:
            # An inactive party is read-only in Tryton: reactivate it, then write.
            self.rpc.model("party.party", "write", [party_id], {"active": True})
        values = {**own, "active": active}
        actions = self._address_actions(party["addresses"], address)
        if actions:
            values["addresses"] = actions
        actions = self._contact_actions(party["contact_mechanisms"], contacts)
        if actions:
            values["contact_mechanisms"] = actions
        actions = self._identifier_actions(party["identifiers"], tax)
        if actions:
            values["identifiers"] = actions
        self.rpc.model("party.party", "write", [party_id], values)
        return party_id, False

    def _address_values(self, address: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(address)
        if "country" in values:
            country = values["country"]
            values["country"] = (
                self._lookup("country.country", "code", str(country).upper()) if country else None
            )
        return values

    def _address_actions(self, ids: list[int], address: Mapping[str, Any]) -> list[Any]:
        if not address:
            return []
        if ids:
            # The first address is golden's; others (a delivery address added in Tryton)
            # are left alone.
            return [["write", [ids[0]], dict(address)]]
        if any(v not in (None, "") for v in address.values()):
            return [["create", [dict(address)]]]
        return []

    def _contact_actions(self, ids: list[int], contacts: Mapping[str, Any]) -> list[Any]:
        if not contacts:
            return []
        rows = self.rpc.model("party.contact_mechanism", "read", ids, ["type", "value"], **ALL)
        first: dict[str, dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: ids.index(r["id"])):
            first.setdefault(row["type"], row)
        actions: list[Any] = []
        for kind, value in contacts.items():
            current = first.get(kind)
            if value in (None, ""):
                if current:
                    actions.append(["delete", [current["id"]]])
            elif current is None:
                actions.append(["create", [{"type": kind, "value": str(value)}]])
            elif current["value"] != str(value):
                actions.append(["write", [current["id"]], {"value": str(value)}])
        return actions

    def _identifier_actions(self, ids: list[int], tax: Any) -> list[Any]:
        rows = self.rpc.model("party.identifier", "read", ids, ["type", "code"], **ALL)
        owned = [r for r in rows if r["type"] in TAX_IDENTIFIER_TYPES]
        if tax:
            wanted = (tax_identifier_type(str(tax)), compact(tax))
            if [(r["type"], compact(r["code"])) for r in owned] == [wanted]:
                return []
        actions: list[Any] = []
        if owned:
            actions.append(["delete", [r["id"] for r in owned]])
        if tax:
            actions.append(["create", [{"type": tax_identifier_type(str(tax)), "code": str(tax)}]])
        return actions

    def _party_id(self, code: str) -> int | None:
        found = self.rpc.model("party.party", "search", [("code", "=", code)], 0, 1, None, **ALL)
        return found[0] if found else None

    def _company(self, canonical_id: str) -> dict[str, Any] | None:
        found = self.rpc.model(
            "company.company",
            "search_read",
            [("party.code", "=", canonical_id)],
            0,
            1,
            None,
            ["id", "party"],
            **ALL,
        )
        return found[0] if found else None

    def _join_company(self, company_id: int) -> None:
        """The API user must be a member of a company to write its projects (Tryton's
        "User in companies" rule) and see all of them (company filter "all")."""
        user_id = self.rpc.user_id
        [user] = self.rpc.model(
            "res.user", "read", [user_id], ["companies", "company", "company_filter"]
        )
        values: dict[str, Any] = {}
        if company_id not in user["companies"]:
            values["companies"] = [["add", [company_id]]]
        if user["company_filter"] != "all":
            values["company_filter"] = "all"
        if not user["company"]:
            values["company"] = company_id
        if values:
            self.rpc.model("res.user", "write", [user_id], values)

    def _read_party(self, party_id: int) -> dict[str, Any]:
        fields = ["code", "name", "active", "addresses", "contact_mechanisms", "identifiers"]
        [party] = self.rpc.model("party.party", "read", [party_id], fields, **ALL)
        party["addresses"] = self.rpc.model(
            "party.address",
            "read",
            party["addresses"],
            ["street", "city", "postal_code", "country.code"],
            **ALL,
        )
        for address in party["addresses"]:
            address["country"] = (address.pop("country.", None) or {}).get("code")
        party["contact_mechanisms"] = self.rpc.model(
            "party.contact_mechanism", "read", party["contact_mechanisms"], ["type", "value"], **ALL
        )
        party["identifiers"] = self.rpc.model(
            "party.identifier", "read", party["identifiers"], ["type", "code"], **ALL
        )
        party["active"] = bool(party["active"])  # SQLite answers 0/1
        return decode(party)

    # -- service codes: service products -----------------------------------------------
    def _upsert_service(self, delivery: Delivery, mapping: ObjectMapping) -> tuple[int, bool]:
        canonical = delivery.canonical_id
        values = mapped_fields(mapping, delivery.attributes)
        template: dict[str, Any] = {k: v for k, v in values.items() if k in ("name", "code")}
        if "default_uom" in values:
            symbol = UOM_SYMBOLS.get(str(values["default_uom"] or ""), DEFAULT_UOM_SYMBOL)
            template["default_uom"] = self._lookup("product.uom", "symbol", symbol)
        product = self._product(canonical, template.get("code"))
        if product is None:
            variant = {"identifiers": [["create", [{"type": None, "code": canonical}]]]}
            template.update(type="service", active=True, products=[["create", [variant]]])
            [template_id] = self.rpc.model("product.template", "create", [template])
            found = self.rpc.model(
                "product.product", "search", [("template", "=", template_id)], 0, 1, None, **ALL
            )
            return found[0], True
        if not product["active"]:
            # An inactive product is read-only in Tryton: reactivate it, then write.
            self.rpc.model("product.template", "write", [product["template"]], {"active": True})
            self.rpc.model("product.product", "write", [product["id"]], {"active": True})
        # Tryton refuses to change a product's code once set (when product codes come
        # from a sequence): send it only when golden's code really changed.
        if template.get("code") == product["code"]:
            template.pop("code")
        if template.get("default_uom") == product["default_uom"]:
            template.pop("default_uom")
        self.rpc.model(
            "product.template", "write", [product["template"]], {**template, "active": True}
        )
        if not product["tagged"]:
            tag = {"identifiers": [["create", [{"type": None, "code": canonical}]]]}
            self.rpc.model("product.product", "write", [product["id"]], tag)
        return product["id"], False

    def _product(self, canonical_id: str, code: str | None) -> dict[str, Any] | None:
        """The service product: tagged with the canonical ID (an untyped product
        identifier), else the crosswalk's ID, else golden's code (an existing product
        is adopted and tagged)."""
        fields = ["id", "template", "code", "active", "default_uom"]
        domains: list[list[Any]] = [[("identifiers.code", "=", canonical_id)]]
        known = crosswalk_id(self.code, canonical_id)
        if known is not None:
            domains.append([("id", "=", known)])
        if code:
            domains.append([("code", "=", code), ("type", "=", "service")])
        for tagged, domain in enumerate(domains):
            found = self.rpc.model(
                "product.product", "search_read", domain, 0, 1, [("id", "ASC")], fields, **ALL
            )
            if found:
                return {**found[0], "tagged": tagged == 0}
        return None

    # -- projects ----------------------------------------------------------------------
    def _upsert_project(self, delivery: Delivery, mapping: ObjectMapping) -> tuple[int, bool]:
        values = mapped_fields(mapping, delivery.attributes)
        for name in ("timesheet_start_date", "timesheet_end_date"):
            if name in values:
                values[name] = as_date(values[name])
        refs = reference_ids(mapping, delivery.attributes, delivery.options)
        for target_field, ref in mapping.references.items():
            canonical = refs.get(target_field)
            if canonical is None:
                if ref.required:
                    raise AdapterError(
                        f"Tryton project needs a {ref.entity_type.replace('_', ' ')}",
                        permanent=True,
                    )
                values[target_field] = None
            elif ref.entity_type == L:
                company = self._company(canonical)
                if company is None:
                    raise AdapterError(f"Tryton has no company for {canonical}", permanent=True)
                values[target_field] = company["id"]
            else:
                party_id = self._party_id(canonical)
                if party_id is None:
                    raise AdapterError(f"Tryton has no party {canonical}", permanent=True)
                values[target_field] = party_id
        values.update(
            type="project",
            timesheet_available=True,
            comment=marker(delivery.canonical_id),
            **self._status(done=delivery.attributes.get("status") == "closed"),
        )
        work_id = self._work_id(delivery.canonical_id)
        if work_id is None:
            [work_id] = self.rpc.model("project.work", "create", [values])
            return work_id, True
        self.rpc.model("project.work", "write", [work_id], values)
        return work_id, False

    def _work_id(self, canonical_id: str) -> int | None:
        """The crosswalk's ID (unless that work is another record's), else the work whose
        comment carries our marker (a create whose answer was lost)."""
        tag = marker(canonical_id)
        known = crosswalk_id(self.code, canonical_id)
        if known is not None:
            found = self.rpc.model(
                "project.work", "search_read", [("id", "=", known)], 0, 1, None, ["comment"]
            )
            if found:
                comment = found[0].get("comment") or ""
                if tag in comment or "[mdm:" not in comment:
                    return known
        found = self.rpc.model(
            "project.work",
            "search",
            # Canonical IDs hold no LIKE wildcards (SQLite has no default escape).
            [("comment", "like", f"%{tag}%")],
            0,
            1,
            [("id", "ASC")],
        )
        return found[0] if found else None

    def _status(self, *, done: bool) -> dict[str, Any]:
        """Done needs 100 % progress in Tryton; reopening leaves the progress alone."""
        if done:
            return {"status": self._status_id(done=True), "progress": 1.0}
        return {"status": self._status_id(done=False)}

    def _status_id(self, *, done: bool) -> int:
        """Tryton's project status: Done (progress 1) or the default (Open)."""
        key = ("project.work.status", "done" if done else "open")
        self._fresh_lookups()
        if key not in self._lookups:
            rows = self.rpc.model(
                "project.work.status",
                "search_read",
                [("types", "in", ["project"])],
                0,
                None,
                None,
                ["id", "progress", "default"],
            )
            done_rows = [r for r in rows if r.get("progress") == 1]
            open_rows = [r for r in rows if r.get("default")] or [
                r for r in rows if r not in done_rows
            ]
            if not done_rows or not open_rows:
                raise AdapterError("Tryton has no Open/Done project statuses", permanent=True)
            self._lookups[("project.work.status", "done")] = done_rows[0]["id"]
            self._lookups[("project.work.status", "open")] = open_rows[0]["id"]
        return self._lookups[key]

    # -- reference data ----------------------------------------------------------------
    def _lookup(self, model: str, field: str, value: str) -> int:
        """The ID of a currency, country or unit by its code; a missing one is permanent
        (reference data is the ERP's, not ours)."""
        self._fresh_lookups()
        key = (model, value)
        if key not in self._lookups:
            found = self.rpc.model(model, "search", [(field, "=", value)], 0, 1, None)
            if not found:
                raise AdapterError(f"Tryton has no {model} with {field} {value!r}", permanent=True)
            self._lookups[key] = found[0]
        return self._lookups[key]

    def _fresh_lookups(self) -> None:
        # A new login may mean a restored or different database: look things up again.
        if self._lookups_for != self.rpc.logins:
            self._lookups.clear()
            self._lookups_for = self.rpc.logins
