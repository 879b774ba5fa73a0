"""Blocking: cheap keys that bring candidate pairs together without comparing all pairs.

A pair is compared only if the two records share at least one key. Several kinds of key
catch different evidence: an identifier (tax ID, domain, phone), a distinctive name token
within a country or city, the brand (first distinctive word) across countries for records
whose country is unknown, and the address (postal code with house number), so a misspelt
name at the same address still meets its twin. Keys shared by very many records (a generic word,
a big city's postal code) are skipped rather than compared quadratically.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
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
# Stands for a stored block of more than MAX_BLOCK_SIZE records, which matching skips:
# only its size matters, so its members are not read.
OVERSIZED: tuple[int, ...] = (0,) * (MAX_BLOCK_SIZE + 1)
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
    if f.entity_type == EntityType.SERVICE_CODE:
        # A catalogue's services of one category are few enough to compare them all: PSA
        # writes "Tax Sr Mgr" for "Senior Manager - Tax", which shares no word with it.
        if f.parent:
            keys.add(f"cat:{f.parent}")
        # Words meet every category's, since PSA exports often leave the category out;
        # "partner" or "tax" name a service, not a company.
        keys.update(f"tok::{token}" for token in f.name_tokens if len(token) >= 3)
        return keys
    # A project's words meet only its customer's projects.
    for token in f.name_tokens:
        if len(token) >= 4 and token not in GENERIC_TOKENS:
            keys.add(f"tok:{f.parent}:{token}")
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


def block_members(entity_type: str, keys: Iterable[str]) -> dict[str, Sequence[int]]:
    """Source record IDs stored under each key (BlockingKey table), at most
    MAX_BLOCK_SIZE + 1 per key: enough to tell an oversized block, which is skipped,
    without reading it. One query for all the keys of a batch; on PostgreSQL each key
    is its own index range scan with its own limit, so a huge block costs no more
    than a small one."""
    return _read_blocks(entity_type, keys, with_codes=False)[0]


class StoredCodes(NamedTuple):
    """Records' stored equality codes: their IDs ascending, and one row each of the
    little-endian integers ``golden.matching.stored_codes`` packs (version first; a
    record without codes, or with codes of another size, has a row of zeros)."""

    ids: np.ndarray
    rows: np.ndarray


def block_members_with_codes(
    entity_type: str, keys: Iterable[str]
) -> tuple[dict[str, Sequence[int]], StoredCodes]:
    """``block_members``, and the stored equality codes of the records they name, read
    from the same key rows (the bound then needs no source record)."""
    return _read_blocks(entity_type, keys, with_codes=True)


def _read_blocks(
    entity_type: str, keys: Iterable[str], *, with_codes: bool
) -> tuple[dict[str, Sequence[int]], StoredCodes]:
    from golden.models import BlockingKey

    wanted = sorted(set(keys))
    if connection.vendor == "postgresql" and wanted:
        return _read_blocks_postgresql(entity_type, wanted, with_codes)
    members: dict[str, list[int]] = {}
    codes: dict[int, bytes] = {}
    columns = ["key", "source_record_id", *(["codes"] if with_codes else [])]
    for chunk in in_chunks(wanted):
        for key, record_id, *stored in BlockingKey.objects.filter(
            entity_type=entity_type, key__in=chunk
        ).values_list(*columns):
            block = members.setdefault(key, [])
            if len(block) <= MAX_BLOCK_SIZE:
                block.append(record_id)
                if with_codes:
                    codes[record_id] = _sized(stored[0])
    ids = sorted(codes)
    return members, _stored_codes(np.array(ids, dtype=np.int64), b"".join(map(codes.get, ids)))


def _sized(codes: bytes | None) -> bytes:
    from golden.matching import CODES_SIZE

    if codes is None or len(codes) != CODES_SIZE:
        return bytes(CODES_SIZE)
    return bytes(codes)


def _stored_codes(ids: np.ndarray, packed: bytes) -> StoredCodes:
    from golden.matching import CODES_SIZE

    rows = np.frombuffer(packed, dtype="<i8").reshape(len(ids), CODES_SIZE // 8)
    return StoredCodes(ids, rows)


def _read_blocks_postgresql(
    entity_type: str, wanted: list[str], with_codes: bool
) -> tuple[dict[str, Sequence[int]], StoredCodes]:
    """Tens of thousands of key-record rows per batch come back as one row per key, its
    record IDs packed into one binary string, and one row with each record's codes
    packed in ID order: numpy unpacks them, no Python object per row."""
    from golden.matching import CODES_SIZE
    from golden.models import BlockingKey

    table = connection.ops.quote_name(BlockingKey._meta.db_table)
    # An oversized block's members are neither sent nor their codes: only that it is.
    codes_part = (
        """UNION ALL
        SELECT NULL, NULL,
            string_agg(int8send(source_record_id), '' ORDER BY source_record_id),
            string_agg(CASE WHEN length(codes) = %(size)s THEN codes
                ELSE decode(repeat('00', %(size)s), 'hex') END, '' ORDER BY source_record_id)
        FROM (
            SELECT DISTINCT ON (source_record_id) source_record_id, codes
            FROM b JOIN (
                SELECT key FROM b GROUP BY key HAVING count(*) <= %(max)s
            ) AS kept USING (key)
        ) AS d"""
        if with_codes
        else ""
    )
    rows = fetch_all(
        f"""WITH b AS MATERIALIZED (
            SELECT k.key, b.source_record_id, b.codes
            FROM unnest(%(keys)s::varchar[]) AS k(key)
            CROSS JOIN LATERAL (
                SELECT source_record_id, codes FROM {table}
                WHERE entity_type = %(entity_type)s AND key = k.key LIMIT %(max)s + 1
            ) AS b
        )
        SELECT key, count(*),
            CASE WHEN count(*) <= %(max)s THEN string_agg(int8send(source_record_id), '') END,
            NULL
        FROM b GROUP BY key
        {codes_part}""",
        {
            "keys": wanted,
            "entity_type": entity_type,
            "max": MAX_BLOCK_SIZE,
            "size": CODES_SIZE,
        },
    )
    members: dict[str, Sequence[int]] = {}
    codes = _stored_codes(np.empty(0, dtype=np.int64), b"")
    for key, size, packed_ids, packed_codes in rows:
        if key is not None:
            members[key] = (
                OVERSIZED
                if size > MAX_BLOCK_SIZE
                else np.frombuffer(packed_ids, dtype=">i8").tolist()
            )
        elif packed_ids:
            ids = np.frombuffer(packed_ids, dtype=">i8").astype(np.int64)
            codes = _stored_codes(ids, bytes(packed_codes))
    return members, codes
