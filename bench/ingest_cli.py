"""Ingest N customer rows (default 100,000) through `manage.py ingest`, system by system,
as an operator would: time, rows per second and peak memory of each run.

The rows come from golden.synthetic (realistic multi-system data with duplicates)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section  # noqa: E402
from golden import synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed_ingest(path: Path, system: str) -> tuple[float, int, str]:
    start = time.perf_counter()
    result = subprocess.run(
        [
            "/usr/bin/time",
            "-v",
            sys.executable,
            "manage.py",
            "ingest",
            "--entity",
            "customer",
            "--system",
            system,
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    peak_kib = int(
        re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1)
    )
    summary = next(line for line in result.stdout.splitlines() if " rows: " in line)
    return elapsed, peak_kib, summary.split(" (correlation")[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    records = list(islice(synthetic.generate_customers(args.rows, seed=11), args.rows))
    rows = []
    total_time = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for system in ("erp", "crm", "psa"):
            batch = [r for r in records if r.system == system]
            path = Path(tmp) / f"{system}.csv"
            synthetic.write_csv(batch, path, synthetic.CUSTOMER_FIELDS)
            elapsed, peak_kib, summary = timed_ingest(path, system)
            total_time += elapsed
            rows.append(
                f"| {system} | {len(batch):,} | {elapsed:.1f} s | {len(batch) / elapsed:,.0f} | "
                f"{peak_kib / 1024:,.0f} MiB | {summary} |"
            )
            print(rows[-1], flush=True)
    body = (
        f"`bench/run.sh ingest_cli --rows {args.rows}`: {args.rows:,} customer rows from three systems, "
        "loaded with `manage.py ingest` one file per system (ERP first) into an empty PostgreSQL, "
        "in its default batches of 2,000 rows.\n\n"
        "| system | rows | wall time | rows/s | peak RSS | outcome |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nTotal: {args.rows:,} rows in {total_time:.0f} s ({args.rows / total_time:,.0f} rows/s)."
    )
    write_section("ingest_cli", "CLI ingestion of customer rows", body)


if __name__ == "__main__":
    main()
