from django.db import migrations, models

# Every source record's codes are current after 0010 and 0011; keys whose record has
# none keep NULL and are computed when read.
COPY_CODES = """
UPDATE golden_blockingkey SET codes = (
    SELECT r.match_codes FROM golden_sourcerecord AS r
    WHERE r.id = golden_blockingkey.source_record_id
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("golden", "0011_term_frequency"),
    ]

    operations = [
        migrations.AddField(
            model_name="blockingkey",
            name="codes",
            field=models.BinaryField(
                blank=True,
                editable=False,
                help_text="The record's equality facts that incremental matching's upper bound reads (golden.matching.stored_codes), on each of its keys: the block lookup returns them, so only the candidates that pass the bound are read from the source records. Empty or of an older version: computed when read.",
                null=True,
            ),
        ),
        migrations.RunSQL(COPY_CODES, migrations.RunSQL.noop, elidable=True),
        migrations.RemoveField(model_name="sourcerecord", name="match_codes"),
    ]
