"""Measure the matcher on generated data with ground truth (see golden.matching.evaluate)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from golden.matching.evaluate import evaluate_customers


class Command(BaseCommand):
    help = "Evaluate customer matching on realistic generated data: precision, recall, review load, time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--companies", type=int, default=3000, help="Real companies to generate"
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        figures = evaluate_customers(opts["companies"], seed=opts["seed"], workers=opts["workers"])
        if opts["json"]:
            self.stdout.write(json.dumps(figures, indent=2))
            return
        pairwise, cubed = figures["pairwise"], figures["bcubed"]
        lines = [
            f"{figures['records']:,} records of {figures['companies']:,} companies; "
            f"{figures['candidate_pairs']:,} candidate pairs; {figures['true_pairs']:,} true pairs",
            f"auto-merge  precision {pairwise['precision']:.4f}  recall {pairwise['recall']:.4f}  F1 {pairwise['f1']:.4f}",
            f"B-cubed     precision {cubed['precision']:.4f}  recall {cubed['recall']:.4f}  F1 {cubed['f1']:.4f}",
            f"review      {figures['review_pairs']:,} pairs = {figures['review_per_1000_records']:.1f} per 1,000 records "
            f"({figures['review_share_true']:.0%} true matches; {figures['review_kinds']})",
            f"after review recall {figures['recall_after_review']:.4f}  precision {figures['precision_after_review']:.4f}",
            f"time        {figures['seconds']}  peak RSS {figures['peak_rss_mib']} MiB",
        ]
        self.stdout.write("\n".join(lines))
