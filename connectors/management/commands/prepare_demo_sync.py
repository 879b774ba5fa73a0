"""Get the demo's outbound sync going: approve the records that need a steward (our own
legal entities and service codes) as the demo steward, and bill ERP customers through the
first legal entity. Idempotent."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from connectors.models import Approval, ApprovalPolicy, TargetBinding
from connectors.services import approve_golden_record
from golden.models import GoldenRecord


class Command(BaseCommand):
    help = "Demo only: approve steward-approved entity types and set the ERP customer subsidiary."

    def handle(self, *args: Any, **opts: Any) -> None:
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
            f"Approved {approved} records; ERP customers are billed through "
            f"{entity.canonical_id if entity else 'no legal entity'}."
        )
