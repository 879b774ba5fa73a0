"""Shared by data migrations (the loader skips modules named with a leading underscore)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

BATCH = 2000


def fill_source_records(
    apps: Any, field: str, columns: Sequence[str], compute: Callable[..., Any]
) -> None:
    """Set ``field`` of every source record to ``compute(*columns)``, in batches."""
    source_record = apps.get_model("golden", "SourceRecord")
    last = 0
    while True:
        rows = list(
            source_record.objects.filter(id__gt=last)
            .order_by("id")
            .values_list("id", *columns)[:BATCH]
        )
        if not rows:
            return
        source_record.objects.bulk_update(
            [source_record(pk=row[0], **{field: compute(*row[1:])}) for row in rows], [field]
        )
        last = rows[-1][0]


def fill_match_codes(apps: Any, schema_editor: Any = None) -> None:
    """Codes of the rows stored so far, in batches, from their stored features (or their
    cleaned values). Rows this misses, or whose codes are of another version later, are
    computed when read."""
    from golden.matching import features_from, stored_codes

    fill_source_records(
        apps,
        "match_codes",
        ("entity_type", "match_features", "cleaned"),
        lambda entity_type, features, cleaned: stored_codes(
            features_from(entity_type, features, cleaned)
        ),
    )
