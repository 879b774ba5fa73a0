"""Estimate match weights (m/u) from the data (EM) and from steward decisions."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from golden.entities import ENTITIES
from golden.matching import model_for
from golden.services.weights import estimate_weights, save_weights


class Command(BaseCommand):
    help = "Estimate Fellegi-Sunter weights from candidate pairs and steward decisions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity", required=True, choices=sorted(ENTITIES))
        parser.add_argument("--max-pairs", type=int, default=2_000_000)
        parser.add_argument(
            "--label-weight", type=float, default=5.0, help="EM pairs one decision is worth"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the weights; store nothing"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        before = model_for(opts["entity"])
        estimate = estimate_weights(
            opts["entity"], max_pairs=opts["max_pairs"], label_weight=opts["label_weight"]
        )
        self.stdout.write(
            f"{estimate.pairs:,} candidate pairs, {estimate.labelled:,} steward decisions; "
            f"estimated match share {estimate.match_proportion:.4f} "
            f"({estimate.iterations} iterations, {'converged' if estimate.converged else 'not converged'})"
        )
        self.stdout.write(f"{'field':12} {'level':18} {'weight now':>10} {'estimated':>10}")
        for name, levels in estimate.model.mu.items():
            for level in levels:
                self.stdout.write(
                    f"{name:12} {level:18} {before.weight(name, level):10.2f} {estimate.model.weight(name, level):10.2f}"
                )
        if not opts["dry_run"]:
            save_weights(estimate, actor=None)
            self.stdout.write("Stored as the entity type's match settings (admin: Match settings).")
