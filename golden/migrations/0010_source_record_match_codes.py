from django.db import migrations, models

from golden.migrations._backfill import fill_source_records


def store_codes(apps, schema_editor):
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


class Migration(migrations.Migration):
    dependencies = [
        ("golden", "0009_source_record_match_features"),
    ]

    operations = [
        migrations.AddField(
            model_name="sourcerecord",
            name="match_codes",
            field=models.BinaryField(
                blank=True,
                editable=False,
                help_text="The equality facts of the features that incremental matching's upper bound reads (golden.matching.stored_codes), so it reads full features only for the candidates that pass; empty or of an older version: computed when read.",
                null=True,
            ),
        ),
        migrations.RunPython(store_codes, migrations.RunPython.noop, elidable=True),
    ]
