"""Outbound sync: routing and approval configuration, the outbox, delivery attempts and
what each target holds.

Flow (see connectors/outbox.py and connectors/services.py):
golden's change feed (``golden.GoldenChange``) → ``fan_out_changes`` → one
``OutboundMessage`` per change and target → ``deliver_outbound_message`` → adapter →
``DeliveryAttempt`` rows, ``SyncState`` and the crosswalk (``golden.ExternalReference``).

``golden`` never imports this app; models here point at golden's by string.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from golden.entities import EntityType


class TargetBinding(models.Model):
    """Routes one entity type to one target system. ``options`` carries per-route
    settings the adapter reads (e.g. the NetSuite subsidiary for customers)."""

    system = models.ForeignKey(
        "golden.SourceSystem", on_delete=models.PROTECT, related_name="target_bindings"
    )
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    is_enabled = models.BooleanField(default=True)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Adapter options for this route, e.g. {"subsidiary": "LEN-000001"} for ERP '
        'customers or {"require_tax_id": false}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["entity_type", "system__code"]
        constraints = [
            models.UniqueConstraint(fields=["system", "entity_type"], name="uniq_target_binding")
        ]

    def __str__(self) -> str:
        return f"{self.entity_type} → {self.system_id}"


class ApprovalPolicy(models.Model):
    """How golden records of one entity type are approved for outbound sync."""

    class Mode(models.TextChoices):
        AUTO = "auto", "Automatic (valid and no open review candidate)"
        STEWARD = "steward", "A steward approves each version"

    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES, unique=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.AUTO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["entity_type"]
        verbose_name_plural = "approval policies"

    def __str__(self) -> str:
        return f"{self.entity_type}: {self.mode}"


class Approval(models.Model):
    """A steward's approval of one golden record at one version: messages of that version
    or older may be sent. A later version needs its own approval."""

    golden = models.ForeignKey(
        "golden.GoldenRecord", on_delete=models.CASCADE, related_name="sync_approvals"
    )
    version = models.PositiveIntegerField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["golden", "version"], name="uniq_approval_version")
        ]

    def __str__(self) -> str:
        return f"{self.golden_id} v{self.version} approved"


class OutboundMessage(models.Model):
    """One golden change to deliver to one target system (the transactional outbox).

    States: ``held`` (waiting for approval) → ``pending`` (due at ``next_attempt_at``;
    ``waiting_for`` names a dependency it waits for) → ``in_flight`` (claimed by
    ``locked_by`` until ``locked_until``: a lease, after which the sweeper returns it to
    pending) → ``delivered``; or ``failed`` (permanent error,
    the target's message in ``last_error``), ``dead`` (retries exhausted) — both replayable
    — or ``skipped`` (superseded by a newer version, stale, or nothing to retire).
    """

    class Status(models.TextChoices):
        HELD = "held", "Held for approval"
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (permanent)"
        DEAD = "dead", "Dead (retries exhausted)"
        SKIPPED = "skipped", "Skipped"

    class Operation(models.TextChoices):
        UPSERT = "upsert", "Upsert"
        RETIRE = "retire", "Retire"

    REPLAYABLE = (Status.FAILED, Status.DEAD)
    OPEN = (Status.HELD, Status.PENDING, Status.IN_FLIGHT)

    target = models.ForeignKey("golden.SourceSystem", on_delete=models.PROTECT, related_name="+")
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    canonical_id = models.CharField(max_length=32, db_index=True)
    golden = models.ForeignKey("golden.GoldenRecord", on_delete=models.CASCADE, related_name="+")
    golden_version = models.PositiveIntegerField()
    change = models.ForeignKey(
        "golden.GoldenChange", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    operation = models.CharField(max_length=16, choices=Operation.choices)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    note = models.CharField(
        max_length=255, blank=True, help_text="Why it is held, waiting or skipped."
    )
    waiting_for = models.CharField(
        max_length=32, blank=True, help_text="Canonical ID this message waits for in its target."
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When a delivery task was last sent for it."
    )
    last_error = models.TextField(blank=True)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    locked_by = models.CharField(max_length=128, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The sweeper's query: due pending messages.
            models.Index(fields=["status", "next_attempt_at"]),
            # A batch claim: due pending messages of one target and entity type.
            models.Index(fields=["target", "entity_type", "status", "next_attempt_at"]),
            # Ordering per golden record and target.
            models.Index(fields=["golden", "target", "golden_version"]),
            # Waiters released when a dependency is delivered.
            models.Index(fields=["target", "waiting_for", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.canonical_id} v{self.golden_version} {self.operation} → {self.target_id}"


class DeliveryAttempt(models.Model):
    """One call to a target: created before the call (``sending``), completed after."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        RETRY = "retry", "Retryable error"
        FAILED = "failed", "Permanent error"
        ABANDONED = "abandoned", "Abandoned (worker lost)"

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENDING)
    worker = models.CharField(max_length=128, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    retry_after = models.FloatField(null=True, blank=True)
    external_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}: {self.status}"


class SyncState(models.Model):
    """What one target holds of one golden record: the newest version delivered there and
    the ID it assigned. Claims lock this row, so one golden record is sent to one target
    by one worker at a time (versions in order; no create race on the external ID)."""

    golden = models.ForeignKey(
        "golden.GoldenRecord", on_delete=models.CASCADE, related_name="sync_states"
    )
    target = models.ForeignKey("golden.SourceSystem", on_delete=models.PROTECT, related_name="+")
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    canonical_id = models.CharField(max_length=32)
    delivered_version = models.PositiveIntegerField(default=0)
    external_id = models.CharField(max_length=128, blank=True)
    retired = models.BooleanField(default=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["canonical_id", "target__code"]
        constraints = [models.UniqueConstraint(fields=["golden", "target"], name="uniq_sync_state")]

    def __str__(self) -> str:
        return f"{self.canonical_id}@{self.target_id} v{self.delivered_version}"


class FanOutCursor(models.Model):
    """One row: every change-feed ID up to ``watermark`` has been fanned out. Changes above
    it are checked one by one against ``FannedOutChange``, because change IDs are handed
    out at insert and committed in any order (a plain "last ID" cursor would skip a change
    whose transaction commits after a later one's)."""

    watermark = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"fanned out up to change {self.watermark}"


class FannedOutChange(models.Model):
    """Marks a change-feed row as fanned out (rows at or below the watermark are pruned)."""

    change = models.OneToOneField(
        "golden.GoldenChange", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"change {self.change_id} fanned out"
