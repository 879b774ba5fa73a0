"""Admin for outbound sync: routing and approval configuration (editable), the outbox,
attempts and per-target state (read-only, written by the services), with replay and
approve actions that call the services."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from connectors import services
from connectors.adapters import registry
from connectors.models import (
    Approval,
    ApprovalPolicy,
    DeliveryAttempt,
    OutboundMessage,
    SyncState,
    TargetBinding,
)
from golden import roles
from golden.models import GoldenRecord


def pretty_json(value: Any) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TargetBinding)
class TargetBindingAdmin(admin.ModelAdmin):
    list_display = ["entity_type", "system", "is_enabled", "adapter_maps_it", "options"]
    list_filter = ["system", "entity_type", "is_enabled"]
    list_editable = ["is_enabled"]

    @admin.display(boolean=True, description="adapter maps it")
    def adapter_maps_it(self, obj: TargetBinding) -> bool:
        return registry.supports(obj.system, obj.entity_type)


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ["entity_type", "mode", "updated_at"]
    list_editable = ["mode"]


class ApprovalForm(forms.ModelForm):
    class Meta:
        model = Approval
        fields = ["golden", "note"]

    def clean_golden(self) -> GoldenRecord:
        golden = self.cleaned_data["golden"]
        if golden.status != GoldenRecord.Status.ACTIVE:
            raise forms.ValidationError(f"{golden.canonical_id} is {golden.status}.")
        return golden


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    """Adding one approves the golden record's current version (and releases its held
    messages) through the service."""

    form = ApprovalForm
    list_display = ["golden", "version", "approved_by", "note", "created_at"]
    list_filter = ["golden__entity_type"]
    search_fields = ["golden__canonical_id", "golden__name"]
    raw_id_fields = ["golden"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_steward(request.user)

    def save_model(self, request: HttpRequest, obj: Approval, form: Any, change: bool) -> None:
        approval = services.approve_golden_record(obj.golden, actor=request.user, note=obj.note)
        obj.pk, obj.version, obj.approved_by = approval.pk, approval.version, approval.approved_by


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = [
        "number",
        "status",
        "http_status",
        "duration_ms",
        "retry_after",
        "external_id",
        "error",
        "worker",
        "started_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "canonical_id",
        "golden_version",
        "operation",
        "target",
        "status",
        "attempts",
        "next_attempt_at",
        "note",
        "short_error",
    ]
    list_filter = ["status", "target", "entity_type", "operation"]
    search_fields = ["canonical_id", "idempotency_key", "external_id", "correlation_id"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["replay_selected"]
    exclude = ["payload"]
    readonly_fields = ["payload_json"]

    @admin.display(description="last error")
    def short_error(self, obj: OutboundMessage) -> str:
        return obj.last_error[:120]

    @admin.display(description="payload")
    def payload_json(self, obj: OutboundMessage) -> str:
        return pretty_json(obj.payload)

    @admin.action(description="Replay selected failed or dead messages")
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        if not roles.can_steward(request.user):
            self.message_user(request, "Only stewards and admins may replay.", messages.ERROR)
            return
        replayed = services.replay_messages(list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - len(replayed)
        self.message_user(request, f"Replayed {len(replayed)} message(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} message(s) were not failed or dead and were left alone.",
                messages.WARNING,
            )


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "message",
        "number",
        "status",
        "http_status",
        "duration_ms",
        "retry_after",
        "external_id",
        "started_at",
    ]
    list_filter = ["status", "message__target", "message__entity_type"]
    search_fields = ["message__canonical_id", "error", "external_id"]


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    list_display = [
        "canonical_id",
        "entity_type",
        "target",
        "delivered_version",
        "external_id",
        "retired",
        "delivered_at",
    ]
    list_filter = ["target", "entity_type", "retired"]
    search_fields = ["canonical_id", "external_id"]
