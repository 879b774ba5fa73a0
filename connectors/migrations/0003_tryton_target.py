"""A second ERP target: Tryton (adapters/tryton.py). The system and its routes
(customers, legal entities, service codes, projects) are created disabled: enable the
routes once ``MDM_TARGETS["tryton"]`` points at a Tryton server."""

from django.db import migrations

ENTITY_TYPES = ["customer", "legal_entity", "service_code", "project"]


def seed(apps, schema_editor):
    SourceSystem = apps.get_model("golden", "SourceSystem")
    TargetBinding = apps.get_model("connectors", "TargetBinding")
    system, _ = SourceSystem.objects.get_or_create(
        code="tryton", defaults={"name": "ERP (Tryton)", "kind": "erp"}
    )
    for entity_type in ENTITY_TYPES:
        TargetBinding.objects.get_or_create(
            system=system, entity_type=entity_type, defaults={"is_enabled": False}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0002_seed_routes_and_policies"),
        ("golden", "0002_seed_systems_roles_sequences"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
