"""Recompute golden records with the current survivorship rules; --dry-run previews
how many golden records and which fields a rule change would alter."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from golden.entities import ENTITIES
from golden.models import GoldenRecord
from golden.services import compute_attributes, recompute_golden_record
from golden.services.records import survivorship_rules
from golden.survivorship import diff_attributes
from mdm.context import correlation_scope


class Command(BaseCommand):
    help = "Recompute golden records from their source records with the current rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity", required=True, choices=sorted(ENTITIES))
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing"
        )
        parser.add_argument("--examples", type=int, default=5, help="Changed records to show")

    def handle(self, *args: Any, **opts: Any) -> None:
        rules = survivorship_rules(opts["entity"])
        goldens = GoldenRecord.objects.filter(
            entity_type=opts["entity"], status=GoldenRecord.Status.ACTIVE
        )
        fields: Counter[str] = Counter()
        changed = 0
        examples: list[str] = []
        with correlation_scope(), tqdm(total=goldens.count(), unit="records", disable=None) as bar:
            for golden in goldens.iterator(chunk_size=500):
                attributes, _ = compute_attributes(golden, rules)
                diff = diff_attributes(golden.attributes, attributes)
                if diff:
                    changed += 1
                    fields.update(diff.keys())
                    if len(examples) < opts["examples"]:
                        examples.append(
                            f"  {golden.canonical_id}: "
                            + "; ".join(f"{f} {old!r} → {new!r}" for f, (old, new) in diff.items())
                        )
                    if not opts["dry_run"]:
                        recompute_golden_record(
                            golden, actor=None, reason="recompute with current rules"
                        )
                bar.update(1)
        verb = "would change" if opts["dry_run"] else "changed"
        summary = ", ".join(f"{f} {n}" for f, n in fields.most_common()) or "nothing"
        self.stdout.write(f"{changed} golden records {verb}; fields: {summary}")
        self.stdout.write("\n".join(examples))
