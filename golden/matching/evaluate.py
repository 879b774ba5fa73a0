"""Evaluate the matcher on generated multi-system company data with ground truth.

Records go through the same validation as ingestion (so countries, phones and tax IDs
are cleaned as in production), then through batch matching; the figures compare the
clustering and the review queue with the truth.
"""

from __future__ import annotations

import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import combinations
from typing import Any, NamedTuple

from golden import synthetic
from golden.entities import EntityType, entity_spec
from golden.matching.batch import BatchResult, match_batch
from golden.matching.blocking import MAX_BLOCK_SIZE, blocking_keys
from golden.matching.comparators import MISSING, compare
from golden.matching.evaluation import bcubed, clusters_to_pairs, pairwise_metrics, review_report
from golden.matching.features import Features, features_of
from golden.matching.frequency import annotate_all
from golden.matching.scoring import default_model
from golden.validation import RecordInvalid, clean_record


def blocked_share(features: list[Features], truth: set[tuple[int, int]]) -> float:
    """Pair completeness of blocking: the share of true pairs that share a key whose
    block batch matching keeps (not oversized)."""
    keys = [blocking_keys(f) for f in features]
    sizes = Counter(key for record_keys in keys for key in record_keys)
    kept = sum(
        1 for i, j in truth if any(sizes[key] <= MAX_BLOCK_SIZE for key in keys[i] & keys[j])
    )
    return kept / len(truth) if truth else 1.0


def golden_pairs(
    pairs: list[tuple[int, int, float]], labels: list[int]
) -> list[tuple[int, int, float]]:
    """The strongest record pair of each pair of clusters."""
    best: dict[tuple[int, int], tuple[int, int, float]] = {}
    for i, j, weight in sorted(pairs, key=lambda row: (-row[2], row[0], row[1])):
        best.setdefault((min(labels[i], labels[j]), max(labels[i], labels[j])), (i, j, weight))
    return list(best.values())


def evaluate_customers(companies: int, *, seed: int = 7, workers: int = 2) -> dict[str, Any]:
    started = time.perf_counter()
    prepared = _prepare(EntityType.CUSTOMER, synthetic.generate_customers(companies, seed=seed))
    return {"companies": companies, **_figures(EntityType.CUSTOMER, prepared, started, workers)}


def evaluate_legal_entities(groups: int = 1, *, seed: int = 7, workers: int = 2) -> dict[str, Any]:
    """The contracting entities of ``groups`` firms (the first is the firm itself)."""
    started = time.perf_counter()
    records = synthetic.generate_legal_entities(seed=seed, groups=groups)
    prepared = _prepare(EntityType.LEGAL_ENTITY, records)
    figures = _figures(EntityType.LEGAL_ENTITY, prepared, started, workers, errors=True)
    return {"groups": groups, **figures}


def evaluate_service_codes(
    practices: int = 1, *, seed: int = 7, workers: int = 2
) -> dict[str, Any]:
    """The firm's service catalogue plus the rate cards of ``practices`` - 1 practices."""
    started = time.perf_counter()
    records = synthetic.generate_service_codes(seed=seed, practices=practices)
    prepared = _prepare(EntityType.SERVICE_CODE, records)
    figures = _figures(EntityType.SERVICE_CODE, prepared, started, workers, errors=True)
    return {"practices": practices, **figures}


def evaluate_projects(
    projects: int, *, companies: int | None = None, seed: int = 7, workers: int = 2
) -> dict[str, Any]:
    """Projects of generated customers. Each project refers to its customer's record in its
    own system; ingestion resolves that reference to the customer's golden record, which
    here is the customer's true entity (as if customers were matched perfectly), so
    ``parent`` is the same for the CRM, PSA and ERP records of one customer."""
    started = time.perf_counter()
    companies = companies or max(projects // 3, 10)
    customers = list(synthetic.generate_customers(companies, seed=seed))
    canonical = {}
    for record in customers:
        canonical.setdefault(record.entity_key, f"CUS-{len(canonical) + 1:06d}")
    customer_of = {
        (record.system, record.data["source_id"]): canonical[record.entity_key]
        for record in customers
    }
    records = synthetic.generate_projects(
        customers, synthetic.generate_legal_entities(seed=seed), projects, seed=seed
    )
    prepared = _prepare(
        EntityType.PROJECT,
        records,
        parent_of=lambda record: customer_of.get(
            (record.system, record.data["customer_source_id"]), ""
        ),
    )
    figures = _figures(EntityType.PROJECT, prepared, started, workers, errors=True)
    return {"projects": projects, "companies": companies, **figures}


EVALUATIONS = {
    EntityType.CUSTOMER: evaluate_customers,
    EntityType.LEGAL_ENTITY: evaluate_legal_entities,
    EntityType.PROJECT: evaluate_projects,
    EntityType.SERVICE_CODE: evaluate_service_codes,
}


class _Prepared(NamedTuple):
    features: list[Features]
    systems: list[str]
    truth_labels: list[str]
    families: list[str | None]
    rejected: int
    seconds: float


def _prepare(
    entity_type: str,
    records: Iterable[synthetic.SyntheticRecord],
    parent_of: Callable[[synthetic.SyntheticRecord], str] | None = None,
) -> _Prepared:
    """Records cleaned by the ingestion validator, as features with their truth."""
    started = time.perf_counter()
    spec = entity_spec(entity_type)
    features, truth_labels, families, systems = [], [], [], []
    rejected = 0
    for record in records:
        try:
            cleaned = clean_record(spec, record.data).cleaned
        except RecordInvalid:
            rejected += 1
            continue
        parent = parent_of(record) if parent_of else ""
        features.append(features_of(entity_type, cleaned, parent=parent))
        truth_labels.append(record.entity_key)
        families.append(record.family)
        systems.append(record.system)
    return _Prepared(
        features,
        systems,
        truth_labels,
        families,
        rejected,
        time.perf_counter() - started,
    )


def _figures(
    entity_type: str, prepared: _Prepared, started: float, workers: int, *, errors: bool = False
) -> dict[str, Any]:
    features, truth_labels, families = prepared.features, prepared.truth_labels, prepared.families
    model = default_model(entity_type)
    before_matching = time.perf_counter()
    annotate_all(features, prepared.systems)
    counted = time.perf_counter()
    result = match_batch(features, model, workers=workers)
    matched = time.perf_counter()

    truth = clusters_to_pairs(truth_labels)
    completeness = blocked_share(features, truth)
    # A steward decides golden-record pairs, not record pairs: one candidate per pair of
    # clusters, shown with its strongest record pair (as ingestion and batch matching
    # open them).
    review_pairs = golden_pairs(result.review_pairs, result.labels)
    report = review_report(
        [],
        [(i, j) for i, j, _ in review_pairs],
        truth,
        len(features),
        auto_labels=result.labels,
    )
    auto = pairwise_metrics(clusters_to_pairs(result.labels), truth)
    cubed = bcubed(result.labels, truth_labels)
    family_pairs = Counter(
        "true"
        if truth_labels[i] == truth_labels[j]
        else "hard_negative"
        if families[i] and families[i] == families[j]
        else "other"
        for i, j, _ in review_pairs
    )
    figures = {
        "records": len(features),
        "rejected_by_validation": prepared.rejected,
        "candidate_pairs": result.n_pairs,
        "true_pairs": len(truth),
        "pair_completeness": completeness,
        "max_block_size": MAX_BLOCK_SIZE,
        "pairwise": auto.__dict__,
        "bcubed": cubed.__dict__,
        "auto_merge_precision": report["auto_precision"],
        "auto_recall": report["auto_recall"],
        "review_pairs": report["n_review_pairs"],
        "review_record_pairs": len(result.review_pairs),
        "sole_candidate_links": result.sole_candidate_links,
        "review_per_1000_records": report["review_per_1000"],
        "review_share_true": report["review_precision"],
        "review_kinds": dict(family_pairs),
        "recall_after_review": report["recall_after_review"],
        "precision_after_review": report["precision_after_review"],
        "links_refused_by_conflicts": result.refused_links,
        "seconds": {
            "prepare": round(before_matching - started, 2),
            "name_counts": round(counted - before_matching, 2),
            **{k: round(v, 2) for k, v in result.seconds.items()},
            "match_total": round(matched - before_matching, 2),
        },
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if errors:
        figures["errors"] = error_patterns(
            entity_type, features, truth_labels, result, review_pairs
        )
    return figures


def _pattern(entity_type: str, a: Features, b: Features) -> str:
    levels = compare(entity_type, a, b)
    return " ".join(f"{name}={level}" for name, level in levels.items() if level != MISSING)


def error_patterns(
    entity_type: str,
    features: list[Features],
    truth_labels: list[str],
    result: BatchResult,
    review_pairs: list[tuple[int, int, float]],
    top: int = 8,
) -> dict[str, dict[str, int]]:
    """What the errors look like: the commonest patterns of comparison levels among false
    links (record pairs in one cluster that are two entities), true pairs left apart, and
    review pairs (true ones and false ones)."""
    clusters: dict[int, list[int]] = {}
    for index, label in enumerate(result.labels):
        clusters.setdefault(label, []).append(index)
    false_links = Counter(
        _pattern(entity_type, features[i], features[j])
        for members in clusters.values()
        for i, j in combinations(members, 2)
        if truth_labels[i] != truth_labels[j]
    )
    missed = Counter(
        _pattern(entity_type, features[i], features[j])
        for i, j in clusters_to_pairs(truth_labels)
        if result.labels[i] != result.labels[j]
    )
    review = Counter(
        ("true: " if truth_labels[i] == truth_labels[j] else "false: ")
        + _pattern(entity_type, features[i], features[j])
        for i, j, _ in review_pairs
    )
    return {
        "false_links": dict(false_links.most_common(top)),
        "missed_pairs": dict(missed.most_common(top)),
        "review_pairs": dict(review.most_common(top)),
    }
