from __future__ import annotations

from rest_framework import serializers

from connectors.models import DeliveryAttempt, OutboundMessage
from golden.entities import EntityType

# Plain strings, not enums: "status" enums of other components would collide by name
# in the OpenAPI schema.
MESSAGE_STATUS_HELP = "One of: " + ", ".join(OutboundMessage.Status.values)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    status = serializers.CharField(
        read_only=True, help_text="One of: " + ", ".join(DeliveryAttempt.Status.values)
    )

    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "status",
            "worker",
            "started_at",
            "finished_at",
            "duration_ms",
            "http_status",
            "retry_after",
            "error",
            "external_id",
        ]


class OutboundMessageSerializer(serializers.ModelSerializer):
    target = serializers.SlugRelatedField(slug_field="code", read_only=True)
    status = serializers.CharField(read_only=True, help_text=MESSAGE_STATUS_HELP)

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "target",
            "entity_type",
            "canonical_id",
            "golden_version",
            "operation",
            "status",
            "note",
            "waiting_for",
            "attempts",
            "next_attempt_at",
            "last_error",
            "last_http_status",
            "external_id",
            "idempotency_key",
            "correlation_id",
            "created_at",
            "updated_at",
            "delivered_at",
        ]


class OutboundMessageDetailSerializer(OutboundMessageSerializer):
    attempts_made = DeliveryAttemptSerializer(source="delivery_attempts", many=True, read_only=True)

    class Meta(OutboundMessageSerializer.Meta):
        fields = [*OutboundMessageSerializer.Meta.fields, "payload", "attempts_made"]


class BulkReplayInputSerializer(serializers.Serializer):
    """Either explicit IDs, or a filter over failed/dead messages."""

    ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=1000)
    status = serializers.RegexField(r"^(failed|dead)$", required=False, help_text="failed or dead")
    target = serializers.SlugField(required=False)
    entity_type = serializers.ChoiceField(choices=EntityType.CHOICES, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=10000, default=1000)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("ids") and not attrs.get("status"):
            raise serializers.ValidationError("Give ids, or a status (failed or dead) to filter.")
        return attrs


class ReplayResultSerializer(serializers.Serializer):
    replayed = serializers.ListField(child=serializers.IntegerField())
    count = serializers.IntegerField()


class ApproveInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
