"""Get the demo's outbound sync going: route customers to all three systems (the demo
shows a merge arriving in each), approve the records that need a steward (our own legal
entities and service codes) as the demo steward, and bill ERP customers through the
first legal entity. Idempotent."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from connectors.models import Approval, ApprovalPolicy, TargetBinding
from connectors.services import approve_golden_record
from golden.models import GoldenRecord, SourceSystem

CUSTOMER_TARGETS = ("crm", "psa", "erp")


def route_customers_everywhere() -> None:
    """The seeded routes already do; a demo database someone switched off gets them back."""
    for system in SourceSystem.objects.filter(code__in=CUSTOMER_TARGETS):
        binding, _ = TargetBinding.objects.get_or_create(system=system, entity_type="customer")
        if not binding.is_enabled:
            binding.is_enabled = True
            binding.save(update_fields=["is_enabled", "updated_at"])


class Command(BaseCommand):
    help = (
        "Demo only: route customers to crm, psa and erp, approve steward-approved entity "
        "types and set the ERP customer subsidiary."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        route_customers_everywhere()
        steward = get_user_model().objects.filter(username="steward").first()
        steward_types = ApprovalPolicy.objects.filter(mode=ApprovalPolicy.Mode.STEWARD).values_list(
            "entity_type", flat=True
        )
        approved = 0
        for golden in GoldenRecord.objects.filter(
            entity_type__in=list(steward_types), status="active"
        ):
            if not Approval.objects.filter(golden=golden, version=golden.version).exists():
                approve_golden_record(golden, actor=steward, note="demo set-up")
                approved += 1
        entity = (
            GoldenRecord.objects.filter(entity_type="legal_entity", status="active")
            .order_by("pk")
            .first()
        )
        if entity is not None:
            for binding in TargetBinding.objects.filter(system__code="erp", entity_type="customer"):
                binding.options = {**binding.options, "subsidiary": entity.canonical_id}
                binding.save(update_fields=["options", "updated_at"])
        self.stdout.write(
            f"Customers go to {', '.join(CUSTOMER_TARGETS)}. Approved {approved} records; ERP "
            f"customers are billed through {entity.canonical_id if entity else 'no legal entity'}."
        )
