"""Shared by data migrations (the loader skips modules named with a leading underscore)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def refresh_match_data(apps: Any, schema_editor: Any = None) -> None:
    """After a change to what features hold (FEATURES_VERSION): every record's stored
    features, and for all but projects its blocking keys (with the codes they carry) and
    name counts, computed again in batches. Features of another version would otherwise
    be recomputed on every read, and keys and counts would miss the change. A project's
    keys name its customer's golden record, which its cleaned values do not hold: they
    are left as they are (project features did not change)."""
    from collections import Counter

    from golden.matching import KEY_COLUMNS, features_of, key_values, stored_features
    from golden.matching.frequency import COUNTED, terms_of
    from golden.services.common import update_rows
    from golden.sql import insert_values

    source_record = apps.get_model("golden", "SourceRecord")
    blocking_key = apps.get_model("golden", "BlockingKey")
    term_frequency = apps.get_model("golden", "TermFrequency")
    for entity_type in ("customer", "legal_entity", "service_code", "project"):
        counts: Counter[tuple[int, str]] = Counter()
        last = 0
        while True:
            rows = list(
                source_record.objects.filter(entity_type=entity_type, id__gt=last)
                .order_by("id")
                .values_list("id", "system_id", "cleaned")[:BATCH]
            )
            if not rows:
                break
            records, keys = [], []
            for record_id, system_id, cleaned in rows:
                features = features_of(entity_type, cleaned)
                counts.update((system_id, term) for term in terms_of(features))
                records.append(source_record(pk=record_id, match_features=stored_features(features)))
                if entity_type != "project":
                    keys += key_values(record_id, entity_type, features)
            update_rows(source_record, records, ["match_features"])
            if entity_type != "project":
                blocking_key.objects.filter(source_record_id__in=[row[0] for row in rows]).delete()
                insert_values(blocking_key, KEY_COLUMNS, keys)
            last = rows[-1][0]
        if entity_type in COUNTED:
            term_frequency.objects.filter(entity_type=entity_type).delete()
            store_term_counts(term_frequency, entity_type, counts)


def store_term_counts(
    term_frequency: Any, entity_type: str, counts: Mapping[tuple[int, str], int]
) -> None:
    """TermFrequency rows of one entity type: records per (system ID, term)."""
    term_frequency.objects.bulk_create(
        (
            term_frequency(entity_type=entity_type, system_id=system_id, term=term, records=n)
            for (system_id, term), n in counts.items()
        ),
        batch_size=BATCH,
    )
