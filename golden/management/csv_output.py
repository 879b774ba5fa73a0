"""CSV output shared by the export commands: a path, or - for standard output."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def write_csv(target: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write header and rows; returns the number of rows."""
    out = sys.stdout if target == "-" else Path(target).open("w", newline="", encoding="utf-8")
    count = 0
    try:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    return count
