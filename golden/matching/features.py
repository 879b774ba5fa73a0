"""Comparable features of a source record, computed once from its cleaned values.

Pure: no ORM. Incremental matching builds features for one record and its candidates;
batch matching builds them for every record and keeps them in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from golden import normalize
from golden.entities import EntityType


@dataclass(frozen=True, slots=True)
class Features:
    """What the comparators look at. Empty string means unknown."""

    entity_type: str
    name: str = ""
    legal_form: str = ""
    tax_id: str = ""  # valid IDs only, canonical form with kind/country scope
    registration: str = ""  # legal entity: company-register number with its country
    domain: str = ""  # registrable domain that is evidence (no free-mail)
    phone: str = ""
    street: str = ""
    house_number: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    code: str = ""  # project / service code
    reference: str = ""  # project: CRM opportunity reference
    parent: str = ""  # project: the customer's canonical ID; service code: category
    start_date: str = ""
    end_date: str = ""
    manager: str = ""  # project: the project manager as "surname|initial"
    # How common the name is, set just before scoring (golden.matching.frequency), never
    # stored: per prefix of the name's words, the most records one system holds whose
    # names begin with it, everywhere, in the record's country and in its city.
    prefix_counts: tuple[tuple[int, int, int], ...] = ()

    @property
    def name_tokens(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    @property
    def name_words(self) -> tuple[str, ...]:
        """The name's words without those that join rather than name ("and", "the")."""
        return tuple(word for word in self.name.split() if word not in CONNECTORS)

    @property
    def first_word(self) -> str:
        words = self.name_words
        return words[0] if words else ""

    @property
    def name_start(self) -> str:
        """The first three letters of the name's words run together ("" if shorter): a
        name spelt with a typo past them may still begin another (compare_name)."""
        letters = "".join(self.name_words)[:3]
        return letters if len(letters) == 3 else ""

    @property
    def name_head(self) -> str:
        """The name's first two words; "" for a name of one word."""
        words = self.name_words
        return " ".join(words[:2]) if len(words) >= 2 else ""


# Words that join names rather than name anything: "Keller & Kohler" is shortened to
# "Keller Kohler" as often as to "Keller".
CONNECTORS = frozenset({"and", "und", "et", "y", "e", "the", "of"})


def _tax_key(value: str | None, country: str | None) -> str:
    tax = normalize.normalize_tax_id(value, country)
    if tax is None or not tax.valid:
        return ""
    return tax.value if tax.kind == "vat" else f"{tax.kind}:{tax.country or ''}:{tax.value}"


def _house_number(street: str) -> str:
    numbers = [token for token in street.split() if token[:1].isdigit()]
    return numbers[0] if numbers else ""


# The unit an ERP item name ends with: "senior consultant hourly", "erp implementation fixed fee".
_UNIT_SUFFIX = re.compile(r"(?: per)? (?:hourly|daily|weekly|monthly|fixed fee|hour|day|month)$")


def _without_country(name: str, country: str) -> str:
    """A group's entity named after its country ("Voxangate Netherlands", "Acme
    Consulting UK") without it, when that is the entity's country: it is what the
    country field says already, and the other systems leave it out."""
    words = name.split()
    for count in (3, 2, 1):
        if len(words) > count and normalize.normalize_country(" ".join(words[-count:])) == country:
            return " ".join(words[:-count])
    return name


def person_key(value: str | None) -> str:
    """A person as systems write them — "Anna Berg", "A. Berg", "Berg, Anna" — reduced to
    "surname|first initial" ("berg|a"); "" when unknown."""
    text = (value or "").strip()
    if "," in text:
        surname, _, given = text.partition(",")
    else:
        *given_names, surname = text.split() or [""]
        given = " ".join(given_names)
    surname = normalize.normalize_text(surname)
    given = normalize.normalize_text(given.replace(".", " "))
    return f"{surname}|{given[:1]}" if surname else ""


def features_of(entity_type: str, cleaned: dict[str, Any], *, parent: str = "") -> Features:
    """Features of one record's cleaned values. ``parent`` is a resolved reference
    (a project's customer canonical ID) when the caller knows it."""
    country = cleaned.get("country") or ""
    name = normalize.normalize_company_name(cleaned.get("name"), country or None)
    if entity_type in (EntityType.CUSTOMER, EntityType.LEGAL_ENTITY):
        street = normalize.normalize_street(cleaned.get("address_line1")) or ""
        website = normalize.evidence_domain(cleaned.get("website")) or ""
        plain = name.name if name else ""
        if entity_type == EntityType.LEGAL_ENTITY:
            plain = _without_country(plain, country)
        return Features(
            entity_type=entity_type,
            name=plain,
            legal_form=(name.legal_form or "") if name else "",
            tax_id=_tax_key(cleaned.get("tax_id"), country or None),
            # Kept apart from the tax ID: one system may hold only the tax ID and the other
            # only the register number of the same entity, which is no disagreement.
            registration=f"{country}:{cleaned['registration_number']}"
            if cleaned.get("registration_number")
            else "",
            domain=website or normalize.evidence_domain(cleaned.get("email")) or "",
            phone=cleaned.get("phone", "") if str(cleaned.get("phone", "")).startswith("+") else "",
            street=street,
            house_number=_house_number(street),
            postal_code=normalize.normalize_postal_code(cleaned.get("postal_code"), country or None)
            or "",
            city=normalize.normalize_city(cleaned.get("city"), country or None),
            country=country,
        )
    text_name = normalize.normalize_text(cleaned.get("name"))
    if entity_type == EntityType.PROJECT:
        return Features(
            entity_type=entity_type,
            name=text_name,
            code=cleaned.get("code", ""),
            reference=cleaned.get("crm_opportunity_ref", ""),
            parent=parent,
            start_date=cleaned.get("start_date", ""),
            end_date=cleaned.get("end_date", ""),
            manager=person_key(cleaned.get("project_manager")),
        )
    return Features(
        entity_type=entity_type,
        # ERP item names carry the unit ("Senior Consultant - Hourly"); the unit is not
        # part of what the service is called elsewhere.
        name=_UNIT_SUFFIX.sub("", text_name) or text_name,
        code=cleaned.get("code", ""),
        parent=normalize.normalize_text(cleaned.get("category")),
    )
