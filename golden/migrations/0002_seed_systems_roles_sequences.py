"""Seed the default source systems and roles, and create PostgreSQL sequences for
canonical-ID numbers (SQLite uses the counter table instead)."""

from django.db import migrations

SYSTEMS = [
    ("crm", "CRM (Salesforce)", "crm"),
    ("psa", "PSA (Kantata)", "psa"),
    ("erp", "ERP (NetSuite)", "erp"),
]
PREFIXES = ["CUS", "LEN", "PRJ", "SVC"]
ROLE_PERMISSIONS = {
    "viewer": ["view"],
    "integration": ["view"],
    "steward": ["view", "change"],
}
STEWARDED_MODELS = [
    "goldenrecord",
    "sourcerecord",
    "matchcandidate",
    "mergeevent",
    "rejectedrecord",
]


def seed(apps, schema_editor):
    SourceSystem = apps.get_model("golden", "SourceSystem")
    for code, name, kind in SYSTEMS:
        SourceSystem.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    for role, verbs in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for model in STEWARDED_MODELS:
            content_type, _ = ContentType.objects.get_or_create(app_label="golden", model=model)
            for verb in verbs:
                perm, _ = Permission.objects.get_or_create(
                    content_type=content_type,
                    codename=f"{verb}_{model}",
                    defaults={"name": f"Can {verb} {model}"},
                )
                group.permissions.add(perm)

    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            for prefix in PREFIXES:
                cursor.execute(
                    f"CREATE SEQUENCE IF NOT EXISTS golden_canonical_{prefix.lower()}_seq"
                )


class Migration(migrations.Migration):
    dependencies = [
        ("golden", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
