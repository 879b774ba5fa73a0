"""Approval: a golden record is sent only once approved.

Automatically when it passes validation and has no open review candidate (default for
customers and projects), or by a steward's approval of the version (default for our own
legal entities and service codes). The policy per entity type is an ``ApprovalPolicy``
row, seeded with those defaults. A retire (after a merge or retirement) needs no
approval of its own: the merge or retirement was the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from connectors.models import Approval, ApprovalPolicy, OutboundMessage
from golden.entities import EntityType, entity_spec
from golden.models import GoldenRecord, MatchCandidate

DEFAULT_POLICY: dict[str, str] = {
    EntityType.CUSTOMER: ApprovalPolicy.Mode.AUTO,
    EntityType.PROJECT: ApprovalPolicy.Mode.AUTO,
    EntityType.LEGAL_ENTITY: ApprovalPolicy.Mode.STEWARD,
    EntityType.SERVICE_CODE: ApprovalPolicy.Mode.STEWARD,
}
UNDECIDED = (MatchCandidate.Status.OPEN, MatchCandidate.Status.DEFERRED)


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str = ""


def policy_mode(entity_type: str) -> str:
    mode = ApprovalPolicy.objects.filter(entity_type=entity_type).values_list("mode", flat=True)
    return next(iter(mode), DEFAULT_POLICY.get(entity_type, ApprovalPolicy.Mode.STEWARD))


def validation_problems(entity_type: str, attributes: Mapping[str, Any]) -> list[str]:
    spec = entity_spec(entity_type)
    return [
        f"needs {f.attribute.replace('_', ' ')}"
        for f in spec.fields
        if f.required and attributes.get(f.attribute) in (None, "")
    ]


def open_candidates(golden_id: int) -> list[str]:
    """Canonical IDs of the records an undecided review candidate pairs it with."""
    rows = MatchCandidate.objects.filter(
        Q(golden_a_id=golden_id) | Q(golden_b_id=golden_id), status__in=UNDECIDED
    ).values_list("golden_a_id", "golden_b_id")
    others = {b if a == golden_id else a for a, b in rows}
    return sorted(GoldenRecord.objects.filter(pk__in=others).values_list("canonical_id", flat=True))


def decide(message: OutboundMessage) -> Decision:
    if message.operation == OutboundMessage.Operation.RETIRE:
        return Decision(True, "retire follows a merge or retirement")
    mode = policy_mode(message.entity_type)
    if mode == ApprovalPolicy.Mode.STEWARD:
        if Approval.objects.filter(
            golden_id=message.golden_id, version__gte=message.golden_version
        ).exists():
            return Decision(True, "approved by a steward")
        return Decision(False, f"awaiting a steward's approval of v{message.golden_version}")
    problems = validation_problems(message.entity_type, message.payload.get("attributes", {}))
    if problems:
        return Decision(False, "does not pass validation: " + "; ".join(problems))
    others = open_candidates(message.golden_id)
    if others:
        return Decision(False, "open review candidate with " + ", ".join(others[:3]))
    return Decision(True, "approved automatically")


def approval_status(golden: GoldenRecord) -> dict[str, Any]:
    """For the API and admin: the policy and whether the current version may be sent."""
    latest = Approval.objects.filter(golden=golden).order_by("-version").first()
    probe = OutboundMessage(
        golden=golden,
        golden_version=golden.version,
        entity_type=golden.entity_type,
        operation=OutboundMessage.Operation.UPSERT,
        payload={"attributes": golden.attributes},
    )
    decision = decide(probe)
    return {
        "policy": policy_mode(golden.entity_type),
        "approved": decision.approved,
        "reason": decision.reason,
        "approved_version": latest.version if latest else None,
        "approved_by": latest.approved_by.get_username() if latest and latest.approved_by else None,
        "approved_at": latest.created_at if latest else None,
    }
