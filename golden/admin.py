"""Django admin for every golden model: list columns, search, filters, history,
read-only payloads. Writes that change golden data belong to the services, so the
admin edits configuration (systems, bindings, pins) and shows the rest."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from golden.models import (
    ExternalReference,
    GoldenChange,
    GoldenRecord,
    IngestRequest,
    IntegrationBinding,
    MatchCandidate,
    MatchSettings,
    MergeEvent,
    RejectedRecord,
    SourceRecord,
    SourceSystem,
    SurvivorshipRule,
    TermFrequency,
    UnmergeProposal,
)


def pretty_json(value: Any) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Operational rows written by services only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SourceSystem)
class SourceSystemAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "kind", "owner", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name", "owner"]


@admin.register(IntegrationBinding)
class IntegrationBindingAdmin(admin.ModelAdmin):
    list_display = ["user", "system"]
    list_filter = ["system"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]


class SourceRecordInline(admin.TabularInline):
    model = SourceRecord
    fields = ["system", "source_id", "source_updated_at", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExternalReferenceInline(admin.TabularInline):
    model = ExternalReference
    fields = ["system", "external_id", "object_type", "assigned_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(GoldenRecord)
class GoldenRecordAdmin(SimpleHistoryAdmin):
    list_display = [
        "canonical_id",
        "name",
        "entity_type",
        "status",
        "country",
        "tax_id",
        "version",
        "updated_at",
    ]
    list_filter = ["entity_type", "status", "country"]
    search_fields = ["canonical_id", "name", "tax_id", "source_records__source_id"]
    readonly_fields = [
        "canonical_id",
        "entity_type",
        "status",
        "merged_into",
        "version",
        "name",
        "country",
        "tax_id",
        "attributes_pretty",
        "lineage_pretty",
        "created_at",
        "updated_at",
    ]
    fields = [*readonly_fields, "pins"]
    inlines = [SourceRecordInline, ExternalReferenceInline]
    history_list_display = ["version", "status"]

    @admin.display(description="Attributes")
    def attributes_pretty(self, obj: GoldenRecord) -> str:
        return pretty_json(obj.attributes)

    @admin.display(description="Lineage")
    def lineage_pretty(self, obj: GoldenRecord) -> str:
        return pretty_json(obj.lineage)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # canonical IDs are never reused nor removed; retire instead


@admin.register(SourceRecord)
class SourceRecordAdmin(SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "system",
        "entity_type",
        "source_id",
        "golden",
        "source_updated_at",
        "updated_at",
    ]
    list_filter = ["system", "entity_type"]
    search_fields = ["source_id", "golden__canonical_id"]
    list_select_related = ["system", "golden"]
    readonly_fields = [
        "system",
        "entity_type",
        "source_id",
        "golden",
        "payload_pretty",
        "cleaned_pretty",
        "source_updated_at",
        "content_hash",
        "correlation_id",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields

    @admin.display(description="Payload (as received)")
    def payload_pretty(self, obj: SourceRecord) -> str:
        return pretty_json(obj.payload)

    @admin.display(description="Cleaned values")
    def cleaned_pretty(self, obj: SourceRecord) -> str:
        return pretty_json(obj.cleaned)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # source records change only by ingestion

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExternalReference)
class ExternalReferenceAdmin(SimpleHistoryAdmin, ReadOnlyAdmin):
    list_display = ["golden", "system", "external_id", "object_type", "assigned_at"]
    list_filter = ["system"]
    search_fields = ["external_id", "golden__canonical_id"]
    list_select_related = ["golden", "system"]


@admin.register(MatchCandidate)
class MatchCandidateAdmin(SimpleHistoryAdmin, ReadOnlyAdmin):
    list_display = [
        "id",
        "entity_type",
        "golden_a",
        "golden_b",
        "score",
        "status",
        "decided_by",
        "created_at",
    ]
    list_filter = ["entity_type", "status"]
    search_fields = [
        "golden_a__canonical_id",
        "golden_b__canonical_id",
        "golden_a__name",
        "golden_b__name",
    ]
    list_select_related = ["golden_a", "golden_b", "decided_by"]
    readonly_fields = ["evidence_pretty"]

    @admin.display(description="Evidence")
    def evidence_pretty(self, obj: MatchCandidate) -> str:
        return pretty_json(obj.evidence)


@admin.register(MergeEvent)
class MergeEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "survivor", "actor", "reason", "created_at", "undone_at"]
    search_fields = ["survivor__canonical_id", "reason"]
    list_select_related = ["survivor", "actor"]


@admin.register(GoldenChange)
class GoldenChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "canonical_id",
        "entity_type",
        "version",
        "kind",
        "actor",
        "correlation_id",
        "created_at",
    ]
    list_filter = ["entity_type", "kind"]
    search_fields = ["canonical_id", "correlation_id", "actor"]


@admin.register(RejectedRecord)
class RejectedRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "system", "entity_type", "source_id", "created_at", "resolved_at"]
    list_filter = ["system", "entity_type", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["source_id", "correlation_id"]
    readonly_fields = ["errors_pretty", "payload_pretty"]

    @admin.display(description="Errors")
    def errors_pretty(self, obj: RejectedRecord) -> str:
        return pretty_json(obj.errors)

    @admin.display(description="Payload")
    def payload_pretty(self, obj: RejectedRecord) -> str:
        return pretty_json(obj.payload)


@admin.register(IngestRequest)
class IngestRequestAdmin(ReadOnlyAdmin):
    list_display = ["key", "user", "system", "entity_type", "status_code", "created_at"]
    list_filter = ["system", "entity_type", "status_code"]
    search_fields = ["key", "user__username"]


@admin.register(TermFrequency)
class TermFrequencyAdmin(ReadOnlyAdmin):
    """How common names are, per system and place (golden.matching.frequency)."""

    list_display = ["term", "system", "entity_type", "records"]
    list_filter = ["entity_type", "system"]
    search_fields = ["term"]
    ordering = ["-records"]


@admin.register(SurvivorshipRule)
class SurvivorshipRuleAdmin(SimpleHistoryAdmin):
    list_display = ["entity_type", "attribute", "strategies", "is_active", "updated_at"]
    list_filter = ["entity_type", "is_active"]
    search_fields = ["attribute"]


@admin.register(UnmergeProposal)
class UnmergeProposalAdmin(SimpleHistoryAdmin, ReadOnlyAdmin):
    list_display = ["id", "source_record", "golden", "score", "status", "decided_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["source_record__source_id", "golden__canonical_id"]
    list_select_related = ["source_record", "golden", "decided_by"]


@admin.register(MatchSettings)
class MatchSettingsAdmin(SimpleHistoryAdmin):
    list_display = ["entity_type", "auto_link", "review", "sole_candidate", "source", "updated_at"]
    readonly_fields = ["source", "updated_at"]
