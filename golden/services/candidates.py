"""Steward decisions on review candidates: merge, not a match, defer.

Exactly one decision applies to a candidate: the row is locked and its status checked,
so a second steward acting on the same pair gets a clear ``AlreadyDecided``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from golden.exceptions import AlreadyDecided, MergeConflict
from golden.models import GoldenRecord, MatchCandidate, MergeEvent, SourceRecord, UnmergeProposal
from golden.services.common import Actor, save_with_history
from golden.services.merge import merge_golden_records, unmerge_source_record

DECIDABLE = (MatchCandidate.Status.OPEN, MatchCandidate.Status.DEFERRED)


def _lock_open(candidate: MatchCandidate) -> MatchCandidate:
    locked = (
        MatchCandidate.objects.select_for_update()
        .select_related("golden_a", "golden_b")
        .get(pk=candidate.pk)
    )
    if locked.status not in DECIDABLE:
        who = locked.decided_by.get_username() if locked.decided_by else "someone"
        raise AlreadyDecided(
            f"This pair was already decided ({locked.get_status_display()}) by {who}."
        )
    return locked


def _close(candidate: MatchCandidate, status: str, actor: Actor, reason: str) -> None:
    candidate.status = status
    candidate.decided_by = actor
    candidate.decided_at = timezone.now()
    if reason:
        candidate.reason = reason[:255]
    save_with_history(candidate, actor, reason or status)


@transaction.atomic
def merge_candidate(
    candidate: MatchCandidate,
    *,
    actor: Actor,
    survivor: GoldenRecord | None = None,
    reason: str = "",
) -> MergeEvent:
    """Accept a candidate: merge the pair (the older golden record survives by default)."""
    candidate = _lock_open(candidate)
    pair = [candidate.golden_a, candidate.golden_b]
    survivor = survivor or min(pair, key=lambda g: g.pk)
    if survivor.pk not in {g.pk for g in pair}:
        raise MergeConflict("The survivor must be one of the pair.")
    other = next(g for g in pair if g.pk != survivor.pk)
    return merge_golden_records(survivor=survivor, merged=[other], actor=actor, reason=reason)


@transaction.atomic
def mark_not_a_match(candidate: MatchCandidate, *, actor: Actor, reason: str = "") -> None:
    """Remembered: the pair is not proposed again unless one of its records changes materially."""
    _close(_lock_open(candidate), MatchCandidate.Status.NOT_A_MATCH, actor, reason)


@transaction.atomic
def defer_candidate(candidate: MatchCandidate, *, actor: Actor, comment: str = "") -> None:
    candidate = _lock_open(candidate)
    candidate.status = MatchCandidate.Status.DEFERRED
    candidate.reason = comment[:255]
    save_with_history(candidate, actor, f"deferred: {comment}" if comment else "deferred")


@transaction.atomic
def decide_unmerge_proposal(proposal: UnmergeProposal, *, unmerge: bool, actor: Actor) -> None:
    proposal = UnmergeProposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status != UnmergeProposal.Status.OPEN:
        raise AlreadyDecided("This proposal was already decided.")
    if unmerge:
        unmerge_source_record(SourceRecord.objects.get(pk=proposal.source_record_id), actor=actor)
    proposal.status = UnmergeProposal.Status.UNMERGED if unmerge else UnmergeProposal.Status.KEPT
    proposal.decided_by = actor
    proposal.decided_at = timezone.now()
    save_with_history(proposal, actor, proposal.status)
