from django.db import migrations

from golden.migrations._backfill import refresh_match_data


class Migration(migrations.Migration):
    """Features version 3: company features hold the city in one spelling
    (golden.normalize.normalize_city), a legal entity's name leaves out its own country,
    and services of one category share a blocking key. Stored features, blocking keys and
    name counts are computed again."""

    dependencies = [
        ("golden", "0012_blocking_key_codes"),
    ]

    operations = [
        migrations.RunPython(refresh_match_data, migrations.RunPython.noop, elidable=True),
    ]
