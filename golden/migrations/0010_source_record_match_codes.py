from django.db import migrations, models

from golden.migrations._backfill import fill_match_codes


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
        migrations.RunPython(fill_match_codes, migrations.RunPython.noop, elidable=True),
    ]
