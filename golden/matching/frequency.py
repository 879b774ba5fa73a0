"""How common a name is: the term frequencies behind the name levels.

Two records with the same name are strong evidence when no one else bears that name and
weak when several firms do ("Keller", "Nordic Consulting"). A short name that begins a
longer one ("Zephyr" of "Zephyr Analytics", the way PSA users shorten names) likewise
says more when no other firm's name begins with it. So what is counted is name
*prefixes*: for "keller and kohler", the records whose names begin with "keller" and
with "keller kohler" ("and", "&" and the like set aside). The count is per system, and
a term's count is the largest over the systems: a firm usually has one record per
system, so that number estimates how many firms bear the name, while a count over all
systems would also count one firm's CRM, PSA and ERP records. And it is kept per place:
everywhere, in the record's country and in its city, since a pair is judged in the
narrowest place both records share ("Keller" is common in Switzerland and may still be
one firm in Basel).

Counts are attached to a record's features just before it is scored
(``Features.prefix_counts``), never stored with them, since they change as records
arrive. Batch matching counts its records in memory; incremental matching keeps the same
counts in the ``TermFrequency`` table, updated as records arrive, change or go, so both
see the same numbers once the same records are stored. Company names only (customers,
legal entities): project and service names are phrases shared by design.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence

from django.db import connection

from golden.entities import EntityType
from golden.matching.features import Features

COUNTED = frozenset({EntityType.CUSTOMER, EntityType.LEGAL_ENTITY})

# Where a name is counted: everywhere, within the record's country, within its city.
EVERYWHERE, COUNTRY, CITY = 0, 1, 2


def _scopes(features: Features) -> tuple[str, str | None, str | None]:
    return (
        ":",
        f":{features.country}:" if features.country else None,
        f"@{features.city}:" if features.city else None,
    )


def _prefixes(words: tuple[str, ...]) -> list[str]:
    return [" ".join(words[:length]) for length in range(1, len(words) + 1)]


def terms_of(features: Features) -> list[str]:
    """The record's counted terms: each prefix of its name, in every place it is
    counted."""
    if features.entity_type not in COUNTED or not features.name:
        return []
    scopes = [scope for scope in _scopes(features) if scope is not None]
    return [f"p{scope}{prefix}" for prefix in _prefixes(features.name_words) for scope in scopes]


def shared_place(a: Features, b: Features) -> int:
    """The narrowest place two records share: CITY, COUNTRY or EVERYWHERE."""
    if a.country and b.country and a.country != b.country:
        return EVERYWHERE
    if a.city and a.city == b.city:
        return CITY
    if a.country and a.country == b.country:
        return COUNTRY
    return EVERYWHERE


def prefix_records(a: Features, b: Features, words: int) -> int:
    """How many records one system holds, in the place the two share, whose names begin
    with the first ``words`` words of these two (either side's counts serve)."""
    if words < 1:
        return 0
    place = shared_place(a, b)
    return max(
        (
            side.prefix_counts[words - 1][place]
            for side in (a, b)
            if len(side.prefix_counts) >= words
        ),
        default=0,
    )


class TermCounts:
    """Per term, the most records one system holds with it."""

    def __init__(self, per_system: dict[tuple[str, str], int]) -> None:
        """``per_system``: records per (system, term)."""
        self.counts: dict[str, int] = {}
        for (_, term), records in per_system.items():
            if records > self.counts.get(term, 0):
                self.counts[term] = records

    @classmethod
    def of(cls, features: Sequence[Features], systems: Sequence[str]) -> TermCounts:
        """Counted over these records; ``systems[k]`` holds ``features[k]``."""
        return cls(Counter(_system_terms(features, systems)))

    def annotated(self, features: Features) -> Features:
        """The features with their name's counts attached."""
        return annotated(features, self.counts)


def annotated(features: Features, counts: dict[str, int]) -> Features:
    if features.entity_type not in COUNTED or not features.name:
        return features
    scopes = _scopes(features)
    return dataclasses.replace(
        features,
        prefix_counts=tuple(
            (
                counts.get(f"p{scopes[0]}{prefix}", 0),
                counts.get(f"p{scopes[1]}{prefix}", 0) if scopes[1] else 0,
                counts.get(f"p{scopes[2]}{prefix}", 0) if scopes[2] else 0,
            )
            for prefix in _prefixes(features.name_words)
        ),
    )


def annotate_all(features: Sequence[Features], systems: Sequence[str]) -> list[Features]:
    """Batch matching: every record's features with counts over all of them."""
    counts = TermCounts.of(features, systems)
    return [counts.annotated(f) for f in features]


def _system_terms(
    features: Iterable[Features], systems: Iterable[str]
) -> Iterable[tuple[str, str]]:
    for record, system in zip(features, systems, strict=True):
        for term in terms_of(record):
            yield system, term


class RunningCounts:
    """Counts as records of one system arrive one after another (an ingest batch placed
    in order): each arrival is counted, then annotated, so it sees the stored records and
    those before it, exactly as if it had been ingested alone."""

    def __init__(self, stored: dict[tuple[str, str], int], system: str) -> None:
        self.system = system
        self.own: Counter[str] = Counter()  # this system's records per term
        self.others: dict[str, int] = {}  # the most any other system holds
        for (holder, term), records in stored.items():
            if holder == system:
                self.own[term] = records
            elif records > self.others.get(term, 0):
                self.others[term] = records
        self.arrived: Counter[str] = Counter()  # what the arrivals add, to be stored

    def arrive(self, features: Features) -> Features:
        terms = terms_of(features)
        self.own.update(terms)
        self.arrived.update(terms)
        counts = {term: max(self.own[term], self.others.get(term, 0)) for term in terms}
        return annotated(features, counts)


# Stored counts ---------------------------------------------------------------------------


def stored_counts(entity_type: str, terms: Iterable[str]) -> dict[tuple[str, str], int]:
    """Records per (system code, term) as the TermFrequency table holds them."""
    from golden.models import TermFrequency

    wanted = sorted(set(terms))
    if not wanted or entity_type not in COUNTED:
        return {}
    rows = TermFrequency.objects.filter(entity_type=entity_type, term__in=wanted).values_list(
        "system__code", "term", "records"
    )
    return {(system, term): records for system, term, records in rows}


def stored_term_counts(entity_type: str, terms: Iterable[str]) -> TermCounts:
    return TermCounts(stored_counts(entity_type, terms))


def annotated_from_store(features: Features) -> Features:
    """A probe's features with the stored counts of its terms (search before create, a
    changed record checked again)."""
    [probe] = annotate_from_store([features])
    return probe


def annotate_from_store(features: Sequence[Features]) -> list[Features]:
    """Features of stored records with the stored counts of their terms, in one query
    (a partition of batch matching)."""
    if not features or features[0].entity_type not in COUNTED:
        return list(features)
    terms = {term for record in features for term in terms_of(record)}
    counts = stored_term_counts(features[0].entity_type, terms)
    return [counts.annotated(record) for record in features]


def store_count_changes(entity_type: str, system_id: int, changes: Counter[str]) -> None:
    """Add these per-term changes (negative for a record gone or renamed) to the table,
    in one statement. Rows are locked in term order, so concurrent batches never wait
    on each other in a cycle."""
    from golden.models import TermFrequency

    rows = sorted((term, delta) for term, delta in changes.items() if delta)
    if not rows or entity_type not in COUNTED:
        return
    table = connection.ops.quote_name(TermFrequency._meta.db_table)
    placeholders = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    params: list[object] = []
    for term, delta in rows:
        params += [entity_type, system_id, term, delta]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (entity_type, system_id, term, records)
            VALUES {placeholders}
            ON CONFLICT (entity_type, system_id, term)
            DO UPDATE SET records = {table}.records + EXCLUDED.records""",
            params,
        )


def count_changes(before: Features | None, after: Features | None) -> Counter[str]:
    """What replacing one record's features changes in its system's counts."""
    changes: Counter[str] = Counter()
    if before is not None:
        changes.subtract(terms_of(before))
    if after is not None:
        changes.update(terms_of(after))
    return changes
