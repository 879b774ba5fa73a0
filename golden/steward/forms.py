"""Steward inputs: parse and validate only; the views call the services."""

from __future__ import annotations

from typing import Any

from django import forms

from golden.entities import ENTITIES, entity_spec
from golden.models import GoldenRecord, MatchCandidate, MergeEvent, SourceSystem
from golden.steward.selectors import (
    ASSIGNED_TO_ME,
    BANDS,
    UNASSIGNED,
    field_label,
    pickable_attributes,
    source_label,
)
from golden.validation import RecordInvalid, clean_record

SORTS = [
    ("", "Highest score first"),
    ("score_asc", "Lowest score first"),
    ("oldest", "Oldest first"),
    ("newest", "Newest first"),
]


class QueueFilterForm(forms.Form):
    entity_type = forms.ChoiceField(
        label="Entity type",
        required=False,
        choices=[("", "All types")] + [(k, s.label) for k, s in ENTITIES.items()],
    )
    band = forms.ChoiceField(
        label="Score band",
        required=False,
        choices=[("", "All bands")] + [(b.key, b.label) for b in BANDS],
    )
    country = forms.ChoiceField(label="Country", required=False)
    system = forms.ChoiceField(label="System", required=False)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("", "Open and deferred"),
            (MatchCandidate.Status.OPEN, "Open"),
            (MatchCandidate.Status.DEFERRED, "Deferred"),
        ],
    )
    assigned = forms.ChoiceField(
        label="Assigned",
        required=False,
        choices=[("", "Anyone"), (ASSIGNED_TO_ME, "Assigned to me"), (UNASSIGNED, "Unassigned")],
    )
    sort = forms.ChoiceField(label="Sort", required=False, choices=SORTS)

    def __init__(self, *args: Any, countries: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", "All countries")] + [(c, c) for c in countries]
        self.fields["system"].choices = [("", "All systems")] + [
            (s.code, s.code.upper()) for s in SourceSystem.objects.filter(is_active=True)
        ]

    def filters(self) -> dict[str, str]:
        """Valid filters only; an unknown value is dropped rather than failing the page."""
        if not self.is_bound:
            return dict.fromkeys(self.fields, "")
        self.is_valid()
        return {name: self.cleaned_data.get(name) or "" for name in self.fields}


PICK_PREFIX = "pick_"
SURVIVORSHIP, PICK_A, PICK_B = "", "a", "b"


class MergeForm(forms.Form):
    """The survivor, a reason, and per differing attribute which value survives: A's,
    B's (either is pinned on the survivor) or survivorship's. A pick names a side, not a
    value, so nothing but a value one of the records holds can be pinned this way."""

    survivor = forms.TypedChoiceField(
        label="Surviving canonical ID", coerce=int, widget=forms.RadioSelect
    )
    reason = forms.CharField(label="Reason (optional)", required=False, max_length=255)

    def __init__(self, *args: Any, candidate: MatchCandidate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        a, b = candidate.golden_a, candidate.golden_b
        pair = sorted([a, b], key=lambda g: g.pk)
        self.pair = {g.pk: g for g in pair}
        self.sides = {PICK_A: a, PICK_B: b}
        self.fields["survivor"].choices = [(g.pk, g.canonical_id) for g in pair]
        self.fields["survivor"].initial = pair[0].pk
        self.pickable = pickable_attributes(a, b)
        for name in self.pickable:
            self.fields[PICK_PREFIX + name] = forms.ChoiceField(
                label=f"Keep for {field_label(name)}",
                required=False,
                choices=[
                    (SURVIVORSHIP, "Survivorship"),
                    (PICK_A, "A's value"),
                    (PICK_B, "B's value"),
                ],
            )

    def survivor_record(self) -> GoldenRecord:
        return self.pair[self.cleaned_data["survivor"]]

    def pick_fields(self) -> dict[str, forms.BoundField]:
        """{attribute: its bound pick field}, for the compare table."""
        return {name: self[PICK_PREFIX + name] for name in self.pickable}

    def picks(self) -> dict[str, Any]:
        """{attribute: the picked record's current value} for the attributes picked."""
        picked = {}
        for name in self.pickable:
            side = self.cleaned_data.get(PICK_PREFIX + name)
            if side in self.sides:
                picked[name] = self.sides[side].attributes.get(name)
        return picked


class NotAMatchForm(forms.Form):
    reason = forms.CharField(label="Why not (optional)", required=False, max_length=255)


class DeferForm(forms.Form):
    comment = forms.CharField(label="Comment", required=False, max_length=255)


class PinForm(forms.Form):
    """Pin a value: it is validated and cleaned as ingest would clean it."""

    attribute = forms.ChoiceField(label="Attribute")
    value = forms.CharField(label="Value", max_length=255)

    def __init__(self, *args: Any, golden: GoldenRecord, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.golden = golden
        self.spec = entity_spec(golden.entity_type)
        # References are pinned as canonical IDs by a later service; not offered here.
        self.fields["attribute"].choices = [
            (f.name, field_label(f.name)) for f in self.spec.fields if f.kind != "reference"
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        attribute, value = data.get("attribute"), data.get("value")
        if not attribute or value is None:
            return data
        # clean_record checks a whole record: fill the other required fields with a
        # placeholder and give the country, which tax IDs and phones are read against.
        context: dict[str, Any] = {f.name: "x" for f in self.spec.fields if f.required}
        context["country"] = self.golden.attributes.get("country") or ""
        try:
            clean = clean_record(self.spec, {**context, attribute: value}, require_source_id=False)
        except RecordInvalid as exc:
            if attribute in exc.errors:
                raise forms.ValidationError({"value": exc.errors[attribute]}) from exc
            raise forms.ValidationError(  # a context field failed: say so plainly
                f"The value could not be checked: {exc.errors}"
            ) from exc
        data["value"] = clean.cleaned.get(attribute, value)
        return data


class UnpinForm(forms.Form):
    attribute = forms.ChoiceField(label="Attribute")

    def __init__(self, *args: Any, golden: GoldenRecord, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["attribute"].choices = [(name, name) for name in golden.pins]


class UnmergeForm(forms.Form):
    source_record = forms.TypedChoiceField(label="Source record", coerce=int)
    reason = forms.CharField(label="Reason (optional)", required=False, max_length=255)

    def __init__(self, *args: Any, golden: GoldenRecord, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records = {r.pk: r for r in golden.source_records.select_related("system")}
        self.fields["source_record"].choices = [
            (pk, source_label(r)) for pk, r in self.records.items()
        ]


class UndoMergeForm(forms.Form):
    event = forms.TypedChoiceField(label="Merge", coerce=int)
    reason = forms.CharField(label="Reason (optional)", required=False, max_length=255)

    def __init__(self, *args: Any, golden: GoldenRecord, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Undone merges stay choosable: the service answers "already undone" clearly.
        self.events = {e.pk: e for e in MergeEvent.objects.filter(survivor=golden)}
        self.fields["event"].choices = [(pk, str(e)) for pk, e in self.events.items()]


class ProposalForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("unmerge", "Unmerge the record"), ("keep", "Keep it linked")]
    )
