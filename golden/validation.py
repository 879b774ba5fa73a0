"""Validation and cleaning of one incoming source record, driven by ``golden.entities``.

Pure functions, no ORM: every entry point (API, CSV/JSONL command, demo loader) calls
``clean_record`` through ``golden.services.ingest_records`` and reports its field errors.
Errors reject the record; warnings keep it and say what was ignored (an invalid tax ID
is stored as received but never used as linking evidence).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pycountry
from django.utils.dateparse import parse_date, parse_datetime

from golden import normalize
from golden.entities import EntitySpec, FieldSpec

_WHITESPACE = re.compile(r"\s+")
_CHOICE_ALIASES = {
    "t_m": "tm",
    "t_and_m": "tm",
    "time_and_materials": "tm",
    "time_materials": "tm",
    "fixed": "fixed_fee",
    "fixed_price": "fixed_fee",
    "onhold": "on_hold",
    "hours": "hour",
    "days": "day",
    "months": "month",
}


@dataclass
class CleanRecord:
    """A record that passed validation, ready to store and link."""

    source_id: str
    cleaned: dict[str, Any]
    source_updated_at: datetime | None
    warnings: dict[str, list[str]] = field(default_factory=dict)


class RecordInvalid(Exception):
    """Field-level errors for one record: ``{field: [message, ...]}``."""

    def __init__(self, errors: dict[str, list[str]], source_id: str = "") -> None:
        super().__init__(errors)
        self.errors = errors
        self.source_id = source_id


def content_hash(payload: dict[str, Any]) -> str:
    """A stable hash of the payload as sent, so re-sending it is recognised as unchanged."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def clean_record(spec: EntitySpec, payload: Any, *, require_source_id: bool = True) -> CleanRecord:
    """Validate one raw record; raise ``RecordInvalid`` with every field error at once.
    A probe for search-before-create needs no ``source_id``."""
    if not isinstance(payload, dict):
        raise RecordInvalid({"non_field_errors": ["Each record must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for key, raw in payload.items():
        if raw is None or raw == "":
            continue
        if isinstance(raw, dict | list):
            errors[key] = ["Expected a single value, not an object or list."]
            continue
        values[key] = _WHITESPACE.sub(" ", str(raw)).strip()

    known = {SOURCE_ID_FIELD, UPDATED_AT_FIELD, *spec.field_names}
    for unknown in sorted(set(payload) - known):
        warnings[unknown] = ["Unknown field: kept in the raw payload, not mapped."]

    source_id = values.get(SOURCE_ID_FIELD, "")
    if not source_id and require_source_id:
        errors[SOURCE_ID_FIELD] = ["This field is required."]
    elif len(source_id) > 128:
        errors[SOURCE_ID_FIELD] = ["Ensure this value has at most 128 characters."]

    updated_at = None
    if UPDATED_AT_FIELD in values:
        updated_at = _parse_timestamp(values[UPDATED_AT_FIELD])
        if updated_at is None:
            errors[UPDATED_AT_FIELD] = [
                "Enter an ISO 8601 date-time, for example 2026-03-04T10:15:00Z."
            ]

    # Country first: tax IDs, phones and postal codes are read in its light.
    country = None
    cleaned: dict[str, Any] = {}
    for spec_field in spec.fields:
        value = values.get(spec_field.name)
        if value is None:
            if spec_field.required:
                errors[spec_field.name] = ["This field is required."]
            continue
        if len(value) > spec_field.max_length:
            errors[spec_field.name] = [
                f"Ensure this value has at most {spec_field.max_length} characters."
            ]
            continue
        if spec_field.kind == "country":
            country = normalize.normalize_country(value)
    for spec_field in spec.fields:
        value = values.get(spec_field.name)
        if value is None or spec_field.name in errors:
            continue
        try:
            result, warning = _clean_value(spec_field, value, country)
        except ValueError as exc:
            errors[spec_field.name] = [str(exc)]
            continue
        if warning:
            warnings[spec_field.name] = [warning]
        if result not in (None, ""):
            cleaned[spec_field.name] = result

    if (
        "start_date" in cleaned
        and "end_date" in cleaned
        and cleaned["end_date"] < cleaned["start_date"]
    ):
        errors["end_date"] = ["The end date is before the start date."]
    if errors:
        raise RecordInvalid(errors, source_id)

    return CleanRecord(source_id, cleaned, updated_at, warnings)


SOURCE_ID_FIELD = "source_id"
UPDATED_AT_FIELD = "updated_at"


def _parse_timestamp(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            parsed = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _clean_value(spec_field: FieldSpec, value: str, country: str | None) -> tuple[Any, str]:
    """Return (cleaned value, warning) or raise ValueError with the field's message."""
    kind = spec_field.kind
    if kind == "country":
        if country is None:
            raise ValueError(
                f"Unknown country {value!r}: use an ISO 3166 code or the country's name."
            )
        return country, ""
    if kind == "currency":
        currency = pycountry.currencies.get(alpha_3=value.upper())
        if currency is None:
            raise ValueError(f"Unknown currency {value!r}: use an ISO 4217 code such as EUR.")
        return currency.alpha_3, ""
    if kind == "choice":
        key = re.sub(r"[^a-z0-9]+", "_", value.lower().replace("&", "_and_")).strip("_")
        if key not in spec_field.choices:
            key = _CHOICE_ALIASES.get(key, key)
        if key not in spec_field.choices:
            raise ValueError(f"{value!r} is not one of: {', '.join(spec_field.choices)}.")
        return key, ""
    if kind == "date":
        try:
            day = parse_date(value)
        except ValueError:
            day = None
        if day is None:
            raise ValueError("Enter a date as YYYY-MM-DD.")
        return day.isoformat(), ""
    if kind == "tax_id":
        tax = normalize.normalize_tax_id(value, country)
        if tax is None:
            return None, ""
        if not tax.valid:
            return tax.value, "Not a valid tax ID for its country: stored, not used for matching."
        return tax.value, ""
    if kind == "registration":
        return normalize.normalize_registration_number(value, country) or value, ""
    if kind == "phone":
        phone = normalize.normalize_phone(value, country)
        if phone is None:
            return value, "Not a recognisable phone number: stored as sent."
        return phone, ""
    if kind == "email":
        email = normalize.normalize_email(value)
        if email is None:
            raise ValueError("Enter a valid email address.")
        return email, ""
    if kind == "url":
        if " " in value or normalize.normalize_domain(value) is None:
            raise ValueError("Enter a valid website address, for example https://example.com.")
        return value, ""
    if kind == "code":
        return re.sub(r"\s+", "", value.upper()), ""
    return value, ""
