"""The operations everyone calls: ingest, recompute, merge, unmerge, undo.

Views, the API, management commands and tasks differ only in how they parse input and
report results. Every write records who did it (``actor``), the correlation ID and, for
golden records, a row of golden's change feed in the same transaction.
"""

from golden.services.candidates import (
    claim_candidate,
    decide_unmerge_proposal,
    defer_candidate,
    mark_not_a_match,
    merge_candidate,
    merge_candidate_with_picks,
    release_candidate,
)
from golden.services.ingest import (
    Action,
    IngestResult,
    ingest_by_system,
    ingest_records,
    match_record,
)
from golden.services.merge import merge_golden_records, undo_merge, unmerge_source_record
from golden.services.records import (
    compute_attributes,
    pin_attribute,
    recompute_golden_record,
    record_golden_change,
    unpin_attribute,
)

__all__ = [
    "Action",
    "claim_candidate",
    "decide_unmerge_proposal",
    "defer_candidate",
    "mark_not_a_match",
    "merge_candidate",
    "merge_candidate_with_picks",
    "release_candidate",
    "IngestResult",
    "compute_attributes",
    "ingest_by_system",
    "ingest_records",
    "match_record",
    "merge_golden_records",
    "pin_attribute",
    "unpin_attribute",
    "undo_merge",
    "unmerge_source_record",
    "record_golden_change",
    "recompute_golden_record",
]
