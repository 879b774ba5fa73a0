"""Estimate match weights from the data itself (EM over candidate pairs) and from steward
decisions (merged = match, not-a-match = non-match), and store them as MatchSettings."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from golden.matching import forget_match_settings, model_for, record_features
from golden.matching.blocking import blocking_keys, candidate_pairs
from golden.matching.comparators import MISSING
from golden.matching.estimate import (
    combine,
    default_fields_levels,
    estimate_em,
    estimate_from_labels,
    iter_level_vectors,
    to_model,
)
from golden.matching.frequency import annotate_all
from golden.matching.scoring import MatchModel
from golden.models import (
    GoldenRecord,
    MatchCandidate,
    MatchSettings,
    SourceRecord,
    SourceSystem,
)
from golden.services.common import Actor, save_with_history


@dataclass
class WeightEstimate:
    model: MatchModel
    pairs: int
    labelled: int
    match_proportion: float
    iterations: int
    converged: bool


def _labelled_vectors(
    entity_type: str, fields: dict[str, list[str]]
) -> tuple[list[dict[str, str]], list[bool]]:
    """Steward decisions as level vectors: the evidence stored on each decided candidate."""
    decided = MatchCandidate.objects.filter(
        entity_type=entity_type,
        status__in=[MatchCandidate.Status.MERGED, MatchCandidate.Status.NOT_A_MATCH],
    ).exclude(evidence=[])
    vectors, labels = [], []
    for candidate in decided:
        levels = {e["field"]: e["level"] for e in candidate.evidence if e.get("field") in fields}
        vectors.append({name: levels.get(name, MISSING) for name in fields})
        labels.append(candidate.status == MatchCandidate.Status.MERGED)
    return vectors, labels


def estimate_weights(
    entity_type: str, *, max_pairs: int = 2_000_000, label_weight: float = 5.0, seed: int = 1
) -> WeightEstimate:
    records = SourceRecord.objects.filter(
        entity_type=entity_type, golden__status=GoldenRecord.Status.ACTIVE
    ).select_related("golden")
    codes = dict(SourceSystem.objects.values_list("id", "code"))
    stored = list(records.iterator(chunk_size=2000))
    features = annotate_all(
        [record_features(r) for r in stored], [codes[r.system_id] for r in stored]
    )
    pairs = sorted(candidate_pairs({i: blocking_keys(f) for i, f in enumerate(features)}))
    if len(pairs) > max_pairs:
        pairs = random.Random(seed).sample(pairs, max_pairs)
    fields = default_fields_levels(entity_type)
    current = model_for(entity_type)
    em = estimate_em(
        iter_level_vectors(entity_type, features, pairs),
        fields,
        initial=current.mu,
        prior=min(max(2**current.prior / (1 + 2**current.prior), 1e-6), 0.5),
    )
    vectors, labels = _labelled_vectors(entity_type, fields)
    mu: Any = em.mu
    if vectors and any(labels) and not all(labels):
        mu = combine(em, estimate_from_labels(vectors, labels, fields), label_weight=label_weight)
    model = to_model(entity_type, mu, em.match_proportion, thresholds=current.thresholds)
    return WeightEstimate(
        model, len(pairs), len(vectors), em.match_proportion, em.iterations, em.converged
    )


def save_weights(estimate: WeightEstimate, *, actor: Actor) -> MatchSettings:
    row, _ = MatchSettings.objects.get_or_create(entity_type=estimate.model.entity_type)
    row.mu = {
        name: {level: list(mu) for level, mu in levels.items()}
        for name, levels in estimate.model.mu.items()
    }
    row.prior = estimate.model.prior
    row.source = f"EM on {estimate.pairs:,} pairs" + (
        f" + {estimate.labelled:,} steward decisions" if estimate.labelled else ""
    )
    save_with_history(row, actor, "estimated weights")
    forget_match_settings()
    return row
