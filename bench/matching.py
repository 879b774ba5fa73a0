"""Batch matching quality and speed on generated multi-system data with hard negatives.

Customers: `bench/run.sh matching --records 100000 [--records 1000000]` (section `matching`).
The other types, each with its own table in section `matching_entities`:
`bench/run.sh matching --entity legal_entity --entity project --entity service_code`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mdm.settings")

import django  # noqa: E402

django.setup()

from bench.report import write_section  # noqa: E402
from golden.entities import EntityType  # noqa: E402
from golden.matching.evaluate import (  # noqa: E402
    evaluate_customers,
    evaluate_legal_entities,
    evaluate_projects,
    evaluate_service_codes,
)

# The generator emits about 2.29 records per company.
RECORDS_PER_COMPANY = 2.29


def row(fig: dict) -> str:
    s = fig["seconds"]
    return (
        f"| {fig['records']:,} | {fig['candidate_pairs']:,} | {fig['pair_completeness']:.4f} | "
        f"{fig['auto_merge_precision']:.4f} | {fig['auto_recall']:.4f} | {fig['bcubed']['f1']:.4f} | "
        f"{fig['sole_candidate_links']:,} | {fig['review_per_1000_records']:.1f} | "
        f"{fig['review_share_true']:.0%} | {fig['recall_after_review']:.4f} | {s['prepare']:.0f} s | "
        f"{s['name_counts']:.0f} s | {s['blocking']:.0f} s | {s['scoring']:.0f} s | {s['clustering']:.0f} s | {s['match_total']:.0f} s | "
        f"{fig['peak_rss_mib']:,} MiB |"
    )


ENTITY_HEADER = (
    "| records | candidate pairs | pair completeness | auto-merge precision | auto recall | "
    "B-cubed P / R / F1 | review / 1,000 | review true | sole-candidate links | "
    "recall after review | match total |\n|" + "---|" * 11
)

ENTITY_NOTES = {
    EntityType.LEGAL_ENTITY: (
        "Legal entities",
        "the firm's own 9 contracting entities plus those of {other_groups:,} other firms "
        "(`generate_legal_entities(groups=…)`): every entity in the ERP with its register "
        "and tax IDs, ~75 % also in the PSA under a hand-typed name (country name, brand "
        "abbreviation, upper case) with IDs, address and postal code each often missing. "
        "Hard negatives: each group's entities share the brand, and half the groups have a "
        "sister entity in the home country, often in the same office with the same legal "
        "form, told apart only by their IDs.",
    ),
    EntityType.PROJECT: (
        "Projects",
        "{projects:,} projects of {companies:,} generated customers in CRM (opportunity: "
        "name `Customer - Type`, expected start off by up to three weeks in 30 %, dates "
        "often missing), PSA (`Customer Abbrev Year`, the opportunity reference in 70 %) "
        "and ERP (`Type - Customer`, the reference in 40 %); each system its own code "
        "scheme. The customer (`parent`) is the customer's true entity, as ingestion "
        "resolves the reference when customers are matched right. Hard negatives: 15 % "
        "of projects are a follow-on of the previous one (same customer and kind of "
        "work, later dates, a new opportunity), and a customer's other projects are often "
        "the same kind of work.",
    ),
    EntityType.SERVICE_CODE: (
        "Service codes",
        "the firm's catalogue plus the hourly rate cards of {other_practices} practices "
        "(`generate_service_codes(practices=…)`): ERP items (`ITEM-0042`, the unit in "
        "the name) and PSA codes (`SR-CONS`, `CYB-SR-CONS`), PSA names abbreviated, "
        "reordered or mistyped, 15 % of PSA codes without a category. Hard negatives: one "
        "role in every practice's rate card, and the same name in two categories.",
    ),
}


def entity_table(entity: str, fig: dict) -> str:
    title, note = ENTITY_NOTES[entity]
    cubed = fig["bcubed"]
    text = note.format(
        **fig,
        other_groups=fig.get("groups", 1) - 1,
        other_practices=fig.get("practices", 1) - 1,
    )
    row_text = (
        f"| {fig['records']:,} | {fig['candidate_pairs']:,} | {fig['pair_completeness']:.4f} | "
        f"{fig['auto_merge_precision']:.4f} | {fig['auto_recall']:.4f} | "
        f"{cubed['precision']:.4f} / {cubed['recall']:.4f} / {cubed['f1']:.4f} | "
        f"{fig['review_per_1000_records']:.1f} ({fig['review_pairs']:,} pairs) | "
        f"{fig['review_share_true']:.0%} | {fig['sole_candidate_links']:,} | "
        f"{fig['recall_after_review']:.4f} | {fig['seconds']['match_total']:.2f} s |"
    )
    errors = fig["errors"]
    lines = [
        f"### {title}",
        "",
        text[0].upper() + text[1:],
        "",
        ENTITY_HEADER,
        row_text,
        "",
        f"Review pairs by kind: {fig['review_kinds']}. Commonest patterns of comparison "
        "levels (fields without a value left out):",
        "",
    ]
    for kind in ("false_links", "missed_pairs", "review_pairs"):
        patterns = errors[kind]
        shown = "; ".join(f"`{p}` {n:,}" for p, n in list(patterns.items())[:4]) or "none"
        lines.append(f"- {kind.replace('_', ' ')} (after auto-linking): {shown}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--entity",
        action="append",
        choices=[
            EntityType.CUSTOMER,
            EntityType.LEGAL_ENTITY,
            EntityType.PROJECT,
            EntityType.SERVICE_CODE,
        ],
        help="Entity types (repeatable; default customer)",
    )
    parser.add_argument(
        "--records", type=int, action="append", help="Customers: approximate records (repeatable)"
    )
    parser.add_argument("--groups", type=int, default=200, help="Legal entities: firms")
    parser.add_argument("--projects", type=int, default=20_000, help="Projects")
    parser.add_argument(
        "--practices", type=int, default=13, help="Service codes: catalogue + rate cards (1-13)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    entities = args.entity or [EntityType.CUSTOMER]
    if EntityType.CUSTOMER in entities:
        customers(args)
    tables = []
    for entity in entities:
        if entity == EntityType.LEGAL_ENTITY:
            figures = evaluate_legal_entities(args.groups, seed=args.seed, workers=args.workers)
        elif entity == EntityType.PROJECT:
            figures = evaluate_projects(args.projects, seed=args.seed, workers=args.workers)
        elif entity == EntityType.SERVICE_CODE:
            figures = evaluate_service_codes(args.practices, seed=args.seed, workers=args.workers)
        else:
            continue
        print(json.dumps(figures), flush=True)
        tables.append(entity_table(entity, figures))
    if tables:
        body = (
            "Generated records with ground truth (`golden.synthetic`), cleaned by the ingestion "
            f"validator, then blocked, scored on {args.workers} processes and clustered by "
            "`golden.matching.batch` with the shipped default weights, as for customers above. "
            "Auto-merge figures are pairwise over the clusters; review pairs are golden-record "
            "pairs after clustering; recall after review assumes stewards decide each review "
            "pair correctly. Measured on this 2-core machine while other work ran on it, so "
            "times are upper bounds. `python manage.py evaluate --entity <type>` prints the "
            "same figures.\n\n" + "\n\n".join(tables)
        )
        write_section(
            "matching_entities",
            "Batch matching of legal entities, projects and service codes",
            body,
        )


def customers(args: argparse.Namespace) -> None:
    rows = []
    for records in args.records or [100_000]:
        figures = evaluate_customers(
            round(records / RECORDS_PER_COMPANY), seed=args.seed, workers=args.workers
        )
        print(json.dumps(figures), flush=True)
        rows.append(row(figures))
    body = (
        "Customers from `golden.synthetic` (CRM/PSA/ERP variants, typos, missing IDs, intra-system "
        "duplicates, ~13 % of companies in hard-negative families: sister companies across countries, "
        "brand collisions, generic names, other legal forms), cleaned by the ingestion validator, then "
        f"blocked, scored on {args.workers} processes and clustered by `golden.matching.batch` with the "
        "shipped default weights, the name levels set by how common each name is "
        "(`golden.matching.frequency`: per system, the records whose names begin alike, everywhere, "
        "in the country and in the city, counted over all the records). Pair completeness = the "
        "share of true pairs that blocking brings together. Blocking includes dropping the pairs "
        "that cannot reach the review band (an upper bound from equality facts and the names' first "
        "words; about 15 % of candidate pairs are compared). Auto-merge figures "
        "are pairwise over the clusters, sole-candidate links included (review-band pairs of two "
        "clusters that are each other's only candidate, corroborated by a field beyond name, country "
        "and legal form). Review pairs are golden-record pairs after clustering, as stewards see "
        "them; recall after review assumes stewards decide each correctly. Prepare = generating and "
        "validating the records, not part of matching; match total includes counting the names. Peak RSS is the whole process, generated "
        "records included. Measured on this 2-core machine while other work ran on it.\n\n"
        "| records | candidate pairs | pair completeness | auto-merge precision | auto recall | "
        "B-cubed F1 | sole-candidate links | review / 1,000 | review true | recall after review | "
        "prepare | name counts | blocking | scoring | clustering | match total | peak RSS |\n|"
        + "---|" * 17
        + "\n"
        + "\n".join(rows)
    )
    write_section("matching", "Batch matching of customers", body)


if __name__ == "__main__":
    main()
