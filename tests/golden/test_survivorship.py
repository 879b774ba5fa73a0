"""Survivorship is pure: deterministic, order-independent, groups stay together, pins win."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from golden.entities import CUSTOMER, PROJECT, entity_spec
from golden.survivorship import (
    Contribution,
    RuleSet,
    Strategy,
    diff_attributes,
    parse_rule,
    resolve,
    rules_from_settings,
)

RULES = {
    "*": ["crm", "erp", "psa"],
    "name": ["erp", "crm", "psa"],
    "address": ["erp", "crm", "psa"],
}
BASE = datetime(2026, 1, 1, tzinfo=UTC)
ADDRESS = ("address_line1", "city", "region", "postal_code")
SYSTEMS = ("crm", "erp", "psa")


def contribution(record_id, system, values, updated_days=None, loaded_days=0):
    return Contribution(
        record_id=record_id,
        system=system,
        source_id=f"{system}-{record_id}",
        values=values,
        source_updated_at=BASE + timedelta(days=updated_days) if updated_days is not None else None,
        loaded_at=BASE + timedelta(days=loaded_days),
    )


def filled(value):
    return value is not None and str(value).strip() != ""


def norm(value):
    return " ".join(value.split()).casefold()


# --- source_priority and the most_recent fallback (the shorthand) -------------------------


def test_source_priority_wins_over_recency():
    crm = contribution(1, "crm", {"name": "Acme"}, updated_days=30)
    erp = contribution(2, "erp", {"name": "ACME GmbH"}, updated_days=1)
    attributes, lineage = resolve(CUSTOMER, [crm, erp], RULES)
    assert attributes["name"] == "ACME GmbH"
    assert lineage["name"]["source_record"] == 2
    assert lineage["name"]["rule"] == "source_priority"


def test_most_recent_decides_within_one_system():
    old = contribution(1, "crm", {"industry": "Retail"}, updated_days=1)
    new = contribution(2, "crm", {"industry": "Banking"}, updated_days=9)
    attributes, lineage = resolve(CUSTOMER, [old, new], RULES)
    assert attributes["industry"] == "Banking"
    assert lineage["industry"]["rule"] == "most_recent"


def test_source_business_date_beats_load_time():
    # Loaded later but changed earlier in its own system: the business date decides.
    stale = contribution(1, "crm", {"industry": "Retail"}, updated_days=1, loaded_days=50)
    fresh = contribution(2, "crm", {"industry": "Banking"}, updated_days=9, loaded_days=2)
    attributes, lineage = resolve(CUSTOMER, [stale, fresh], RULES)
    assert attributes["industry"] == "Banking"
    assert lineage["industry"]["source_updated_at"] == (BASE + timedelta(days=9)).isoformat()


def test_missing_values_fall_back_to_the_next_system():
    erp = contribution(1, "erp", {"name": "ACME GmbH"})
    crm = contribution(2, "crm", {"name": "Acme", "website": "acme.de"})
    attributes, lineage = resolve(CUSTOMER, [erp, crm], RULES)
    assert attributes["website"] == "acme.de"
    assert lineage["website"]["system"] == "crm"


def test_unlisted_systems_rank_after_listed_ones():
    rules = {"*": [{"strategy": "source_priority", "systems": ["erp"]}]}
    psa = contribution(1, "psa", {"industry": "Retail"}, updated_days=9)
    erp = contribution(2, "erp", {"industry": "Banking"}, updated_days=1)
    attributes, lineage = resolve(CUSTOMER, [psa, erp], rules)
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Banking", "source_priority")


def test_the_same_value_from_the_top_system_is_settled_by_source_priority():
    # Two ERP records agree; the tie-break only picks which one to cite.
    a = contribution(1, "erp", {"name": "ACME GmbH"}, updated_days=1)
    b = contribution(2, "erp", {"name": "ACME GmbH"}, updated_days=5)
    crm = contribution(3, "crm", {"name": "Acme"}, updated_days=9)
    _, lineage = resolve(CUSTOMER, [a, b, crm], RULES)
    assert (lineage["name"]["source_record"], lineage["name"]["rule"]) == (2, "source_priority")


# --- the tie-break chain ---------------------------------------------------------------------


def test_without_business_dates_the_last_loaded_record_wins():
    first = contribution(1, "crm", {"industry": "Retail"}, loaded_days=1)
    second = contribution(2, "crm", {"industry": "Banking"}, loaded_days=3)
    attributes, lineage = resolve(CUSTOMER, [second, first], RULES)
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Banking", "last_loaded")


def test_a_missing_business_date_ranks_oldest():
    undated = contribution(1, "crm", {"industry": "Retail"}, loaded_days=9)
    dated = contribution(2, "crm", {"industry": "Banking"}, updated_days=0)
    attributes, lineage = resolve(CUSTOMER, [undated, dated], RULES)
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Banking", "most_recent")


def test_full_ties_go_to_the_lowest_record_id():
    a = contribution(7, "crm", {"industry": "Retail"}, updated_days=1, loaded_days=1)
    b = contribution(3, "crm", {"industry": "Banking"}, updated_days=1, loaded_days=1)
    attributes, lineage = resolve(CUSTOMER, [a, b], RULES)
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Banking", "lowest_record_id")


def test_no_rules_at_all_means_most_recent():
    old = contribution(1, "erp", {"name": "Old"}, updated_days=1)
    new = contribution(2, "crm", {"name": "New"}, updated_days=2)
    attributes, lineage = resolve(CUSTOMER, [old, new], {})
    assert (attributes["name"], lineage["name"]["rule"]) == ("New", "most_recent")


# --- most_frequent, most_complete, fallbacks -------------------------------------------------

FREQUENT = {"*": [{"strategy": "most_frequent"}]}


def test_most_frequent_takes_the_value_most_records_offer():
    records = [
        contribution(1, "crm", {"industry": "Banking"}),
        contribution(2, "erp", {"industry": "Banking"}),
        contribution(3, "psa", {"industry": "Retail"}, updated_days=9),
    ]
    attributes, lineage = resolve(CUSTOMER, records, FREQUENT)
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Banking", "most_frequent")


def test_most_frequent_compares_values_after_light_normalisation():
    records = [
        contribution(1, "crm", {"name": "Acme  GmbH"}, updated_days=1),
        contribution(2, "erp", {"name": "ACME GmbH "}, updated_days=2),
        contribution(3, "psa", {"name": "Other"}, updated_days=9),
    ]
    attributes, lineage = resolve(CUSTOMER, records, FREQUENT)
    # The spelling among the equals is the tie-break's (most recent) choice.
    assert (attributes["name"], lineage["name"]["rule"]) == ("ACME GmbH ", "most_recent")


def test_most_frequent_counts_a_group_as_a_whole():
    berlin = {"address_line1": "Main St 1", "city": "Berlin", "postal_code": "10115"}
    records = [
        contribution(1, "crm", berlin),
        contribution(2, "erp", {**berlin, "city": "berlin"}),
        contribution(3, "psa", {**berlin, "postal_code": "10117"}, updated_days=9),
    ]
    attributes, lineage = resolve(CUSTOMER, records, {"address": FREQUENT["*"]})
    # Berlin/berlin count as one address; the spelling falls to the tie-break.
    assert (attributes["postal_code"], attributes["city"]) == ("10115", "Berlin")
    assert lineage["city"]["rule"] == "lowest_record_id"


def test_most_complete_group_takes_the_record_with_most_members():
    partial = contribution(1, "erp", {"city": "Berlin"}, updated_days=9)
    full = contribution(2, "crm", {"address_line1": "Main St 1", "city": "Bonn", "region": "NW"})
    rules = {"address": [{"strategy": "most_complete"}]}
    attributes, lineage = resolve(CUSTOMER, [partial, full], rules)
    assert attributes["city"] == "Bonn"
    assert lineage["region"]["rule"] == "most_complete"


def test_most_complete_single_attribute_trusts_the_fullest_record():
    thin = contribution(1, "erp", {"industry": "Retail"}, updated_days=9)
    rich = contribution(2, "crm", {"industry": "Banking", "name": "Acme", "website": "a.de"})
    attributes, lineage = resolve(CUSTOMER, [thin, rich], {"*": [{"strategy": "most_complete"}]})
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Banking", "most_complete")


def test_strategies_fall_back_in_order():
    rules = {
        "*": [
            {"strategy": "source_priority", "systems": ["erp"]},
            {"strategy": "most_frequent"},
            {"strategy": "most_recent"},
        ]
    }
    records = [
        contribution(1, "crm", {"industry": "Retail"}, updated_days=9),
        contribution(2, "psa", {"industry": "Banking"}, updated_days=1),
        contribution(3, "psa", {"industry": "Banking"}, updated_days=2),
    ]
    # No ERP offer: priority leaves all three; most_frequent settles on Banking.
    attributes, lineage = resolve(CUSTOMER, records, rules)
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Banking", "most_frequent")
    assert lineage["industry"]["source_record"] == 3
    # An ERP offer ends it at the first strategy.
    erp = contribution(4, "erp", {"industry": "Energy"})
    attributes, lineage = resolve(CUSTOMER, [*records, erp], rules)
    assert (attributes["industry"], lineage["industry"]["rule"]) == ("Energy", "source_priority")


def test_reference_rules_may_use_the_golden_attribute_name():
    rules = {"*": ["psa", "erp", "crm"], "customer": ["erp", "psa", "crm"]}
    psa = contribution(1, "psa", {"name": "P", "customer_source_id": "5531"})
    erp = contribution(2, "erp", {"name": "P", "customer_source_id": "C-1187"})
    attributes, lineage = resolve(PROJECT, [psa, erp], rules)
    assert attributes["customer_source_id"] == "C-1187"
    assert lineage["name"]["system"] == "psa"


def test_blank_values_are_not_offers():
    blank = contribution(1, "erp", {"name": "  ", "industry": ""})
    crm = contribution(2, "crm", {"name": "Acme"})
    attributes, lineage = resolve(CUSTOMER, [blank, crm], RULES)
    assert attributes == {"name": "Acme"}
    assert lineage["name"]["system"] == "crm"


# --- pins --------------------------------------------------------------------------------------


def test_pins_override_every_source():
    erp = contribution(1, "erp", {"name": "ACME GmbH"})
    attributes, lineage = resolve(CUSTOMER, [erp], RULES, pins={"name": "Acme Group"})
    assert attributes["name"] == "Acme Group"
    assert lineage["name"]["rule"] == "steward_pin"
    assert lineage["name"]["source_record"] is None


def test_pins_carry_their_author_and_time():
    at = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    pins = {
        "name": {"value": "Acme Group", "by": "steward", "at": at},
        "industry": {"value": "Banking", "by": "admin", "at": "2026-02-01T00:00:00Z"},
    }
    attributes, lineage = resolve(CUSTOMER, [], RULES, pins=pins)
    assert attributes == {"name": "Acme Group", "industry": "Banking"}
    assert lineage["name"]["pinned_by"] == "steward"
    assert lineage["name"]["pinned_at"] == at.isoformat()
    assert lineage["industry"]["pinned_at"] == "2026-02-01T00:00:00Z"


def test_a_pinned_group_member_keeps_the_others_from_one_record():
    city_only = contribution(1, "erp", {"city": "Berlin"})
    crm = contribution(2, "crm", {"address_line1": "Main St 1", "city": "Bonn", "postal_code": "1"})
    attributes, lineage = resolve(CUSTOMER, [city_only, crm], RULES, pins={"city": "Köln"})
    assert attributes["city"] == "Köln"
    assert lineage["city"]["rule"] == "steward_pin"
    # The ERP record offers no unpinned member, so it cannot win the rest of the address.
    assert {lineage[f]["source_record"] for f in ("address_line1", "postal_code")} == {2}


# --- rules: parsing and validation -------------------------------------------------------------


def test_the_shorthand_is_priority_then_most_recent():
    assert parse_rule(["erp", "crm"]) == (
        Strategy("source_priority", ("erp", "crm")),
        Strategy("most_recent"),
    )
    rules = rules_from_settings({"*": ["erp"], "name": [{"strategy": "most_frequent"}]})
    assert rules == RuleSet(
        {
            "*": (Strategy("source_priority", ("erp",)), Strategy("most_recent")),
            "name": (Strategy("most_frequent"),),
        }
    )


def test_a_parsed_ruleset_resolves_like_the_raw_settings():
    records = [contribution(1, "crm", {"name": "A"}), contribution(2, "erp", {"name": "B"})]
    parsed = rules_from_settings(RULES, CUSTOMER)
    assert resolve(CUSTOMER, records, parsed) == resolve(CUSTOMER, records, RULES)


@pytest.mark.parametrize(
    "rule",
    [
        "erp",
        [{"strategy": "newest"}],
        [{"strategy": "steward_pin"}],
        [{"strategy": "source_priority"}],
        [{"strategy": "source_priority", "systems": "erp"}],
        [{"strategy": "most_recent", "systems": ["erp"]}],
        ["erp", {"strategy": "most_recent"}],
    ],
)
def test_bad_rules_are_refused(rule):
    with pytest.raises(ValueError):
        rules_from_settings({"*": rule})


@pytest.mark.parametrize("key", ["adress", "city"])
def test_unknown_keys_and_group_members_are_refused_with_a_spec(key):
    with pytest.raises(ValueError):
        rules_from_settings({key: ["erp"]}, CUSTOMER)


def test_the_configured_rules_are_valid():
    for entity_type, raw in settings.MDM_SURVIVORSHIP.items():
        rules_from_settings(raw, entity_spec(entity_type))


# --- diff_attributes -------------------------------------------------------------------------------


def test_diff_attributes_lists_changed_added_and_removed_fields():
    before = {"name": "Acme", "city": "Berlin", "industry": "Retail", "parent_customer": None}
    after = {"name": "ACME GmbH", "city": "Berlin", "website": "a.de"}
    assert diff_attributes(before, after) == {
        "industry": ("Retail", None),
        "name": ("Acme", "ACME GmbH"),
        "parent_customer": (None, None),
        "website": (None, "a.de"),
    }
    assert diff_attributes(after, dict(after)) == {}


def test_diff_attributes_previews_a_rule_change():
    records = [
        contribution(1, "crm", {"name": "Acme"}, updated_days=9),
        contribution(2, "erp", {"name": "ACME GmbH"}, updated_days=1),
    ]
    before, _ = resolve(CUSTOMER, records, RULES)
    after, _ = resolve(CUSTOMER, records, {**RULES, "name": [{"strategy": "most_recent"}]})
    assert diff_attributes(before, after) == {"name": ("ACME GmbH", "Acme")}


# --- properties ------------------------------------------------------------------------------------

texts = st.one_of(
    st.none(),
    st.sampled_from(["Acme", "acme ", "ACME", "Beta", "", " "]),
    st.text(alphabet="abx ", min_size=1, max_size=3),
)
values = st.fixed_dictionaries(
    {"name": texts, "industry": texts, "website": texts, **{f: texts for f in ADDRESS}}
).map(lambda d: {k: v for k, v in d.items() if v is not None})
contributions = st.lists(
    st.tuples(
        st.sampled_from(SYSTEMS),
        values,
        st.one_of(st.none(), st.integers(0, 3)),
        st.integers(0, 3),
    ),
    min_size=0,
    max_size=7,
).map(
    lambda items: [
        contribution(i + 1, s, v, u, loaded) for i, (s, v, u, loaded) in enumerate(items)
    ]
)
priorities = st.permutations(SYSTEMS).flatmap(
    lambda order: st.integers(1, 3).map(lambda n: list(order[:n]))
)
strategy_items = st.one_of(
    priorities.map(lambda systems: {"strategy": "source_priority", "systems": systems}),
    st.sampled_from(["most_recent", "most_complete", "most_frequent"]).map(
        lambda name: {"strategy": name}
    ),
)
chains = st.one_of(priorities, st.lists(strategy_items, max_size=3))
rule_settings = st.fixed_dictionaries(
    {}, optional={"*": chains, "name": chains, "industry": chains, "address": chains}
)
pin_values = st.sampled_from(["Pinned", "pinned ", ""])
pins = st.dictionaries(
    st.sampled_from(["name", "industry", *ADDRESS]),
    st.one_of(
        pin_values,
        st.builds(lambda v, by: {"value": v, "by": by, "at": BASE}, pin_values, st.just("s")),
    ),
    max_size=3,
)


def pin_value(pin):
    return pin["value"] if isinstance(pin, dict) else pin


@given(contributions, rule_settings, pins, st.randoms())
def test_result_does_not_depend_on_arrival_order(items, rules, pinned, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert resolve(CUSTOMER, items, rules, pinned) == resolve(CUSTOMER, shuffled, rules, pinned)


@given(contributions, rule_settings, pins)
def test_resolution_is_deterministic(items, rules, pinned):
    first = resolve(CUSTOMER, items, rules, pinned)
    assert resolve(CUSTOMER, list(items), rules_from_settings(rules), dict(pinned)) == first


@given(contributions, rule_settings, pins)
def test_group_members_come_from_a_single_source_record(items, rules, pinned):
    attributes, lineage = resolve(CUSTOMER, items, rules, pinned)
    survived = [f for f in ADDRESS if f in attributes and f not in pinned]
    winners = {lineage[f]["source_record"] for f in survived}
    assert len(winners) <= 1
    if winners:
        [winner] = winners
        record = next(c for c in items if c.record_id == winner)
        assert {f: attributes[f] for f in survived} == {
            f: record.values[f] for f in ADDRESS if f not in pinned and filled(record.values.get(f))
        }


@given(contributions, rule_settings, pins)
def test_every_value_has_lineage_to_a_record_that_offered_it_or_a_pin(items, rules, pinned):
    attributes, lineage = resolve(CUSTOMER, items, rules, pinned)
    assert set(attributes) == set(lineage)
    by_id = {c.record_id: c for c in items}
    for field, value in attributes.items():
        if field in pinned:
            assert lineage[field]["rule"] == "steward_pin"
            continue
        record = by_id[lineage[field]["source_record"]]
        assert record.values[field] == value
        assert (lineage[field]["system"], lineage[field]["source_id"]) == (
            record.system,
            record.source_id,
        )
        assert lineage[field]["rule"] != "steward_pin"


@given(contributions, rule_settings, pins)
def test_a_value_is_present_iff_some_record_offers_it_or_it_is_pinned(items, rules, pinned):
    attributes, _ = resolve(CUSTOMER, items, rules, pinned)
    for field in ("name", "industry", "website"):
        offered = any(filled(c.values.get(field)) for c in items)
        assert (field in attributes) == (offered or field in pinned)
    open_members = [f for f in ADDRESS if f not in pinned]
    group_offered = any(filled(c.values.get(f)) for c in items for f in open_members)
    assert any(f in attributes for f in open_members) == group_offered


@given(contributions, rule_settings, pins)
def test_pins_always_win(items, rules, pinned):
    attributes, _ = resolve(CUSTOMER, items, rules, pinned)
    assert {f: attributes[f] for f in pinned} == {f: pin_value(p) for f, p in pinned.items()}


@given(contributions)
def test_most_frequent_picks_a_value_with_maximal_count(items):
    attributes, _ = resolve(CUSTOMER, items, FREQUENT)
    counts = Counter(norm(c.values["name"]) for c in items if filled(c.values.get("name")))
    if counts:
        assert counts[norm(attributes["name"])] == max(counts.values())


@given(contributions, priorities, st.lists(strategy_items, max_size=2))
def test_source_priority_never_prefers_a_lower_system(items, systems, rest):
    rules = {"*": [{"strategy": "source_priority", "systems": systems}, *rest]}
    _, lineage = resolve(CUSTOMER, items, rules)

    def rank(system):
        return systems.index(system) if system in systems else len(systems)

    for field in ("name", "industry"):
        offers = [rank(c.system) for c in items if filled(c.values.get(field))]
        if offers:
            assert rank(lineage[field]["system"]) == min(offers)


@given(contributions)
def test_most_recent_picks_the_latest_business_date(items):
    _, lineage = resolve(CUSTOMER, items, {"*": [{"strategy": "most_recent"}]})
    dates = [c.source_updated_at for c in items if filled(c.values.get("name"))]
    if any(dates):
        assert lineage["name"]["source_updated_at"] == max(d for d in dates if d).isoformat()


@given(contributions)
def test_most_complete_group_winner_has_most_members(items):
    attributes, _ = resolve(CUSTOMER, items, {"address": [{"strategy": "most_complete"}]})
    counts = [sum(filled(c.values.get(f)) for f in ADDRESS) for c in items]
    assert sum(f in attributes for f in ADDRESS) == max(counts, default=0)
