"""What a material change to a linked source record means for matching.

A record whose comparable features changed is checked again: against the rest of its
golden record (no longer matching → an unmerge proposal, not a silent wrong link),
against pairs a steward called not-a-match (the change may make them worth another look)
and against other golden records (new review candidates; existing golden records are
never merged without a steward).
"""

from __future__ import annotations

from django.db.models import Q

from golden.matching import GoldenMatch, find_matches, model_for, record_features
from golden.matching.features import Features
from golden.matching.frequency import annotated_from_store
from golden.matching.scoring import PairScore, score_pair
from golden.models import GoldenRecord, MatchCandidate, SourceRecord, UnmergeProposal
from golden.services.common import Actor, save_with_history
from golden.services.records import open_candidate


def _best_against(
    record: Features, others: list[SourceRecord], entity_type: str
) -> PairScore | None:
    model = model_for(entity_type)
    scores = [score_pair(model, record, record_features(other)) for other in others]
    return max(scores, key=lambda s: s.weight, default=None)


def review_changed_record(record: SourceRecord, features: Features, *, actor: Actor) -> list[str]:
    """Returns the canonical IDs now proposed for review with the record's golden record."""
    golden = record.golden
    features = annotated_from_store(features)
    siblings = list(golden.source_records.exclude(pk=record.pk).select_related("golden"))
    best = _best_against(features, siblings, record.entity_type)
    model = model_for(record.entity_type)
    if best is not None and best.decision(model.thresholds) == "new":
        if not UnmergeProposal.objects.filter(source_record=record, status="open").exists():
            proposal = UnmergeProposal(
                source_record=record, golden=golden, score=best.probability, evidence=best.evidence
            )
            save_with_history(proposal, actor, "record no longer matches its golden record")
    _reopen_not_a_match(golden, features, actor)
    matches: list[GoldenMatch] = find_matches(
        record.entity_type, features, exclude_golden=golden.pk
    )
    return [
        m.golden.canonical_id for m in matches if open_candidate(golden, m.golden, m.score, actor)
    ]


def _reopen_not_a_match(golden: GoldenRecord, features: Features, actor: Actor) -> None:
    decided = MatchCandidate.objects.filter(
        Q(golden_a=golden) | Q(golden_b=golden), status=MatchCandidate.Status.NOT_A_MATCH
    ).select_related("golden_a", "golden_b")
    model = model_for(golden.entity_type)
    for candidate in decided:
        other = candidate.golden_b if candidate.golden_a_id == golden.pk else candidate.golden_a
        if other.status != GoldenRecord.Status.ACTIVE:
            continue
        best = _best_against(
            features, list(other.source_records.select_related("golden")), golden.entity_type
        )
        if best is not None and best.decision(model.thresholds) != "new":
            candidate.status = MatchCandidate.Status.OPEN
            candidate.score = best.probability
            candidate.evidence = best.evidence
            candidate.decided_by = None
            candidate.decided_at = None
            save_with_history(candidate, actor, "reopened: a record changed materially")
