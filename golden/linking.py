"""Where a new source record belongs: an existing golden record, a new one, or review.

The matcher scores the record against the golden records its blocking keys reach. One
golden record at auto-link level (with no hard rule against it) is linked, and so is a
sole, corroborated candidate in the review band; a record at auto-link level with two
golden records, or otherwise in the review band, gets a new golden record and review
candidates, so nothing chains silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from golden.matching import GoldenMatch
from golden.matching.scoring import MatchModel, links_as_sole_candidate
from golden.models import GoldenRecord


@dataclass
class LinkDecision:
    """``golden`` is the record to link to, or None for a new golden record; ``review``
    lists golden records the new one must be reviewed against, with the evidence."""

    golden: GoldenRecord | None
    reason: str = ""
    score: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    review: list[GoldenMatch] = field(default_factory=list)


# A new record is put to review against its closest few golden records, not every
# look-alike: a steward compares pairs, and the best ones carry the decision.
MAX_REVIEW_CANDIDATES = 3


def link_decision(matches: list[GoldenMatch], model: MatchModel) -> LinkDecision:
    """The decision for a record's matches (best first, as ``find_matches`` answers).

    One match at auto-link level links. Below it, a record whose only candidate is in the
    review band links too when ``links_as_sole_candidate`` allows it (the relative rule
    batch matching applies to pairs of clusters)."""
    links = [m for m in matches if m.decision == "link"]
    if len(links) == 1:
        [match] = links
        return _link(match, "")
    if len(matches) == 1 and matches[0].decision == "review":
        [match] = matches
        levels = {e["field"]: e["level"] for e in match.score.evidence}
        if links_as_sole_candidate(model, match.score.probability, levels):
            return _link(match, "the only candidate, corroborated: ")
    return LinkDecision(None, review=matches[:MAX_REVIEW_CANDIDATES])


def _link(match: GoldenMatch, prefix: str) -> LinkDecision:
    return LinkDecision(
        match.golden,
        reason=prefix + "; ".join(e["detail"] for e in match.score.evidence if e["weight"] > 0),
        score=match.score.probability,
        evidence=match.score.evidence,
    )
