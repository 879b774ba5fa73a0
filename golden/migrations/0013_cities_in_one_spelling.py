from django.db import migrations

from golden.migrations._backfill import refresh_company_match_data


class Migration(migrations.Migration):
    """Company features hold the city in one spelling (golden.normalize.normalize_city):
    stored features, blocking keys and name counts are computed again."""

    dependencies = [
        ("golden", "0012_blocking_key_codes"),
    ]

    operations = [
        migrations.RunPython(refresh_company_match_data, migrations.RunPython.noop, elidable=True),
    ]
