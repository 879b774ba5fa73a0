"""Re-cluster every record of one entity type with the batch matcher and apply the result.

Auto-links across golden records become merges (unless a steward said not-a-match),
review pairs become candidates, and with ``rebuild`` records the batch would place
elsewhere than their golden record are proposed for unmerge, never moved silently.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from golden.matching import model_for, record_features
from golden.matching.batch import cluster_scored, match_batch
from golden.matching.frequency import annotate_all
from golden.matching.scoring import score_pair
from golden.models import (
    GoldenRecord,
    MatchCandidate,
    SourceRecord,
    SourceSystem,
    UnmergeProposal,
)
from golden.services.batch_partitions import score_in_partitions
from golden.services.common import Actor, save_with_history
from golden.services.merge import merge_golden_records
from golden.services.records import open_candidate


@dataclass
class BatchReport:
    records: int = 0
    candidate_pairs: int = 0
    merges: list[list[str]] = field(default_factory=list)
    review_candidates: int = 0
    split_proposals: int = 0
    blocked_by_decisions: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def links_changed(self) -> int:
        return sum(len(group) - 1 for group in self.merges) + self.split_proposals


def _not_a_match_pairs(entity_type: str) -> set[tuple[int, int]]:
    return set(
        MatchCandidate.objects.filter(
            entity_type=entity_type, status=MatchCandidate.Status.NOT_A_MATCH
        ).values_list("golden_a_id", "golden_b_id")
    )


def _golden_groups(
    pairs: list[tuple[int, int]], forbidden: set[tuple[int, int]]
) -> tuple[list[list[int]], int]:
    """Union golden records over auto-link pairs, refusing unions a steward ruled out."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    members: dict[int, set[int]] = defaultdict(set)
    blocked = 0
    for a, b in sorted(pairs):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        group_a, group_b = members[ra] | {ra}, members[rb] | {rb}
        if any((min(x, y), max(x, y)) in forbidden for x in group_a for y in group_b):
            blocked += 1
            continue
        root, other = min(ra, rb), max(ra, rb)
        parent[other] = root
        members[root] = group_a | group_b
        members.pop(other, None)
    return [sorted(group) for group in members.values() if len(group) > 1], blocked


def run_batch_matching(
    entity_type: str,
    *,
    actor: Actor,
    rebuild: bool = False,
    dry_run: bool = False,
    workers: int = 2,
    partitions: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> BatchReport:
    """``partitions`` > 0 scores the pairs in that many Celery tasks (Redis and running
    workers needed); otherwise in ``workers`` local processes. Same result either way."""
    progress("loading records")
    records = list(
        SourceRecord.objects.filter(
            entity_type=entity_type, golden__status=GoldenRecord.Status.ACTIVE
        )
        .select_related("golden")
        .order_by("pk")
    )
    progress(f"computing features of {len(records):,} records")
    codes = dict(SourceSystem.objects.values_list("id", "code"))
    features = annotate_all(
        [record_features(r) for r in records], [codes[r.system_id] for r in records]
    )
    model = model_for(entity_type)
    if partitions:
        progress(f"blocking, scoring in {partitions} Celery tasks, clustering")
        started = time.perf_counter()
        n_pairs, compared, scored = score_in_partitions(
            entity_type, [r.pk for r in records], features, model, partitions
        )
        scored_at = time.perf_counter()
        result = cluster_scored(features, model, scored)
        result.n_pairs, result.compared_pairs = n_pairs, compared
        result.seconds = {
            "blocking_and_scoring": scored_at - started,
            "clustering": time.perf_counter() - scored_at,
        }
    else:
        progress("blocking, scoring and clustering")
        result = match_batch(features, model, workers=workers)
    report = BatchReport(len(records), result.n_pairs, seconds=result.seconds)
    golden_of = [r.golden_id for r in records]

    cross = [
        (golden_of[i], golden_of[j])
        for i, j, _ in result.auto_pairs
        if golden_of[i] != golden_of[j]
    ]
    groups, report.blocked_by_decisions = _golden_groups(
        [(min(a, b), max(a, b)) for a, b in cross], _not_a_match_pairs(entity_type)
    )
    goldens = GoldenRecord.objects.in_bulk({g for group in groups for g in group})
    report.merges = [[goldens[g].canonical_id for g in group] for group in groups]
    review = {
        (min(golden_of[i], golden_of[j]), max(golden_of[i], golden_of[j])): (i, j)
        for i, j, _ in result.review_pairs
        if golden_of[i] != golden_of[j]
    }
    splits = _split_candidates(records, result.labels) if rebuild else []
    report.split_proposals = len(splits)
    if dry_run:
        report.review_candidates = len(review)
        return report

    progress(f"applying {len(groups)} merges")
    for group in groups:
        survivor, *others = [goldens[g] for g in group]
        merge_golden_records(survivor=survivor, merged=others, actor=actor, reason="batch matching")
    merged_away = {g for group in groups for g in group[1:]}
    for (a, b), (i, j) in review.items():
        if a in merged_away or b in merged_away:
            continue
        score = score_pair(model, features[i], features[j])
        report.review_candidates += open_candidate(
            records[i].golden, records[j].golden, score, actor
        )
    for record in splits:
        if not UnmergeProposal.objects.filter(source_record=record, status="open").exists():
            save_with_history(
                UnmergeProposal(source_record=record, golden=record.golden, score=0.0),
                actor,
                "batch matching places this record elsewhere",
            )
    return report


def _split_candidates(records: list[SourceRecord], labels: list[int]) -> list[SourceRecord]:
    """Records outside their golden record's main batch cluster."""
    by_golden: dict[int, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        by_golden[record.golden_id].append(index)
    strays = []
    for indices in by_golden.values():
        if len(indices) < 2:
            continue
        main, _ = Counter(labels[i] for i in indices).most_common(1)[0]
        strays += [records[i] for i in indices if labels[i] != main]
    return strays


__all__ = ["BatchReport", "run_batch_matching"]
