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
see the same numbers once the same records are stored. Company names (customers, legal
entities) and service names ("Senior Consultant" is on every practice's rate card);
project names are phrases one customer's projects share by design, so they are not
counted.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from django.db import connection

from golden.entities import EntityType
from golden.matching.features import Features
from golden.sql import fetch_all, in_chunks

COUNTED = frozenset({EntityType.CUSTOMER, EntityType.LEGAL_ENTITY, EntityType.SERVICE_CODE})

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

    def annotated(self, features: Features) -> Features:
        """The features with their name's counts attached."""
        return annotated(features, self.counts)


def annotated(features: Features, counts: dict[str, int] | Callable[[str], int]) -> Features:
    """The features with the counts of their name's prefixes attached, looked up in
    ``counts`` (a term's count, or a function of the term)."""
    if features.entity_type not in COUNTED or not features.name:
        return features
    count = counts if callable(counts) else lambda term: counts.get(term, 0)
    everywhere, country, city = _scopes(features)
    return _with_prefix_counts(
        features,
        _shared(
            tuple(
                _shared(
                    (
                        count(f"p{everywhere}{prefix}"),
                        count(f"p{country}{prefix}") if country else 0,
                        count(f"p{city}{prefix}") if city else 0,
                    )
                )
                for prefix in _prefixes(features.name_words)
            )
        ),
    )


# Every feature but the counts, which come last: a million records are annotated per
# batch run, and dataclasses.replace costs several times a positional call.
_OTHER_FEATURES = operator.attrgetter(
    *(field.name for field in dataclasses.fields(Features) if field.name != "prefix_counts")
)
assert dataclasses.fields(Features)[-1].name == "prefix_counts"


def _with_prefix_counts(features: Features, counts: tuple[Any, ...]) -> Features:
    return Features(*_OTHER_FEATURES(features), counts)  # type: ignore[misc]


@functools.lru_cache(maxsize=65_536)
def _shared(counts: tuple[Any, ...]) -> tuple[Any, ...]:
    """One object for equal count tuples: nearly every record's are ((1, 1, 1), …), and a
    million records' features keep theirs for the whole batch run."""
    return counts


def annotate_all(features: list[Features], systems: Sequence[str]) -> list[Features]:
    """Batch matching: every record's features with counts over all of them, replaced
    in the list itself (a million records' features are not held twice), which is
    returned.

    Counted on the terms' hashes with numpy, one system at a time, keeping only terms two
    or more records of one system hold (a million records have millions of distinct
    terms); a record's own term is otherwise held by it alone, so it counts 1."""
    by_system: dict[str, list[Features]] = {}
    for record, system in zip(features, systems, strict=True):
        by_system.setdefault(system, []).append(record)
    common: dict[int, int] = {}
    for records in by_system.values():
        hashes = np.fromiter(
            (hash(term) for record in records for term in terms_of(record)), dtype=np.int64
        )
        values, records_with = np.unique(hashes, return_counts=True)
        held = records_with >= 2
        for value, count in zip(values[held].tolist(), records_with[held].tolist(), strict=True):
            if count > common.get(value, 0):
                common[value] = count

    def count(term: str) -> int:
        return common.get(hash(term), 1)

    for index, record in enumerate(features):
        features[index] = annotated(record, count)
    return features


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
    if connection.vendor == "postgresql":
        # The terms as one array parameter: thousands per batch cost more to bind one by
        # one than to read.
        from golden.models import SourceSystem

        quote = connection.ops.quote_name
        rows = fetch_all(
            f"""SELECT s.code, t.term, t.records
            FROM {quote(TermFrequency._meta.db_table)} AS t
            JOIN {quote(SourceSystem._meta.db_table)} AS s ON s.id = t.system_id
            WHERE t.entity_type = %s AND t.term = ANY(%s)""",
            [entity_type, wanted],
        )
    else:
        rows = []
        for chunk in in_chunks(wanted):
            rows += TermFrequency.objects.filter(
                entity_type=entity_type, term__in=chunk
            ).values_list("system__code", "term", "records")
    return {(system, term): records for system, term, records in rows}


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
    counts = TermCounts(stored_counts(features[0].entity_type, terms))
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
    upsert = f"""ON CONFLICT (entity_type, system_id, term)
        DO UPDATE SET records = {table}.records + EXCLUDED.records"""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The terms and changes as two array parameters: thousands of rows per batch
            # cost more to bind one by one than to write.
            cursor.execute(
                f"""INSERT INTO {table} (entity_type, system_id, term, records)
                SELECT %s, %s, term, records
                FROM unnest(%s::text[], %s::integer[]) WITH ORDINALITY AS t(term, records, n)
                ORDER BY n
                {upsert}""",
                [entity_type, system_id, [t for t, _ in rows], [d for _, d in rows]],
            )
        else:
            cursor.executemany(
                f"""INSERT INTO {table} (entity_type, system_id, term, records)
                VALUES (%s, %s, %s, %s) {upsert}""",
                [(entity_type, system_id, term, delta) for term, delta in rows],
            )


def count_changes(before: Features | None, after: Features | None) -> Counter[str]:
    """What replacing one record's features changes in its system's counts."""
    changes: Counter[str] = Counter()
    if before is not None:
        changes.subtract(terms_of(before))
    if after is not None:
        changes.update(terms_of(after))
    return changes
