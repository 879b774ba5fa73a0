"""Steward decisions on review candidates: claim, merge (optionally picking values),
not a match, defer.

Exactly one decision applies to a candidate: the row is locked and its status checked,
so a second steward acting on the same pair gets a clear ``AlreadyDecided``. Before that,
a claim keeps two stewards off the same pair: whoever holds it decides it, others see
``AlreadyClaimed`` until they take it over. A decision releases the claim.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.timesince import timesince

from golden.exceptions import AlreadyClaimed, AlreadyDecided, MdmError, MergeConflict
from golden.models import GoldenRecord, MatchCandidate, MergeEvent, SourceRecord, UnmergeProposal
from golden.services.common import Actor, save_with_history
from golden.services.merge import merge_golden_records, unmerge_source_record
from golden.services.records import pin_attribute

DECIDABLE = (MatchCandidate.Status.OPEN, MatchCandidate.Status.DEFERRED)


def person(user: Any) -> str:
    """How a steward is named to other stewards: full name, else username."""
    if user is None:
        return "someone"
    full_name = getattr(user, "get_full_name", lambda: "")()
    return full_name or user.get_username()


def claim_age(candidate: MatchCandidate) -> str:
    """How long ago the current claim was made: "3 minutes ago", "just now"."""
    at = candidate.assigned_at
    if at is None or timezone.now() - at < timedelta(minutes=1):
        return "just now"
    return f"{timesince(at, depth=1)} ago".replace("\xa0", " ")


def claimed_message(candidate: MatchCandidate) -> str:
    return f"Claimed by {person(candidate.assigned_to)} {claim_age(candidate)}."


def _decided_message(candidate: MatchCandidate) -> str:
    who = candidate.decided_by.get_username() if candidate.decided_by else "someone"
    return f"This pair was already decided ({candidate.get_status_display()}) by {who}."


def _current(candidate: MatchCandidate) -> MatchCandidate:
    return MatchCandidate.objects.select_related("assigned_to", "decided_by").get(pk=candidate.pk)


def _held_by_other(candidate: MatchCandidate, actor: Actor) -> bool:
    """A pair someone else claimed. The system (no actor: commands, tasks) is not held
    back by a steward's claim."""
    return (
        actor is not None
        and candidate.assigned_to_id is not None
        and candidate.assigned_to_id != actor.pk
    )


def _record_assignment(candidate: MatchCandidate, actor: Actor, reason: str) -> MatchCandidate:
    """A history row, with who and why, for a claim or release that a conditional update
    has just applied (re-read inside the same transaction, so the row is as stored)."""
    fresh = _current(candidate)
    fresh._history_user = actor  # type: ignore[attr-defined]
    fresh._change_reason = reason  # type: ignore[attr-defined]
    fresh.save(update_fields=["assigned_to", "assigned_at"])
    return fresh


def claim_candidate(
    candidate: MatchCandidate, *, actor: Actor, force: bool = False
) -> MatchCandidate:
    """Assign a pending pair to ``actor`` so no other steward works it meanwhile; return
    the pair as it now stands. Claiming your own pair again changes nothing.

    The claim is a conditional update (compare-and-set on the holder seen), so of two
    stewards claiming at once exactly one wins; the other gets ``AlreadyClaimed`` with
    who holds it and since when. ``force`` takes the pair over from its holder.
    """
    if actor is None:
        raise MdmError("Only a steward can claim a pair.")
    seen = _current(candidate)
    if seen.status not in DECIDABLE:
        raise AlreadyDecided(_decided_message(seen))
    if seen.assigned_to_id == actor.pk:
        return seen
    if seen.assigned_to_id is not None and not force:
        raise AlreadyClaimed(claimed_message(seen))
    reason = f"taken over from {person(seen.assigned_to)}" if seen.assigned_to_id else "claimed"
    with transaction.atomic():
        updated = MatchCandidate.objects.filter(
            pk=seen.pk, status__in=DECIDABLE, assigned_to=seen.assigned_to_id
        ).update(assigned_to=actor, assigned_at=timezone.now())
        if updated:
            return _record_assignment(seen, actor, reason)
    # Someone decided or claimed it between our read and our write.
    now = _current(seen)
    if now.status not in DECIDABLE:
        raise AlreadyDecided(_decided_message(now))
    raise AlreadyClaimed(claimed_message(now))


def release_candidate(candidate: MatchCandidate, *, actor: Actor, force: bool = False) -> bool:
    """Give a claimed pair back to the queue. Only its holder releases it unless
    ``force``; returns whether a claim was released (False if there was none)."""
    seen = _current(candidate)
    if seen.assigned_to_id is None:
        return False
    if _held_by_other(seen, actor) and not force:
        raise AlreadyClaimed(claimed_message(seen))
    with transaction.atomic():
        updated = MatchCandidate.objects.filter(pk=seen.pk, assigned_to=seen.assigned_to_id).update(
            assigned_to=None, assigned_at=None
        )
        if updated:
            _record_assignment(seen, actor, "released")
    return bool(updated)


def _lock_open(candidate: MatchCandidate, actor: Actor) -> MatchCandidate:
    locked = (
        MatchCandidate.objects.select_for_update()
        .select_related("golden_a", "golden_b")
        .get(pk=candidate.pk)
    )
    if locked.status not in DECIDABLE:
        raise AlreadyDecided(_decided_message(locked))
    if _held_by_other(locked, actor):
        raise AlreadyClaimed(f"{claimed_message(locked)} Take it over to decide it.")
    # The decision releases the claim; it is saved (with history) with the decision.
    locked.assigned_to = None
    locked.assigned_at = None
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
    candidate = _lock_open(candidate, actor)
    pair = [candidate.golden_a, candidate.golden_b]
    survivor = survivor or min(pair, key=lambda g: g.pk)
    if survivor.pk not in {g.pk for g in pair}:
        raise MergeConflict("The survivor must be one of the pair.")
    other = next(g for g in pair if g.pk != survivor.pk)
    # Released before the merge, which closes the pair with a history row of its own.
    MatchCandidate.objects.filter(pk=candidate.pk).update(assigned_to=None, assigned_at=None)
    return merge_golden_records(survivor=survivor, merged=[other], actor=actor, reason=reason)


@transaction.atomic
def merge_candidate_with_picks(
    candidate: MatchCandidate,
    *,
    actor: Actor,
    survivor: GoldenRecord | None = None,
    picks: dict[str, Any],
    reason: str = "",
) -> MergeEvent:
    """Merge the pair, then pin the value the steward picked for each attribute in
    ``picks`` on the survivor (lineage ``steward_pin``), all or nothing. Undoing the merge
    restores the survivor's pins from before it, so the picks go with it."""
    event = merge_candidate(candidate, actor=actor, survivor=survivor, reason=reason)
    for attribute, value in picks.items():
        pin_attribute(event.survivor, attribute, value, actor=actor)
    return event


@transaction.atomic
def mark_not_a_match(candidate: MatchCandidate, *, actor: Actor, reason: str = "") -> None:
    """Remembered: the pair is not proposed again unless one of its records changes materially."""
    _close(_lock_open(candidate, actor), MatchCandidate.Status.NOT_A_MATCH, actor, reason)


@transaction.atomic
def defer_candidate(candidate: MatchCandidate, *, actor: Actor, comment: str = "") -> None:
    """Put the pair aside with a comment; it stays in the queue, unclaimed, for anyone."""
    candidate = _lock_open(candidate, actor)
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
