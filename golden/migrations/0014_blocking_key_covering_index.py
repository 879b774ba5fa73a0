from django.db import migrations

INDEX = "golden_blockingkey_lookup"


def create_lookup_index(apps, schema_editor):
    """On PostgreSQL the block lookup reads (record, codes) from the index itself; SQLite,
    which has no covering indexes, gets the plain index."""
    include = (
        " INCLUDE (source_record_id, codes)" if schema_editor.connection.vendor == "postgresql" else ""
    )
    schema_editor.execute(
        f"CREATE INDEX {INDEX} ON golden_blockingkey (entity_type, key){include}"
    )


def drop_lookup_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("golden", "0013_features_version_3"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="blockingkey", name="golden_bloc_entity__793faa_idx"),
        migrations.RunPython(create_lookup_index, drop_lookup_index),
    ]
