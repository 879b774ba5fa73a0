"""New source records of one ingest batch, placed together: a handful of reads, matching
and survivorship in memory, bulk writes.

The records are placed one after another exactly as if each had been ingested alone:
each is matched against the stored records its blocking keys reach *and* the records
placed before it in the batch (same per-key block limit, same scoring, same link
decision), and a golden record's survivorship is re-run after every record it takes, with
a history row per save and a change-feed row per change. So the clustering, versions,
history and change feed do not depend on how records are batched; only the round trips
are grouped.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Model
from django.db.models.signals import post_save
from django.utils import timezone

from golden.entities import EntitySpec, EntityType
from golden.linking import LinkDecision, link_decision
from golden.matching import (
    KEY_COLUMNS,
    GoldenMatch,
    StoredCandidate,
    candidate_codes,
    candidate_ids,
    features_from,
    key_values,
    model_for,
    stored_candidates,
    stored_features,
)
from golden.matching.blocking import (
    MAX_BLOCK_SIZE,
    StoredCodes,
    block_members,
    block_members_with_codes,
    blocking_keys,
    stored_key,
)
from golden.matching.features import Features, features_of
from golden.matching.frequency import RunningCounts, store_count_changes, stored_counts, terms_of
from golden.matching.pairs import (
    BOUND_SLACK,
    CODE_FIELDS,
    equality_codes,
    has_bound,
    reachable_candidates,
    reachable_pairs,
)
from golden.matching.scoring import PairScore, score_reaching, weight_for
from golden.models import (
    BlockingKey,
    GoldenChange,
    GoldenRecord,
    MatchCandidate,
    SourceRecord,
    SourceReference,
    SourceSystem,
)
from golden.services.common import (
    Actor,
    insert_history,
    insert_rows,
    reserve_primary_keys,
    update_rows,
)
from golden.services.records import (
    apply_attributes,
    compute_attributes,
    golden_change,
    reserve_canonical_ids,
    resolve_reference,
    survivorship_rules,
)
from golden.sql import insert_values
from golden.validation import CleanRecord
from mdm.context import current_correlation_id


@dataclass
class Arrival:
    """A validated record not stored yet."""

    clean: CleanRecord
    payload: dict[str, Any]
    digest: str


@dataclass
class Placement:
    """Where an arrival went: its golden record, whether that record existed before it
    (a link), and the golden records put to review with it."""

    golden: GoldenRecord
    linked: bool
    review_with: list[GoldenRecord]


class _PendingCanonicalId:
    """Stands for the canonical ID of a golden record created in this batch until the
    batch's IDs are handed out (a parent account placed before its child)."""

    def __init__(self, golden: GoldenRecord) -> None:
        self.golden = golden


class _References:
    """Canonical IDs of referenced source records: stored ones read in one query per
    system and entity type, ones placed earlier in this batch from memory."""

    def __init__(self) -> None:
        self.stored: dict[tuple[int, str, str], str | None] = {}
        self.placed: dict[tuple[int, str, str], _PendingCanonicalId] = {}

    def preload(self, wanted: Iterable[tuple[int, str, str]]) -> None:
        groups: dict[tuple[int, str], set[str]] = {}
        for system_id, entity_type, source_id in wanted:
            if (system_id, entity_type, source_id) not in self.stored:
                groups.setdefault((system_id, entity_type), set()).add(source_id)
        for (system_id, entity_type), source_ids in groups.items():
            found = dict(
                SourceRecord.objects.filter(
                    system_id=system_id, entity_type=entity_type, source_id__in=source_ids
                ).values_list("source_id", "golden__canonical_id")
            )
            for source_id in source_ids:
                self.stored[(system_id, entity_type, source_id)] = found.get(source_id)

    def __call__(self, system_id: int, entity_type: str, source_id: str) -> Any:
        key = (system_id, entity_type, source_id)
        if key in self.placed:
            return self.placed[key]
        if key not in self.stored:
            self.stored[key] = resolve_reference(system_id, entity_type, source_id)
        return self.stored[key]


def reference_targets(
    spec: EntitySpec, system_id: int, cleaned: dict[str, Any]
) -> list[tuple[int, str, str]]:
    return [
        (system_id, f.target, cleaned[f.name])
        for f in spec.fields
        if f.kind == "reference" and cleaned.get(f.name)
    ]


def place_new_records(
    spec: EntitySpec,
    system: SourceSystem,
    arrivals: list[Arrival],
    *,
    actor: Actor,
    reason: str,
) -> list[Placement]:
    """Store records whose (system, entity type, source ID) is not stored yet, link each
    to a golden record or create one with review candidates. Call inside a transaction."""
    if not arrivals:
        return []
    batch = _Batch(spec, system, actor, reason)
    placements = batch.place(arrivals)
    batch.write()
    return placements


class _Batch:
    def __init__(self, spec: EntitySpec, system: SourceSystem, actor: Actor, reason: str):
        self.spec = spec
        self.entity_type = spec.entity_type
        self.system = system
        self.actor = actor
        self.reason = reason
        self.correlation_id = current_correlation_id()
        self.model = model_for(spec.entity_type)
        self.review_weight = weight_for(self.model.thresholds.review)
        self.rules = survivorship_rules(spec.entity_type)
        self.systems = SourceSystem.objects.in_bulk()
        self.references = _References()
        self.pending_ids: dict[int, _PendingCanonicalId] = {}
        # Stored candidates (plain values), their scores against each arrival (None: the
        # bound rules the pair out), the golden records matches may name; the source
        # records of a golden record a record links to (a link re-runs survivorship over
        # all of them).
        self.stored_candidates: dict[int, StoredCandidate] = {}
        self.stored_scores: list[dict[int, PairScore]] = []  # per arrival, by record ID
        self.stored_goldens: dict[int, GoldenRecord] = {}
        self.members: dict[int, list[SourceRecord]] = {}  # id(golden) → its records
        self.stored_blocks: dict[str, Sequence[int]] = {}
        self.stored_codes: StoredCodes | None = None  # an entity type with a bound
        self.placed_blocks: dict[str, list[SourceRecord]] = {}
        self.features: dict[tuple[int, str], Features] = {}
        # What the batch will write.
        self.new_records: list[SourceRecord] = []
        self.new_goldens: list[GoldenRecord] = []
        self.creation_order: dict[int, int] = {}  # id(golden) → position among new_goldens
        self.touched_goldens: dict[int, GoldenRecord] = {}
        self.saves: list[tuple[GoldenRecord, GoldenRecord]] = []  # (golden, state saved)
        self.changes: list[tuple[GoldenRecord, GoldenRecord, str]] = []
        self.decisions: list[tuple[SourceRecord, LinkDecision]] = []
        self.candidates: list[tuple[GoldenRecord, GoldenRecord, PairScore]] = []
        self.keys: list[tuple[Any, ...]] = []  # BlockingKey rows, KEY_COLUMNS
        self.arrived_terms: Counter[str] = Counter()
        self.source_references: list[SourceReference] = []

    # Reading ---------------------------------------------------------------------------

    def place(self, arrivals: list[Arrival]) -> list[Placement]:
        self.references.preload(
            target
            for a in arrivals
            for target in reference_targets(self.spec, self.system.pk, a.clean.cleaned)
        )
        probes = [self._probe_features(a.clean.cleaned) for a in arrivals]
        # Each arrival sees the names stored and those of the arrivals before it.
        counts = RunningCounts(
            stored_counts(self.entity_type, itertools.chain.from_iterable(map(terms_of, probes))),
            self.system.code,
        )
        probes = [counts.arrive(probe) for probe in probes]
        self.arrived_terms = counts.arrived
        keys = [blocking_keys(probe) for probe in probes]
        wanted = set().union(*keys)
        if has_bound(self.entity_type):
            self.stored_blocks, self.stored_codes = block_members_with_codes(
                self.entity_type, wanted
            )
        else:
            self.stored_blocks = block_members(self.entity_type, wanted)
        self._score_stored_candidates(probes, keys)
        ids = reserve_primary_keys(SourceRecord, len(arrivals))
        return [
            self._place_one(index, arrival, probe, record_keys, record_id)
            for index, (arrival, probe, record_keys, record_id) in enumerate(
                zip(arrivals, probes, keys, ids, strict=True)
            )
        ]

    def _probe_features(self, cleaned: dict[str, Any]) -> Features:
        """As ingestion always computed them: a project is compared with its customer's
        canonical ID."""
        parent = ""
        if self.entity_type == EntityType.PROJECT and cleaned.get("customer_source_id"):
            parent = (
                self.references(self.system.pk, EntityType.CUSTOMER, cleaned["customer_source_id"])
                or ""
            )
        return features_of(self.entity_type, cleaned, parent=parent)

    def _score_stored_candidates(self, probes: list[Features], keys: list[set[str]]) -> None:
        """Score every arrival against the stored records of its blocks up front, so the
        golden records those matches name are read in one query. The bound rules most
        pairs out first, all of the batch's pairs in one pass, on the equality codes the
        block lookup returned; source records (golden record, status, full features) are
        read only for candidates of the pairs that pass. Placing then reuses these scores
        (a record placed earlier can only make a block oversized, leaving a subset of
        them)."""
        ids = candidate_ids(self.stored_blocks)
        if has_bound(self.entity_type):
            assert self.stored_codes is not None
            record_ids, codes = candidate_codes(self.entity_type, self.stored_codes, ids)
        else:
            record_ids = sorted(ids)
            codes = np.empty((0, len(CODE_FIELDS) + 1), dtype=np.int64)
        probe_index, candidate_index = _batch_pairs(keys, self.stored_blocks, record_ids)
        reachable = reachable_pairs(
            [equality_codes(probe) for probe in probes],
            codes,
            probe_index,
            candidate_index,
            self.model,
            self.review_weight,
        )
        pairs = list(
            zip(probe_index[reachable].tolist(), candidate_index[reachable].tolist(), strict=True)
        )
        # Only the candidates of an active golden record: a candidate the bound ruled out
        # everywhere is never compared, so it is not read.
        full = {
            c.record_id: c
            for c in stored_candidates(self.entity_type, (record_ids[k] for _, k in pairs))
        }
        self.stored_candidates = full
        self.stored_scores = [{} for _ in probes]
        needed: set[int] = set()
        for index, k in pairs:
            candidate = full.get(record_ids[k])
            if candidate is None:  # its golden record is not active
                continue
            score = score_reaching(
                self.model, probes[index], candidate.features, self.review_weight - BOUND_SLACK
            )
            self.stored_scores[index][candidate.record_id] = score
            if score is not None and score.decision(self.model.thresholds) != "new":
                needed.add(candidate.golden_id)
        self._lock_goldens(needed)
        # A record can link only to a golden record it matches: their source records are
        # read now, together, rather than one golden record at a time.
        self._read_members(self.stored_goldens.values())

    def _scores(self, probe: Features, candidates: list[Features]) -> list[PairScore | None]:
        """Each candidate's score, None where it cannot reach the review band (such a
        pair is ``new`` and never the best pair of a golden record that is not)."""
        reachable = reachable_candidates(probe, candidates, self.model, self.review_weight)
        return [
            score_reaching(self.model, probe, features, self.review_weight - BOUND_SLACK)
            if may_reach
            else None
            for features, may_reach in zip(candidates, reachable, strict=True)
        ]

    def _lock_goldens(self, golden_ids: Iterable[int]) -> None:
        """Read the stored golden records matches name, locked until the batch commits
        (in ID order, as merges lock them). A concurrent batch that links a record to
        one of them waits here, then reads its source records with this batch's among
        them: neither survivorship run misses the other's record."""
        wanted = sorted(set(golden_ids) - self.stored_goldens.keys())
        self.stored_goldens.update(
            (golden.pk, golden)
            for golden in GoldenRecord.objects.select_for_update()
            .filter(pk__in=wanted)
            .order_by("pk")
        )

    def _golden(self, golden: GoldenRecord | int) -> GoldenRecord:
        return golden if isinstance(golden, GoldenRecord) else self._stored_golden(golden)

    def _stored_golden(self, golden_id: int) -> GoldenRecord:
        self._lock_goldens([golden_id])
        return self.stored_goldens[golden_id]

    def _members(self, golden: GoldenRecord) -> list[SourceRecord]:
        """The golden record's source records (a link re-runs survivorship over them)."""
        if id(golden) not in self.members:
            self._read_members([golden])
        return self.members[id(golden)]

    def _read_members(self, goldens: Iterable[GoldenRecord]) -> None:
        """The source records of these stored golden records, in one query."""
        wanted = {golden.pk: golden for golden in goldens if id(golden) not in self.members}
        if not wanted:
            return
        for golden in wanted.values():
            self.members[id(golden)] = []
        stored = (
            SourceRecord.objects.filter(golden_id__in=wanted)
            .defer("payload", "link_evidence")
            .order_by("id")
        )
        for record in stored:
            record.golden = wanted[record.golden_id]
            record.system = self.systems[record.system_id]
            self.members[id(record.golden)].append(record)
        self.references.preload(
            target
            for golden in wanted.values()
            for record in self.members[id(golden)]
            for target in reference_targets(self.spec, record.system_id, record.cleaned)
        )

    # Placing ---------------------------------------------------------------------------

    def _place_one(
        self, index: int, arrival: Arrival, probe: Features, keys: set[str], record_id: int
    ) -> Placement:
        clean = arrival.clean
        decision = link_decision(self._matches(index, probe, keys), self.model)
        created = decision.golden is None
        golden = decision.golden or self._new_golden()
        now = timezone.now()
        record = SourceRecord(
            pk=record_id,
            system=self.system,
            entity_type=self.entity_type,
            source_id=clean.source_id,
            golden=golden,
            payload=arrival.payload,
            cleaned=clean.cleaned,
            source_updated_at=clean.source_updated_at,
            content_hash=arrival.digest,
            correlation_id=self.correlation_id,
            match_features=stored_features(probe),
            created_at=now,
            updated_at=now,
        )
        self.new_records.append(record)
        self.decisions.append((record, decision))
        self._members(golden).append(record)
        self._recompute(golden, created=created, now=now)
        self.references.placed[(self.system.pk, self.entity_type, clean.source_id)] = (
            self._pending_id(golden)
        )
        for key in keys:
            self.placed_blocks.setdefault(stored_key(key), []).append(record)
        self.keys += key_values(record_id, self.entity_type, probe, keys)
        for target_field in self.spec.fields:
            target = clean.cleaned.get(target_field.name)
            if target_field.kind == "reference" and target:
                self.source_references.append(
                    SourceReference(
                        source_record=record,
                        field=target_field.name,
                        system_id=self.system.pk,
                        target_entity_type=target_field.target,
                        target_source_id=target,
                    )
                )
        review = decision.review if created else []
        self.candidates += [(golden, match.golden, match.score) for match in review]
        return Placement(golden, not created, [match.golden for match in review])

    def _new_golden(self) -> GoldenRecord:
        golden = GoldenRecord(entity_type=self.entity_type, created_at=timezone.now())
        self.creation_order[id(golden)] = len(self.new_goldens)
        self.new_goldens.append(golden)
        self.members[id(golden)] = []
        return golden

    def _pending_id(self, golden: GoldenRecord) -> Any:
        if golden.canonical_id:
            return golden.canonical_id
        return self.pending_ids.setdefault(id(golden), _PendingCanonicalId(golden))

    def _matches(self, index: int, probe: Features, keys: set[str]) -> list[GoldenMatch]:
        """``find_matches`` over the stored records and those placed before this one."""
        placed: dict[int, SourceRecord] = {}
        grown_oversized = False
        for key in keys:
            stored = self.stored_blocks.get(key, [])
            placed_block = self.placed_blocks.get(key, [])
            if len(stored) + len(placed_block) > MAX_BLOCK_SIZE:
                grown_oversized |= len(stored) <= MAX_BLOCK_SIZE
                continue
            placed.update((record.pk, record) for record in placed_block)
        stored_scores = self.stored_scores[index]
        # The stored candidates: those scored up front (the bound ruled the rest out),
        # unless records placed before made a block oversized or a project's features
        # may have changed; then every stored record of the blocks still read.
        stored_ids: Iterable[int] = stored_scores.keys()
        if grown_oversized or self.entity_type == EntityType.PROJECT:
            stored_ids = {
                record_id
                for key in keys
                if len(block := self.stored_blocks.get(key, []))
                + len(self.placed_blocks.get(key, []))
                <= MAX_BLOCK_SIZE
                for record_id in block
                if record_id in self.stored_candidates
            }
        # (record ID, golden record or its stored ID, score): stored candidates scored up
        # front, the others now.
        scored: list[tuple[int, GoldenRecord | int, PairScore | None]] = []
        unscored: list[tuple[int, GoldenRecord | int, Features]] = []
        for record_id in stored_ids:
            candidate = self.stored_candidates[record_id]
            golden = self.stored_goldens.get(candidate.golden_id, candidate.golden_id)
            features = self._current_features(candidate, golden)
            if features is candidate.features:
                scored.append((record_id, golden, stored_scores.get(record_id)))
            else:
                unscored.append((record_id, golden, features))
        for record in placed.values():
            unscored.append((record.pk, record.golden, self._record_features(record)))
        if unscored:
            scores = self._scores(probe, [features for _, _, features in unscored])
            scored += [
                (record_id, golden, score)
                for (record_id, golden, _), score in zip(unscored, scores, strict=True)
            ]
        best: dict[Any, tuple[PairScore, int, GoldenRecord | int]] = {}
        for record_id, golden, score in sorted(scored, key=lambda row: row[0]):
            if score is None:
                continue
            key = _golden_key(golden)
            current = best.get(key)
            if current is None or score.weight > current[0].weight:
                best[key] = (score, record_id, golden)
        matches = [
            GoldenMatch(matched, score, record_id, decision)
            for score, record_id, golden in best.values()
            if (decision := score.decision(self.model.thresholds)) != "new"
            # One merged away by a concurrent request since its records were read.
            and (matched := self._golden(golden)).status == GoldenRecord.Status.ACTIVE
        ]
        return sorted(matches, key=lambda m: (-m.score.weight, self._golden_order(m.golden)))

    def _current_features(self, candidate: StoredCandidate, golden: GoldenRecord | int) -> Features:
        """A project is compared by its golden record's customer, which a record placed
        earlier in this batch may have changed (only a golden record read here can have)."""
        if self.entity_type != EntityType.PROJECT or not isinstance(golden, GoldenRecord):
            return candidate.features
        parent = golden.attributes.get("customer") or ""
        if parent == candidate.features.parent:
            return candidate.features
        key = (candidate.record_id, parent)
        if key not in self.features:
            self.features[key] = dataclasses.replace(candidate.features, parent=parent)
        return self.features[key]

    def _golden_order(self, golden: GoldenRecord) -> tuple[int, int]:
        # Golden records created here get IDs above every stored one, in creation order.
        if golden.pk is not None:
            return (0, golden.pk)
        return (1, self.creation_order[id(golden)])

    def _record_features(self, record: SourceRecord) -> Features:
        parent = ""
        if self.entity_type == EntityType.PROJECT:
            parent = record.golden.attributes.get("customer") or ""
        key = (record.pk, parent)
        if key not in self.features:
            self.features[key] = features_from(
                self.entity_type, record.match_features, record.cleaned, parent
            )
        return self.features[key]

    def _recompute(self, golden: GoldenRecord, *, created: bool, now: Any) -> None:
        """``recompute_golden_record`` in memory: the saved state and the change are kept
        for the bulk writes."""
        attributes, lineage = compute_attributes(
            golden, self.rules, records=self.members[id(golden)], resolve=self.references
        )
        kind = apply_attributes(golden, attributes, lineage, created=created)
        if kind is None:
            return
        golden.updated_at = now
        if golden.pk is not None:
            self.touched_goldens[golden.pk] = golden
        state = copy.copy(golden)
        self.saves.append((golden, state))
        if kind:
            self.changes.append((golden, state, kind))

    # Writing ---------------------------------------------------------------------------

    def write(self) -> None:
        self._number_new_goldens()
        for record, decision in self.decisions:
            record.link_evidence = link_evidence(decision, record.golden)
        insert_rows(GoldenRecord, self.new_goldens)
        insert_rows(SourceRecord, self.new_records)
        update_rows(
            GoldenRecord,
            list(self.touched_goldens.values()),
            ["version", "attributes", "lineage", "name", "country", "tax_id", "updated_at"],
        )
        # Each save of a golden record here is an update of a row, as in
        # recompute_golden_record (a new golden record is first stored without history).
        self._history(GoldenRecord, [state for _, state in self.saves], "~", self.reason)
        self._history(SourceRecord, self.new_records, "+", self.reason)
        insert_values(BlockingKey, KEY_COLUMNS, self.keys)
        store_count_changes(self.entity_type, self.system.pk, self.arrived_terms)
        insert_rows(SourceReference, self.source_references)
        candidates = [
            MatchCandidate(
                entity_type=self.entity_type,
                golden_a=low,
                golden_b=high,
                score=score.probability,
                evidence=score.evidence,
                reason="; ".join(score.vetoes),
            )
            for golden, other, score in self.candidates
            for low, high in [sorted([golden, other], key=lambda g: g.pk)]
        ]
        for candidate, pk in zip(
            candidates, reserve_primary_keys(MatchCandidate, len(candidates)), strict=True
        ):
            candidate.pk = pk
        insert_rows(MatchCandidate, candidates)
        self._history(MatchCandidate, candidates, "+", "proposed by the matcher")
        changes = [golden_change(state, kind, actor=self.actor) for _, state, kind in self.changes]
        for change, pk in zip(
            changes, reserve_primary_keys(GoldenChange, len(changes)), strict=True
        ):
            change.pk = pk
        insert_rows(GoldenChange, changes)
        # Readers of the change feed listen for saved rows (outbound sync starts its
        # fan-out on commit); a bulk insert sends no signal of its own.
        for change in changes:
            post_save.send(
                GoldenChange, instance=change, created=True, raw=False, using=connection.alias
            )

    def _number_new_goldens(self) -> None:
        numbers = zip(
            reserve_primary_keys(GoldenRecord, len(self.new_goldens)),
            reserve_canonical_ids(self.spec, len(self.new_goldens)),
            strict=True,
        )
        for golden, (pk, canonical_id) in zip(self.new_goldens, numbers, strict=True):
            golden.pk, golden.canonical_id = pk, canonical_id
        for golden, state in self.saves:
            state.pk, state.canonical_id = golden.pk, golden.canonical_id
        if self.pending_ids:
            # Values that pointed at a golden record of this batch get its canonical ID.
            attribute_sets = {id(s.attributes): s.attributes for _, s in self.saves}
            for golden in [*self.new_goldens, *self.touched_goldens.values()]:
                attribute_sets[id(golden.attributes)] = golden.attributes
            for attributes in attribute_sets.values():
                for name, value in attributes.items():
                    if isinstance(value, _PendingCanonicalId):
                        attributes[name] = value.golden.canonical_id

    def _history(
        self, model: type[Model], instances: list[Any], history_type: str, reason: str
    ) -> None:
        insert_history(
            model,
            instances,
            history_type=history_type,
            actor=self.actor,
            reason=reason,
            correlation_id=self.correlation_id,
        )


def _batch_pairs(
    keys: list[set[str]], blocks: dict[str, Sequence[int]], record_ids: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(arrival index, candidate position in ``record_ids``) of every arrival and stored
    record that share a block matching reads (not oversized), each pair once."""
    arrivals: list[int] = []
    members: list[Sequence[int]] = []
    for index, record_keys in enumerate(keys):
        for key in record_keys:
            block = blocks.get(key)
            if block and len(block) <= MAX_BLOCK_SIZE:
                arrivals.append(index)
                members.append(block)
    found = np.fromiter(itertools.chain.from_iterable(members), dtype=np.int64)
    if not len(found):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    positions = np.searchsorted(np.asarray(record_ids, dtype=np.int64), found)
    owners = np.repeat(np.asarray(arrivals, dtype=np.int64), [len(m) for m in members])
    pairs = np.unique(owners * len(record_ids) + positions)
    return pairs // len(record_ids), pairs % len(record_ids)


def _golden_key(golden: GoldenRecord | int) -> Any:
    """One key per golden record, whether known by its stored ID or, created in this
    batch, by the object."""
    if isinstance(golden, int):
        return golden
    return golden.pk if golden.pk is not None else ("new", id(golden))


def link_evidence(decision: LinkDecision, golden: GoldenRecord) -> dict[str, Any]:
    """What the matcher saw when it placed the record, for the API and stewards."""
    if decision.golden is None:
        return {
            "decision": "new_golden_record",
            "canonical_id": golden.canonical_id,
            "closest": [
                {
                    "canonical_id": m.golden.canonical_id,
                    "probability": round(m.score.probability, 4),
                }
                for m in decision.review[:5]
            ],
            "at": timezone.now().isoformat(),
        }
    return {
        "decision": "auto_link",
        "canonical_id": golden.canonical_id,
        "probability": round(decision.score, 6),
        "reason": decision.reason,
        "evidence": decision.evidence,
        "at": timezone.now().isoformat(),
    }
