"""Survivorship: which source record's value becomes the golden value, and why.

Pure and deterministic: the same contributions, rules and pins always give the same
golden attributes and lineage, whatever order the records arrived in. Nothing here reads
the database or settings; the caller passes the rules in.

Rules, per entity type (``settings.MDM_SURVIVORSHIP[entity_type]``): a mapping from an
attribute, an attribute group (``"address"``) or ``"*"`` (the default) to an ordered list
of strategies, each narrowing the field of candidate records until one is left::

    {"*": [{"strategy": "most_recent"}],
     "name": [{"strategy": "source_priority", "systems": ["erp", "crm"]},
              {"strategy": "most_frequent"}]}

A plain list of system codes is shorthand for ``[source_priority(those), most_recent]``.
After the configured strategies the tie-break chain always applies: most recent source
``updated_at``, then most recently loaded, then lowest record ID. Steward pins win over
everything. Groups survive together from one source record; a pinned group member takes
its pin while the other members still come from one record.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from golden.entities import EntitySpec

RULE_SOURCE_PRIORITY = "source_priority"
RULE_MOST_RECENT = "most_recent"
RULE_MOST_COMPLETE = "most_complete"
RULE_MOST_FREQUENT = "most_frequent"
RULE_STEWARD_PIN = "steward_pin"
# Tie-break steps: not configurable, they only make the outcome total and stable.
RULE_LAST_LOADED = "last_loaded"
RULE_LOWEST_RECORD_ID = "lowest_record_id"

CONFIGURABLE = (RULE_SOURCE_PRIORITY, RULE_MOST_RECENT, RULE_MOST_COMPLETE, RULE_MOST_FREQUENT)


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
    pinned_by: str | None = None
    pinned_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        pin = {"pinned_by": self.pinned_by, "pinned_at": self.pinned_at}
        return {
            "source_record": self.record_id,
            "system": self.system,
            "source_id": self.source_id,
            "rule": self.rule,
            "source_updated_at": self.source_updated_at,
            **(pin if self.rule == RULE_STEWARD_PIN else {}),
        }


@dataclass(frozen=True)
class Strategy:
    name: str
    systems: tuple[str, ...] = ()  # source_priority only, best first


@dataclass(frozen=True)
class RuleSet:
    """Strategy chains by attribute or group name; ``"*"`` is the default chain."""

    chains: Mapping[str, tuple[Strategy, ...]]

    def chain(self, *keys: str) -> tuple[Strategy, ...]:
        for key in keys:
            if key in self.chains:
                return self.chains[key]
        return self.chains.get("*", DEFAULT_CHAIN)


DEFAULT_CHAIN = (Strategy(RULE_MOST_RECENT),)
TIE_BREAK = tuple(map(Strategy, (RULE_MOST_RECENT, RULE_LAST_LOADED, RULE_LOWEST_RECORD_ID)))


def rules_from_settings(
    raw: RuleSet | Mapping[str, Any], spec: EntitySpec | None = None
) -> RuleSet:
    """Parse one entity type's settings; with ``spec``, unknown keys are errors too."""
    if isinstance(raw, RuleSet):
        return raw
    for key in raw if spec is not None else ():
        _check_key(spec, key)
    return RuleSet({key: parse_rule(rule, key) for key, rule in raw.items()})


def parse_rule(rule: Any, where: str = "rule") -> tuple[Strategy, ...]:
    if isinstance(rule, str) or not isinstance(rule, Sequence):
        raise ValueError(f"{where}: expected a list of systems or of strategies, got {rule!r}")
    if all(isinstance(item, str) for item in rule):
        if not rule:
            return DEFAULT_CHAIN
        return (Strategy(RULE_SOURCE_PRIORITY, tuple(rule)), Strategy(RULE_MOST_RECENT))
    return tuple(_parse_strategy(item, where) for item in rule)


def _parse_strategy(item: Any, where: str) -> Strategy:
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: do not mix system codes and strategies ({item!r})")
    name = item.get("strategy")
    if name not in CONFIGURABLE:  # steward_pin neither: pins always win, unconfigured
        raise ValueError(f"{where}: unknown strategy {name!r}; use one of {CONFIGURABLE}")
    allowed = {"strategy", "systems"} if name == RULE_SOURCE_PRIORITY else {"strategy"}
    if set(item) - allowed:
        raise ValueError(f"{where}: {name} takes no {sorted(set(item) - allowed)}")
    systems = item.get("systems", ())
    valid = systems and not isinstance(systems, str) and all(isinstance(s, str) for s in systems)
    if name == RULE_SOURCE_PRIORITY and not valid:
        raise ValueError(f"{where}: source_priority needs a non-empty list of system codes")
    return Strategy(name, tuple(systems))


def _check_key(spec: EntitySpec, key: str) -> None:
    # Typos would otherwise fall back to "*" silently; a group member configured on its
    # own would be ignored because the group survives as one.
    if key == "*" or key in spec.groups:
        return
    by_name = {name: f.name for f in spec.fields for name in (f.name, f.attribute)}
    if key not in by_name:
        raise ValueError(f"{spec.entity_type}: no attribute or group named {key!r}")
    group = spec.group_of(by_name[key])
    if group:
        raise ValueError(f"{spec.entity_type}: {key!r} survives with group {group!r}")


@dataclass(frozen=True)
class _Target:
    keys: tuple[str, ...]  # rule lookup, most specific first
    members: tuple[str, ...]
    grouped: bool


def _targets(spec: EntitySpec) -> Iterator[_Target]:
    seen: set[str] = set()
    for spec_field in spec.fields:
        group = spec.group_of(spec_field.name)
        if not group:
            # References are configured by their golden name ("customer"), too.
            yield _Target((spec_field.name, spec_field.attribute), (spec_field.name,), False)
        elif group not in seen:
            seen.add(group)
            yield _Target((group,), spec.groups[group], True)


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _offer(contribution: Contribution, target: _Target) -> list[Any]:
    return [v if _filled(v := contribution.values.get(m)) else None for m in target.members]


def _normal(value: Any) -> str | None:
    """How most_frequent compares values: "ACME  GmbH " and "acme gmbh" are one."""
    if value is None or isinstance(value, str):
        return value and " ".join(value.split()).casefold()
    return json.dumps(value, sort_keys=True, default=str)


def _scorer(
    strategy: Strategy, field: Sequence[Contribution], target: _Target
) -> Callable[[Contribution], float]:
    """Score function of one strategy: higher is better, ties stay in the field."""
    name = strategy.name
    if name == RULE_SOURCE_PRIORITY:
        # Unlisted systems rank after every listed one, all equal.
        ranks = {system: i for i, system in reversed(list(enumerate(strategy.systems)))}
        return lambda c: -ranks.get(c.system, len(ranks))
    if name == RULE_MOST_RECENT:
        # Records without a business date rank oldest.
        return lambda c: c.source_updated_at.timestamp() if c.source_updated_at else -math.inf
    if name == RULE_MOST_COMPLETE:
        # A group counts its own members; one attribute says little by itself, so the
        # record that knows most about the entity overall is the most complete.
        if target.grouped:
            return lambda c: sum(v is not None for v in _offer(c, target))
        return lambda c: sum(_filled(v) for v in c.values.values())
    if name == RULE_MOST_FREQUENT:
        counts = Counter(tuple(map(_normal, _offer(c, target))) for c in field)
        return lambda c: counts[tuple(map(_normal, _offer(c, target)))]
    if name == RULE_LAST_LOADED:
        return lambda c: c.loaded_at.timestamp()
    if name == RULE_LOWEST_RECORD_ID:
        return lambda c: -c.record_id
    raise ValueError(f"unknown strategy {name!r}")


def _decide(
    offering: Sequence[Contribution], target: _Target, chain: Sequence[Strategy]
) -> tuple[Contribution, str]:
    """Narrow the field strategy by strategy until one record is left.

    The rule named is the strategy that settled the value: the first after which every
    record left offers the same values (later steps only pick which of them to cite).
    """
    if len(offering) == 1:  # the first step settles it
        return offering[0], (*chain, *TIE_BREAK)[0].name
    field = sorted(offering, key=lambda c: c.record_id)
    rule = None
    for strategy in (*chain, *TIE_BREAK):
        scores = list(map(_scorer(strategy, field, target), field))
        best = max(scores)
        field = [c for c, s in zip(field, scores, strict=True) if s == best]
        if rule is None and all(_offer(c, target) == _offer(field[0], target) for c in field):
            rule = strategy.name
        if len(field) == 1:
            break
    return field[0], rule or RULE_LOWEST_RECORD_ID  # a tie left only by duplicate IDs


def _pin(raw: Any) -> tuple[Any, Lineage]:
    """A pin is a bare value or {"value": v, "by": who, "at": when}."""
    value, by, at = raw, None, None
    if isinstance(raw, Mapping) and "value" in raw and set(raw) <= {"value", "by", "at"}:
        value, by, at = raw["value"], raw.get("by"), raw.get("at")
    when = at.isoformat() if isinstance(at, datetime) else (str(at) if at is not None else None)
    who = str(by) if by is not None else None
    return value, Lineage(None, "", "", RULE_STEWARD_PIN, None, who, when)


def _survive(
    target: _Target,
    contributions: Sequence[Contribution],
    chain: Sequence[Strategy],
    pins: Mapping[str, tuple[Any, Lineage]],
) -> dict[str, tuple[Any, Lineage]]:
    # Pinned members are settled; the rest of a group still comes from one record.
    open_target = target
    if pins:
        open_target = replace(target, members=tuple(m for m in target.members if m not in pins))
    offering = [c for c in contributions if any(v is not None for v in _offer(c, open_target))]
    survived = {m: pins[m] for m in target.members if m in pins}
    if offering:
        winner, rule = _decide(offering, open_target, chain)
        updated = winner.source_updated_at.isoformat() if winner.source_updated_at else None
        lineage = Lineage(winner.record_id, winner.system, winner.source_id, rule, updated)
        for member in open_target.members:
            if _filled(winner.values.get(member)):
                survived[member] = (winner.values[member], lineage)
    return {m: survived[m] for m in target.members if m in survived}


def resolve(
    spec: EntitySpec,
    contributions: Sequence[Contribution],
    rules: RuleSet | Mapping[str, Any],
    pins: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Return (attributes, lineage) for one golden record, keyed by source field name.

    ``rules`` is a RuleSet or one entity type's raw settings (parsed here, strictly).
    """
    ruleset = rules_from_settings(rules, spec)
    parsed_pins = {name: _pin(value) for name, value in (pins or {}).items()}
    attributes: dict[str, Any] = {}
    lineage: dict[str, dict[str, Any]] = {}
    for target in _targets(spec):
        chain = ruleset.chain(*target.keys)
        for member, (value, origin) in _survive(target, contributions, chain, parsed_pins).items():
            attributes[member] = value
            lineage[member] = origin.as_dict()
    return attributes, lineage


def diff_attributes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Attributes that would change, as (old, new) with an absent side read as None.

    Presence counts (absent -> None is a change), as when the golden record is stored.
    """
    return {
        name: (before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if name not in before or name not in after or before[name] != after[name]
    }
