"""Field mappings, one place: per adapter and entity type, which target object, which
target field takes which golden attribute, and which fields reference other golden
records (those must exist in the target first).

A target can override fields in ``MDM_TARGETS[code]["field_mappings"]``, e.g.
``{"customer": {"fields": {"Site": "city"}}}`` (``None`` as the attribute drops a field).
Values that need more than a copy (status flags, currency references) are set in the
adapter module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from golden.entities import EntityType


@dataclass(frozen=True)
class Reference:
    """A target field pointing at another golden record: the canonical ID comes from the
    golden ``attribute``, or from the route's ``option`` (e.g. a fixed subsidiary)."""

    entity_type: str
    attribute: str | None = None
    option: str | None = None
    required: bool = False


@dataclass(frozen=True)
class ObjectMapping:
    object_type: str
    fields: Mapping[str, str] = field(default_factory=dict)  # target field -> attribute
    references: Mapping[str, Reference] = field(default_factory=dict)


C, L, P, S = (
    EntityType.CUSTOMER,
    EntityType.LEGAL_ENTITY,
    EntityType.PROJECT,
    EntityType.SERVICE_CODE,
)

FIELD_MAPPINGS: dict[str, dict[str, ObjectMapping]] = {
    "salesforce": {
        C: ObjectMapping(
            "Account",
            {
                "Name": "name",
                "Website": "website",
                "Phone": "phone",
                "Industry": "industry",
                "BillingStreet": "address_line1",
                "BillingCity": "city",
                "BillingState": "region",
                "BillingPostalCode": "postal_code",
                "BillingCountry": "country",
                "CurrencyIsoCode": "currency",
                "Tax_Id__c": "tax_id",
            },
            {"Parent": Reference(C, attribute="parent_customer")},
        ),
        # Certinia PSA projects live in the same org (pse__Proj__c).
        P: ObjectMapping(
            "pse__Proj__c",
            {
                "Name": "name",
                "pse__Start_Date__c": "start_date",
                "pse__End_Date__c": "end_date",
                "pse__Billing_Type__c": "billing_method",
                "CurrencyIsoCode": "currency",
            },
            {"pse__Account__r": Reference(C, attribute="customer", required=True)},
        ),
        S: ObjectMapping(
            "Product2",
            {
                "Name": "name",
                "ProductCode": "code",
                "Family": "category",
                "QuantityUnitOfMeasure": "unit",
            },
        ),
    },
    "netsuite": {
        C: ObjectMapping(
            "customer",
            {
                "companyName": "name",
                "email": "email",
                "phone": "phone",
                "url": "website",
                "defaultTaxReg": "tax_id",
            },
            {
                "parent": Reference(C, attribute="parent_customer"),
                # Customers carry no legal entity of their own: the route names it.
                "subsidiary": Reference(L, option="subsidiary", required=True),
            },
        ),
        L: ObjectMapping(
            "subsidiary",
            {"name": "name", "legalName": "name", "federalIdNumber": "tax_id"},
        ),
        P: ObjectMapping(
            "job",
            {
                "companyName": "name",
                "entityId": "code",
                "startDate": "start_date",
                "projectedEndDate": "end_date",
            },
            {
                "parent": Reference(C, attribute="customer", required=True),
                "subsidiary": Reference(L, attribute="billing_legal_entity", required=True),
            },
        ),
        S: ObjectMapping(
            "serviceSaleItem",
            {"itemId": "code", "displayName": "name", "salesDescription": "category"},
        ),
    },
    # Kantata OX: a customer is a workspace group flagged as a company (name unique per
    # account; address, notes and the flag are set in adapters/kantata.py), a project a
    # workspace that joins its customer's group. Legal entities and service codes have
    # no Kantata object here, so those routes are not sent.
    "kantata": {
        C: ObjectMapping(
            "WorkspaceGroup",
            {"name": "name", "email": "email", "phone_number": "phone", "website": "website"},
        ),
        P: ObjectMapping(
            "Workspace",
            {
                "title": "name",
                "currency": "currency",
                "start_date": "start_date",
                "due_date": "end_date",
            },
            {"workspace_group": Reference(C, attribute="customer")},
        ),
    },
    # Tryton (a real ERP over JSON-RPC; adapters/tryton.py). Plain names are fields of the
    # object itself; prefixed ones go where Tryton keeps them: "address.<field>" on the
    # party's first address (country by ISO code), "contact.<type>" a contact mechanism of
    # that type, "identifier.tax" the tax identifier, "company.currency" the company's
    # currency (ISO code). Customers and legal entities are parties keyed by
    # ``party.code`` = canonical ID; a legal entity is the company on that party.
    "tryton": {
        C: ObjectMapping(
            "party.party",
            {
                "name": "name",
                "address.street": "address_line1",
                "address.city": "city",
                "address.postal_code": "postal_code",
                "address.country": "country",
                "contact.email": "email",
                "contact.phone": "phone",
                "contact.website": "website",
                "identifier.tax": "tax_id",
            },
        ),
        L: ObjectMapping(
            "company.company",
            {
                "name": "name",
                "address.street": "address_line1",
                "address.city": "city",
                "address.postal_code": "postal_code",
                "address.country": "country",
                "identifier.tax": "tax_id",
                "company.currency": "base_currency",
            },
        ),
        # A service product: the template carries name, code (golden's service code) and
        # unit; the crosswalk keeps the product.product ID.
        S: ObjectMapping(
            "product.product",
            {"name": "name", "code": "code", "default_uom": "unit"},
        ),
        # project.work's number is assigned by Tryton and read-only: the crosswalk keeps
        # the work's ID. Time can be booked on it between the start and end dates.
        P: ObjectMapping(
            "project.work",
            {
                "name": "name",
                "timesheet_start_date": "start_date",
                "timesheet_end_date": "end_date",
            },
            {
                "party": Reference(C, attribute="customer", required=True),
                "company": Reference(L, attribute="billing_legal_entity", required=True),
            },
        ),
    },
}


def mapping_for(
    adapter: str, entity_type: str, overrides: Mapping[str, Any] | None = None
) -> ObjectMapping | None:
    base = FIELD_MAPPINGS.get(adapter, {}).get(entity_type)
    override = (overrides or {}).get(entity_type)
    if base is None or not override:
        return base
    fields = {**base.fields, **override.get("fields", {})}
    return replace(
        base,
        object_type=override.get("object_type", base.object_type),
        fields={k: v for k, v in fields.items() if v},
    )


def mapped_fields(mapping: ObjectMapping, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Target field -> value for the plain fields. Golden is the master of every mapped
    field, so an attribute golden no longer has is sent as null (cleared in the target)."""
    return {
        target: (None if attributes.get(attribute) in (None, "") else attributes[attribute])
        for target, attribute in mapping.fields.items()
    }


def reference_ids(
    mapping: ObjectMapping, attributes: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, str]:
    """Target field -> canonical ID of the referenced record, for references that are set."""
    out: dict[str, str] = {}
    for target, ref in mapping.references.items():
        value = attributes.get(ref.attribute) if ref.attribute else options.get(ref.option or "")
        if value:
            out[target] = str(value)
    return out
