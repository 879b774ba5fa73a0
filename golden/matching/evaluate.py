"""Evaluate the matcher on generated multi-system company data with ground truth.

Records go through the same validation as ingestion (so countries, phones and tax IDs
are cleaned as in production), then through batch matching; the figures compare the
clustering and the review queue with the truth.
"""

from __future__ import annotations

import resource
import time
from collections import Counter
from typing import Any

from golden import synthetic
from golden.entities import EntityType, entity_spec
from golden.matching.batch import match_batch
from golden.matching.blocking import MAX_BLOCK_SIZE
from golden.matching.evaluation import bcubed, clusters_to_pairs, pairwise_metrics, review_report
from golden.matching.features import features_of
from golden.matching.scoring import default_model
from golden.validation import RecordInvalid, clean_record


def evaluate_customers(companies: int, *, seed: int = 7, workers: int = 2) -> dict[str, Any]:
    started = time.perf_counter()
    spec = entity_spec(EntityType.CUSTOMER)
    features, truth_labels, families = [], [], []
    rejected = 0
    for record in synthetic.generate_customers(companies, seed=seed):
        try:
            cleaned = clean_record(spec, record.data).cleaned
        except RecordInvalid:
            rejected += 1
            continue
        features.append(features_of(EntityType.CUSTOMER, cleaned))
        truth_labels.append(record.entity_key)
        families.append(record.family)
    prepared = time.perf_counter()
    result = match_batch(features, default_model(EntityType.CUSTOMER), workers=workers)
    matched = time.perf_counter()

    truth = clusters_to_pairs(truth_labels)
    report = review_report(
        [],
        [(i, j) for i, j, _ in result.review_pairs],
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
        for i, j, _ in result.review_pairs
    )
    return {
        "companies": companies,
        "records": len(features),
        "rejected_by_validation": rejected,
        "candidate_pairs": result.n_pairs,
        "true_pairs": len(truth),
        "max_block_size": MAX_BLOCK_SIZE,
        "pairwise": auto.__dict__,
        "bcubed": cubed.__dict__,
        "auto_merge_precision": report["auto_precision"],
        "auto_recall": report["auto_recall"],
        "review_pairs": report["n_review_pairs"],
        "review_per_1000_records": report["review_per_1000"],
        "review_share_true": report["review_precision"],
        "review_kinds": dict(family_pairs),
        "recall_after_review": report["recall_after_review"],
        "precision_after_review": report["precision_after_review"],
        "links_refused_by_conflicts": result.refused_links,
        "seconds": {
            "prepare": round(prepared - started, 2),
            **{k: round(v, 2) for k, v in result.seconds.items()},
            "match_total": round(matched - prepared, 2),
        },
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
