"""Reads for the steward workbench: the review queue, compare and record pages, search,
exceptions and dashboard figures. No writes; views turn these into pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from django.db.models import Case, Count, Exists, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone
from rapidfuzz import fuzz

from golden import normalize
from golden.entities import ENTITIES_BY_PREFIX, EntitySpec, entity_spec
from golden.filters import GoldenRecordFilter
from golden.models import (
    ExternalReference,
    GoldenRecord,
    MatchCandidate,
    MergeEvent,
    RejectedRecord,
    SourceRecord,
    UnmergeProposal,
)
from golden.services import compute_attributes
from golden.survivorship import RULE_STEWARD_PIN, diff_attributes

PENDING = (MatchCandidate.Status.OPEN, MatchCandidate.Status.DEFERRED)


# --- score bands and ages ------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    key: str
    label: str
    low: float | None
    high: float | None

    def q(self) -> Q:
        query = Q()
        if self.low is not None:
            query &= Q(score__gte=self.low)
        if self.high is not None:
            query &= Q(score__lt=self.high)
        return query

    def holds(self, score: float) -> bool:
        return (self.low is None or score >= self.low) and (self.high is None or score < self.high)


BANDS = (
    Band("very_high", "very high (≥ 0.99)", 0.99, None),
    Band("high", "high (0.90–0.99)", 0.90, 0.99),
    Band("medium", "medium (0.75–0.90)", 0.75, 0.90),
    Band("low", "low (< 0.75)", None, 0.75),
)
BANDS_BY_KEY = {band.key: band for band in BANDS}

AGES = (("today", "under a day", 0, 1), ("week", "1–7 days", 1, 7), ("month", "8–30 days", 7, 30))


def band_of(score: float) -> Band:
    return next(band for band in BANDS if band.holds(score))


def score_label(score: float) -> str:
    """Matcher probabilities crowd near 1: show enough digits to tell them apart."""
    if score >= 0.9999:
        return "> 99.99%"
    return f"{score * 100:.1f}%" if score < 0.99 else f"{score * 100:.2f}%"


# --- field presentation -------------------------------------------------------------

# The matcher compares derived features; this says which golden attribute each explains.
EVIDENCE_ATTRIBUTE = {
    "legal_form": "name",
    "domain": "website",
    "address": "address_line1",
    "reference": "crm_opportunity_ref",
    "dates": "start_date",
}

RULE_WORDS = {
    "source_priority": "system priority",
    "most_recent": "most recently updated in its system",
    "most_complete": "most complete",
    "most_frequent": "most frequent value",
    "steward_pin": "pinned by a steward",
    "last_loaded": "most recently loaded",
    "lowest_record_id": "oldest record",
}


def field_label(name: str) -> str:
    return {"tax_id": "Tax ID", "address_line1": "Address", "erp_subsidiary_code": "ERP code"}.get(
        name, name.replace("_", " ").capitalize()
    )


def display(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:  # a pin: {"value", "by", "at"}
        by = value.get("by")
        return f"{display(value['value'])}{f' (pinned by {by})' if by else ''}"
    return "" if value is None else str(value)


@dataclass
class Evidence:
    field: str
    level: str
    weight: float
    detail: str

    @property
    def weight_label(self) -> str:
        return f"{self.weight:+.1f}".replace("-", "−")

    @property
    def tone(self) -> str:
        return "for" if self.weight > 0 else ("against" if self.weight < 0 else "neutral")


def evidence_of(candidate: MatchCandidate) -> list[Evidence]:
    return [
        Evidence(
            str(e.get("field", "")),
            str(e.get("level", "")).replace("_", " "),
            float(e.get("weight", 0.0)),
            str(e.get("detail", "")),
        )
        for e in candidate.evidence or []
    ]


# --- review queue ------------------------------------------------------------------


def _with_sources(prefix: str) -> Prefetch:
    return Prefetch(
        f"{prefix}__source_records",
        queryset=SourceRecord.objects.select_related("system").only(
            "id", "golden_id", "source_id", "system__code", "system__name"
        ),
    )


ASSIGNED_TO_ME = "me"
UNASSIGNED = "unassigned"


def review_queue(
    *,
    entity_type: str = "",
    band: str = "",
    country: str = "",
    system: str = "",
    status: str = "",
    assigned: str = "",
    sort: str = "",
    user: Any = None,
) -> tuple[QuerySet[MatchCandidate], QuerySet[MatchCandidate]]:
    """(candidates filtered and sorted, the same without the band filter for band counts).
    ``assigned`` is "me" (claimed by ``user``), "unassigned" or "" for anyone."""
    statuses = [status] if status in PENDING else list(PENDING)
    qs = MatchCandidate.objects.filter(status__in=statuses)
    if assigned == ASSIGNED_TO_ME:
        qs = qs.filter(assigned_to=user) if user is not None and user.pk else qs.none()
    elif assigned == UNASSIGNED:
        qs = qs.filter(assigned_to__isnull=True)
    if entity_type:
        qs = qs.filter(entity_type=entity_type)
    if country:
        qs = qs.filter(Q(golden_a__country=country) | Q(golden_b__country=country))
    if system:
        in_system = SourceRecord.objects.filter(system__code=system)
        qs = qs.filter(
            Exists(in_system.filter(golden=OuterRef("golden_a")))
            | Exists(in_system.filter(golden=OuterRef("golden_b")))
        )
    unbanded = qs
    if band in BANDS_BY_KEY:
        qs = qs.filter(BANDS_BY_KEY[band].q())
    order = {
        "score_asc": ["score", "id"],
        "oldest": ["created_at", "id"],
        "newest": ["-created_at", "-id"],
    }.get(sort, ["-score", "id"])
    qs = (
        qs.select_related("golden_a", "golden_b", "assigned_to")
        .prefetch_related(_with_sources("golden_a"), _with_sources("golden_b"))
        .order_by(*order)
    )
    return qs, unbanded


def band_counts(qs: QuerySet[MatchCandidate]) -> list[tuple[Band, int]]:
    counts = qs.order_by().aggregate(**{b.key: Count("id", filter=b.q()) for b in BANDS})
    return [(band, counts[band.key]) for band in BANDS]


@dataclass
class QueueRow:
    candidate: MatchCandidate
    band: Band
    score: str
    systems_a: list[str]
    systems_b: list[str]
    age: timedelta


def queue_rows(candidates: list[MatchCandidate]) -> list[QueueRow]:
    now = timezone.now()
    return [
        QueueRow(
            c,
            band_of(c.score),
            score_label(c.score),
            sorted({r.system.code for r in c.golden_a.source_records.all()}),
            sorted({r.system.code for r in c.golden_b.source_records.all()}),
            now - c.created_at,
        )
        for c in candidates
    ]


def queue_countries() -> list[str]:
    pending = MatchCandidate.objects.filter(status__in=PENDING)
    codes = GoldenRecord.objects.filter(
        Q(pk__in=pending.values("golden_a")) | Q(pk__in=pending.values("golden_b"))
    ).values_list("country", flat=True)
    return sorted({c for c in codes if c})


def _workable(user: Any) -> Q:
    """Pairs ``user`` may work on: unclaimed or claimed by them (anyone's for None)."""
    if user is None or not user.pk:
        return Q()
    return Q(assigned_to__isnull=True) | Q(assigned_to=user)


def neighbours(candidate: MatchCandidate, user: Any = None) -> tuple[int | None, int | None]:
    """Previous and next open candidate in the queue's default order (score, then id),
    skipping pairs another steward has claimed when ``user`` is a steward."""
    pending = (
        MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN)
        .filter(_workable(user))
        .exclude(pk=candidate.pk)
    )
    after = Q(score__lt=candidate.score) | Q(score=candidate.score, pk__gt=candidate.pk)
    nxt = pending.filter(after).order_by("-score", "id").values_list("pk", flat=True).first()
    prev = pending.exclude(after).order_by("score", "-id").values_list("pk", flat=True).first()
    return prev, nxt


def next_open_candidate(exclude: int | None = None, user: Any = None) -> int | None:
    """Where work goes on: the best open pair nobody else has claimed."""
    return (
        MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN)
        .filter(_workable(user))
        .exclude(pk=exclude)
        .order_by("-score", "id")
        .values_list("pk", flat=True)
        .first()
    )


# --- compare ------------------------------------------------------------------------


def _goldens_with_crosswalk() -> QuerySet[GoldenRecord]:
    return GoldenRecord.objects.select_related("merged_into").prefetch_related(
        Prefetch(
            "source_records", queryset=SourceRecord.objects.select_related("system").order_by("id")
        ),
        Prefetch(
            "external_references", queryset=ExternalReference.objects.select_related("system")
        ),
    )


def candidate_for_compare(pk: int) -> MatchCandidate | None:
    goldens = _goldens_with_crosswalk()
    return (
        MatchCandidate.objects.select_related("decided_by", "assigned_to")
        .prefetch_related(
            Prefetch("golden_a", queryset=goldens), Prefetch("golden_b", queryset=goldens)
        )
        .filter(pk=pk)
        .first()
    )


@dataclass
class CompareRow:
    name: str
    label: str
    a: str
    b: str
    state: str  # same, different, only_a, only_b, empty
    evidence: list[Evidence] = field(default_factory=list)
    reference: bool = False
    pickable: bool = False  # the steward may pick A's or B's value at merge time
    pick: Any = None  # the merge form's field for that pick, set by the view


def pickable_attributes(a: GoldenRecord, b: GoldenRecord) -> list[str]:
    """Attributes whose surviving value a steward can pick when merging the pair: both
    records have a value and the values differ. References are not pinned this way."""
    names = []
    for f in entity_spec(a.entity_type).fields:
        if f.kind == "reference":
            continue
        va, vb = a.attributes.get(f.attribute), b.attributes.get(f.attribute)
        if va not in (None, "") and vb not in (None, "") and va != vb:
            names.append(f.attribute)
    return names


def _state(a: str, b: str) -> str:
    if not a and not b:
        return "empty"
    if not b:
        return "only_a"
    if not a:
        return "only_b"
    return "same" if a.casefold() == b.casefold() else "different"


def compare_rows(candidate: MatchCandidate) -> tuple[list[CompareRow], list[Evidence]]:
    """Field-by-field rows with the matcher's evidence beside the attribute it explains,
    and the evidence that fits no single attribute."""
    spec = entity_spec(candidate.entity_type)
    a, b = candidate.golden_a, candidate.golden_b
    rows = {
        f.attribute: CompareRow(
            f.attribute,
            field_label(f.attribute),
            display(a.attributes.get(f.attribute)),
            display(b.attributes.get(f.attribute)),
            "",
            reference=f.kind == "reference",
        )
        for f in spec.fields
    }
    for row in rows.values():
        row.state = _state(row.a, row.b)
    for name in pickable_attributes(a, b):
        rows[name].pickable = True
    loose = []
    for item in evidence_of(candidate):
        target = rows.get(EVIDENCE_ATTRIBUTE.get(item.field, item.field))
        if target is None:
            loose.append(item)
        else:
            target.evidence.append(item)
    return list(rows.values()), loose


class _MergedView:
    """The parts of a golden record ``compute_attributes`` reads, for a pair as if merged:
    the survivor's pins (a merge keeps them) over both records' source records. The real
    survivorship code runs, so the preview cannot drift from what the merge stores."""

    def __init__(self, survivor: GoldenRecord, other: GoldenRecord, pins: dict[str, Any]) -> None:
        self.pk = survivor.pk
        self.entity_type = survivor.entity_type
        self.pins = pins
        self.source_records = SourceRecord.objects.filter(golden__in=[survivor, other])


@dataclass
class PreviewRow:
    label: str
    before: str
    after: str
    origin: str
    changed: bool


@dataclass
class MergePreview:
    survivor: GoldenRecord
    other: GoldenRecord
    attributes: dict[str, Any]
    rows: list[PreviewRow]
    dropped_pins: list[str]
    picked: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(row.changed for row in self.rows)


def merge_preview(
    survivor: GoldenRecord,
    other: GoldenRecord,
    picks: dict[str, Any] | None = None,
    picked_by: str = "",
) -> MergePreview:
    """The survivor's values after the merge. ``picks`` are values the steward picked,
    previewed as the pins the merge will set (see merge_candidate_with_picks)."""
    picks = picks or {}
    pins = {**survivor.pins, **{k: {"value": v, "by": picked_by or None} for k, v in picks.items()}}
    merged = _MergedView(survivor, other, pins)
    attributes, lineage = compute_attributes(cast(GoldenRecord, merged))
    changes = diff_attributes(survivor.attributes, attributes)
    spec = entity_spec(survivor.entity_type)
    rows = []
    for f in spec.fields:
        name = f.attribute
        if name not in attributes and name not in survivor.attributes:
            continue
        rows.append(
            PreviewRow(
                field_label(name),
                display(survivor.attributes.get(name)),
                display(attributes.get(name)),
                lineage_words(lineage.get(name)),
                name in changes,
            )
        )
    dropped = sorted(set(other.pins) - set(pins))
    return MergePreview(
        survivor,
        other,
        attributes,
        rows,
        [field_label(p) for p in dropped],
        [field_label(p) for p in picks],
    )


def lineage_words(entry: dict[str, Any] | None) -> str:
    if not entry:
        return ""
    rule = RULE_WORDS.get(entry.get("rule", ""), entry.get("rule", ""))
    if entry.get("rule") == RULE_STEWARD_PIN:
        who = entry.get("pinned_by")
        return f"{rule}{f' ({who})' if who else ''}"
    return f"{entry.get('system', '').upper()} {entry.get('source_id', '')} · {rule}"


# --- golden record page -------------------------------------------------------------


def spec_for_canonical_id(canonical_id: str) -> EntitySpec | None:
    return ENTITIES_BY_PREFIX.get(canonical_id.split("-", 1)[0].upper())


@dataclass
class ValueRow:
    name: str
    label: str
    value: str
    system: str
    source_id: str
    rule: str
    pinned: bool
    pinned_by: str
    reference: bool
    unresolved: bool


def value_rows(golden: GoldenRecord) -> list[ValueRow]:
    spec = entity_spec(golden.entity_type)
    rows = []
    for f in spec.fields:
        entry = golden.lineage.get(f.attribute) or {}
        rows.append(
            ValueRow(
                f.attribute,
                field_label(f.attribute),
                display(golden.attributes.get(f.attribute)),
                str(entry.get("system", "")),
                str(entry.get("source_id", "")),
                RULE_WORDS.get(entry.get("rule", ""), entry.get("rule", "")),
                entry.get("rule") == RULE_STEWARD_PIN,
                str(entry.get("pinned_by") or ""),
                f.kind == "reference",
                bool(entry.get("unresolved")),
            )
        )
    return rows


def golden_for_page(canonical_id: str) -> GoldenRecord | None:
    return _goldens_with_crosswalk().filter(canonical_id=canonical_id.upper()).first()


def source_label(record: SourceRecord) -> str:
    return f"{record.system.code.upper()} {record.source_id}"


def pending_candidates_of(golden: GoldenRecord) -> list[MatchCandidate]:
    return list(
        MatchCandidate.objects.filter(status__in=PENDING)
        .filter(Q(golden_a=golden) | Q(golden_b=golden))
        .select_related("golden_a", "golden_b")
        .order_by("-score", "id")
    )


def merge_events(golden: GoldenRecord) -> list[MergeEvent]:
    return list(
        MergeEvent.objects.filter(survivor=golden)
        .select_related("actor")
        .prefetch_related(Prefetch("merged", queryset=GoldenRecord.objects.only("canonical_id")))
        .order_by("-created_at", "-id")
    )


def related_records(golden: GoldenRecord) -> dict[str, list[GoldenRecord]]:
    """Children and projects that point at this record, and the records merged into it."""
    cid = golden.canonical_id
    active = GoldenRecord.objects.filter(status=GoldenRecord.Status.ACTIVE).only(
        "canonical_id", "name", "entity_type"
    )
    related = {
        "merged_from": list(golden.merged_from.only("canonical_id", "name").order_by("id")),
        "children": [],
        "projects": [],
    }
    if golden.entity_type == "customer":
        related["children"] = list(active.filter(attributes__parent_customer=cid)[:50])
        related["projects"] = list(active.filter(attributes__customer=cid)[:50])
    elif golden.entity_type == "legal_entity":
        related["projects"] = list(active.filter(attributes__billing_legal_entity=cid)[:50])
    return related


@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class TimelineEntry:
    when: Any
    who: str
    what: str
    kind: str
    version: int
    changes: list[Change]
    correlation_id: str


HISTORY_KIND = {"+": "created", "~": "changed", "-": "deleted"}


def _expand(name: str, old: Any, new: Any, ids: dict[int, str]) -> list[Change]:
    if name in {"attributes", "pins"}:
        prefix = "pin: " if name == "pins" else ""
        return [
            Change(f"{prefix}{field_label(key)}", display(before), display(after))
            for key, (before, after) in diff_attributes(old or {}, new or {}).items()
        ]
    if name == "merged_into":
        return [Change("Merged into", ids.get(old, display(old)), ids.get(new, display(new)))]
    return [Change(field_label(name), display(old), display(new))]


def timeline(golden: GoldenRecord, limit: int = 50) -> list[TimelineEntry]:
    """The golden record's history, newest first, each entry with its field diffs."""
    rows = list(
        golden.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : limit + 1
        ]
    )
    merged_ids = {r.merged_into_id for r in rows if r.merged_into_id}
    ids = dict(GoldenRecord.objects.filter(pk__in=merged_ids).values_list("pk", "canonical_id"))
    entries = []
    for new, old in zip(rows, [*rows[1:], None], strict=False):
        if len(entries) == limit:
            break
        changes: list[Change] = []
        if old is not None:
            delta = new.diff_against(
                old, included_fields=["status", "merged_into", "attributes", "pins"]
            )
            for change in delta.changes:
                changes += _expand(change.field, change.old, change.new, ids)
        entries.append(
            TimelineEntry(
                new.history_date,
                new.history_user.get_username() if new.history_user else "system",
                new.history_change_reason or HISTORY_KIND.get(new.history_type, ""),
                HISTORY_KIND.get(new.history_type, new.history_type),
                new.version,
                changes,
                getattr(new, "correlation_id", ""),
            )
        )
    return entries


# --- search -------------------------------------------------------------------------

# Name similarity (``name_similarity``, 0–100) a record needs to be listed, and one close
# enough that no typo-tolerant second look is needed.
MIN_NAME_SCORE = 70
CLOSE_NAME_SCORE = 90
# Names a query pulls from the database before they are ranked in Python.
NAME_PREFILTER = 500


@dataclass
class SearchHit:
    golden: GoldenRecord
    matched: str  # "canonical ID", "system ID" or "name"
    score: int | None = None  # name similarity for a name hit

    @property
    def label(self) -> str:
        return self.matched if self.score is None else f"name {self.score}%"


def _name_key(value: str, country: str | None = None) -> str:
    """What names are compared on: normalised (case, accents, punctuation, legal form and
    a leading "the" dropped), or the plain lower-cased text when nothing Latin remains."""
    name = normalize.normalize_company_name(value, country or None)
    return name.name if name else value.casefold().strip()


def _typo_fragments(token: str) -> list[str]:
    """The first and the last half of a longer word (an odd one's middle letter left
    out): one typo leaves at least one of them intact ("harbuor" → "har", "uor")."""
    half = len(token) // 2
    return [token[:half], token[-half:]] if half >= 3 else []


NameRow = tuple[int, str, str, str]  # pk, name, country, status


def _prefilter(base: QuerySet[GoldenRecord], terms: list[str]) -> list[NameRow]:
    """Records whose name contains any of ``terms``, those containing the most terms
    first: one pass over the name column, capped."""
    terms = list(dict.fromkeys(t for t in terms if t))
    if not terms:
        return []
    contains = Q()
    for term in terms:
        contains |= Q(name__icontains=term)
    hits = sum(  # type: ignore[arg-type]
        (Case(When(name__icontains=t, then=Value(1)), default=Value(0)) for t in terms),
        Value(0),
    )
    rows = (
        base.filter(contains)
        .annotate(term_hits=hits)
        .order_by("-term_hits", "id")
        .values_list("pk", "name", "country", "status")
    )
    return list(rows[:NAME_PREFILTER])


def name_similarity(query_key: str, name_key: str) -> float:
    """How well a name answers a query, 0–100, both as normalised keys.

    Mostly whether each query word is in the name: its best match among the name's words
    (rapidfuzz ratio, so a typo costs a little; a name word it begins counts in full, for
    a steward still typing), weighted by length so "de" matters less than "harbor". The
    whole name's similarity (token_sort_ratio) adds a fifth: of two names holding every
    query word, the one with fewer other words wins. A name typed without its spaces
    ("CyrenovaMedia") is caught by comparing the whole strings.
    """
    query_words, name_words = query_key.split(), name_key.split()
    if not query_words or not name_words:
        return 0.0
    found = 0.0
    for word in query_words:
        found += len(word) * max(
            100.0 if len(word) >= 3 and other.startswith(word) else fuzz.ratio(word, other)
            for other in name_words
        )
    words = found / sum(map(len, query_words))
    whole = fuzz.token_sort_ratio(query_key, name_key)
    return max(0.8 * words + 0.2 * whole, fuzz.ratio(query_key, name_key))


def _ranked(q: str, key: str, rows: list[NameRow]) -> dict[int, tuple[Any, ...]]:
    """{pk: sort key} of the rows similar enough, the similarity first (negated)."""
    ranked = {}
    folded = q.casefold()
    for pk, name, country, status in rows:
        score = round(name_similarity(key, _name_key(name, country)))
        if score >= MIN_NAME_SCORE:
            # Names alike but for the legal form tie: the one spelt more like the query
            # first, then active before merged.
            as_typed = fuzz.ratio(folded, name.casefold())
            ranked[pk] = (-score, -as_typed, status != GoldenRecord.Status.ACTIVE, name, pk)
    return ranked


# Names are stored as the systems spell them: "Tech" stands for "technology" in the key.
_ABBREVIATIONS_OF: dict[str, list[str]] = {}
for _short, _full in normalize._NAME_ABBREVIATIONS.items():
    if len(_short) >= 3:
        _ABBREVIATIONS_OF.setdefault(_full, []).append(_short)


def name_matches(q: str, base: QuerySet[GoldenRecord]) -> list[tuple[int, int]]:
    """(pk, similarity) of records whose name is like ``q``, typos allowed, best first.

    The database narrows the field cheaply: names containing a word of the normalised
    query (or its usual abbreviation, or the query as typed). When none of those is close,
    halves of the longer words are added, since a typo leaves one half intact. What came
    back is ranked by ``name_similarity`` and what is not similar enough is dropped.
    """
    key = _name_key(q)
    words = [w for w in key.split() if len(w) >= 3] or key.split()
    terms = [*words, *(a for w in words for a in _ABBREVIATIONS_OF.get(w, [])), q]
    ranked = _ranked(q, key, _prefilter(base, terms))
    if -min((r[0] for r in ranked.values()), default=0) < CLOSE_NAME_SCORE:
        fragments = [f for w in words for f in _typo_fragments(w)]
        if fragments:
            ranked.update(_ranked(q, key, _prefilter(base, [*terms, *fragments])))
    return [(pk, -order[0]) for pk, order in sorted(ranked.items(), key=lambda item: item[1])]


def search_golden_records(q: str, entity_type: str = "", limit: int = 50) -> list[SearchHit]:
    """One box: an exact canonical ID, an exact ID in any system (a source record's ID or
    one a target system assigned) first, then names by similarity, typos allowed. ID
    lookups use the same FilterSet as the API (convention 12)."""
    q = q.strip()
    if not q:
        return []
    base = GoldenRecord.objects.all()
    if entity_type:
        base = base.filter(entity_type=entity_type)
    by_canonical = base.filter(canonical_id__iexact=q).values_list("pk", flat=True)
    by_system = GoldenRecordFilter({"source_id": q}, queryset=base).qs.values_list("pk", flat=True)
    id_hits = {pk: "canonical ID" for pk in by_canonical}
    for pk in by_system[:limit]:
        id_hits.setdefault(pk, "system ID")
    name_hits = [(pk, score) for pk, score in name_matches(q, base) if pk not in id_hits]
    name_hits = name_hits[: max(limit - len(id_hits), 0)]
    found = _goldens_with_crosswalk().in_bulk([*id_hits, *(pk for pk, _ in name_hits)])
    by_ids = sorted(
        (found[pk] for pk in id_hits),
        key=lambda g: (id_hits[g.pk] != "canonical ID", g.status != "active", g.name, g.pk),
    )
    hits = [SearchHit(g, id_hits[g.pk]) for g in by_ids]
    return [*hits, *(SearchHit(found[pk], "name", score) for pk, score in name_hits)][:limit]


# --- exceptions ---------------------------------------------------------------------


def open_rejections(limit: int = 100) -> tuple[list[RejectedRecord], int]:
    qs = RejectedRecord.objects.filter(resolved_at=None).select_related("system")
    return list(qs.order_by("-id")[:limit]), qs.count()


def open_unmerge_proposals() -> list[UnmergeProposal]:
    return list(
        UnmergeProposal.objects.filter(status=UnmergeProposal.Status.OPEN)
        .select_related("source_record__system", "golden")
        .order_by("-score", "id")
    )


def projects_not_ready(limit: int = 50) -> tuple[list[GoldenRecord], int]:
    """Active projects the ERP cannot bill: no billing legal entity or no currency."""
    missing = Q()
    for attribute in ("billing_legal_entity", "currency"):
        missing |= Q(**{f"attributes__{attribute}__isnull": True}) | Q(
            **{f"attributes__{attribute}": None}
        )
    qs = GoldenRecord.objects.filter(
        entity_type="project", status=GoldenRecord.Status.ACTIVE
    ).filter(missing)
    return list(qs.order_by("canonical_id")[:limit]), qs.count()
