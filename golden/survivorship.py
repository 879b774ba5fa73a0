"""Survivorship: which source record's value becomes the golden value, and why.

Pure and deterministic: the same contributions and rules always give the same golden
attributes, whatever order the records arrived in. Attribute groups (the address)
survive together from one source record.

Rules v1: per entity type and attribute, the systems in priority order
(``settings.MDM_SURVIVORSHIP``); within a system, and for systems not listed, the most
recent source ``updated_at`` wins; then the most recently loaded; then the lowest
record ID. Steward pins override everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from golden.entities import EntitySpec


@dataclass(frozen=True)
class Contribution:
    """What one linked source record offers."""

    record_id: int
    system: str
    source_id: str
    values: Mapping[str, Any]
    source_updated_at: datetime | None
    loaded_at: datetime


@dataclass(frozen=True)
class Lineage:
    record_id: int | None
    system: str
    source_id: str
    rule: str
    source_updated_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_record": self.record_id,
            "system": self.system,
            "source_id": self.source_id,
            "rule": self.rule,
            "source_updated_at": self.source_updated_at,
        }


RULE_SOURCE_PRIORITY = "source_priority"
RULE_MOST_RECENT = "most_recent"
RULE_STEWARD_PIN = "steward_pin"


def _rank(contribution: Contribution, priority: Sequence[str]) -> tuple[int, float, float, int]:
    """Sort key: best first. Unlisted systems rank after listed ones."""
    position = (
        priority.index(contribution.system) if contribution.system in priority else len(priority)
    )
    updated = (
        contribution.source_updated_at.timestamp()
        if contribution.source_updated_at
        else float("-inf")
    )
    return (position, -updated, -contribution.loaded_at.timestamp(), contribution.record_id)


def _winner(
    contributions: Sequence[Contribution], members: Sequence[str], priority: Sequence[str]
) -> tuple[Contribution, str] | None:
    offering = [c for c in contributions if any(c.values.get(m) not in (None, "") for m in members)]
    if not offering:
        return None
    best = min(offering, key=lambda c: _rank(c, priority))
    # Say which rule decided: priority if the winner's system outranks every other
    # offering system, otherwise recency among equals.
    rivals = [c for c in offering if c is not best]
    decided_by_priority = all(_rank(best, priority)[0] < _rank(c, priority)[0] for c in rivals)
    rule = RULE_SOURCE_PRIORITY if rivals and decided_by_priority else RULE_MOST_RECENT
    if not rivals:
        rule = RULE_SOURCE_PRIORITY if best.system in priority else RULE_MOST_RECENT
    return best, rule


def resolve(
    spec: EntitySpec,
    contributions: Sequence[Contribution],
    rules: Mapping[str, Sequence[str]],
    pins: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Return (attributes, lineage) for one golden record, keyed by source field name."""
    pins = pins or {}
    attributes: dict[str, Any] = {}
    lineage: dict[str, dict[str, Any]] = {}
    default_priority = list(rules.get("*", ()))
    done: set[str] = set()
    for spec_field in spec.fields:
        name = spec_field.name
        if name in done:
            continue
        group = spec.group_of(name)
        members = spec.groups[group] if group else (name,)
        done.update(members)
        priority = list(rules.get(group or name, default_priority))
        found = _winner(contributions, members, priority)
        for member in members:
            if member in pins:
                attributes[member] = pins[member]
                lineage[member] = Lineage(None, "", "", RULE_STEWARD_PIN, None).as_dict()
                continue
            if found is None:
                continue
            winner, rule = found
            value = winner.values.get(member)
            if value in (None, ""):
                continue
            attributes[member] = value
            lineage[member] = Lineage(
                winner.record_id,
                winner.system,
                winner.source_id,
                rule,
                winner.source_updated_at.isoformat() if winner.source_updated_at else None,
            ).as_dict()
    return attributes, lineage
