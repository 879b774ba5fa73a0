"""Incremental matching through the real ingestion path, then what a batch --rebuild
would change: `bench/run.sh incremental --companies 3000`.

Records of generated companies (ground truth known) are ingested system by system
through `ingest_records`, as integrations would send them; the resulting clustering is
scored against the truth, then `run_batch_matching(rebuild=True, dry_run=True)` reports
how many links the batch matcher would change, and why.

`--base-companies N` first loads N other generated companies (same generator, so the
measured records meet look-alikes and their blocks are full-sized) through the same
`ingest_records` call in larger batches (`--base-batch`), and times only the records
ingested on top of them; the rebuild is skipped there (it would re-cluster the whole
base)."""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mdm.settings")

import django  # noqa: E402

django.setup()

from bench.ingest_cli import timed_ingest as cli_timed_ingest  # noqa: E402
from bench.report import write_section  # noqa: E402
from golden import synthetic  # noqa: E402
from golden.matching.evaluation import clusters_to_pairs, review_report  # noqa: E402
from golden.models import MatchCandidate, SourceRecord  # noqa: E402
from golden.services import ingest_by_system  # noqa: E402
from golden.services.batch import run_batch_matching  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--base-companies", type=int, default=0)
    parser.add_argument("--base-batch", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="records per measured batch")
    parser.add_argument(
        "--cli",
        action="store_true",
        help="ingest the measured records with `manage.py ingest` (one CSV file per system, "
        "its default batch size), process start-up included",
    )
    parser.add_argument("--base-only", action="store_true", help="load the base and stop")
    parser.add_argument(
        "--base-loaded", action="store_true", help="the base is in the database already"
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="print this many functions by cumulative time"
    )
    args = parser.parse_args()
    every = list(synthetic.generate_customers(args.base_companies + args.companies, seed=args.seed))
    companies = list(dict.fromkeys(r.entity_key for r in every))
    measured = set(companies[args.base_companies :])
    records = [r for r in every if r.entity_key in measured]
    truth_of = {(r.system, r.data["source_id"]): r.entity_key for r in records}
    base = [r for r in every if r.entity_key not in measured]
    base_seconds = 0.0 if args.base_loaded else timed_ingest(base, args.base_batch)
    base_count = SourceRecord.objects.count()
    if args.base_only:
        print(
            f"base: {base_count:,} records in {base_seconds:.0f} s "
            f"({base_count / base_seconds:,.0f} records/s)"
        )
        return
    if args.base_loaded and base_count != len(base):
        sys.exit(f"the database holds {base_count:,} records, the base {len(base):,}")
    # The generated base is not what an ingesting process holds: dropped before timing,
    # or every garbage collection would walk a million records it never reads.
    del every, companies, base
    gc.collect()
    if args.profile:
        profiler = cProfile.Profile()
        elapsed = profiler.runcall(timed_ingest, records, args.batch)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    elif args.cli:
        elapsed = cli_ingest(records)
    else:
        elapsed = timed_ingest(records, args.batch)

    if args.base_companies:
        loaded = (
            "in an earlier run (`--base-only`, then `--base-loaded` on a copy of its database)"
            if args.base_loaded
            else f"({base_seconds:.0f} s, {base_count / base_seconds:,.0f} records/s, matching included)"
        )
        how = (
            "`manage.py ingest` (one CSV file per system, ERP, then CRM, then PSA, in its default "
            "batches, three process start-ups included)"
            if args.cli
            else f"`ingest_records` (ERP, then CRM, then PSA, batches of {args.batch:,})"
        )
        body = (
            f"`bench/run.sh incremental --companies {args.companies} --base-companies "
            f"{args.base_companies}{' --cli' if args.cli else ''}`: {base_count:,} customer records of "
            f"{args.base_companies:,} generated companies loaded first through `ingest_records` in batches "
            f"of {args.base_batch:,} {loaded}, then {len(records):,} records of {args.companies:,} more "
            f"companies ingested on top through {how}: "
            f"**{len(records) / elapsed:,.0f} records/s** ({elapsed:.0f} s, matching included)."
        )
        print(body)
        # Its own section: a run on an empty base does not overwrite it.
        write_section(
            f"incremental-base-{base_count // 1000}k", "Incremental matching on a loaded base", body
        )
        return

    stored = list(
        SourceRecord.objects.filter(entity_type="customer").select_related("system", "golden")
    )
    index = {r.pk: i for i, r in enumerate(stored)}
    truth_labels = [truth_of[(r.system.code, r.source_id)] for r in stored]
    golden_labels = [r.golden_id for r in stored]
    first_record = {}
    for r in stored:
        first_record.setdefault(r.golden_id, r.pk)
    reviews = []
    for a, b in MatchCandidate.objects.filter(status="open").values_list(
        "golden_a_id", "golden_b_id"
    ):
        if a in first_record and b in first_record:
            reviews.append((index[first_record[a]], index[first_record[b]]))
    report = review_report(
        [], reviews, clusters_to_pairs(truth_labels), len(stored), auto_labels=golden_labels
    )

    rebuild = run_batch_matching("customer", actor=None, rebuild=True, dry_run=True)
    merged_records = sum(len(group) for group in rebuild.merges)
    body = (
        f"`bench/run.sh incremental --companies {args.companies}`: {len(stored):,} customer records of "
        f"{args.companies:,} generated companies ingested through `ingest_records` (ERP, then CRM, then PSA, "
        f"batches of {args.batch:,}) into an empty PostgreSQL: **{len(stored) / elapsed:,.0f} records/s** "
        f"({elapsed:.0f} s, matching included).\n\n"
        "| | auto-link precision | auto recall | review / 1,000 | recall after review |\n|---|---|---|---|---|\n"
        f"| incremental | {report['auto_precision']:.4f} | {report['auto_recall']:.4f} | "
        f"{report['review_per_1000']:.1f} | {report['recall_after_review']:.4f} |\n\n"
        f"A batch `match --rebuild` afterwards would merge {len(rebuild.merges)} groups of golden records "
        f"({merged_records} golden records), propose {rebuild.split_proposals} unmerges and open "
        f"{rebuild.review_candidates} more review pairs: {rebuild.links_changed} links change. Why they differ: "
        "incremental matching sees each record once, against what was there when it arrived — a PSA record "
        "with only a name can arrive before the ERP record that ties it to its CRM twin, and an auto-link is "
        "refused when the record matches two golden records; the batch sees all records at once and clusters "
        "by descending evidence."
    )
    print(body)
    write_section("incremental", "Incremental matching, and what a rebuild changes", body)


def timed_ingest(records: list, batch_size: int) -> float:
    """Ingest as integrations send them, ERP then CRM then PSA; seconds taken."""
    started = time.perf_counter()
    ingest_by_system(records, batch_size=batch_size)
    return time.perf_counter() - started


def cli_ingest(records: list) -> float:
    """Ingest as an operator would, one file per system with `manage.py ingest`; seconds
    taken."""
    elapsed = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for system in ("erp", "crm", "psa"):
            path = Path(tmp) / f"{system}.csv"
            synthetic.write_csv(
                [r for r in records if r.system == system], path, synthetic.CUSTOMER_FIELDS
            )
            elapsed += cli_timed_ingest(path, system)[0]
    return elapsed


if __name__ == "__main__":
    main()
