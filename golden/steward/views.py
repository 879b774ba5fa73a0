"""Steward pages. A full page on a normal request, a fragment for htmx; POST actions call
one service and answer with a redirect (``HX-Redirect`` for htmx) to where work goes on.

Access: every page needs a login and a reading role; every action the steward role.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from golden import services
from golden.entities import ENTITIES
from golden.exceptions import MdmError
from golden.models import GoldenRecord, MatchCandidate, UnmergeProposal
from golden.roles import can_read, can_steward
from golden.selectors import follow_merges
from golden.services.candidates import claimed_message, person
from golden.steward import dashboard as dash
from golden.steward import forms
from golden.steward import selectors as sel

if TYPE_CHECKING:
    from django.forms import Form

View = Callable[..., HttpResponse]


def page(view: View) -> View:
    """Readable by any role; anonymous users go to the login page."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_read(request.user):
            raise PermissionDenied("You have no role in the MDM.")
        return view(request, *args, **kwargs)

    return wrapper


def action(view: View) -> View:
    """A POST only the steward role (or a superuser) may make."""

    @login_required
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_steward(request.user):
            raise PermissionDenied("Only data stewards can do this.")
        return view(request, *args, **kwargs)

    return wrapper


def fragment_wanted(request: HttpRequest) -> bool:
    return bool(request.htmx and not request.htmx.boosted)  # type: ignore[attr-defined]


def go(request: HttpRequest, url: str) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRedirect(url)
    return redirect(url)


def refuse(request: HttpRequest, error: MdmError | str, back: str) -> HttpResponse:
    """Show a business-rule refusal (already decided, merge conflict) where it happened."""
    messages.error(request, error.message if isinstance(error, MdmError) else error)
    return go(request, back)


def form_errors(form: Form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def linked(text: str, url: str, label: str) -> str:
    """A message with one link in it; rendered unescaped, so built with format_html."""
    return format_html('{} <a href="{}">{}</a>.', text, url, label)


# --- dashboard ----------------------------------------------------------------------


@page
def dashboard(request: HttpRequest) -> HttpResponse:
    days = dash.decisions_per_day()
    context = {
        "golden_by_type": dash.golden_by_type(),
        "sources_by_system": dash.sources_by_system(),
        "by_band": dash.open_by_band(),
        "by_age": dash.open_by_age(),
        "days": days,
        "columns": dash.day_columns(days),
        "decided": sum(d.total for d in days),
        "links": dash.link_outcomes(),
        "exceptions": dash.exception_counts(),
        "open_total": MatchCandidate.objects.filter(status=MatchCandidate.Status.OPEN).count(),
        "panels": dash.extra_panels(),
    }
    return render(request, "steward/dashboard.html", context)


# --- review queue -------------------------------------------------------------------


@page
def queue(request: HttpRequest) -> HttpResponse:
    form = forms.QueueFilterForm(request.GET or None, countries=sel.queue_countries())
    filters = form.filters()
    candidates, unbanded = sel.review_queue(**filters, user=request.user)
    page_obj = Paginator(candidates, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    band_query = query.copy()
    band_query.pop("band", None)
    context = {
        "form": form,
        "filters": filters,
        "rows": sel.queue_rows(list(page_obj.object_list)),
        "page": page_obj,
        "query": query.urlencode(),
        "band_query": band_query.urlencode(),
        "bands": sel.band_counts(unbanded),
        "can_act": can_steward(request.user),
    }
    template = "steward/_queue_table.html" if fragment_wanted(request) else "steward/queue.html"
    return render(request, template, context)


# --- compare and decisions ----------------------------------------------------------


def _survivor_choice(request: HttpRequest, candidate: MatchCandidate) -> GoldenRecord:
    pair = {candidate.golden_a.pk: candidate.golden_a, candidate.golden_b.pk: candidate.golden_b}
    try:
        return pair[int(request.GET.get("survivor", ""))]
    except (KeyError, ValueError):
        return pair[min(pair)]  # the service's default: the older record survives


def _claim_on_open(request: HttpRequest, candidate: MatchCandidate) -> None:
    """A steward opening a pending pair starts working on it: claim it unless another
    steward holds it (the page then says who, and offers to take it over)."""
    try:
        claimed = services.claim_candidate(candidate, actor=request.user)
    except MdmError:  # claimed by someone else, or decided a moment ago: shown as it is
        return
    candidate.assigned_to = claimed.assigned_to
    candidate.assigned_at = claimed.assigned_at


@page
def compare(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = sel.candidate_for_compare(pk)
    if candidate is None:
        raise Http404("No such review candidate.")
    a, b = candidate.golden_a, candidate.golden_b
    survivor = _survivor_choice(request, candidate)
    other = b if survivor.pk == a.pk else a
    pending = candidate.status in sel.PENDING
    both_active = a.status == b.status == GoldenRecord.Status.ACTIVE
    steward = can_steward(request.user)
    # Bound to the query while the steward chooses (htmx), so the preview shows picks.
    merge_form = forms.MergeForm(
        request.GET if "survivor" in request.GET else None,
        candidate=candidate,
        initial={"survivor": survivor.pk},
    )
    picks: dict[str, Any] = {}
    if merge_form.is_bound and merge_form.is_valid():
        picks = merge_form.picks()
    elif merge_form.is_bound:  # a stale or hand-made query: start from the defaults
        merge_form = forms.MergeForm(candidate=candidate, initial={"survivor": survivor.pk})
    preview = None
    if pending and both_active:
        preview = sel.merge_preview(survivor, other, picks, request.user.get_username())
    if fragment_wanted(request) and "survivor" in request.GET:
        return render(request, "steward/_merge_preview.html", {"preview": preview})
    if steward and pending:
        _claim_on_open(request, candidate)
    held_by_other = bool(candidate.assigned_to_id and candidate.assigned_to_id != request.user.pk)
    rows, loose = sel.compare_rows(candidate)
    pick_fields = merge_form.pick_fields()
    for row in rows:
        row.pick = pick_fields.get(row.name)
    can_act = steward and pending and not held_by_other
    claimed = claimed_message(candidate) if candidate.assigned_to_id else ""
    previous_pk, next_pk = sel.neighbours(candidate, request.user if steward else None)
    context = {
        "candidate": candidate,
        "a": a,
        "b": b,
        "spec": ENTITIES[candidate.entity_type],
        "score": sel.score_label(candidate.score),
        "band": sel.band_of(candidate.score),
        "rows": rows,
        "loose_evidence": loose,
        "evidence_total": round(sum(e.weight for e in sel.evidence_of(candidate)), 1),
        "preview": preview,
        "pending": pending,
        "both_active": both_active,
        "can_act": can_act,
        "picking": can_act and both_active and bool(pick_fields),
        "can_take_over": steward and pending and held_by_other,
        "held_by_me": pending and candidate.assigned_to_id == request.user.pk,
        "claimed": claimed,
        "claimed_badge": claimed.removesuffix("."),
        "previous_pk": previous_pk,
        "next_pk": next_pk,
        "merge_form": merge_form,
        "related_a": sel.related_records(a),
        "related_b": sel.related_records(b),
        "not_a_match_form": forms.NotAMatchForm(),
        "defer_form": forms.DeferForm(initial={"comment": candidate.reason}),
    }
    return render(request, "steward/compare.html", context)


def _next_after(request: HttpRequest, candidate: MatchCandidate) -> HttpResponse:
    """Work goes on with the next open candidate nobody else has claimed, or back to the
    queue when there is none."""
    nxt = sel.next_open_candidate(exclude=candidate.pk, user=request.user)
    if nxt is None:
        messages.info(request, "The review queue is clear.")
        return go(request, reverse("steward:queue"))
    return go(request, reverse("steward:compare", args=[nxt]))


def _candidate(pk: int) -> MatchCandidate:
    return get_object_or_404(MatchCandidate.objects.select_related("golden_a", "golden_b"), pk=pk)


@action
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = _candidate(pk)
    back = reverse("steward:compare", args=[pk])
    form = forms.MergeForm(request.POST, candidate=candidate)
    if not form.is_valid():
        return refuse(request, form_errors(form), back)
    survivor = form.survivor_record()
    picks = form.picks()
    try:
        services.merge_candidate_with_picks(
            candidate,
            actor=request.user,
            survivor=survivor,
            picks=picks,
            reason=form.cleaned_data["reason"],
        )
    except MdmError as exc:
        return refuse(request, exc, back)
    other = candidate.golden_b if survivor.pk == candidate.golden_a_id else candidate.golden_a
    pinned = ", ".join(sel.field_label(name) for name in picks)
    messages.success(
        request,
        linked(
            f"Merged {other.canonical_id}{f' (pinned {pinned})' if pinned else ''} into",
            reverse("steward:record", args=[survivor.canonical_id]),
            survivor.canonical_id,
        ),
        extra_tags="html",
    )
    return _next_after(request, candidate)


@action
def take_over(request: HttpRequest, pk: int) -> HttpResponse:
    """Claim a pair another steward holds (they left, or asked for help)."""
    candidate = _candidate(pk)
    back = reverse("steward:compare", args=[pk])
    before = MatchCandidate.objects.select_related("assigned_to").get(pk=pk).assigned_to
    try:
        services.claim_candidate(candidate, actor=request.user, force=True)
    except MdmError as exc:
        return refuse(request, exc, back)
    if before is not None and before.pk != request.user.pk:
        messages.success(request, f"You took this pair over from {person(before)}.")
    return go(request, back)


@action
def release(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the pair back to the queue undecided."""
    candidate = _candidate(pk)
    try:
        released = services.release_candidate(candidate, actor=request.user)
    except MdmError as exc:
        return refuse(request, exc, reverse("steward:compare", args=[pk]))
    if released:
        messages.info(
            request,
            f"Released {candidate.golden_a.canonical_id} ~ {candidate.golden_b.canonical_id}: "
            "any steward can pick it up.",
        )
    return go(request, reverse("steward:queue"))


@action
def not_a_match(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = _candidate(pk)
    back = reverse("steward:compare", args=[pk])
    form = forms.NotAMatchForm(request.POST)
    if not form.is_valid():
        return refuse(request, form_errors(form), back)
    try:
        services.mark_not_a_match(candidate, actor=request.user, reason=form.cleaned_data["reason"])
    except MdmError as exc:
        return refuse(request, exc, back)
    messages.success(
        request,
        f"{candidate.golden_a.canonical_id} and {candidate.golden_b.canonical_id} "
        "are not a match; the pair will not be proposed again.",
    )
    return _next_after(request, candidate)


@action
def defer(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = _candidate(pk)
    back = reverse("steward:compare", args=[pk])
    form = forms.DeferForm(request.POST)
    if not form.is_valid():
        return refuse(request, form_errors(form), back)
    try:
        services.defer_candidate(
            candidate, actor=request.user, comment=form.cleaned_data["comment"]
        )
    except MdmError as exc:
        return refuse(request, exc, back)
    messages.success(
        request,
        f"Deferred the pair {candidate.golden_a.canonical_id} ~ {candidate.golden_b.canonical_id}.",
    )
    return _next_after(request, candidate)


# --- golden record page -------------------------------------------------------------


def _record_context(request: HttpRequest, golden: GoldenRecord, **bound: Form) -> dict[str, Any]:
    values = sel.value_rows(golden)
    return {
        "golden": golden,
        "spec": ENTITIES[golden.entity_type],
        "values": values,
        "empty_attributes": [v.label for v in values if not v.value and not v.pinned],
        "related": sel.related_records(golden),
        "events": sel.merge_events(golden),
        "timeline": sel.timeline(golden),
        "can_act": can_steward(request.user) and golden.status == GoldenRecord.Status.ACTIVE,
        "pin_form": bound.get("pin_form") or forms.PinForm(golden=golden),
        "candidates": sel.pending_candidates_of(golden),
    }


@page
def record(request: HttpRequest, canonical_id: str) -> HttpResponse:
    spec = sel.spec_for_canonical_id(canonical_id)
    golden = sel.golden_for_page(canonical_id) if spec else None
    if golden is None or spec is None:
        raise Http404(f"No golden record {canonical_id}.")
    if golden.status == GoldenRecord.Status.MERGED and golden.merged_into_id:
        survivor = follow_merges(spec, golden).golden
        messages.info(
            request,
            f"{golden.canonical_id} was merged into {survivor.canonical_id}; "
            "showing the surviving record.",
        )
        return redirect("steward:record", canonical_id=survivor.canonical_id)
    if golden.canonical_id != canonical_id:
        return redirect("steward:record", canonical_id=golden.canonical_id)
    return render(request, "steward/record.html", _record_context(request, golden))


def _record_url(golden: GoldenRecord) -> str:
    return reverse("steward:record", args=[golden.canonical_id])


def record_action(view: Callable[[HttpRequest, GoldenRecord], HttpResponse]) -> View:
    """A steward action on one active golden record, passed to the view loaded."""

    @action
    @wraps(view)
    def wrapper(request: HttpRequest, canonical_id: str) -> HttpResponse:
        golden = get_object_or_404(GoldenRecord, canonical_id=canonical_id.upper())
        if golden.status != GoldenRecord.Status.ACTIVE:
            return refuse(
                request,
                f"{golden.canonical_id} is {golden.get_status_display().lower()}: "
                "act on the record it was merged into.",
                _record_url(golden),
            )
        return view(request, golden)

    return wrapper


@record_action
def pin(request: HttpRequest, golden: GoldenRecord) -> HttpResponse:
    form = forms.PinForm(request.POST, golden=golden)
    if not form.is_valid():
        context = _record_context(request, sel.golden_for_page(golden.canonical_id), pin_form=form)
        return render(request, "steward/record.html", context, status=400)
    attribute = form.cleaned_data["attribute"]
    try:
        services.pin_attribute(golden, attribute, form.cleaned_data["value"], actor=request.user)
    except MdmError as exc:
        return refuse(request, exc, _record_url(golden))
    messages.success(request, f"Pinned {sel.field_label(attribute)}: it keeps this value.")
    return go(request, _record_url(golden))


@record_action
def unpin(request: HttpRequest, golden: GoldenRecord) -> HttpResponse:
    form = forms.UnpinForm(request.POST, golden=golden)
    if not form.is_valid():
        return refuse(request, "That value is not pinned.", _record_url(golden))
    attribute = form.cleaned_data["attribute"]
    services.unpin_attribute(golden, attribute, actor=request.user)
    messages.success(request, f"Unpinned {sel.field_label(attribute)}: survivorship decides again.")
    return go(request, _record_url(golden))


@record_action
def unmerge(request: HttpRequest, golden: GoldenRecord) -> HttpResponse:
    form = forms.UnmergeForm(request.POST, golden=golden)
    if not form.is_valid():
        return refuse(request, "That source record is not linked here.", _record_url(golden))
    record = form.records[form.cleaned_data["source_record"]]
    try:
        new = services.unmerge_source_record(
            record, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except MdmError as exc:
        return refuse(request, exc, _record_url(golden))
    messages.success(
        request,
        linked(f"Split {sel.source_label(record)} out into", _record_url(new), new.canonical_id),
        extra_tags="html",
    )
    return go(request, _record_url(golden))


@record_action
def undo(request: HttpRequest, golden: GoldenRecord) -> HttpResponse:
    form = forms.UndoMergeForm(request.POST, golden=golden)
    if not form.is_valid():
        return refuse(request, "That merge is not one into this record.", _record_url(golden))
    event = form.events[form.cleaned_data["event"]]
    try:
        services.undo_merge(event, actor=request.user, reason=form.cleaned_data["reason"])
    except MdmError as exc:
        return refuse(request, exc, _record_url(golden))
    restored = ", ".join(g.canonical_id for g in event.merged.all())
    messages.success(request, f"Undid the merge: {restored} is active again with its records.")
    return go(request, _record_url(golden))


# --- search -------------------------------------------------------------------------


@page
def search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    entity_type = request.GET.get("entity_type", "")
    if entity_type not in ENTITIES:
        entity_type = ""
    context = {
        "q": q,
        "entity_type": entity_type,
        "entities": ENTITIES,
        "results": sel.search_golden_records(q, entity_type) if q else [],
    }
    template = "steward/_search_results.html" if fragment_wanted(request) else "steward/search.html"
    return render(request, template, context)


# --- exceptions ---------------------------------------------------------------------


@page
def exceptions(request: HttpRequest) -> HttpResponse:
    rejected, rejected_total = sel.open_rejections()
    projects, projects_total = sel.projects_not_ready()
    context = {
        "rejected": rejected,
        "rejected_total": rejected_total,
        "proposals": sel.open_unmerge_proposals(),
        "projects": projects,
        "projects_total": projects_total,
        "can_act": can_steward(request.user),
    }
    return render(request, "steward/exceptions.html", context)


@action
def decide_proposal(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(
        UnmergeProposal.objects.select_related("source_record__system", "golden"), pk=pk
    )
    back = reverse("steward:exceptions")
    form = forms.ProposalForm(request.POST)
    if not form.is_valid():
        return refuse(request, form_errors(form), back)
    unmerge_it = form.cleaned_data["decision"] == "unmerge"
    try:
        services.decide_unmerge_proposal(proposal, unmerge=unmerge_it, actor=request.user)
    except MdmError as exc:
        return refuse(request, exc, back)
    messages.success(
        request,
        f"{sel.source_label(proposal.source_record)} was "
        f"{'split out of' if unmerge_it else 'kept linked to'} {proposal.golden.canonical_id}.",
    )
    return go(request, back)
