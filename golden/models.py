"""The governed data: source systems, source records, golden records, the crosswalk,
match candidates, merge events and golden's change feed.

Writes go through ``golden.services``; see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from golden.entities import EntityType


class CorrelatedHistory(models.Model):
    """Base of every historical model: which request or run made the change."""

    correlation_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True


class SourceSystem(models.Model):
    """A system that sends or receives records: crm, psa, erp, or one registered later."""

    class Kind(models.TextChoices):
        CRM = "crm", "CRM"
        PSA = "psa", "PSA"
        ERP = "erp", "ERP"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    owner = models.CharField(max_length=128, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(bases=[CorrelatedHistory])

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class IntegrationBinding(models.Model):
    """Binds an integration's API user to the one source system it may write as."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integration_binding"
    )
    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="bindings")

    def __str__(self) -> str:
        return f"{self.user} → {self.system}"


class GoldenRecord(models.Model):
    """The governed record of one real-world entity, with a canonical ID that never changes.

    ``attributes`` holds the survived values and ``lineage`` says, per attribute, which
    source record won and by which rule. A merged record keeps its ID and points to its
    survivor; canonical IDs are never reused.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        MERGED = "merged", "Merged"
        RETIRED = "retired", "Retired"

    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    canonical_id = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    version = models.PositiveIntegerField(default=1)
    attributes = models.JSONField(default=dict, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    pins = models.JSONField(
        default=dict, blank=True, help_text="Steward-pinned values that survive recomputation."
    )
    # Denormalised from attributes for indexed filters and search.
    name = models.CharField(max_length=255, blank=True, db_index=True)
    country = models.CharField(max_length=2, blank=True, db_index=True)
    tax_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    history = HistoricalRecords(bases=[CorrelatedHistory])

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["entity_type", "status", "id"])]

    def __str__(self) -> str:
        return f"{self.canonical_id} {self.name}"


class SourceRecord(models.Model):
    """One record as one system knows it, linked to exactly one golden record.

    The raw payload is kept as received; ``cleaned`` holds validated values in
    canonical form. Matching never deletes a source record.
    """

    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="records")
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    source_id = models.CharField(max_length=128)
    golden = models.ForeignKey(
        GoldenRecord, on_delete=models.PROTECT, related_name="source_records"
    )
    payload = models.JSONField(default=dict)
    cleaned = models.JSONField(default=dict)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    link_evidence = models.JSONField(
        default=dict, blank=True, help_text="Why this record is linked to its golden record."
    )
    content_hash = models.CharField(max_length=64)
    correlation_id = models.CharField(max_length=64, blank=True)
    match_features = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="Matching features computed from the cleaned values when they were stored "
        "(golden.matching.stored_features), so candidates are not normalised again; "
        "empty or of an older version: computed when read.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The features derive from ``cleaned``, which history keeps already.
    history = HistoricalRecords(bases=[CorrelatedHistory], excluded_fields=["match_features"])

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "entity_type", "source_id"], name="uniq_source_record"
            )
        ]

    def __str__(self) -> str:
        return f"{self.system_id}:{self.entity_type}:{self.source_id}"


class ExternalReference(models.Model):
    """An ID a target system assigned to a golden record when we pushed it there."""

    golden = models.ForeignKey(
        GoldenRecord, on_delete=models.CASCADE, related_name="external_references"
    )
    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=128)
    object_type = models.CharField(max_length=64, blank=True)
    assigned_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(bases=[CorrelatedHistory])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["golden", "system"], name="uniq_external_ref"),
        ]
        indexes = [models.Index(fields=["system", "external_id"])]

    def __str__(self) -> str:
        return f"{self.golden_id}@{self.system_id}={self.external_id}"


class CanonicalIdCounter(models.Model):
    """The last number handed out per prefix, so canonical IDs are never reused."""

    prefix = models.CharField(max_length=8, primary_key=True)
    last_number = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}: {self.last_number}"


class StewardDecision(models.Model):
    """What a steward decides on: the matcher's evidence, and who decided when."""

    evidence = models.JSONField(default=list, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class MatchCandidate(StewardDecision):
    """Two golden records that may be one entity, waiting for a steward."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MERGED = "merged", "Merged"
        NOT_A_MATCH = "not_a_match", "Not a match"
        DEFERRED = "deferred", "Deferred"

    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    golden_a = models.ForeignKey(GoldenRecord, on_delete=models.CASCADE, related_name="+")
    golden_b = models.ForeignKey(GoldenRecord, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(default=0.0)
    reason = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # The steward working the pair now (see golden.services.claim_candidate); a decision
    # releases it.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(bases=[CorrelatedHistory])

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["golden_a", "golden_b"], name="uniq_candidate_pair"),
            models.CheckConstraint(
                condition=models.Q(golden_a__lt=models.F("golden_b")), name="candidate_pair_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.golden_a_id}~{self.golden_b_id} ({self.score:.2f}, {self.status})"


class MergeEvent(models.Model):
    """A merge of golden records, with the snapshot needed to undo it exactly."""

    survivor = models.ForeignKey(GoldenRecord, on_delete=models.PROTECT, related_name="+")
    merged = models.ManyToManyField(GoldenRecord, related_name="+")
    snapshot = models.JSONField(default=dict)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=255, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"merge into {self.survivor_id} at {self.created_at:%Y-%m-%d %H:%M}"


class GoldenChange(models.Model):
    """Golden's append-only change feed, written in the same transaction as the change.

    Outbound sync, webhooks and the activity views read it; ``golden`` never imports them.
    """

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        MERGED = "merged", "Merged"
        UNMERGED = "unmerged", "Unmerged"
        RETIRED = "retired", "Retired"

    golden = models.ForeignKey(GoldenRecord, on_delete=models.PROTECT, related_name="changes")
    canonical_id = models.CharField(max_length=32)
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.CharField(max_length=150, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["golden", "version"])]

    def __str__(self) -> str:
        return f"{self.canonical_id} v{self.version} {self.kind}"


class IngestRequest(models.Model):
    """A stored ingest response, replayed when a client repeats its Idempotency-Key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="+")
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="uniq_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class RejectedRecord(models.Model):
    """An ingested record that failed validation: its payload and field errors, for the
    exception queue. Resolved when a later ingest of the same source record succeeds."""

    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="+")
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    source_id = models.CharField(max_length=128, blank=True)
    payload = models.JSONField()
    errors = models.JSONField()
    correlation_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["system", "entity_type", "source_id"])]

    def __str__(self) -> str:
        return f"{self.system_id}:{self.entity_type}:{self.source_id or '?'}"


class SourceReference(models.Model):
    """A source record's pointer to another record of the same system (a parent account,
    a project's customer), indexed so the referrer is recomputed when the target arrives."""

    source_record = models.ForeignKey(
        SourceRecord, on_delete=models.CASCADE, related_name="references"
    )
    field = models.CharField(max_length=64)
    system = models.ForeignKey(SourceSystem, on_delete=models.PROTECT, related_name="+")
    target_entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    target_source_id = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_record", "field"], name="uniq_reference_field")
        ]
        indexes = [models.Index(fields=["system", "target_entity_type", "target_source_id"])]

    def __str__(self) -> str:
        return f"{self.source_record_id}.{self.field} → {self.target_source_id}"


class BlockingKey(models.Model):
    """A blocking key of a source record, indexed so ingesting one record finds its
    candidates among millions without scanning (see golden.matching.blocking)."""

    source_record = models.ForeignKey(
        SourceRecord, on_delete=models.CASCADE, related_name="blocking_keys"
    )
    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    key = models.CharField(max_length=200)
    codes = models.BinaryField(
        null=True,
        blank=True,
        editable=False,
        help_text="The record's equality facts that incremental matching's upper bound reads "
        "(golden.matching.stored_codes), on each of its keys: the block lookup returns them, "
        "so only the candidates that pass the bound are read from the source records. Empty "
        "or of an older version: computed when read.",
    )

    class Meta:
        # Looked up by (entity_type, key) through an index that migration 0014 creates: on
        # PostgreSQL a covering one that holds the record and its codes too, so a block is
        # read from the index alone (index-only scan), not from heap rows scattered by
        # arrival time.
        indexes: list[models.Index] = []

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.key}"


class TermFrequency(models.Model):
    """How many source records of one system carry a name term: a prefix of a company
    name, everywhere, in a country or in a city (golden.matching.frequency). Kept as
    records arrive, change or go, so a name's commonness is read without counting."""

    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    system = models.ForeignKey(SourceSystem, on_delete=models.CASCADE, related_name="+")
    term = models.TextField()
    records = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity_type", "term", "system"], name="uniq_term_frequency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.system_id}:{self.term}={self.records}"


class UnmergeProposal(StewardDecision):
    """A linked source record that changed so much it no longer matches the rest of its
    golden record: proposed for unmerge rather than left silently wrong."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UNMERGED = "unmerged", "Unmerged"
        KEPT = "kept", "Kept linked"

    source_record = models.ForeignKey(
        SourceRecord, on_delete=models.CASCADE, related_name="unmerge_proposals"
    )
    golden = models.ForeignKey(
        GoldenRecord, on_delete=models.CASCADE, related_name="unmerge_proposals"
    )
    score = models.FloatField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)

    history = HistoricalRecords(bases=[CorrelatedHistory])

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_record"],
                condition=models.Q(status="open"),
                name="one_open_unmerge_proposal_per_record",
            )
        ]

    def __str__(self) -> str:
        return f"unmerge {self.source_record} from {self.golden_id} ({self.status})"


class SurvivorshipRule(models.Model):
    """An admin-edited survivorship rule for one attribute (or group, or "*" for the
    default) of one entity type; overrides ``settings.MDM_SURVIVORSHIP``. Takes effect on
    the next recompute (``manage.py recompute --dry-run`` previews it)."""

    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES)
    attribute = models.CharField(
        max_length=64, help_text='An attribute, a group such as "address", or "*" for the default.'
    )
    strategies = models.JSONField(
        help_text='Ordered strategies, e.g. [{"strategy": "source_priority", "systems": ["erp", "crm"]}, '
        '{"strategy": "most_recent"}] or the shorthand ["erp", "crm"].'
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(bases=[CorrelatedHistory])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity_type", "attribute"], name="uniq_survivorship_rule"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity_type}.{self.attribute}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from golden.entities import entity_spec
        from golden.survivorship import rules_from_settings

        try:
            rules_from_settings({self.attribute: self.strategies}, entity_spec(self.entity_type))
        except (ValueError, KeyError) as exc:
            raise ValidationError({"strategies": str(exc)}) from exc


class MatchSettings(models.Model):
    """Matching configuration of one entity type that overrides the shipped defaults:
    thresholds (editable in the admin) and m/u weights (written by ``estimate_weights``)."""

    entity_type = models.CharField(max_length=32, choices=EntityType.CHOICES, unique=True)
    auto_link = models.FloatField(
        null=True,
        blank=True,
        help_text="Match probability at or above which records link on their own.",
    )
    review = models.FloatField(
        null=True,
        blank=True,
        help_text="Match probability at or above which a pair goes to review.",
    )
    sole_candidate = models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Match probability at or above which a review-band pair links on its own when "
            "each side is the other's only candidate and another field corroborates it "
            "(city, domain, phone, address, ID, code or category). Above 1 turns the rule off."
        ),
    )
    mu = models.JSONField(
        default=dict,
        blank=True,
        help_text="Estimated {field: {level: [m, u]}}; empty = shipped defaults.",
    )
    prior = models.FloatField(
        null=True, blank=True, help_text="log2 prior odds of a match among candidates."
    )
    source = models.CharField(max_length=64, blank=True, help_text="How the weights were obtained.")
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(bases=[CorrelatedHistory])

    class Meta:
        verbose_name_plural = "match settings"

    def __str__(self) -> str:
        return f"{self.entity_type} matching"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        auto, review = self.auto_link, self.review
        for name, value in (("auto_link", auto), ("review", review)):
            if value is not None and not 0.0 < value < 1.0:
                raise ValidationError({name: "A probability strictly between 0 and 1."})
        if auto is not None and review is not None and review > auto:
            raise ValidationError(
                {"review": "The review threshold cannot exceed the auto-link threshold."}
            )
        if self.sole_candidate is not None and self.sole_candidate <= 0.0:
            raise ValidationError({"sole_candidate": "A probability above 0 (above 1: off)."})
