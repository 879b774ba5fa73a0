"""Ingest a CSV or JSON Lines file through the same service as the API.

Streams the file in batches, so 100,000 rows never sit in memory at once; each batch
is one transaction with a savepoint per record.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from golden.entities import ENTITIES, entity_spec
from golden.models import SourceSystem
from golden.services import Action, ingest_records
from golden.validation import SOURCE_ID_FIELD, UPDATED_AT_FIELD
from mdm.context import correlation_scope


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    """(line number, record) pairs; a JSON Lines line that is not JSON yields its error."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        if fmt == "csv":
            reader = csv.DictReader(fh)
            for row in reader:
                yield reader.line_num, row
        else:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield (
                            number,
                            ValueError(f"Not valid JSON: {exc.msg} at column {exc.colno}."),
                        )


def csv_columns(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


class Command(BaseCommand):
    help = "Ingest source records from a CSV or JSON Lines file (canonical field names as columns)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--entity", required=True, choices=sorted(ENTITIES))
        parser.add_argument("--system", required=True, help="Source system code, e.g. crm")
        parser.add_argument(
            "--format", choices=["csv", "jsonl"], help="Default: from the file extension"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=2000,
            help="Records per transaction: larger batches share more of the reads and writes",
        )
        parser.add_argument(
            "--errors", type=Path, help="Write rejected rows with their errors to this CSV"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        fmt = opts["format"] or (
            "jsonl" if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else "csv"
        )
        spec = entity_spec(opts["entity"])
        system = SourceSystem.objects.filter(code=opts["system"]).first()
        if system is None:
            codes = ", ".join(SourceSystem.objects.values_list("code", flat=True))
            raise CommandError(f"Unknown system {opts['system']!r}; registered: {codes}")
        if fmt == "csv":
            self._check_columns(path, spec.field_names)
        with path.open("rb") as fh:
            total = max(sum(1 for _ in fh) - (1 if fmt == "csv" else 0), 0)

        counts: Counter[str] = Counter()
        rejected: list[tuple[int, str, dict[str, list[str]]]] = []
        rows = read_rows(path, fmt)
        with (
            correlation_scope() as correlation,
            tqdm(total=total, unit="rows", disable=None) as bar,
        ):
            while batch := list(islice(rows, opts["batch_size"])):
                counts.update(self._ingest_batch(spec.entity_type, system, batch, path, rejected))
                bar.update(len(batch))
        self._report(counts, rejected, correlation, opts["errors"])

    def _check_columns(self, path: Path, fields: tuple[str, ...]) -> None:
        columns = csv_columns(path)
        if SOURCE_ID_FIELD not in columns:
            raise CommandError(
                f"{path} has no {SOURCE_ID_FIELD} column; columns: {', '.join(columns)}"
            )
        unknown = [c for c in columns if c not in {SOURCE_ID_FIELD, UPDATED_AT_FIELD, *fields}]
        if unknown:
            self.stderr.write(
                self.style.WARNING(
                    f"Unknown columns, kept in each raw payload but not mapped: {', '.join(unknown)}"
                )
            )

    def _ingest_batch(self, entity_type, system, batch, path, rejected) -> Counter[str]:  # type: ignore[no-untyped-def]
        counts: Counter[str] = Counter()
        good = []
        for line, record in batch:
            if isinstance(record, Exception):
                rejected.append((line, "", {"line": [str(record)]}))
                counts[Action.REJECTED] += 1
            else:
                good.append((line, record))
        results = ingest_records(
            entity_type=entity_type,
            system=system,
            records=[r for _, r in good],
            actor=None,
            reason=f"cli ingest {path.name}",
        )
        for (line, _), result in zip(good, results, strict=True):
            counts[result.action] += 1
            if result.action == Action.REJECTED:
                rejected.append((line, result.source_id, result.errors))
        return counts

    def _report(self, counts, rejected, correlation, errors_path) -> None:  # type: ignore[no-untyped-def]
        summary = ", ".join(f"{action} {counts[action]}" for action in Action.ALL)
        self.stdout.write(f"{sum(counts.values())} rows: {summary} (correlation ID {correlation})")
        for line, source_id, errors in rejected[:20]:
            detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
            self.stdout.write(
                self.style.ERROR(f"  line {line} {source_id or '(no source_id)'}: {detail}")
            )
        if len(rejected) > 20:
            self.stdout.write(f"  … and {len(rejected) - 20} more rejected rows")
        if errors_path and rejected:
            with errors_path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(["line", "source_id", "field", "error"])
                for line, source_id, errors in rejected:
                    for field, msgs in errors.items():
                        writer.writerows([line, source_id, field, msg] for msg in msgs)
            self.stdout.write(f"Rejected rows written to {errors_path}")
