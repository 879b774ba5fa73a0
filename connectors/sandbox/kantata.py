"""Kantata OX (formerly Mavenlink) API sandbox (PSA).

Reproduces the research note's documented subset:

- `Authorization: Bearer <token>`; 401 `{"errors": [{"type": "oauth", "message": "Invalid
  OAuth 2 Request"}]}` (the shape in Kantata's "Errors" section).
- Projects are workspaces: `GET|POST /api/v1/workspaces(.json)`, `GET|PUT
  /api/v1/workspaces/<id>(.json)`; bodies wrapped as `{"workspace": {...}}`; creating needs
  `title` and `creator_role` (the validation messages are the documented examples).
- Workspaces have no upsert: External References are the key.
  `POST /api/v1/external_references/create_or_update` with `{"external_reference":
  {subject_type, subject_id, service_name, service_model, service_model_ref, status…}}`,
  `GET /api/v1/external_references?subject_type=…` (subject_type required), and workspaces
  filterable by `external_reference_service_name` / `…_service_model` / `…_service_model_ref(s)`.
- Clients are workspace groups: `GET|POST /api/v1/workspace_groups(.json)`, `GET|PUT|DELETE
  /api/v1/workspace_groups/<id>(.json)`; bodies wrapped as `{"workspace_group": {...}}` with
  `name` (required, unique without regard to case), `company`, `contact_name`, `email`,
  `phone_number`, `address`, `website`, `notes` (the names of the documented update body),
  and `add_workspace_ids` / `remove_workspace_ids` for membership (a workspace may sit in
  several groups). DELETE
  answers 204 with no body. `include=workspaces` on a group, and `include=workspace_groups` on
  a workspace, add the other side's IDs (`workspace_ids` / `workspace_group_ids`) and the
  objects under their own top-level key.
- External references work for `Workspace` and `WorkspaceGroup` subjects alike.
- Responses: top-level `count`, `results` (`[{"key": "workspaces", "id": "10"}]`, sorted) and
  the objects keyed by ID under their type; ids are strings.
- 429 on rate limit, deliberately without Retry-After or X-RateLimit headers (none is
  documented or was observed).

Unverified in the note, chosen here: validation errors answer 422 (a taken group name:
"Name has already been taken", field `name`, Rails' wording); `create_or_update` matches an
existing reference by (subject_type, subject_id, service_name, service_model); unknown
attributes are ignored, as a Rails strong-parameters API does; POST answers 200; groups list
with `search` (a case-insensitive part of the name), `company` and `only`; deleting a group
deletes its external references and leaves its workspaces alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, ClassVar

from .base import ApiError, Request, Response, Route, SandboxApp, route
from .store import StoredRecord, Tx

API = r"/api/v1"
JSON_SUFFIX = r"(?:\.json)?"
WORKSPACE = "workspaces"
GROUP = "workspace_groups"
REFERENCE = "external_references"
SUBJECT_TYPES = frozenset(
    "Assignment BillingMilestone CustomField CustomFieldChoice CustomFieldSet CustomFieldValue "
    "Estimate EstimateScenario EstimateScenarioResource Expense ExpenseBudget Invoice "
    "Participation Post RateCard Role Skill StatusReport Story StoryAllocationDay Submission "
    "SurveyAnswer SurveyQuestion SurveyResponse SurveyTemplate TimeEntry TimeOffEntry User "
    "Vendor Workspace WorkspaceAllocation WorkspaceGroup WorkspaceResource".split()
)
# subject types whose objects this sandbox holds
MODELLED_SUBJECTS = {"Workspace": WORKSPACE, "WorkspaceGroup": GROUP}
WORKSPACE_FIELDS = {
    "title": str,
    "description": str,
    "creator_role": str,
    "budgeted": bool,
    "price": str,
    "currency": str,
    "start_date": "date",
    "due_date": "date",
    "archived": bool,
    "project_code": str,
}
CREATOR_ROLES = ("maven", "buyer")
GROUP_FIELDS = {
    "name": str,
    "company": bool,
    "contact_name": str,
    "email": str,
    "phone_number": str,
    "address": str,
    "website": str,
    "notes": str,
}
MEMBERSHIP_CHANGES = ("add_workspace_ids", "remove_workspace_ids")
REFERENCE_FIELDS = (
    "subject_type",
    "subject_id",
    "service_name",
    "service_model",
    "service_model_ref",
    "status",
    "external_status",
    "external_link",
    "external_message",
    "locked",
)
REFERENCE_STATUSES = ("pending", "successful", "failed")
REFERENCE_FILTERS = (
    "service_name",
    "service_model",
    "service_model_ref",
    "status",
    "external_status",
    "external_message",
)


class KantataSandbox(SandboxApp):
    kind = "psa"
    label = "Kantata OX"
    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        "tokens": ["kantata-sandbox-token"],  # OAuth bearer tokens the account accepts
        "per_page_max": 200,
    }
    ERRORS: ClassVar[dict[str, tuple[int, str, str]]] = {
        "unauthorized": (401, "oauth", "Invalid OAuth 2 Request"),
        "not_found": (404, "system", "Not Found"),
        "method_not_allowed": (405, "system", "Method Not Allowed"),
        "malformed_json": (400, "system", "The request body could not be parsed"),
        "server_error": (500, "system", "Something went wrong. Please try again later."),
        "unavailable": (503, "system", "Service Unavailable"),
        "rate_limited": (429, "system", "Too Many Requests. Retry after a small delay."),
        "concurrency": (429, "system", "Too Many Requests. Retry after a small delay."),
    }

    def routes(self) -> list[Route]:
        one = API + r"/workspaces/(?P<workspace_id>\d+)" + JSON_SUFFIX
        groups = API + r"/workspace_groups" + JSON_SUFFIX
        group = API + r"/workspace_groups/(?P<group_id>\d+)" + JSON_SUFFIX
        refs = API + r"/external_references"
        return [
            route("GET", API + r"/workspaces" + JSON_SUFFIX, self.list_workspaces),
            route("POST", API + r"/workspaces" + JSON_SUFFIX, self.create_workspace, write=True),
            route("GET", one, self.get_workspace),
            route("PUT", one, self.update_workspace, write=True),
            route("GET", groups, self.list_groups),
            route("POST", groups, self.create_group, write=True),
            route("GET", group, self.get_group),
            route("PUT", group, self.update_group, write=True),
            route("DELETE", group, self.delete_group, write=True),
            route("GET", refs + JSON_SUFFIX, self.list_references),
            route(
                "POST", refs + r"/create_or_update" + JSON_SUFFIX, self.create_or_update, write=True
            ),
        ]

    # -- vendor hooks ----------------------------------------------------------------------
    def error_response(self, status: int, code: str, message: str) -> Response:
        return Response(status, {"errors": [{"type": code, "message": message}]})

    def authenticate(self, req: Request) -> None:
        if req.bearer_token() not in self.config["tokens"]:
            raise self.fail("unauthorized")

    def new_id(self, tx: Tx, object_type: str) -> str:
        return str(tx.next_value(f"id:{object_type}"))

    # -- workspaces ------------------------------------------------------------------------
    def list_workspaces(self, req: Request) -> Response:
        with self.store.transaction() as tx:
            workspaces = tx.list(WORKSPACE)
            references = tx.list(REFERENCE)
            groups = tx.list(GROUP)
        workspaces = [w for w in workspaces if self._workspace_matches(req, w, references)]
        response = self._page(req, WORKSPACE, [_workspace_json(w) for w in workspaces])
        return _include_groups(req, response, groups)

    def get_workspace(self, req: Request, workspace_id: str) -> Response:
        with self.store.transaction() as tx:
            record = self._workspace(tx, workspace_id)
            groups = tx.list(GROUP)
        return _include_groups(req, _results(WORKSPACE, [_workspace_json(record)]), groups)

    def create_workspace(self, req: Request) -> Response:
        attrs = self._attributes(req, "workspace")
        with self.store.transaction() as tx:
            fields = self._validated_workspace(attrs, {})
            record = tx.insert(WORKSPACE, None, self.new_id(tx, WORKSPACE), fields)
        return _results(WORKSPACE, [_workspace_json(record)])

    def update_workspace(self, req: Request, workspace_id: str) -> Response:
        attrs = self._attributes(req, "workspace")
        with self.store.transaction() as tx:
            record = self._workspace(tx, workspace_id)
            fields = self._validated_workspace(attrs, record.fields)
            record = tx.update(record, {**record.fields, **fields})
            groups = tx.list(GROUP)
        return _include_groups(req, _results(WORKSPACE, [_workspace_json(record)]), groups)

    def _validated_workspace(
        self, attrs: dict[str, Any], current: dict[str, Any]
    ) -> dict[str, Any]:
        fields = {
            k: _from_form(WORKSPACE_FIELDS[k], v) for k, v in attrs.items() if k in WORKSPACE_FIELDS
        }
        merged = {**current, **fields}
        errors = []
        if not str(merged.get("title") or "").strip():
            errors.append(_invalid("Please give your project a title", "title"))
        if merged.get("creator_role") not in CREATOR_ROLES:
            errors.append(_invalid("Please select a role for this project", "creator_role"))
        for name, value in fields.items():
            if value is not None and not _typed(WORKSPACE_FIELDS[name], value):
                errors.append(_invalid(f"{name.replace('_', ' ').capitalize()} is invalid", name))
        if errors:
            raise ApiError(Response(422, {"errors": errors}))
        return fields

    def _workspace(self, tx: Tx, workspace_id: str) -> StoredRecord:
        record = tx.get(WORKSPACE, workspace_id)
        if record is None:
            raise self.fail("not_found", f"Workspace {workspace_id} not found")
        return record

    def _workspace_matches(
        self, req: Request, record: StoredRecord, refs: list[StoredRecord]
    ) -> bool:
        if not _listed(req, record):
            return False
        search = (req.arg("search") or "").lower()
        if search and search not in str(record.fields.get("title", "")).lower():
            return False
        if record.fields.get("archived") and req.arg("include_archived") != "true":
            return False
        mine = [
            r.fields
            for r in refs
            if r.fields["subject_type"] == "Workspace"
            and str(r.fields["subject_id"]) == record.sandbox_id
        ]
        return _reference_filters_match(req, mine)

    # -- workspace groups (clients) ----------------------------------------------------------
    def list_groups(self, req: Request) -> Response:
        with self.store.transaction() as tx:
            groups = tx.list(GROUP)
            workspaces = tx.list(WORKSPACE)
        groups = [g for g in groups if _group_matches(req, g)]
        response = self._page(req, GROUP, [_group_json(g) for g in groups])
        return _include_workspaces(req, response, groups, workspaces)

    def get_group(self, req: Request, group_id: str) -> Response:
        with self.store.transaction() as tx:
            record = self._group(tx, group_id)
            workspaces = tx.list(WORKSPACE)
        response = _results(GROUP, [_group_json(record)])
        return _include_workspaces(req, response, [record], workspaces)

    def create_group(self, req: Request) -> Response:
        attrs = self._attributes(req, "workspace_group")
        with self.store.transaction() as tx:
            fields = self._validated_group(tx, attrs, None)
            record = tx.insert(GROUP, None, self.new_id(tx, GROUP), fields)
            workspaces = tx.list(WORKSPACE)
        response = _results(GROUP, [_group_json(record)])
        return _include_workspaces(req, response, [record], workspaces)

    def update_group(self, req: Request, group_id: str) -> Response:
        attrs = self._attributes(req, "workspace_group")
        with self.store.transaction() as tx:
            record = self._group(tx, group_id)
            record = tx.update(record, self._validated_group(tx, attrs, record))
            workspaces = tx.list(WORKSPACE)
        response = _results(GROUP, [_group_json(record)])
        return _include_workspaces(req, response, [record], workspaces)

    def delete_group(self, req: Request, group_id: str) -> Response:
        """The group goes, with its external references; its workspaces stay."""
        with self.store.transaction() as tx:
            record = self._group(tx, group_id)
            tx.soft_delete(record)
            for reference in tx.list(REFERENCE):
                about = reference.fields
                if about["subject_type"] == "WorkspaceGroup" and about["subject_id"] == group_id:
                    tx.soft_delete(reference)
        return Response(204)

    def _validated_group(
        self, tx: Tx, attrs: dict[str, Any], current: StoredRecord | None
    ) -> dict[str, Any]:
        """The group's new stored fields (membership included), or 422 with every error."""
        fields = {k: _from_form(GROUP_FIELDS[k], v) for k, v in attrs.items() if k in GROUP_FIELDS}
        merged = {"company": False, **(current.fields if current else {}), **fields}
        errors = []
        name = str(merged.get("name") or "").strip()
        if not name:
            errors.append(_invalid("Name can't be blank", "name"))
        elif self._name_taken(tx, name, current):
            errors.append(_invalid("Name has already been taken", "name"))
        for field, value in fields.items():
            if value is not None and not _typed(GROUP_FIELDS[field], value):
                errors.append(_invalid(f"{field.replace('_', ' ').capitalize()} is invalid", field))
        changes = {key: _id_list(attrs.get(key)) for key in MEMBERSHIP_CHANGES}
        for key, ids in changes.items():
            if ids is None:
                errors.append(_invalid(f"{key.replace('_', ' ').capitalize()} is invalid", key))
        unknown = [i for i in changes["add_workspace_ids"] or () if tx.get(WORKSPACE, i) is None]
        if unknown:
            message = f"You do not have access to workspaces {', '.join(unknown)}"
            errors.append(_invalid(message, "add_workspace_ids"))
        if errors:
            raise ApiError(Response(422, {"errors": errors}))
        members = [
            i
            for i in merged.get("workspace_ids", [])
            if i not in (changes["remove_workspace_ids"] or ())
        ]
        members += [
            i for i in dict.fromkeys(changes["add_workspace_ids"] or ()) if i not in members
        ]
        return {**merged, "name": name, "workspace_ids": members}

    def _name_taken(self, tx: Tx, name: str, current: StoredRecord | None) -> bool:
        """Names are unique per account without regard to case."""
        wanted = name.casefold()
        return any(
            str(g.fields.get("name", "")).strip().casefold() == wanted
            for g in tx.list(GROUP)
            if current is None or g.pk != current.pk
        )

    def _group(self, tx: Tx, group_id: str) -> StoredRecord:
        record = tx.get(GROUP, group_id)
        if record is None or record.deleted:
            raise self.fail("not_found", f"Workspace group {group_id} not found")
        return record

    # -- external references ---------------------------------------------------------------
    def list_references(self, req: Request) -> Response:
        subject_type = req.arg("subject_type")
        if not subject_type:
            raise ApiError(
                Response(422, {"errors": [_invalid("subject_type is required", "subject_type")]})
            )
        with self.store.transaction() as tx:
            records = tx.list(REFERENCE)
        wanted_ids = set((req.arg("subject_ids") or req.arg("subject_id") or "").split(",")) - {""}
        matching = [
            r
            for r in records
            if r.fields["subject_type"] == subject_type
            and (not wanted_ids or str(r.fields["subject_id"]) in wanted_ids)
            and _reference_filters_match(req, [r.fields], prefix="")
        ]
        return self._page(req, REFERENCE, [self._reference_json(r) for r in matching])

    def create_or_update(self, req: Request) -> Response:
        attrs = self._attributes(req, "external_reference")
        with self.store.transaction() as tx:
            values = self._validated_reference(tx, attrs)
            record = self._save_reference(tx, values)
        return _results(REFERENCE, [self._reference_json(record)])

    def _validated_reference(self, tx: Tx, attrs: dict[str, Any]) -> dict[str, Any]:
        values = {k: attrs.get(k) for k in REFERENCE_FIELDS if k in attrs}
        errors = [
            _invalid(f"{name} can't be blank", name)
            for name in (
                "subject_type",
                "subject_id",
                "service_name",
                "service_model",
                "service_model_ref",
            )
            if values.get(name) in (None, "")
        ]
        subject_type = values.get("subject_type")
        if subject_type and subject_type not in SUBJECT_TYPES:
            errors.append(_invalid(f"Subject type {subject_type} is not valid", "subject_type"))
        if values.get("status") not in (None, *REFERENCE_STATUSES):
            errors.append(_invalid("Status must be one of pending, successful, failed", "status"))
        if not errors and subject_type in MODELLED_SUBJECTS:
            subject = tx.get(MODELLED_SUBJECTS[subject_type], str(values["subject_id"]))
            if subject is None or subject.deleted:
                errors.append(_invalid("Subject must exist", "subject"))
        if errors:
            raise ApiError(Response(422, {"errors": errors}))
        values["subject_id"] = str(values["subject_id"])
        values["service_model_ref"] = str(values["service_model_ref"])
        return values

    def _save_reference(self, tx: Tx, values: dict[str, Any]) -> StoredRecord:
        key = ("subject_type", "subject_id", "service_name", "service_model")
        existing = next(
            (r for r in tx.list(REFERENCE) if all(r.fields.get(k) == values[k] for k in key)), None
        )
        if existing is None:
            fields = {"status": "pending", **values}
            record = tx.insert(
                REFERENCE, values["service_model_ref"], self.new_id(tx, REFERENCE), fields
            )
        else:
            record = tx.update(existing, {**existing.fields, **values})
            record = tx.set_external_id(record, values["service_model_ref"])
        self._index_subject(tx, values)
        return record

    def _index_subject(self, tx: Tx, values: dict[str, Any]) -> None:
        """Show the external ID beside its subject in `/_sandbox/records` (not a write)."""
        object_type = MODELLED_SUBJECTS.get(values["subject_type"])
        subject = tx.get(object_type, values["subject_id"]) if object_type else None
        if subject is not None:
            tx.set_external_id(subject, values["service_model_ref"])

    def _reference_json(self, record: StoredRecord) -> dict[str, Any]:
        return _record_json(record, REFERENCE_FIELDS, last_synced_at=record.updated_at.isoformat())

    # -- helpers ---------------------------------------------------------------------------
    def _attributes(self, req: Request, wrapper: str) -> dict[str, Any]:
        content_type = req.header("Content-Type") or ""
        body = (
            _rails_form(req.form())
            if "x-www-form-urlencoded" in content_type
            else self.parse_json(req)
        )
        attrs = body.get(wrapper) if isinstance(body, dict) else None
        if not isinstance(attrs, dict):
            msg = f"The request body must contain a {wrapper} object"
            raise ApiError(Response(422, {"errors": [_invalid(msg, wrapper)]}))
        return attrs

    def _page(self, req: Request, key: str, objects: list[dict[str, Any]]) -> Response:
        per_page = min(int(req.arg("per_page", "20") or 20), int(self.config["per_page_max"]))
        page = max(1, int(req.arg("page", "1") or 1))
        shown = objects[(page - 1) * per_page : page * per_page]
        response = _results(key, shown)
        response.body["count"] = len(objects)  # the total across pages, as Kantata reports it
        page_count = max(1, -(-len(objects) // per_page))
        response.body["meta"] = {
            "count": len(objects),
            "page_count": page_count,
            "page_number": page,
            "page_size": per_page,
        }
        return response


def _results(key: str, objects: list[dict[str, Any]]) -> Response:
    """Kantata's envelope: sorted `results` references plus the objects keyed by ID."""
    ordered = sorted(objects, key=lambda o: int(o["id"]))
    return Response(
        200,
        {
            "count": len(ordered),
            "results": [{"key": key, "id": o["id"]} for o in ordered],
            key: {o["id"]: o for o in ordered},
        },
    )


def _includes(req: Request) -> set[str]:
    return set((req.arg("include") or "").split(",")) - {""}


def _include_groups(req: Request, response: Response, groups: list[StoredRecord]) -> Response:
    """`include=workspace_groups` on workspaces: each names its groups, which come along."""
    if "workspace_groups" not in _includes(req):
        return response
    shown: dict[str, dict[str, Any]] = {}
    for workspace in response.body[WORKSPACE].values():
        mine = [g for g in groups if workspace["id"] in g.fields.get("workspace_ids", [])]
        workspace["workspace_group_ids"] = [g.sandbox_id for g in mine]
        shown.update({g.sandbox_id: _group_json(g) for g in mine})
    response.body[GROUP] = shown
    return response


def _include_workspaces(
    req: Request,
    response: Response,
    groups: list[StoredRecord],
    workspaces: list[StoredRecord],
) -> Response:
    """`include=workspaces` on groups: each lists its workspaces, which come along."""
    if "workspaces" not in _includes(req):
        return response
    by_id = {w.sandbox_id: w for w in workspaces}
    members = {g.sandbox_id: g.fields.get("workspace_ids", []) for g in groups}
    shown: dict[str, dict[str, Any]] = {}
    for group in response.body[GROUP].values():
        group["workspace_ids"] = [i for i in members.get(group["id"], []) if i in by_id]
        shown.update({i: _workspace_json(by_id[i]) for i in group["workspace_ids"]})
    response.body[WORKSPACE] = shown
    return response


def _listed(req: Request, record: StoredRecord) -> bool:
    """`only=<id>,<id>` keeps the listed records; without it, every record."""
    only = req.arg("only")
    return not only or record.sandbox_id in only.split(",")


def _group_matches(req: Request, record: StoredRecord) -> bool:
    if not _listed(req, record):
        return False
    search = (req.arg("search") or "").casefold()
    if search and search not in str(record.fields.get("name", "")).casefold():
        return False
    company = req.arg("company")
    return company is None or bool(record.fields.get("company")) == (company == "true")


def _record_json(record: StoredRecord, names: Iterable[str], **extra: str) -> dict[str, Any]:
    """A stored record as Kantata shows it: its ID, the named fields, then its timestamps."""
    return {
        "id": record.sandbox_id,
        **{name: record.fields.get(name) for name in names},
        **extra,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def _workspace_json(record: StoredRecord) -> dict[str, Any]:
    return _record_json(record, WORKSPACE_FIELDS)


def _group_json(record: StoredRecord) -> dict[str, Any]:
    return _record_json(record, GROUP_FIELDS)


def _id_list(value: Any) -> list[str] | None:
    """IDs as Kantata takes them: an array of integers or numeric strings (None: invalid)."""
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    ids = [str(v) for v in value if not isinstance(v, bool)]
    return ids if len(ids) == len(value) and all(i.isdigit() for i in ids) else None


def _reference_filters_match(
    req: Request, references: list[dict[str, Any]], *, prefix: str = "external_reference_"
) -> bool:
    """Workspaces filter on `external_reference_<field>`; references on `<field>` itself."""
    wanted = {f: req.arg(prefix + f) for f in REFERENCE_FILTERS if req.arg(prefix + f)}
    refs_list = req.arg(prefix + "service_model_refs")
    if prefix and req.arg("has_external_references") is not None:
        if (req.arg("has_external_references") == "true") != bool(references):
            return False
    if not wanted and not refs_list:
        return True
    allowed_refs = set(refs_list.split(",")) if refs_list else None
    return any(
        all(str(ref.get(f)) == v for f, v in wanted.items())
        and (allowed_refs is None or str(ref.get("service_model_ref")) in allowed_refs)
        for ref in references
    )


def _invalid(message: str, field: str) -> dict[str, str]:
    return {"type": "validation", "message": message, "field": field}


def _typed(kind: Any, value: Any) -> bool:
    if kind == "date":
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return False
        return True
    if kind is str:
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def _from_form(kind: Any, value: Any) -> Any:
    """Form-encoded requests carry booleans as text."""
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


def _rails_form(form: dict[str, str]) -> dict[str, Any]:
    """`workspace[title]=X` → `{"workspace": {"title": "X"}}` (one level is all we need)."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        outer, _, inner = key.partition("[")
        if inner.endswith("]"):
            out.setdefault(outer, {})[inner[:-1]] = value
        else:
            out[key] = value
    return out
