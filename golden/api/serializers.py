"""Read serializers (explicit fields) and input serializers for writes."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from golden.entities import ENTITIES, EntitySpec
from golden.models import GoldenRecord, SourceRecord, SourceSystem


class SystemIdSerializer(serializers.Serializer):
    system = serializers.CharField()
    id = serializers.CharField()
    role = serializers.ChoiceField(
        choices=["source", "target"],
        help_text="`source`: a record the system sent us; `target`: an ID it assigned when we pushed.",
    )


def system_ids(golden: GoldenRecord) -> list[dict[str, str]]:
    """Every system's ID for a golden record (uses prefetched relations)."""
    ids = [
        {"system": r.system.code, "id": r.source_id, "role": "source"}
        for r in golden.source_records.all()
    ]
    ids += [
        {"system": ref.system.code, "id": ref.external_id, "role": "target"}
        for ref in golden.external_references.all()
    ]
    return ids


def _attributes_serializer(spec: EntitySpec) -> type[serializers.Serializer]:
    """A documented shape for one entity's golden attributes (OpenAPI only; read as dict)."""
    fields: dict[str, Any] = {}
    for spec_field in spec.fields:
        help_text = spec_field.help
        if spec_field.kind == "reference":
            help_text = f"Canonical ID of the {spec_field.target.replace('_', ' ')}."
        fields[spec_field.attribute] = serializers.CharField(
            required=False, allow_null=True, help_text=help_text
        )
    return type(f"{spec.label.replace(' ', '')}Attributes", (serializers.Serializer,), fields)


ATTRIBUTE_SERIALIZERS = {name: _attributes_serializer(spec) for name, spec in ENTITIES.items()}


class GoldenRecordSerializer(serializers.ModelSerializer):
    merged_into = serializers.SlugRelatedField(slug_field="canonical_id", read_only=True)
    system_ids = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = GoldenRecord
        fields = [
            "canonical_id",
            "entity_type",
            "status",
            "merged_into",
            "version",
            "attributes",
            "system_ids",
            "url",
            "created_at",
            "updated_at",
        ]

    def get_system_ids(self, obj: GoldenRecord) -> list[dict[str, str]]:
        return system_ids(obj)

    def get_url(self, obj: GoldenRecord) -> str:
        path = reverse(f"{obj.entity_type}-detail", kwargs={"canonical_id": obj.canonical_id})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class SourceRecordSerializer(serializers.ModelSerializer):
    system = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = SourceRecord
        fields = [
            "system",
            "source_id",
            "source_updated_at",
            "cleaned",
            "link_evidence",
            "updated_at",
        ]


class GoldenRecordDetailSerializer(GoldenRecordSerializer):
    merged_ids = serializers.SerializerMethodField(
        help_text="Canonical IDs merged into this record; they resolve here."
    )
    source_records = SourceRecordSerializer(many=True, read_only=True)

    class Meta(GoldenRecordSerializer.Meta):
        fields = [*GoldenRecordSerializer.Meta.fields, "lineage", "merged_ids", "source_records"]

    def get_merged_ids(self, obj: GoldenRecord) -> list[str]:
        return [g.canonical_id for g in obj.merged_from.all()]


class IngestInputSerializer(serializers.Serializer):
    system = serializers.SlugRelatedField(
        slug_field="code", queryset=SourceSystem.objects.filter(is_active=True)
    )
    records = serializers.JSONField(
        help_text="One record object or a list of up to 1,000, with the entity's canonical field names."
    )

    MAX_RECORDS = 1000

    def validate_records(self, value: Any) -> list[Any]:
        records = value if isinstance(value, list) else [value]
        if not records:
            raise serializers.ValidationError("Send at least one record.")
        if len(records) > self.MAX_RECORDS:
            raise serializers.ValidationError(
                f"At most {self.MAX_RECORDS} records per request; got {len(records)}."
            )
        return records


class IngestResultSerializer(serializers.Serializer):
    source_id = serializers.CharField()
    action = serializers.ChoiceField(
        choices=["created", "linked", "updated", "unchanged", "queued_for_review", "rejected"]
    )
    canonical_id = serializers.CharField(allow_null=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
    warnings = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
    review_with = serializers.ListField(child=serializers.CharField(), required=False)


class IngestResponseSerializer(serializers.Serializer):
    system = serializers.CharField()
    entity = serializers.CharField()
    summary = serializers.DictField(child=serializers.IntegerField())
    results = IngestResultSerializer(many=True)


class XrefQuerySerializer(serializers.Serializer):
    system = serializers.SlugRelatedField(slug_field="code", queryset=SourceSystem.objects.all())
    entity = serializers.ChoiceField(choices=sorted(ENTITIES))
    source_id = serializers.CharField(max_length=128)


class XrefSerializer(serializers.Serializer):
    canonical_id = serializers.CharField(help_text="The active golden record's canonical ID.")
    entity = serializers.CharField()
    status = serializers.CharField()
    requested_id = serializers.CharField(
        help_text="The canonical ID asked for or found; differs from canonical_id when it was merged."
    )
    redirected = serializers.BooleanField(
        help_text="True when requested_id was merged into canonical_id."
    )
    name = serializers.CharField()
    system_ids = SystemIdSerializer(many=True)
    merged_ids = serializers.ListField(child=serializers.CharField())


class MatchInputSerializer(serializers.Serializer):
    system = serializers.SlugRelatedField(
        slug_field="code",
        queryset=SourceSystem.objects.all(),
        required=False,
        help_text="The asking system, to resolve a project's customer_source_id.",
    )
    record = serializers.JSONField(help_text="The record, with the entity's canonical field names.")


class EvidenceSerializer(serializers.Serializer):
    field = serializers.CharField()
    level = serializers.CharField()
    weight = serializers.FloatField(help_text="log2(m/u): positive supports a match.")
    detail = serializers.CharField()


class MatchCandidateOutSerializer(serializers.Serializer):
    canonical_id = serializers.CharField()
    name = serializers.CharField()
    probability = serializers.FloatField()
    decision = serializers.ChoiceField(choices=["link", "review"])
    evidence = EvidenceSerializer(many=True)
    vetoes = serializers.ListField(child=serializers.CharField())


class MatchResponseSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["link", "review", "new"],
        help_text="What ingesting this record now would do.",
    )
    candidates = MatchCandidateOutSerializer(many=True)
