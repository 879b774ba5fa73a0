# Batch claims: due pending messages of one target and entity type.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0003_tryton_target"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="outboundmessage",
            index=models.Index(
                fields=["target", "entity_type", "status", "next_attempt_at"],
                name="connectors__target__b169ee_idx",
            ),
        ),
    ]
