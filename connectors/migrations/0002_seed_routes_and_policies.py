"""Default routing and approval (issue 5): customers to CRM, PSA and ERP; projects to PSA
and ERP; legal entities and service codes to ERP and PSA. Customers and projects are
approved automatically; legal entities and service codes by a steward."""

from django.db import migrations

ROUTES = {
    "customer": ["crm", "psa", "erp"],
    "project": ["psa", "erp"],
    "legal_entity": ["erp", "psa"],
    "service_code": ["erp", "psa"],
}
POLICIES = {
    "customer": "auto",
    "project": "auto",
    "legal_entity": "steward",
    "service_code": "steward",
}


def seed(apps, schema_editor):
    SourceSystem = apps.get_model("golden", "SourceSystem")
    TargetBinding = apps.get_model("connectors", "TargetBinding")
    ApprovalPolicy = apps.get_model("connectors", "ApprovalPolicy")
    systems = {s.code: s for s in SourceSystem.objects.all()}
    for entity_type, codes in ROUTES.items():
        for code in codes:
            if code in systems:
                TargetBinding.objects.get_or_create(system=systems[code], entity_type=entity_type)
    for entity_type, mode in POLICIES.items():
        ApprovalPolicy.objects.get_or_create(entity_type=entity_type, defaults={"mode": mode})


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0001_initial"),
        ("golden", "0002_seed_systems_roles_sequences"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
