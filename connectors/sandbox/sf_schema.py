"""The modelled Salesforce org: its objects, fields, record IDs and field validation.

Objects follow the research note: Account (customers), Product2 (service codes) and Certinia's
`pse__Proj__c` (projects; its field names are unverified in the note, so they are kept few).
Every object carries the MDM's external ID field `MDM_Id__c`, marked External ID + Unique.

Validation reproduces the documented error codes in the order Salesforce reports them:
unknown or read-only fields and wrongly typed values first (the body cannot even be
deserialised), then required fields, string lengths and references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from .store import Tx

EXTERNAL_ID_FIELD = "MDM_Id__c"
SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
STRING_TYPES = frozenset({"string", "textarea", "picklist", "url", "phone", "email"})


@dataclass(frozen=True)
class SField:
    name: str
    label: str
    type: str = (
        "string"  # string textarea picklist url phone email boolean double int date reference
    )
    length: int = 0
    required: bool = False
    reference_to: str | None = None
    relationship: str | None = None  # e.g. "Parent" for ParentId
    external_id: bool = False
    unique: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "length": self.length,
            "nillable": not self.required and self.type != "boolean",
            "createable": True,
            "updateable": True,
            "externalId": self.external_id,
            "unique": self.unique,
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship,
        }


def _s(name: str, label: str, length: int, **kw: Any) -> SField:
    return SField(name, label, kw.pop("type", "string"), length, **kw)


MDM_ID = SField(EXTERNAL_ID_FIELD, "MDM ID", "string", 255, external_id=True, unique=True)


@dataclass(frozen=True)
class SObjectType:
    name: str
    label: str
    key_prefix: str
    fields: tuple[SField, ...]

    def field(self, name: str) -> SField | None:
        """API names are case-insensitive in Salesforce."""
        lowered = name.lower()
        return next((f for f in self.fields if f.name.lower() == lowered), None)

    def by_relationship(self, name: str) -> SField | None:
        lowered = name.lower()
        return next(
            (f for f in self.fields if f.relationship and f.relationship.lower() == lowered), None
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "keyPrefix": self.key_prefix}


ACCOUNT = SObjectType(
    "Account",
    "Account",
    "001",
    (
        _s("Name", "Account Name", 255, required=True),
        _s("AccountNumber", "Account Number", 40),
        _s("Site", "Account Site", 80),
        _s("Type", "Account Type", 255, type="picklist"),
        _s("Industry", "Industry", 255, type="picklist"),
        _s("Phone", "Account Phone", 40, type="phone"),
        _s("Fax", "Account Fax", 40, type="phone"),
        _s("Website", "Website", 255, type="url"),
        _s("Description", "Account Description", 32000, type="textarea"),
        SField("NumberOfEmployees", "Employees", "int"),
        SField("AnnualRevenue", "Annual Revenue", "double"),
        _s("BillingStreet", "Billing Street", 255, type="textarea"),
        _s("BillingCity", "Billing City", 40),
        _s("BillingState", "Billing State/Province", 80),
        _s("BillingPostalCode", "Billing Zip/Postal Code", 20),
        _s("BillingCountry", "Billing Country", 80),
        _s("ShippingStreet", "Shipping Street", 255, type="textarea"),
        _s("ShippingCity", "Shipping City", 40),
        _s("ShippingState", "Shipping State/Province", 80),
        _s("ShippingPostalCode", "Shipping Zip/Postal Code", 20),
        _s("ShippingCountry", "Shipping Country", 80),
        _s("CurrencyIsoCode", "Account Currency", 3, type="picklist"),
        SField(
            "ParentId",
            "Parent Account ID",
            "reference",
            18,
            reference_to="Account",
            relationship="Parent",
        ),
        _s("Tax_Id__c", "Tax ID", 50),
        MDM_ID,
    ),
)
PRODUCT2 = SObjectType(
    "Product2",
    "Product",
    "01t",
    (
        _s("Name", "Product Name", 255, required=True),
        _s("ProductCode", "Product Code", 255),
        _s("Description", "Product Description", 4000, type="textarea"),
        SField("IsActive", "Active", "boolean"),
        _s("Family", "Product Family", 40, type="picklist"),
        _s("QuantityUnitOfMeasure", "Quantity Unit Of Measure", 255, type="picklist"),
        MDM_ID,
    ),
)
# Certinia PSA project. Custom objects get an org-specific key prefix; this one is ours.
PSE_PROJECT = SObjectType(
    "pse__Proj__c",
    "Project",
    "a2B",
    (
        _s("Name", "Project Name", 80, required=True),
        SField(
            "pse__Account__c",
            "Account",
            "reference",
            18,
            reference_to="Account",
            relationship="pse__Account__r",
        ),
        SField("pse__Is_Active__c", "Active", "boolean"),
        SField("pse__Is_Billable__c", "Billable", "boolean"),
        SField("pse__Start_Date__c", "Start Date", "date"),
        SField("pse__End_Date__c", "End Date", "date"),
        _s("pse__Stage__c", "Stage", 255, type="picklist"),
        _s("pse__Project_Type__c", "Project Type", 255, type="picklist"),
        _s("pse__Billing_Type__c", "Billing Type", 255, type="picklist"),
        _s("pse__Notes__c", "Notes", 32000, type="textarea"),
        _s("CurrencyIsoCode", "Currency ISO Code", 3, type="picklist"),
        MDM_ID,
    ),
)
SOBJECTS: dict[str, SObjectType] = {o.name.lower(): o for o in (ACCOUNT, PRODUCT2, PSE_PROJECT)}


def sobject(name: str) -> SObjectType | None:
    return SOBJECTS.get(name.lower())


# --------------------------------------------------------------------------------------
# Record IDs: 15 characters (3 key prefix, 2 pod, 1 reserved, 9 base-62) + 3 check characters
# --------------------------------------------------------------------------------------
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_CHARS = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?\Z")


def _checksum(id15: str) -> str:
    """The 18-character suffix: one letter per 5-character chunk, encoding its upper-case bits."""
    out = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, c in enumerate(id15[start : start + 5]) if "A" <= c <= "Z")
        out += _CHECK[bits]
    return out


def make_id(key_prefix: str, sequence: int) -> str:
    digits = ""
    while sequence:
        sequence, rem = divmod(sequence, 62)
        digits = _BASE62[rem] + digits
    id15 = f"{key_prefix}5g0{digits.rjust(9, '0')}"
    return id15 + _checksum(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character ID, or None if it is not an ID."""
    if not _ID_CHARS.match(value):
        return None
    id15 = value[:15]
    full = id15 + _checksum(id15)
    return full if len(value) == 15 or value[15:].upper() == full[15:] else None


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
Error = dict[str, Any]  # {"message", "errorCode", "fields"}


def error(code: str, message: str, fields: list[str] | None = None) -> Error:
    return {"message": message, "errorCode": code, "fields": fields or []}


class _Reject(Exception):
    def __init__(self, err: Error) -> None:
        super().__init__(err["message"])
        self.error = err


def validate(
    tx: Tx, otype: SObjectType, body: dict[str, Any], current: dict[str, Any]
) -> tuple[dict[str, Any], list[Error]]:
    """The field changes a write would make, or the errors Salesforce would answer.

    `current` is the stored record's fields ({} when creating); required and reference
    checks look at the record as it would be after the write.
    """
    try:
        changes = _deserialise(tx, otype, body)
    except _Reject as rejected:
        return {}, [rejected.error]
    merged = {**current, **changes}
    missing = [f.name for f in otype.fields if f.required and merged.get(f.name) in (None, "")]
    if missing:
        msg = f"Required fields are missing: [{', '.join(missing)}]"
        return {}, [error("REQUIRED_FIELD_MISSING", msg, missing)]
    for name, value in changes.items():
        sfield = otype.field(name)
        assert sfield is not None
        problem = _check_value(tx, sfield, value)
        if problem:
            return {}, [problem]
        if sfield.type == "reference" and value is not None:
            changes[name] = normalize_id(value)  # a 15-character ID is stored in its 18 form
    return changes, []


def _deserialise(tx: Tx, otype: SObjectType, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    readonly = [k for k in body if k.lower() in {s.lower() for s in SYSTEM_FIELDS}]
    if readonly:
        raise _Reject(
            error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                readonly,
            )
        )
    for key, value in body.items():
        if key == "attributes":
            continue
        ref_field = otype.by_relationship(key)
        if ref_field is not None and isinstance(value, dict):
            changes[ref_field.name] = _resolve_relationship(tx, ref_field, value)
            continue
        sfield = otype.field(key)
        if sfield is None:
            msg = f"No such column '{key}' on sobject of type {otype.name}"
            raise _Reject(error("INVALID_FIELD", msg))
        changes[sfield.name] = _coerce(sfield, value)
    return changes


def _resolve_relationship(tx: Tx, ref_field: SField, value: dict[str, Any]) -> str:
    """`"Parent": {"MDM_Id__c": "CUS-1"}` sets ParentId to that Account's ID."""
    target = sobject(ref_field.reference_to or "")
    keys = [k for k in value if k != "attributes"]
    ext = target.field(keys[0]) if target and len(keys) == 1 else None
    if target is None or ext is None or not ext.external_id:
        msg = f"The {ref_field.relationship} relationship needs exactly one external ID field"
        raise _Reject(error("INVALID_FIELD", msg))
    wanted = str(value[keys[0]])
    matches = tx.find(target.name, wanted)
    if not matches:
        msg = (
            f"Foreign key external ID: {wanted} not found for field {ext.name} in entity "
            f"{target.name}"
        )
        raise _Reject(error("INVALID_FIELD", msg))
    if len(matches) > 1:
        ids = ", ".join(m.sandbox_id for m in matches)
        msg = f"{ext.name}: more than one record found for external id field: [{ids}]"
        raise _Reject(error("DUPLICATE_EXTERNAL_ID", msg))
    return matches[0].sandbox_id


def _coerce(sfield: SField, value: Any) -> Any:
    """JSON value → stored value, or the JSON_PARSER_ERROR Salesforce answers."""
    if value is None:
        return None
    kind = sfield.type
    ok: Any = None
    if kind in STRING_TYPES or kind == "reference":
        ok = value if isinstance(value, str) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            ok = str(value)  # Salesforce reads a JSON number into a text field as text
    elif kind == "boolean":
        ok = value if isinstance(value, bool) else None
    elif kind in ("double", "int"):
        ok = _number(value, integer=kind == "int")
    elif kind == "date":
        ok = value if isinstance(value, str) and _is_date(value) else None
    if ok is None:
        token = (
            "VALUE_STRING" if isinstance(value, str) else f"VALUE_{type(value).__name__.upper()}"
        )
        msg = (
            f"Cannot deserialize instance of {kind} from {token} value {value} or request may "
            "be missing a required field"
        )
        raise _Reject(error("JSON_PARSER_ERROR", msg))
    return ok


def _number(value: Any, *, integer: bool) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    if integer:
        return int(value) if float(value).is_integer() else None
    return value


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _check_value(tx: Tx, sfield: SField, value: Any) -> Error | None:
    if value is None:
        return None
    if sfield.type in STRING_TYPES and sfield.length and len(value) > sfield.length:
        msg = f"{sfield.label}: data value too large: {value} (max length={sfield.length})"
        return error("STRING_TOO_LONG", msg, [sfield.name])
    if sfield.type == "reference":
        return _check_reference(tx, sfield, value)
    return None


def _check_reference(tx: Tx, sfield: SField, value: str) -> Error | None:
    full = normalize_id(value)
    if full is None:
        msg = f"{sfield.label}: id value of incorrect type: {value}"
        return error("MALFORMED_ID", msg, [sfield.name])
    target = sobject(sfield.reference_to or "")
    if target is None or not full.startswith(target.key_prefix):
        msg = f"{sfield.label}: id value of incorrect type: {value}"
        return error("FIELD_INTEGRITY_EXCEPTION", msg, [sfield.name])
    record = tx.get(target.name, full)
    if record is None or record.deleted:
        return error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [sfield.name])
    return None
