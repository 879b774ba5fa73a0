"""Pre-send validation per target: required fields and formats, so a record the target
would reject stops here (exception queue, with a readable reason) instead of costing a
call; and the references that must already exist in the target (the message waits).

Rules are keyed by adapter and entity type; a route's options can relax some
(``{"require_tax_id": false}`` on the ERP customer route).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.adapters.base import Check, Delivery, Dependency
from connectors.adapters.mappings import ObjectMapping
from golden.entities import EntityType
from golden.normalize import normalize_tax_id

Rule = Callable[[Delivery], str | None]


def required(attribute: str, label: str | None = None) -> Rule:
    def rule(delivery: Delivery) -> str | None:
        if delivery.attributes.get(attribute) in (None, ""):
            return f"needs {label or attribute.replace('_', ' ')}"
        return None

    return rule


def valid_tax_id(delivery: Delivery) -> str | None:
    """A tax ID valid for the record's own country (checksum and country both)."""
    if not delivery.options.get("require_tax_id", True):
        return None
    value = delivery.attributes.get("tax_id")
    country = delivery.attributes.get("country")
    if not value:
        return "needs a tax ID"
    tax = normalize_tax_id(str(value), country)
    if tax is None or not tax.valid:
        return f"tax ID {value} is not valid"
    if country and tax.country and tax.country.upper() != str(country).upper():
        return f"tax ID {value} is not a {country} tax ID"
    return None


RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    ("netsuite", EntityType.CUSTOMER): (
        required("name"),
        required("country"),
        required("currency"),
        valid_tax_id,
    ),
    ("netsuite", EntityType.LEGAL_ENTITY): (
        required("name"),
        required("country"),
        required("base_currency", "a base currency"),
    ),
    ("netsuite", EntityType.PROJECT): (
        required("name"),
        required("billing_method", "a billing method"),
    ),
    ("netsuite", EntityType.SERVICE_CODE): (required("code"), required("name")),
    ("salesforce", EntityType.CUSTOMER): (required("name"),),
    ("salesforce", EntityType.PROJECT): (required("name"),),
    ("salesforce", EntityType.SERVICE_CODE): (required("name"), required("code")),
    ("kantata", EntityType.PROJECT): (required("name"),),
}


def check_delivery(adapter: str, label: str, mapping: ObjectMapping, delivery: Delivery) -> Check:
    """Problems (permanent) and dependencies (wait) of one delivery. A retire needs neither:
    it only deactivates what the target already holds."""
    check = Check()
    if delivery.operation != "upsert":
        return check
    for rule in RULES.get((adapter, delivery.entity_type), ()):
        problem = rule(delivery)
        if problem:
            check.problems.append(f"{label} {delivery.entity_type.replace('_', ' ')} {problem}")
    for target_field, ref in mapping.references.items():
        canonical = _reference_value(
            ref.attribute, ref.option, delivery.attributes, delivery.options
        )
        if canonical:
            check.dependencies.append(Dependency(target_field, ref.entity_type, str(canonical)))
        elif ref.attribute and ref.attribute in delivery.attributes:
            # Present but None: golden has not resolved the reference yet; the record
            # it names may still arrive (a new version will follow when it does).
            check.dependencies.append(Dependency(target_field, ref.entity_type, None))
        elif ref.required:
            where = f"route option {ref.option!r}" if ref.option else ref.attribute
            check.problems.append(
                f"{label} {delivery.entity_type.replace('_', ' ')} needs a "
                f"{ref.entity_type.replace('_', ' ')} ({where})"
            )
    return check


def _reference_value(
    attribute: str | None,
    option: str | None,
    attributes: Mapping[str, Any],
    options: Mapping[str, Any],
) -> Any:
    if attribute:
        return attributes.get(attribute)
    return options.get(option or "")
