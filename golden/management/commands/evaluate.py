"""Measure the matcher on generated data with ground truth (see golden.matching.evaluate)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from golden.entities import EntityType
from golden.matching.evaluate import (
    evaluate_customers,
    evaluate_legal_entities,
    evaluate_projects,
    evaluate_service_codes,
)


class Command(BaseCommand):
    help = "Evaluate matching on realistic generated data: precision, recall, review load, time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--entity",
            choices=[
                EntityType.CUSTOMER,
                EntityType.LEGAL_ENTITY,
                EntityType.PROJECT,
                EntityType.SERVICE_CODE,
            ],
            default=EntityType.CUSTOMER,
        )
        parser.add_argument(
            "--companies", type=int, default=3000, help="Customers: real companies to generate"
        )
        parser.add_argument(
            "--groups", type=int, default=60, help="Legal entities: firms (groups) to generate"
        )
        parser.add_argument("--projects", type=int, default=5000, help="Projects to generate")
        parser.add_argument(
            "--practices",
            type=int,
            default=13,
            help="Service codes: the firm's catalogue plus practice rate cards (1 to 13)",
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        entity, seed, workers = opts["entity"], opts["seed"], opts["workers"]
        if entity == EntityType.CUSTOMER:
            figures = evaluate_customers(opts["companies"], seed=seed, workers=workers)
            source = f"{figures['companies']:,} companies"
        elif entity == EntityType.LEGAL_ENTITY:
            figures = evaluate_legal_entities(opts["groups"], seed=seed, workers=workers)
            source = f"{figures['groups']:,} groups of legal entities"
        elif entity == EntityType.PROJECT:
            figures = evaluate_projects(opts["projects"], seed=seed, workers=workers)
            source = f"{figures['projects']:,} projects of {figures['companies']:,} customers"
        else:
            figures = evaluate_service_codes(opts["practices"], seed=seed, workers=workers)
            source = f"{figures['practices']} practices' service codes"
        if opts["json"]:
            self.stdout.write(json.dumps(figures, indent=2))
            return
        pairwise, cubed = figures["pairwise"], figures["bcubed"]
        lines = [
            f"{figures['records']:,} records of {source}; "
            f"{figures['candidate_pairs']:,} candidate pairs; {figures['true_pairs']:,} true pairs, "
            f"{figures['pair_completeness']:.2%} of them blocked together",
            f"auto-merge  precision {pairwise['precision']:.4f}  recall {pairwise['recall']:.4f}  F1 {pairwise['f1']:.4f}",
            f"B-cubed     precision {cubed['precision']:.4f}  recall {cubed['recall']:.4f}  F1 {cubed['f1']:.4f}",
            f"review      {figures['review_pairs']:,} golden-record pairs = "
            f"{figures['review_per_1000_records']:.1f} per 1,000 records "
            f"({figures['review_share_true']:.0%} true matches; {figures['review_kinds']}); "
            f"{figures['sole_candidate_links']:,} sole-candidate links",
            f"after review recall {figures['recall_after_review']:.4f}  precision {figures['precision_after_review']:.4f}",
            f"time        {figures['seconds']}  peak RSS {figures['peak_rss_mib']} MiB",
        ]
        for kind, patterns in figures.get("errors", {}).items():
            lines.append(f"{kind.replace('_', ' ')}:")
            lines += [f"  {count:6,}  {pattern}" for pattern, count in patterns.items()]
        self.stdout.write("\n".join(lines))
