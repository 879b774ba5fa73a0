"""What each entity type is made of: fields, their kinds, identity keys, attribute groups.

One declarative table drives ingest validation, the golden attributes, survivorship
groups and the API's field documentation, so adding a field is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class EntityType:
    CUSTOMER = "customer"
    LEGAL_ENTITY = "legal_entity"
    PROJECT = "project"
    SERVICE_CODE = "service_code"

    CHOICES = [
        (CUSTOMER, "Customer"),
        (LEGAL_ENTITY, "Legal entity"),
        (PROJECT, "Project"),
        (SERVICE_CODE, "Service code"),
    ]


@dataclass(frozen=True)
class FieldSpec:
    """One attribute as sources send it.

    ``kind`` selects the validator/cleaner in ``golden.validation``. A ``reference``
    names another source record of the same system (``target`` is its entity type);
    the golden attribute ``golden_name`` then holds that record's canonical ID.
    """

    name: str
    kind: str = "text"
    required: bool = False
    max_length: int = 255
    choices: tuple[str, ...] = ()
    target: str | None = None
    golden_name: str | None = None
    help: str = ""

    @property
    def attribute(self) -> str:
        return self.golden_name or self.name


@dataclass(frozen=True)
class EntitySpec:
    entity_type: str
    prefix: str
    api_path: str
    label: str
    fields: tuple[FieldSpec, ...]
    # Attributes that survive together from one source record (never a city from one
    # system and a postal code from another).
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(f.attribute for f in self.fields)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def group_of(self, attribute: str) -> str | None:
        for group, members in self.groups.items():
            if attribute in members:
                return group
        return None


ADDRESS_FIELDS = ("address_line1", "city", "region", "postal_code")

CUSTOMER = EntitySpec(
    entity_type=EntityType.CUSTOMER,
    prefix="CUS",
    api_path="customers",
    label="Customer",
    fields=(
        FieldSpec("name", required=True),
        FieldSpec("tax_id", "tax_id", max_length=64),
        FieldSpec("website", "url"),
        FieldSpec("email", "email"),
        FieldSpec("phone", "phone", max_length=64),
        FieldSpec("address_line1"),
        FieldSpec("city", max_length=128),
        FieldSpec("region", max_length=128),
        FieldSpec("postal_code", "postal_code", max_length=32),
        FieldSpec("country", "country", max_length=64),
        FieldSpec(
            "parent_source_id",
            "reference",
            max_length=128,
            target=EntityType.CUSTOMER,
            golden_name="parent_customer",
            help="The parent account's source ID in the same system.",
        ),
        FieldSpec("industry", max_length=128),
        FieldSpec("currency", "currency", max_length=3),
        FieldSpec("status", "choice", choices=("active", "inactive", "prospect")),
    ),
    groups={"address": ADDRESS_FIELDS},
)

LEGAL_ENTITY = EntitySpec(
    entity_type=EntityType.LEGAL_ENTITY,
    prefix="LEN",
    api_path="legal-entities",
    label="Legal entity",
    fields=(
        FieldSpec("name", required=True),
        FieldSpec("registration_number", "registration", max_length=64),
        FieldSpec("tax_id", "tax_id", max_length=64),
        FieldSpec("country", "country", max_length=64),
        FieldSpec("base_currency", "currency", max_length=3),
        FieldSpec("erp_subsidiary_code", max_length=64),
        FieldSpec("address_line1"),
        FieldSpec("city", max_length=128),
        FieldSpec("postal_code", "postal_code", max_length=32),
    ),
    groups={"address": ("address_line1", "city", "postal_code")},
)

PROJECT = EntitySpec(
    entity_type=EntityType.PROJECT,
    prefix="PRJ",
    api_path="projects",
    label="Project",
    fields=(
        FieldSpec("code", "code", max_length=64),
        FieldSpec("name", required=True),
        FieldSpec(
            "customer_source_id",
            "reference",
            max_length=128,
            target=EntityType.CUSTOMER,
            golden_name="customer",
            help="The customer's source ID in the same system.",
        ),
        FieldSpec(
            "billing_legal_entity_source_id",
            "reference",
            max_length=128,
            target=EntityType.LEGAL_ENTITY,
            golden_name="billing_legal_entity",
            help="The billing legal entity's source ID in the same system.",
        ),
        FieldSpec("billing_method", "choice", choices=("tm", "fixed_fee", "milestone", "retainer")),
        FieldSpec("currency", "currency", max_length=3),
        FieldSpec("start_date", "date"),
        FieldSpec("end_date", "date"),
        FieldSpec("status", "choice", choices=("planned", "active", "on_hold", "closed")),
        FieldSpec("cost_center", max_length=64),
        FieldSpec("department", max_length=128),
        FieldSpec("project_manager", max_length=128),
        FieldSpec("crm_opportunity_ref", max_length=64),
    ),
    groups={"dates": ("start_date", "end_date")},
)

SERVICE_CODE = EntitySpec(
    entity_type=EntityType.SERVICE_CODE,
    prefix="SVC",
    api_path="service-codes",
    label="Service code",
    fields=(
        FieldSpec("code", "code", required=True, max_length=64),
        FieldSpec("name", required=True),
        FieldSpec("category", max_length=128),
        FieldSpec("unit", "choice", choices=("hour", "day", "fixed", "month", "each")),
        FieldSpec("tax_code", max_length=64),
        FieldSpec("revenue_account", max_length=64),
    ),
)

ENTITIES: dict[str, EntitySpec] = {
    spec.entity_type: spec for spec in (CUSTOMER, LEGAL_ENTITY, PROJECT, SERVICE_CODE)
}
ENTITIES_BY_PATH: dict[str, EntitySpec] = {spec.api_path: spec for spec in ENTITIES.values()}
ENTITIES_BY_PREFIX: dict[str, EntitySpec] = {spec.prefix: spec for spec in ENTITIES.values()}


def entity_spec(entity_type: str) -> EntitySpec:
    """The spec for an entity type name, accepting the API's plural path too."""
    spec = ENTITIES.get(entity_type) or ENTITIES_BY_PATH.get(entity_type)
    if spec is None:
        raise KeyError(entity_type)
    return spec
