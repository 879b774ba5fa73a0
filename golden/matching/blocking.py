"""Blocking: cheap keys that bring candidate pairs together without comparing all pairs.

A pair is compared only if the two records share at least one key. Several kinds of key
catch different evidence: an identifier (tax ID, domain, phone), a distinctive name token
within a country, and the address (postal code with house number), so a misspelt name at
the same address still meets its twin. Keys shared by very many records (a generic word,
a big city's postal code) are skipped rather than compared quadratically.
"""

from __future__ import annotations

from golden.entities import EntityType
from golden.matching.features import Features

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


def blocking_keys(f: Features) -> set[str]:
    keys: set[str] = set()
    if f.entity_type in (EntityType.CUSTOMER, EntityType.LEGAL_ENTITY):
        if f.tax_id:
            keys.add(f"tax:{f.tax_id}")
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
        if not distinctive and f.name:
            keys.add(f"name:{f.country}:{f.name}")
        if f.postal_code and f.house_number:
            keys.add(f"adr:{f.country}:{f.postal_code}:{f.house_number}")
        return keys
    if f.code:
        keys.add(f"code:{f.code}")
    if f.reference:
        keys.add(f"ref:{f.reference}")
    for token in f.name_tokens:
        if len(token) >= 4 and token not in GENERIC_TOKENS:
            keys.add(f"tok:{f.parent}:{token}")
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
