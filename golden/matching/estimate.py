"""Estimating the m and u probabilities of the Fellegi–Sunter model.

m(field, level) is how often true matches show a comparison level, u how often
non-matches do; ``golden.matching.scoring`` turns them into log2(m/u) weights. Two sources:

- ``estimate_em``: unsupervised expectation–maximisation over candidate pairs' level
  vectors, assuming fields are independent given the match status. Needs no labels, so it
  can run on every blocked pair; its weakness is that the independence assumption is
  wrong (a shared domain and a shared name go together), which mostly distorts m.
- ``estimate_from_labels``: frequencies among pairs that stewards decided (merged = match,
  not a match = non-match). Unbiased for m, but sparse, and stewards see look-alikes, so
  their non-matches overstate u.

``combine`` pools the two per field. Pure: no ORM, no settings, plain Python. Pairs are
first aggregated into distinct level patterns (a few thousand even among millions of pairs),
so one EM iteration costs O(patterns × fields), not O(pairs).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from golden.matching.comparators import MISSING, compare
from golden.matching.features import Features
from golden.matching.scoring import (
    DEFAULT_MU,
    DEFAULT_THRESHOLDS,
    MatchModel,
    Thresholds,
)

MuTable = dict[str, dict[str, tuple[float, float]]]
LevelVector = Mapping[str, str]

# Pseudo-count added to every level's expected count in each M-step. It keeps every
# probability above zero, which matters twice: log2(m/u) stays finite, and EM cannot lock a
# level at zero (a zero probability is a fixed point of EM). Small against real counts.
EM_PSEUDO_COUNT = 0.1
# How unevenly the default start spreads m (and u, reversed) over a field's levels.
_START_RATIO = 0.2
# Floor for caller-supplied starting values, so a 0 in ``initial`` cannot yield log(0).
_START_FLOOR = 1e-6

__all__ = [
    "EmResult",
    "LabelledMu",
    "MuTable",
    "combine",
    "default_fields_levels",
    "estimate_em",
    "estimate_from_labels",
    "iter_level_vectors",
    "level_vectors_for_pairs",
    "to_model",
]


# --------------------------------------------------------------------------- inputs


def default_fields_levels(entity_type: str) -> dict[str, list[str]]:
    """The fields and levels the comparators produce for an entity type (from DEFAULT_MU),
    strongest agreement first, as ``estimate_em`` expects them."""
    return {name: list(levels) for name, levels in DEFAULT_MU[entity_type].items()}


def iter_level_vectors(
    entity_type: str, features: Sequence[Features], pairs: Iterable[tuple[int, int]]
) -> Iterator[dict[str, str]]:
    """Level vectors of pairs of indices into ``features``, lazily (for millions of pairs,
    feed this straight into ``estimate_em`` rather than holding every dict)."""
    for left, right in pairs:
        yield compare(entity_type, features[left], features[right])


def level_vectors_for_pairs(
    entity_type: str, features: Sequence[Features], pairs: Iterable[tuple[int, int]]
) -> list[dict[str, str]]:
    """Level vectors (``{field: level}``) of pairs of indices into ``features``."""
    return list(iter_level_vectors(entity_type, features, pairs))


def _pattern_key(fields: Sequence[str]) -> Callable[[LevelVector], tuple[str, ...]]:
    """A fast key function: one C-level itemgetter call per vector, falling back to
    ``get`` only for vectors that lack a field (treated as missing)."""
    getter = itemgetter(*fields)
    single = len(fields) == 1  # itemgetter of one item returns the item, not a tuple

    def key(vector: LevelVector) -> tuple[str, ...]:
        try:
            value = getter(vector)
        except KeyError:
            return tuple(vector.get(name, MISSING) for name in fields)
        return (value,) if single else value

    return key


def _check_fields_levels(fields_levels: Mapping[str, Sequence[str]]) -> list[str]:
    if not fields_levels:
        raise ValueError("fields_levels is empty: nothing to estimate")
    for name, levels in fields_levels.items():
        if not levels:
            raise ValueError(f"field {name!r} has no levels")
        if MISSING in levels:
            raise ValueError(f"field {name!r}: {MISSING!r} is not a level to estimate")
        if len(set(levels)) != len(levels):
            raise ValueError(f"field {name!r} lists a level twice")
    return list(fields_levels)


def _encode(
    pattern: tuple[str, ...], fields: Sequence[str], index: Sequence[Mapping[str, int]]
) -> tuple[tuple[int, int], ...]:
    """A pattern as (field index, level index) pairs, missing fields left out."""
    encoded = []
    for f, level in enumerate(pattern):
        if level == MISSING:
            continue
        try:
            encoded.append((f, index[f][level]))
        except KeyError:
            known = ", ".join(index[f])
            raise ValueError(
                f"field {fields[f]!r}: unknown level {level!r} (known: {known})"
            ) from None
    return tuple(encoded)


def _aggregate(
    level_vectors: Iterable[LevelVector], fields: Sequence[str], index: Sequence[Mapping[str, int]]
) -> tuple[list[tuple[tuple[int, int], ...]], list[int]]:
    """Distinct encoded patterns with their counts, in a canonical (sorted) order so that
    results do not depend on the order pairs arrive in, not even in the last float bit."""
    raw = Counter(map(_pattern_key(fields), level_vectors))
    merged: Counter[tuple[tuple[int, int], ...]] = Counter()
    for pattern, count in raw.items():
        merged[_encode(pattern, fields, index)] += count
    patterns = sorted(merged)
    return patterns, [merged[p] for p in patterns]


# --------------------------------------------------------------------------- EM


@dataclass
class EmResult:
    """What ``estimate_em`` found.

    ``expected_matches[field]`` / ``expected_nonmatches[field]`` are the posterior expected
    numbers of matching / non-matching pairs in which the field had a value: how much
    evidence stands behind that field's m and u (``combine`` weighs by them).
    ``log_likelihood`` holds the observed-data log-likelihood before each iteration and,
    last, at the returned parameters.
    """

    mu: MuTable
    match_proportion: float  # λ: the share of candidate pairs that are matches
    iterations: int
    converged: bool
    log_likelihood: list[float]
    n_pairs: int
    n_patterns: int
    expected_matches: dict[str, float] = field(default_factory=dict)
    expected_nonmatches: dict[str, float] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        """λ as log2 prior odds, the form ``MatchModel.prior`` takes."""
        return math.log2(self.match_proportion / (1.0 - self.match_proportion))

    def match_probability(self, levels: LevelVector) -> float:
        """Posterior match probability of one level vector under the estimated model."""
        weight = self.prior_weight
        for name, level in levels.items():
            if level != MISSING and name in self.mu:
                m, u = self.mu[name][level]
                weight += math.log2(m / u)
        return _sigmoid(weight * math.log(2.0))


@dataclass
class _Params:
    """Model parameters in index form: m[f][l], u[f][l] and λ."""

    m: list[list[float]]
    u: list[list[float]]
    lam: float

    def max_change(self, other: _Params) -> float:
        change = abs(self.lam - other.lam)
        for new, old in ((self.m, other.m), (self.u, other.u)):
            for new_f, old_f in zip(new, old, strict=True):
                change = max(change, max(abs(a - b) for a, b in zip(new_f, old_f, strict=True)))
        return change


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _log_add_exp(a: float, b: float) -> float:
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))


def _normalised(values: Sequence[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values]


def _start(
    fields: Sequence[str],
    fields_levels: Mapping[str, Sequence[str]],
    initial: Mapping[str, Mapping[str, tuple[float, float]]] | None,
    prior: float,
) -> _Params:
    """Starting values: ``initial`` where given, otherwise a generic start that assumes
    levels are listed strongest agreement first (m falls along the list, u rises). The
    start decides which EM class is called "match", so it must lean the right way."""
    if not 0.0 < prior < 1.0:
        raise ValueError("prior must be strictly between 0 and 1")
    m_all, u_all = [], []
    for name in fields:
        levels = fields_levels[name]
        k = len(levels)
        given = (initial or {}).get(name, {})
        m = [
            max(given[lv][0], _START_FLOOR) if lv in given else _START_RATIO**i
            for i, lv in enumerate(levels)
        ]
        u = [
            max(given[lv][1], _START_FLOOR) if lv in given else _START_RATIO ** (k - 1 - i)
            for i, lv in enumerate(levels)
        ]
        m_all.append(_normalised(m))
        u_all.append(_normalised(u))
    return _Params(m_all, u_all, prior)


@dataclass
class _Expectation:
    """One E-step's output: expected counts per field and level, per class."""

    match: list[list[float]]
    nonmatch: list[list[float]]
    matches: float  # expected number of matching pairs overall
    log_likelihood: float


def _e_step(
    params: _Params, patterns: Sequence[tuple[tuple[int, int], ...]], counts: Sequence[int]
) -> _Expectation:
    log_m = [[math.log(p) for p in levels] for levels in params.m]
    log_u = [[math.log(p) for p in levels] for levels in params.u]
    log_lam, log_not_lam = math.log(params.lam), math.log1p(-params.lam)
    match = [[0.0] * len(levels) for levels in params.m]
    nonmatch = [[0.0] * len(levels) for levels in params.m]
    matches = log_likelihood = 0.0
    for pattern, count in zip(patterns, counts, strict=True):
        lm = log_lam
        lu = log_not_lam
        for f, level in pattern:
            lm += log_m[f][level]
            lu += log_u[f][level]
        g = _sigmoid(lm - lu)  # posterior match probability of this pattern
        log_likelihood += count * _log_add_exp(lm, lu)
        expected = count * g
        matches += expected
        for f, level in pattern:
            match[f][level] += expected
            nonmatch[f][level] += count - expected
    return _Expectation(match, nonmatch, matches, log_likelihood)


def _smoothed(counts: Sequence[float], pseudo_count: float) -> list[float]:
    total = sum(counts) + pseudo_count * len(counts)
    if total <= 0.0:  # no observations and no smoothing: stay uniform
        return [1.0 / len(counts)] * len(counts)
    return [(c + pseudo_count) / total for c in counts]


def _m_step(expectation: _Expectation, n_pairs: int, pseudo_count: float) -> _Params:
    m = [_smoothed(levels, pseudo_count) for levels in expectation.match]
    u = [_smoothed(levels, pseudo_count) for levels in expectation.nonmatch]
    # λ is smoothed too: λ = 0 or 1 would be absorbing and break the log-likelihood.
    lam = (expectation.matches + pseudo_count) / (n_pairs + 2.0 * pseudo_count)
    return _Params(m, u, lam)


def _mu_table(
    params: _Params, fields: Sequence[str], fields_levels: Mapping[str, Sequence[str]]
) -> MuTable:
    return {
        name: {
            level: (params.m[f][i], params.u[f][i]) for i, level in enumerate(fields_levels[name])
        }
        for f, name in enumerate(fields)
    }


def estimate_em(
    level_vectors: Iterable[LevelVector],
    fields_levels: Mapping[str, Sequence[str]],
    *,
    initial: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    prior: float = 0.01,
    max_iter: int = 100,
    tol: float = 1e-6,
    pseudo_count: float = EM_PSEUDO_COUNT,
) -> EmResult:
    """Fellegi–Sunter EM over candidate pairs' level vectors.

    ``fields_levels`` names the modelled fields and their levels, strongest agreement first
    (``default_fields_levels``); fields of a vector not listed are ignored, listed fields a
    vector lacks count as missing, and ``MISSING`` adds no likelihood. ``initial`` (e.g.
    ``DEFAULT_MU[entity]``) and ``prior`` (λ) are the starting point. Stops when no m, u or λ
    moves by more than ``tol`` in an iteration, or after ``max_iter`` iterations.
    ``level_vectors`` may be a generator: it is read once.
    """
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")
    if pseudo_count < 0:
        raise ValueError("pseudo_count must be >= 0")
    fields = _check_fields_levels(fields_levels)
    index = [{level: i for i, level in enumerate(fields_levels[name])} for name in fields]
    patterns, counts = _aggregate(level_vectors, fields, index)
    n_pairs = sum(counts)
    if n_pairs == 0:
        raise ValueError("no level vectors to estimate from")

    params = _start(fields, fields_levels, initial, prior)
    trace: list[float] = []
    converged = False
    iterations = 0
    while iterations < max_iter and not converged:
        expectation = _e_step(params, patterns, counts)
        trace.append(expectation.log_likelihood)
        new = _m_step(expectation, n_pairs, pseudo_count)
        converged = new.max_change(params) < tol
        params = new
        iterations += 1

    final = _e_step(params, patterns, counts)
    trace.append(final.log_likelihood)
    return EmResult(
        mu=_mu_table(params, fields, fields_levels),
        match_proportion=params.lam,
        iterations=iterations,
        converged=converged,
        log_likelihood=trace,
        n_pairs=n_pairs,
        n_patterns=len(patterns),
        expected_matches={name: sum(final.match[f]) for f, name in enumerate(fields)},
        expected_nonmatches={name: sum(final.nonmatch[f]) for f, name in enumerate(fields)},
    )


# --------------------------------------------------------------------------- labels


class LabelledMu(dict[str, dict[str, tuple[float, float]]]):
    """``{field: {level: (m, u)}}`` from steward decisions, plus how many decided pairs
    had a value for each field (``matches`` / ``nonmatches``), which ``combine`` needs to
    weigh the labels. A plain dict otherwise; copying it drops the counts."""

    def __init__(self, mu: MuTable, matches: dict[str, int], nonmatches: dict[str, int]) -> None:
        super().__init__(mu)
        self.matches = matches
        self.nonmatches = nonmatches


def estimate_from_labels(
    level_vectors: Iterable[LevelVector],
    labels: Iterable[bool],
    fields_levels: Mapping[str, Sequence[str]],
    *,
    pseudo_count: float = 0.5,
) -> LabelledMu:
    """m and u as smoothed frequencies among decided pairs (True = match):
    m = (matches at the level + pseudo_count) / (matches with a value + pseudo_count × levels),
    u likewise over non-matches. Missing values are left out of both counts; a field with
    no decided pair at all gets uniform probabilities (and zero weight in ``combine``)."""
    if pseudo_count <= 0:
        raise ValueError("pseudo_count must be > 0 so that no probability is 0")
    fields = _check_fields_levels(fields_levels)
    index = [{level: i for i, level in enumerate(fields_levels[name])} for name in fields]
    key = _pattern_key(fields)
    raw = Counter(
        (key(vector), bool(label)) for vector, label in zip(level_vectors, labels, strict=True)
    )
    match = [[0] * len(fields_levels[name]) for name in fields]
    nonmatch = [[0] * len(fields_levels[name]) for name in fields]
    for (pattern, label), count in raw.items():
        target = match if label else nonmatch
        for f, level in _encode(pattern, fields, index):
            target[f][level] += count
    mu = {
        name: dict(
            zip(
                fields_levels[name],
                zip(
                    _smoothed(match[f], pseudo_count),
                    _smoothed(nonmatch[f], pseudo_count),
                    strict=True,
                ),
                strict=True,
            )
        )
        for f, name in enumerate(fields)
    }
    return LabelledMu(
        mu,
        matches={name: sum(match[f]) for f, name in enumerate(fields)},
        nonmatches={name: sum(nonmatch[f]) for f, name in enumerate(fields)},
    )


# --------------------------------------------------------------------------- combining


def _pool(em: float, em_weight: float, labelled: float, labelled_weight: float) -> float:
    total = em_weight + labelled_weight
    if total <= 0.0:
        return em
    return (em_weight * em + labelled_weight * labelled) / total


def combine(em: EmResult, labelled: LabelledMu, *, label_weight: float) -> MuTable:
    """Blend EM and label estimates per field and class, weighting each by its evidence.

    For a field's m: the EM estimate counts as many pairs as EM expects matches with that
    field present (``em.expected_matches``); the labelled estimate counts as
    ``label_weight`` × the decided matches with the field present. m is the weighted mean of
    the two (u likewise, with non-matches). So ``label_weight`` is how many EM pairs one
    steward decision is worth: 0 keeps EM, and labels take over a field once
    ``label_weight`` × its decisions dwarf EM's expected count. Because EM's u rests on
    every non-matching candidate pair, labels barely move u — wanted, since stewards only
    see look-alikes and their non-matches would overstate u. Fields estimated on one side
    only keep that side's values. A weighted mean of two distributions over the same
    levels is again a distribution, and stays above zero.
    """
    if label_weight < 0:
        raise ValueError("label_weight must be >= 0")
    combined: MuTable = {}
    for name in em.mu.keys() | labelled.keys():
        if name not in labelled:
            combined[name] = dict(em.mu[name])
            continue
        if name not in em.mu:
            combined[name] = dict(labelled[name])
            continue
        if em.mu[name].keys() != labelled[name].keys():
            raise ValueError(f"field {name!r}: EM and labels estimate different levels")
        w_m = (em.expected_matches.get(name, 0.0), label_weight * labelled.matches.get(name, 0))
        w_u = (
            em.expected_nonmatches.get(name, 0.0),
            label_weight * labelled.nonmatches.get(name, 0),
        )
        combined[name] = {
            level: (
                _pool(m_em, w_m[0], labelled[name][level][0], w_m[1]),
                _pool(u_em, w_u[0], labelled[name][level][1], w_u[1]),
            )
            for level, (m_em, u_em) in em.mu[name].items()
        }
    return combined


def to_model(
    entity_type: str,
    mu: Mapping[str, Mapping[str, tuple[float, float]]],
    match_proportion: float,
    *,
    thresholds: Thresholds | None = None,
) -> MatchModel:
    """A ``MatchModel`` from estimated m/u and λ. Fields not estimated keep DEFAULT_MU;
    an estimated field must cover every level its comparator can produce, or scoring
    would fail on the first pair showing the level left out."""
    if not 0.0 < match_proportion < 1.0:
        raise ValueError("match_proportion must be strictly between 0 and 1")
    table: MuTable = {name: dict(levels) for name, levels in DEFAULT_MU[entity_type].items()}
    for name, levels in mu.items():
        if name not in table:
            raise ValueError(f"{entity_type} has no field {name!r}")
        absent = table[name].keys() - levels.keys()
        if absent:
            raise ValueError(f"field {name!r} lacks levels {sorted(absent)}")
        table[name] = dict(levels)
    return MatchModel(
        entity_type,
        table,
        math.log2(match_proportion / (1.0 - match_proportion)),
        thresholds or DEFAULT_THRESHOLDS[entity_type],
    )
