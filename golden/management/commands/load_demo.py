"""Load realistic demo data: a few hundred companies across crm/psa/erp with deliberate
duplicates, our own legal entities, service codes and projects, plus demo users.

Goes through the same ingest service as the API, each system as its own integration.

``--merge-duplicate`` (run once the first sync has delivered): the demo steward merges
one company that matching kept as two golden records, already pushed to the targets, so
the merge visibly arrives in the CRM, the PSA and the ERP. The generator's ground truth
says which records are one company.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count
from rest_framework.authtoken.models import Token

from golden import roles, synthetic
from golden.models import (
    ExternalReference,
    GoldenRecord,
    IntegrationBinding,
    MergeEvent,
    SourceRecord,
    SourceSystem,
)
from golden.services import compute_attributes, ingest_records, merge_golden_records
from golden.synthetic import SyntheticRecord
from mdm.context import correlation_scope

DEMO_PASSWORD = "demo-steward-2026"
DEMO_MERGE_REASON = "demo: one company kept as two golden records"
TARGETS = ("crm", "psa", "erp")


def demo_users() -> dict[str, Any]:
    """Create (or reuse) the demo logins and integration tokens."""

    def user(name: str, role: str | None, **extra: Any) -> User:
        account, created = User.objects.get_or_create(username=name, defaults=extra)
        if created:
            account.set_password(DEMO_PASSWORD)
            account.save()
        if role:
            account.groups.add(Group.objects.get(name=role))
        return account

    people = {
        "admin": user("admin", None, is_staff=True, is_superuser=True),
        "steward": user("steward", roles.STEWARD, is_staff=False),
        "viewer": user("viewer", roles.VIEWER),
    }
    tokens = {}
    for system in SourceSystem.objects.filter(code__in=["crm", "psa", "erp"]):
        integration = user(f"{system.code}-integration", roles.INTEGRATION)
        IntegrationBinding.objects.get_or_create(user=integration, defaults={"system": system})
        tokens[system.code] = _demo_token(integration, system.code)
    tokens["viewer"] = _demo_token(people["viewer"], "viewer")
    return {"people": people, "tokens": tokens}


def _demo_token(account: User, name: str) -> str:
    # Fixed demo keys so the README's curl examples work as written; demo data only.
    token, _ = Token.objects.get_or_create(user=account, defaults={"key": f"demo-{name}-token"})
    return token.key


def duplicate_for_the_demo(customers: Iterable[SyntheticRecord]) -> list[GoldenRecord]:
    """Survivor and duplicate: two active golden customers of one real company (by ground
    truth), both already in targets: the survivor in as many as can be had (ideally all
    three), then the duplicate; where a pair allows, one the merge changes, so the merge
    arrives wherever the survivor is (a missing tax ID keeps many records out of the ERP,
    and rate-limited deliveries may still be waiting). Empty when there is none."""
    truth = {(r.system, r.data["source_id"]): r.entity_key for r in customers}
    targets: dict[int, int] = dict(
        ExternalReference.objects.filter(system__code__in=TARGETS)
        .values("golden_id")
        .annotate(n=Count("system", distinct=True))
        .values_list("golden_id", "n")
    )
    companies: dict[str, set[int]] = defaultdict(set)
    for system, source_id, golden_id in SourceRecord.objects.filter(
        entity_type="customer", golden__status=GoldenRecord.Status.ACTIVE
    ).values_list("system__code", "source_id", "golden_id"):
        companies[truth.get((system, source_id), "")].add(golden_id)
    pairs = []
    for key, ids in companies.items():
        if not key or len(ids) != 2:
            continue
        survivor, duplicate = sorted(ids, key=lambda pk: (-targets.get(pk, 0), pk))
        if targets.get(duplicate):
            pairs.append((-targets[survivor], -targets[duplicate], survivor, duplicate))
    candidates = [
        (GoldenRecord.objects.get(pk=survivor_pk), GoldenRecord.objects.get(pk=duplicate_pk))
        for *_, survivor_pk, duplicate_pk in sorted(pairs)
    ]
    for survivor, duplicate in candidates:
        records = [*survivor.source_records.all(), *duplicate.source_records.all()]
        if compute_attributes(survivor, records=records)[0] != survivor.attributes:
            return [survivor, duplicate]
    # A duplicate that adds nothing to the survivor still has its own IDs to retire.
    return list(candidates[0]) if candidates else []


def merge_demo_duplicate(customers: Iterable[SyntheticRecord]) -> MergeEvent | None:
    """The demo's merge, once: an earlier run's merge is returned as it is."""
    earlier = MergeEvent.objects.filter(reason=DEMO_MERGE_REASON, undone_at__isnull=True).first()
    if earlier is not None:
        return earlier
    pair = duplicate_for_the_demo(customers)
    if not pair:
        return None
    survivor, merged = pair
    with correlation_scope():
        return merge_golden_records(
            survivor=survivor,
            merged=[merged],
            actor=User.objects.get(username="steward"),
            reason=DEMO_MERGE_REASON,
        )


class Command(BaseCommand):
    help = "Load demo master data and demo users (idempotent: re-running changes nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--companies", type=int, default=250)
        parser.add_argument("--projects", type=int, default=120)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="For the printed example"
        )
        parser.add_argument(
            "--merge-duplicate",
            action="store_true",
            help="Only merge one duplicate that every target already holds, as the steward",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        seed = opts["seed"]
        customers = list(synthetic.generate_customers(opts["companies"], seed=seed))
        if opts["merge_duplicate"]:
            self.report_merge(merge_demo_duplicate(customers))
            return
        users = demo_users()
        legal_entities = synthetic.generate_legal_entities(seed=seed)
        services = synthetic.generate_service_codes(seed=seed)
        projects = synthetic.generate_projects(
            customers, legal_entities, opts["projects"], seed=seed
        )
        counts: Counter[str] = Counter()
        with correlation_scope():
            for records in (legal_entities, customers, services, projects):
                by_system: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
                for record in records:
                    by_system[(record.entity, record.system)].append(record.data)
                for (entity, system_code), batch in sorted(by_system.items()):
                    system = SourceSystem.objects.get(code=system_code)
                    actor = User.objects.get(username=f"{system_code}-integration")
                    for start in range(0, len(batch), 500):
                        results = ingest_records(
                            entity_type=entity,
                            system=system,
                            records=batch[start : start + 500],
                            actor=actor,
                            reason="demo data",
                        )
                        counts.update(f"{entity}:{r.action}" for r in results)
        for key in sorted(counts):
            self.stdout.write(f"  {key:36} {counts[key]:6}")
        golden = Counter(
            GoldenRecord.objects.filter(status="active").values_list("entity_type", flat=True)
        )
        self.stdout.write(
            "Golden records: " + ", ".join(f"{k} {v}" for k, v in sorted(golden.items()))
        )
        self.stdout.write("")
        self.stdout.write(f"Logins (password {DEMO_PASSWORD}): admin, steward, viewer")
        for name, key in users["tokens"].items():
            self.stdout.write(f"API token {name:8} {key}")
        example = (
            SourceRecord.objects.filter(system__code="erp", entity_type="customer")
            .annotate(links=Count("golden__source_records"))
            .order_by("-links", "id")
            .first()
        )
        if example:
            self.stdout.write(
                "\nTry: curl -H 'Authorization: Token demo-viewer-token' "
                f"'{opts['base_url']}/api/v1/xref/?system=erp&entity=customer&source_id={example.source_id}'"
            )

    def report_merge(self, event: MergeEvent | None) -> None:
        if event is None:
            self.stdout.write("No duplicate is in the targets yet: run the sync first.")
            return
        merged = ", ".join(g.canonical_id for g in event.merged.all())
        survivor = event.survivor
        self.stdout.write(
            f"{merged} merged into {survivor.canonical_id} ({survivor.name}) by the steward; "
            f"find both IDs on each sandbox's records page"
        )
