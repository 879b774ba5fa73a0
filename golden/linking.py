"""Where a new source record belongs: an existing golden record, a new one, or review.

The matcher scores the record against the golden records its blocking keys reach. One
golden record at auto-link level (with no hard rule against it) is linked; a record at
auto-link level with two golden records, or in the review band, gets a new golden record
and review candidates, so nothing chains silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from golden.matching import GoldenMatch
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


def link_decision(matches: list[GoldenMatch]) -> LinkDecision:
    """The decision for a record's matches (best first, as ``find_matches`` answers)."""
    links = [m for m in matches if m.decision == "link"]
    if len(links) == 1:
        [match] = links
        return LinkDecision(
            match.golden,
            reason="; ".join(e["detail"] for e in match.score.evidence if e["weight"] > 0),
            score=match.score.probability,
            evidence=match.score.evidence,
            review=[m for m in matches if m is not match and m.decision == "link"],
        )
    return LinkDecision(None, review=matches[:MAX_REVIEW_CANDIDATES])
