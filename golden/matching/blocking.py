"""Blocking: cheap keys that bring candidate pairs together without comparing all pairs.

A pair is compared only if the two records share at least one key. Several kinds of key
catch different evidence: an identifier (tax ID, domain, phone), a distinctive name token
within a country or city, the brand (first distinctive word) across countries for records
whose country is unknown, and the address (postal code with house number), so a misspelt
name at the same address still meets its twin. Keys shared by very many records (a generic word,
a big city's postal code) are skipped rather than compared quadratically.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from golden.entities import EntityType
from golden.matching.features import Features
from golden.sql import fetch_all, in_chunks

# Name words too common to bring records together on their own.
GENERIC_TOKENS = frozenset(
    """and of the de la le du des der die das und y e et van von di da del los las group holding
    holdings international global services service solutions solution consulting consultants
    partners partner company companies corporation technologies technology systems system
    management industries industrial enterprises trading associates advisory capital group
    software digital data energy engineering logistics media network networks health care
    north south east west new first national united general american european asia pacific""".split()
)
MAX_BLOCK_SIZE = 400
# Longer keys are stored cut to this length (the column's size).
STORED_KEY_LENGTH = 200


# Shorter first words ("blue", "acme") recur across countries and only add look-alikes.
BRAND_KEY_MIN_LENGTH = 6


def blocking_keys(f: Features) -> set[str]:
    keys: set[str] = set()
    if f.entity_type in (EntityType.CUSTOMER, EntityType.LEGAL_ENTITY):
        if f.tax_id:
            keys.add(f"tax:{f.tax_id}")
        if f.entity_type == EntityType.LEGAL_ENTITY:
            if f.registration:
                keys.add(f"reg:{f.registration}")
            # A firm has few entities per country, and PSA names them freely
            # ("NW Germany"): all of a country's entities are compared.
            if f.country:
                keys.add(f"cc:{f.country}")
        if f.domain:
            keys.add(f"dom:{f.domain}")
        if f.phone:
            keys.add(f"tel:{f.phone}")
        distinctive = [t for t in f.name_tokens if len(t) >= 3 and t not in GENERIC_TOKENS]
        for token in distinctive:
            keys.add(f"tok:{f.country}:{token}")
            # Records without a country (common in PSA exports) still meet their twins
            # through the city or postal code.
            if f.city:
                keys.add(f"cty:{f.city}:{token}")
            if f.postal_code:
                keys.add(f"pct:{f.postal_code}:{token}")
        if distinctive and len(distinctive[0]) >= BRAND_KEY_MIN_LENGTH:
            # The first distinctive word is usually the brand. Keyed across countries, so
            # a record whose country is unknown still meets its twins.
            keys.add(f"brd:{distinctive[0]}")
        if not distinctive and f.name:
            keys.add(f"name:{f.country}:{f.name}")
        if f.postal_code and f.house_number:
            keys.add(f"adr:{f.postal_code}:{f.house_number}")
        return keys
    if f.code:
        keys.add(f"code:{f.code}")
    if f.reference:
        keys.add(f"ref:{f.reference}")
    # A project's words meet only its customer's projects; a service's words meet every
    # category's, since PSA exports often leave the category out.
    scope = f.parent if f.entity_type == EntityType.PROJECT else ""
    for token in f.name_tokens:
        if len(token) >= 4 and token not in GENERIC_TOKENS:
            keys.add(f"tok:{scope}:{token}")
    if f.parent and f.start_date:
        # One customer's projects that start on one day: PSA abbreviates the names.
        keys.add(f"start:{f.parent}:{f.start_date}")
    return keys


def candidate_pairs(
    keys_by_record: dict[int, set[str]], max_block: int = MAX_BLOCK_SIZE
) -> set[tuple[int, int]]:
    """All pairs (low id, high id) that share a key, skipping oversized blocks (batch mode)."""
    blocks: dict[str, list[int]] = {}
    for record_id, keys in keys_by_record.items():
        for key in keys:
            blocks.setdefault(key, []).append(record_id)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > max_block:
            continue
        members.sort()
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                pairs.add((left, right))
    return pairs


def stored_key(key: str) -> str:
    return key[:STORED_KEY_LENGTH]


def block_members(entity_type: str, keys: Iterable[str]) -> dict[str, list[int]]:
    """Source record IDs stored under each key (BlockingKey table), at most
    MAX_BLOCK_SIZE + 1 per key: enough to tell an oversized block, which is skipped,
    without reading it. One query for all the keys of a batch; on PostgreSQL each key
    is its own index range scan with its own limit, so a huge block costs no more
    than a small one."""
    from golden.models import BlockingKey

    wanted = sorted(set(keys))
    members: dict[str, list[int]] = {}
    if not wanted:
        return members
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(BlockingKey._meta.db_table)
        rows = fetch_all(
            f"""SELECT k.key, b.source_record_id
            FROM unnest(%s::varchar[]) AS k(key)
            CROSS JOIN LATERAL (
                SELECT source_record_id FROM {table}
                WHERE entity_type = %s AND key = k.key LIMIT %s
            ) AS b""",
            [wanted, entity_type, MAX_BLOCK_SIZE + 1],
        )
    else:
        rows = []
        for chunk in in_chunks(wanted):
            rows += BlockingKey.objects.filter(entity_type=entity_type, key__in=chunk).values_list(
                "key", "source_record_id"
            )
    for key, record_id in rows:
        block = members.setdefault(key, [])
        if len(block) <= MAX_BLOCK_SIZE:
            block.append(record_id)
    return members
