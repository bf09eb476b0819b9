"""The one claims engine: per-fact scores, paired bootstrap intervals, and one verdict rule for every claim.

Every verdict in notebooks 01–05 is produced here, so the same claim judged on the same stored numbers
gets the same verdict wherever it is shown.

**The unit is the fact.** Questions about one fact (its held-out wordings) are not independent: a
model that learned a fact tends to answer all its wordings. :func:`scores` first averages a metric
over each fact's questions (and, for a method trained with several seeds, over the seeds), giving one
number per fact; intervals then resample facts.

**Intervals.** A method's accuracy gets a 95% bootstrap interval over facts; a difference between two
methods on the same facts gets a **paired** bootstrap interval (facts resampled jointly, so each
resample compares the methods on the same facts). Both use ``scipy.stats.bootstrap`` (BCa interval,
Efron 1987, *Better Bootstrap Confidence Intervals*; ``paired=True``; fixed seed; 4,000 resamples),
falling back to the percentile interval where BCa is undefined (all resampled statistics equal).

**One verdict rule** (:func:`judge`), for every claim: a claim says a difference is on one side of a
threshold (``side="greater"``: above it; ``"less"``: below it).

- **holds** when the whole 95% interval of the difference is on the claim's side of the threshold;
- **does not hold** when the whole interval is on the other side (touching the threshold counts as
  the other side: a difference of exactly 0 everywhere does not show "greater than 0");
- otherwise **undetermined at this sample**, with the number of facts that would likely decide it
  (:func:`facts_needed`: from the observed effect and its standard error). There is no "tie".
- a difference over facts measured on fewer than :data:`MIN_FACTS` facts is **undetermined** whatever its
  interval: with 5 facts, even all 5 moving the same way is not significant by an exact two-sided sign
  test (2 · 0.5⁵ = 0.0625 > 0.05), while the bootstrap interval of so few units can have zero width
  (every resample of 2 facts that both moved by 1 gives [1, 1]).

Speed and memory claims use the same rule on a ratio (threshold 1.0) whose interval is the spread of
repeated, interleaved measurements (:func:`ratio_estimate`), and exact quantities (file sizes) get a
zero-width interval labelled as such.
"""
from __future__ import annotations

import dataclasses
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from lorag_nb.core.claim_registry import CLAIMS, MATCH_MARGIN  # noqa: F401  (the claims' rules; re-exported)
from lorag_nb.core.stages import stage

#: The one verdict vocabulary.
HOLDS, DOES_NOT_HOLD, UNDETERMINED = "holds", "does not hold", "undetermined"
VERDICTS = (HOLDS, DOES_NOT_HOLD, UNDETERMINED)
#: Confidence level and bootstrap resamples used everywhere.
CONFIDENCE = 0.95
N_RESAMPLES = 4000
BOOTSTRAP_SEED = 0
#: z for the normal approximation used by :func:`facts_needed` (two-sided 95%).
Z95 = 1.959963984540054
#: Fewest facts on which a difference over facts can be decided (module docstring): the smallest n at which
#: an exact two-sided sign test can reach 5% (2 · 0.5⁶ = 0.031; 2 · 0.5⁵ = 0.0625).
MIN_FACTS = 6
#: Largest share of a method's generated answers that may be cut off at the answer budget (``max_new_tokens``)
#: before a claim on a generation metric (exact match, token F1, gold contained) is undetermined: beyond it the
#: score measures the budget, not the method (seen on a reader's folder: 37 of 40 answers cut at 16 tokens).
MAX_CUT_SHARE = 0.10
#: How close to 0 or 1 two identical score lists must be to count as a floor or ceiling (:func:`artefact`): there
#: a zero-width interval says only that neither method could move (e.g. both right on the same 1 of 40 facts).
FLOOR_SHARE = 0.05
#: Row metrics computed from a generated answer (the ones an answer cut off at the budget can fake).
GENERATION_METRICS = frozenset({"em", "f1", "contains", "exact_match"})

_ID_FACT = re.compile(r"^(?:test|dev|train|revised)-(?P<entity>[^-]+(?:-lookalike)?)-(?P<relation>[a-z_]+)(?:-\d+)?$")


def fact_of(row: Mapping | str) -> str:
    """The fact a question row is about: ``"<entity_id>/<relation>"``, or the question id for
    questions that are their own unit (control questions, user QA without an entity).

    Uses ``row["fact"]`` when present (rows written by :func:`lorag_nb.methods.evaluation.evaluate_qa`), else
    parses the knowledge set's id scheme (``test-e001-occupation-7`` → ``e001/occupation``).
    """
    if isinstance(row, Mapping):
        if row.get("fact"):
            return str(row["fact"])
        rid = str(row.get("id"))
    else:
        rid = str(row)
    m = _ID_FACT.match(rid)
    return f"{m['entity']}/{m['relation']}" if m else rid


# --------------------------------------------------------------------------- per-fact scores


@dataclass(frozen=True)
class Scores:
    """One method's per-fact values of one metric.

    Attributes:
        label: the method's display name.
        by_fact: fact → mean of the metric over the fact's questions and over seeds, in [0, 1] for
            accuracies (any float for other metrics).
        n_questions: questions per seed that went into it.
        seeds: the training seeds averaged (``()`` for an untrained method).
        by_seed: seed → the metric's mean over questions for that seed alone (each seed's value).
        cut: for a generation metric (:data:`GENERATION_METRICS`), the share of the rows behind it whose answer
            was cut off at the answer budget (row ``"cut"``, else ``"truncated"`` in rows stored before it
            existed); None for other metrics or rows without the flag.
    """

    label: str
    by_fact: dict
    n_questions: int
    seeds: tuple = ()
    by_seed: dict = field(default_factory=dict)
    cut: float | None = None

    @property
    def n_facts(self) -> int:
        return len(self.by_fact)

    @property
    def mean(self) -> float:
        """Mean over facts (each fact weighs the same); NaN without facts."""
        return sum(self.by_fact.values()) / len(self.by_fact) if self.by_fact else float("nan")

    @property
    def seed_spread(self) -> float | None:
        """Largest minus smallest per-seed value (the noise floor of retraining); None with < 2 seeds."""
        vals = [v for v in self.by_seed.values() if v is not None]
        return (max(vals) - min(vals)) if len(vals) >= 2 else None

    def minus(self, other: "Scores", label: str = "") -> "Scores":
        """Per-fact ``self − other`` on their common facts (e.g. a method's change between two settings)."""
        common = sorted(set(self.by_fact) & set(other.by_fact))
        cuts = [c for c in (self.cut, other.cut) if c is not None]
        return Scores(label or f"{self.label} − {other.label}", {f: self.by_fact[f] - other.by_fact[f] for f in common}, max(self.n_questions, other.n_questions), self.seeds, {},
                      max(cuts) if cuts else None)

    def restrict(self, facts: Iterable[str]) -> "Scores":
        """The same scores on a subset of facts."""
        keep = set(facts)
        return Scores(self.label, {f: v for f, v in self.by_fact.items() if f in keep}, self.n_questions, self.seeds, self.by_seed, self.cut)


def _value(row: Mapping, metric: str) -> float | None:
    v = row.get(metric)
    if v is None:
        return None
    return float(v)


def scores(rows: Sequence[Mapping] | Mapping[int, Sequence[Mapping]], metric: str, label: str = "", transform=None) -> Scores:
    """Per-fact means of ``metric`` over question rows (one seed), or over several seeds' rows.

    Args:
        rows: per-question rows (``evaluate_qa``'s rows: each has ``id`` and optionally ``fact``), or
            ``{seed: rows}`` for a method trained with several seeds; each seed's per-fact means are
            averaged over seeds, so every fact weighs the same whatever its number of wordings.
        metric: a row field (``"mc_correct"``, ``"em"``, ``"f1"``, ``"contains"``, ``"latency_ms"``…);
            booleans count as 0/1; rows where it is None are skipped.
        transform: optional ``f(value) -> value`` applied per row (e.g. ``lambda c: 1 - c`` for a wrong rate).

    Returns:
        :class:`Scores`.

    Raises:
        ValueError: no row carries the metric.
    """
    by_seed_rows = dict(rows) if isinstance(rows, Mapping) else {None: rows}
    per_seed_fact: dict[Any, dict[str, float]] = {}
    n_q = 0
    flags: list[bool] = []
    for seed, rs in by_seed_rows.items():
        acc: dict[str, list[float]] = {}
        for r in rs:
            v = _value(r, metric)
            if v is None:
                continue
            acc.setdefault(fact_of(r), []).append(transform(v) if transform else v)
            flag = r.get("cut", r.get("truncated"))
            if metric in GENERATION_METRICS and flag is not None:
                flags.append(bool(flag))
        if acc:
            per_seed_fact[seed] = {f: sum(v) / len(v) for f, v in acc.items()}
            n_q = max(n_q, sum(len(v) for v in acc.values()))
    if not per_seed_fact:
        raise ValueError(f"no row carries the metric {metric!r}{f' for {label}' if label else ''}; rows have keys {sorted(next(iter(by_seed_rows.values()))[0]) if any(by_seed_rows.values()) else '[] (no rows)'}")
    facts = sorted(set.intersection(*[set(d) for d in per_seed_fact.values()]))
    by_fact = {f: sum(d[f] for d in per_seed_fact.values()) / len(per_seed_fact) for f in facts}
    seeds = tuple(s for s in per_seed_fact if s is not None)
    by_seed = {s: sum(d.values()) / len(d) for s, d in per_seed_fact.items() if s is not None}
    return Scores(label=label, by_fact=by_fact, n_questions=n_q, seeds=seeds, by_seed=by_seed, cut=(sum(flags) / len(flags)) if flags else None)


# --------------------------------------------------------------------------- estimates with intervals


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval and what it rests on.

    Attributes:
        value: the point estimate (mean over facts, or a median ratio).
        low, high: the 95% interval (equal for an exact quantity).
        n_facts: the statistical units (facts, control questions, or repetitions for timings).
        n_questions: questions behind it (per seed), or measurements.
        seeds: training seeds averaged.
        seed_spread: largest minus smallest per-seed value (None with fewer than 2 seeds).
        se: standard error (bootstrap standard deviation; None for exact or spread-based values).
        sd: standard deviation of the per-unit differences (for :func:`facts_needed`).
        method: how the interval was obtained, in words.
        unit: ``"fraction"``, ``"ratio"``, ``"ms"``…
    """

    value: float
    low: float
    high: float
    n_facts: int
    n_questions: int = 0
    seeds: tuple = ()
    seed_spread: float | None = None
    se: float | None = None
    sd: float | None = None
    method: str = "paired bootstrap over facts (BCa, 95%)"
    unit: str = "fraction"
    #: The values a p-value is computed from (:func:`p_value`): the bootstrap distribution of a paired
    #: difference, or the repetitions of a ratio; None for exact quantities and unmeasured values. Not shown.
    null: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def has_interval(self) -> bool:
        return all(isinstance(x, (int, float)) and not math.isnan(x) for x in (self.value, self.low, self.high)) and self.low <= self.value + 1e-12 and self.value <= self.high + 1e-12

    def text(self, pct: bool | None = None, signed: bool = False) -> str:
        """``"62.3% [54.1, 70.0]"`` for fractions, ``"0.52× [0.48, 0.57]"`` for ratios."""
        pct = self.unit == "fraction" if pct is None else pct
        if not self.has_interval:
            if self.value != self.value:  # NaN: not measured
                return "not measured"
            v = (f"{100 * self.value:{'+' if signed else ''}.1f}" + ("" if signed else "%")) if pct else f"{self.value:.3g}"
            return f"{v} (no interval: {self.n_facts} unit{'s' if self.n_facts != 1 else ''})"
        if pct:
            fmt = (lambda x: f"{100 * x:+.1f}") if signed else (lambda x: f"{100 * x:.1f}")
            return f"{fmt(self.value)}{'' if signed else '%'} [{fmt(self.low)}, {fmt(self.high)}]" + (" pts" if signed else "")
        if self.unit == "ratio":
            return f"{self.value:.2f}× [{self.low:.2f}, {self.high:.2f}]"
        sign = "+" if signed else ""
        return f"{self.value:{sign}.3g} [{self.low:{sign}.3g}, {self.high:{sign}.3g}] {self.unit}".strip()


@stage("bootstrap")
def _bootstrap(samples: Sequence[Sequence[float]], statistic, paired: bool, confidence: float, n_resamples: int, seed: int, distribution: list | None = None) -> tuple[float, float, float]:
    import numpy as np
    from scipy import stats

    data = tuple(np.asarray(s, dtype=float) for s in samples)
    if all(np.all(d == d[0]) for d in data):  # no variation: every resample is the same
        v = float(statistic(*data, axis=-1))
        if distribution is not None:
            distribution.extend([v] * n_resamples)
        return v, v, 0.0
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap(data, statistic, paired=paired, vectorized=True, n_resamples=n_resamples, confidence_level=confidence, method=method, random_state=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isnan(lo) or math.isnan(hi)):
            if distribution is not None:
                distribution.extend(float(x) for x in res.bootstrap_distribution)
            return lo, hi, float(res.standard_error)
    return float("nan"), float("nan"), float(res.standard_error)  # pragma: no cover - percentile is always defined


def _mean_stat(x, axis=-1):
    return x.mean(axis=axis)


def _diff_stat(a, b, axis=-1):
    return a.mean(axis=axis) - b.mean(axis=axis)


def mean_estimate(s: Scores, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Estimate:
    """A method's mean over facts with its 95% bootstrap interval (resampling facts).

    Source: ``scipy.stats.bootstrap`` (BCa; Efron 1987), facts as the resampled unit.

    Raises:
        ValueError: ``s`` has no facts.
    """
    if not s.by_fact:
        raise ValueError(f"no facts to estimate {s.label or 'a mean'} from")
    vals = list(s.by_fact.values())
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return Estimate(m, float("nan"), float("nan"), 1, s.n_questions, s.seeds, s.seed_spread, method="one fact: no interval")
    lo, hi, se = _bootstrap([vals], _mean_stat, paired=False, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return Estimate(m, min(lo, m), max(hi, m), len(vals), s.n_questions, s.seeds, s.seed_spread, se=se, sd=_sd(vals), method="bootstrap over facts (BCa, 95%)")


def _sd(vals: Sequence[float]) -> float:
    n = len(vals)
    if n < 2:
        return 0.0
    m = sum(vals) / n
    return math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1))


def difference(a: Scores, b: Scores, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Estimate:
    """``a − b`` on the facts both were scored on, with a 95% **paired** bootstrap interval over facts.

    Source: ``scipy.stats.bootstrap(..., paired=True)`` (BCa; Efron 1987): facts are resampled jointly,
    so each resample compares the two methods on the same facts. ``seed_spread`` is the larger of the
    two methods' seed spreads; ``seeds`` the union of their seeds.

    Raises:
        ValueError: the two share no fact (they were scored on different questions).
    """
    common = sorted(set(a.by_fact) & set(b.by_fact))
    if not common:
        raise ValueError(f"{a.label or 'a'} and {b.label or 'b'} share no fact: they were scored on different questions")
    if len(common) < max(a.n_facts, b.n_facts):
        warnings.warn(f"{a.label} and {b.label} compared on the {len(common)} facts both answered (of {a.n_facts} and {b.n_facts})", stacklevel=2)
    xa, xb = [a.by_fact[f] for f in common], [b.by_fact[f] for f in common]
    d = [x - y for x, y in zip(xa, xb)]
    value = sum(d) / len(d)
    spreads = [s for s in (a.seed_spread, b.seed_spread) if s is not None]
    seeds = tuple(sorted(set(a.seeds) | set(b.seeds)))
    nq = max(a.n_questions, b.n_questions)
    if len(common) == 1:
        return Estimate(value, float("nan"), float("nan"), 1, nq, seeds, max(spreads) if spreads else None, method="one fact: no interval")
    boot: list[float] = []
    lo, hi, se = _bootstrap([xa, xb], _diff_stat, paired=True, confidence=confidence, n_resamples=n_resamples, seed=seed, distribution=boot)
    return Estimate(value, min(lo, value), max(hi, value), len(common), nq, seeds, max(spreads) if spreads else None, se=se, sd=_sd(d), null=tuple(boot))


def ratio_estimate(ratios: Sequence[float], what: str = "interleaved repetitions") -> Estimate:
    """A ratio measured several times in one process: the median, with the range of the repetitions as
    its interval (the spread; e.g. LoRA time per step ÷ full fine-tuning time per step, measured
    interleaved A, B, A, B so both see the same machine load).

    Raises:
        ValueError: fewer than 2 repetitions (one measurement has no spread).
    """
    vals = sorted(float(r) for r in ratios if r is not None and not math.isnan(float(r)))
    if len(vals) < 2:
        raise ValueError(f"a ratio needs at least 2 repetitions to show its spread; got {len(vals)}")
    n = len(vals)
    med = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    return Estimate(med, vals[0], vals[-1], n, n, method=f"median of {n} {what}, interval = their range", unit="ratio", null=tuple(vals))


def exact(value: float, unit: str = "ratio", what: str = "exact quantity (no sampling)") -> Estimate:
    """A quantity measured exactly (file sizes, parameter counts): a zero-width interval."""
    return Estimate(float(value), float(value), float(value), 1, 1, method=what, unit=unit)


def facts_needed(diff: Estimate, threshold: float = 0.0, confidence: float = CONFIDENCE) -> int | None:
    """Facts that would likely decide an undetermined difference: the n at which the normal-approximation
    95% interval around the observed effect would exclude the threshold, ``ceil((z · sd / |d − t|)²)``
    with ``sd`` the standard deviation of the per-fact differences (``se · √n`` if sd is unknown).

    Returns:
        An int ≥ the current number of facts, or None when the effect equals the threshold (no
        number of facts decides an effect of exactly the threshold) or the spread is unknown.
    """
    gap = abs(diff.value - threshold)
    sd = diff.sd if diff.sd else (diff.se * math.sqrt(diff.n_facts) if diff.se else None)
    if gap < 1e-12:
        return None
    if not sd:  # every fact moved alike: the sign test decides once there are MIN_FACTS of them
        return MIN_FACTS if too_few_facts(diff) else None
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    return max(diff.n_facts + 1, MIN_FACTS, math.ceil((z * sd / gap) ** 2))


def too_few_facts(diff: Estimate) -> bool:
    """Whether ``diff`` is a difference over facts (unit ``"fraction"``) on fewer than :data:`MIN_FACTS` facts,
    which no interval decides (module docstring). Ratios of repeated timings and exact quantities are not
    counted in facts and are never too few here."""
    return diff.unit == "fraction" and diff.n_facts < MIN_FACTS


def decide(diff: Estimate, threshold: float = 0.0, side: str = "greater") -> str:
    """The verdict rule (see the module docstring): holds / does not hold / undetermined.

    Raises:
        ValueError: ``side`` is not ``"greater"`` or ``"less"``.
    """
    if side not in ("greater", "less"):
        raise ValueError(f"side must be 'greater' or 'less'; got {side!r}")
    if not diff.has_interval or too_few_facts(diff):
        return UNDETERMINED
    if side == "greater":
        if diff.low > threshold:
            return HOLDS
        if diff.high <= threshold:
            return DOES_NOT_HOLD
    else:
        if diff.high < threshold:
            return HOLDS
        if diff.low >= threshold:
            return DOES_NOT_HOLD
    return UNDETERMINED


def p_value(diff: Estimate, threshold: float = 0.0) -> float | None:
    """The two-sided p-value of "``diff`` equals ``threshold``", from the values its interval came from;
    None where nothing was sampled (an exact quantity, a value not measured) or fewer than :data:`MIN_FACTS`
    facts (which decide nothing whatever their p).

    - A paired difference over facts: the bootstrap p-value, twice the share of the bootstrap distribution
      on the far side of the threshold, ``2 · min(#{θ* ≤ t} + 1, #{θ* ≥ t} + 1) / (B + 1)``, capped at 1
      (Davison & Hinkley 1997, *Bootstrap Methods and their Application*, §4.4; the +1 keeps it above 0).
      It matches the percentile interval; the BCa interval that decides the verdict can differ at the edge.
    - A ratio over interleaved repetitions: the exact two-sided sign test of the repetitions against the
      threshold (``scipy.stats.binomtest``, p = 0.5; repetitions equal to it are dropped): 5 repetitions all
      below 1.0 give p = 2 · 0.5⁵ = 0.0625.

    Returns:
        a float in (0, 1], or None.
    """
    vals = diff.null
    if not vals or not diff.has_interval or (diff.unit == "fraction" and too_few_facts(diff)):
        return None
    below = sum(1 for v in vals if v < threshold)
    above = sum(1 for v in vals if v > threshold)
    if diff.unit == "ratio":
        from scipy.stats import binomtest

        n = below + above
        return float(binomtest(min(below, above), n, 0.5).pvalue) if n else 1.0
    at_or_below, at_or_above = len(vals) - above, len(vals) - below
    return min(1.0, 2 * (min(at_or_below, at_or_above) + 1) / (len(vals) + 1))


#: Family-wise error rate of the Holm–Bonferroni column (:func:`holm`).
FAMILY_ALPHA = 0.05


def holm(verdicts: Sequence["Verdict"], alpha: float = FAMILY_ALPHA) -> list["Verdict"]:
    """The verdicts with Holm–Bonferroni adjusted p-values: one family-wise error rate for a whole table.

    Source: Holm (1979), *A Simple Sequentially Rejective Multiple Test Procedure*, Scand. J. Statist. 6:65–70.
    The family is every verdict with a :func:`p_value` (``m`` of them; exact quantities, values not measured,
    comparisons refused for an artefact and differences on fewer than :data:`MIN_FACTS` facts test nothing and
    are left out). Sorted by p, the i-th (from 0) gets ``min(1, (m − i) · p)``, made non-decreasing; a decided
    verdict keeps its word at family-wise ``alpha`` when its adjusted p is ≤ ``alpha``. An undetermined verdict
    stays undetermined: the column never decides a claim the 95% interval left open.

    Returns:
        new :class:`Verdict` objects (same order) with ``p_holm`` and ``family`` set.
    """
    tested = sorted((v.p_value, i) for i, v in enumerate(verdicts) if v.p_value is not None)
    m, adjusted, running = len(tested), {}, 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return [dataclasses.replace(v, p_holm=adjusted.get(i), family=m, family_alpha=alpha) for i, v in enumerate(verdicts)]


# --------------------------------------------------------------------------- claims


@dataclass
class Verdict:
    """One claim judged on one run's numbers.

    Attributes:
        id: stable claim id (:data:`CLAIMS` key).
        claim: the article's claim, in words.
        measured: label → :class:`Estimate` (each method's value with its interval).
        diff: the difference (or ratio) the verdict is about, with its interval.
        threshold, side: the claim says ``diff`` is ``side`` (greater/less) than ``threshold``.
        verdict: one of :data:`VERDICTS`.
        compared: what ``diff`` is, in words (``"LoRA − full fine-tuning, MC accuracy"``).
        why: one sentence computed from the numbers.
        facts_needed: for an undetermined verdict, facts that would likely decide it.
        condition: where it was measured (model, data, steps, device).
        sections: links to the notebook sections that measured it.
    """

    id: str
    claim: str
    measured: dict
    diff: Estimate
    threshold: float
    side: str
    verdict: str
    compared: str
    why: str = ""
    facts_needed: int | None = None
    condition: str = ""
    sections: str = ""
    p_value: float | None = None
    p_holm: float | None = None
    family: int = 0
    family_alpha: float = FAMILY_ALPHA

    def holm_text(self) -> str:
        """The Holm column (:func:`holm`): ``"keeps its word (Holm p 0.004, 1 of 18)"``, ``"not at family-wise
        5% (Holm p 0.21)"``, ``"– (undetermined; Holm p 0.8)"``, or why the verdict is not in the family."""
        if self.p_holm is None:
            if not self.family:
                return "–"
            return "– (exact quantity: no test)" if self.diff.null is None and self.diff.has_interval else "– (not tested: decides nothing)"
        adj = f"Holm p {self.p_holm:.2g}, family of {self.family}"
        if self.verdict == UNDETERMINED:
            return f"– (undetermined; {adj})"
        if self.p_holm <= self.family_alpha:
            return f"keeps its word ({adj})"
        return f"not at family-wise {100 * self.family_alpha:.0f}% ({adj})"

    def row(self) -> dict:
        """A flat row for tables: claim, measured, difference (95% CI), n facts, n questions, seeds,
        seed spread, threshold, verdict, why."""
        d = self.diff
        thr = f"{'>' if self.side == 'greater' else '<'} {self._fmt_threshold()}"
        return {
            "claim": self.claim,
            "measured": "; ".join(f"{k} {v.text()}" for k, v in self.measured.items()),
            "difference (95% CI)": f"{self.compared}: {d.text(signed=d.unit == 'fraction')}",
            "n facts": d.n_facts,
            "n questions": d.n_questions,
            "seeds": ", ".join(str(s) for s in d.seeds) if d.seeds else "–",
            "seed spread": "–" if d.seed_spread is None else (f"{100 * d.seed_spread:.1f} pts" if d.unit == "fraction" else f"{d.seed_spread:.3g}"),
            "threshold": thr,
            "verdict": self.verdict_text(),
            **({"Holm (family-wise 5%)": self.holm_text()} if self.family else {}),
            "why": self.why,
        }

    def _fmt_threshold(self) -> str:
        if self.diff.unit == "fraction":
            return f"{100 * self.threshold:+.0f} pts" if self.threshold else "0"
        if self.diff.unit == "ratio":
            return f"{self.threshold:g}×"
        return f"{self.threshold:g} {self.diff.unit}"

    def verdict_text(self) -> str:
        if self.verdict == UNDETERMINED:
            need = f"; ~{self.facts_needed:,} facts would likely decide it" if self.facts_needed else ""
            return f"undetermined at this sample{need}"
        return self.verdict




def artefact(a: Scores, b: Scores) -> str | None:
    """Why the comparison of ``a`` and ``b`` cannot decide a claim although it has an interval, or None.

    - More than :data:`MAX_CUT_SHARE` of either side's generated answers were cut off at the answer budget:
      ``"undetermined: 93% of RAG's answers cut off at the budget"`` (the score measures ``max_new_tokens``).
    - Both sides score the same on every common fact with a mean within :data:`FLOOR_SHARE` of 0 or 1 (e.g.
      both right on the same 1 of 40): the paired interval has zero width at the floor or ceiling, which shows
      that neither could move, not that they are equal.
    """
    for s in (a, b):
        if s.cut is not None and s.cut > MAX_CUT_SHARE:
            return (f"{100 * s.cut:.0f}% of {s.label or 'one side'}'s answers cut off at the answer budget (max_new_tokens; more than "
                    f"{100 * MAX_CUT_SHARE:.0f}% decides nothing: the score would measure the budget)")
    common = sorted(set(a.by_fact) & set(b.by_fact))
    if len(common) >= 2 and all(a.by_fact[f] == b.by_fact[f] for f in common):
        level = a.restrict(common).mean
        if level <= FLOOR_SHARE or level >= 1 - FLOOR_SHARE:
            return (f"both score the same on every one of the {len(common)} facts, at {100 * level:.1f}%: "
                    "a zero-width interval at the floor or ceiling decides nothing")
    return None


def judge(claim_id: str, diff: Estimate, measured: Mapping[str, Estimate] | None = None, why: str = "", condition: str = "", sections: str = "", compared: str | None = None,
          blocked: str | None = None) -> Verdict:
    """Judge claim ``claim_id`` (:data:`CLAIMS`) on ``diff`` with the one rule (:func:`decide`).

    Args:
        diff: the difference (or ratio) of :data:`CLAIMS`'s fourth field, with its interval.
        measured: each method's own value with its interval (shown beside the verdict).
        why: the numbers in words; the verdict's own reason is appended.
        blocked: an artefact that explains the numbers (:func:`artefact`): the verdict is undetermined and
            this is its reason, whatever the interval says.

    Raises:
        KeyError: unknown claim id (the message lists the known ones).
    """
    if claim_id not in CLAIMS:
        raise KeyError(f"unknown claim {claim_id!r}; known: {sorted(CLAIMS)}")
    text, side, threshold, what = CLAIMS[claim_id]
    verdict = UNDETERMINED if blocked else decide(diff, threshold, side)
    need = facts_needed(diff, threshold) if verdict == UNDETERMINED and diff.unit == "fraction" and not blocked else None
    rel = ">" if side == "greater" else "<"
    thr = f"{100 * threshold:+.0f} pts" if diff.unit == "fraction" and threshold else f"{threshold:g}{'×' if diff.unit == 'ratio' else ''}"
    reason = {
        HOLDS: f"the whole 95% interval is {rel} {thr}",
        DOES_NOT_HOLD: f"the whole 95% interval is on the other side of {thr}",
        UNDETERMINED: (f"only {diff.n_facts} facts: fewer than {MIN_FACTS} decide nothing (an exact sign test needs {MIN_FACTS} to reach 95%)" if diff.has_interval and too_few_facts(diff)
                       else f"the 95% interval contains {thr}" if diff.has_interval else "no interval could be computed"),
    }[verdict]
    if blocked:
        reason = f"undetermined: {blocked}"
    full_why = f"{why}; {reason}" if why else reason
    p = None if blocked else p_value(diff, threshold)
    return Verdict(claim_id, text, dict(measured or {}), diff, threshold, side, verdict, compared or what, full_why, need, condition, sections, p_value=p)


def compare_scores(claim_id: str, a: Scores, b: Scores, why: str = "", condition: str = "", sections: str = "", extra: Mapping[str, Estimate] | None = None) -> Verdict:
    """Judge a claim about ``a − b`` (the order of :data:`CLAIMS`'s fourth field) on the facts both were
    scored on: the paired interval of :func:`difference`, each side's own interval beside it.

    This is how every notebook judges an accuracy or forgetting claim, so the same stored numbers give
    the same verdict in notebook 01–04 as in notebook 05.
    """
    measured = {a.label or "a": mean_estimate(a), b.label or "b": mean_estimate(b), **dict(extra or {})}
    return judge(claim_id, difference(a, b), measured, why, condition, sections, blocked=artefact(a, b))


def no_sample(claim_id: str, why: str, condition: str = "", sections: str = "") -> Verdict:
    """An undetermined verdict for a claim this run could not measure (the reason says what is missing)."""
    text, side, threshold, what = CLAIMS[claim_id]
    nan = float("nan")
    return Verdict(claim_id, text, {}, Estimate(nan, nan, nan, 0, method="not measured"), threshold, side, UNDETERMINED, what, why, None, condition, sections)


def frame(verdicts: Sequence[Verdict]):
    """The verdicts as a pandas DataFrame, one row per claim (:meth:`Verdict.row`)."""
    import pandas as pd

    return pd.DataFrame([v.row() for v in verdicts]).set_index("claim") if verdicts else pd.DataFrame()


#: Each verdict's icon in a Markdown table (:func:`markdown`, :func:`lorag_nb.experiments.reference.findings`).
ICONS = {HOLDS: "✅", DOES_NOT_HOLD: "❌", UNDETERMINED: "❔"}


def md_cell(text: Any) -> str:
    """One Markdown table cell: ``|`` escaped, newlines folded into spaces."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(verdicts: Sequence[Verdict], links: bool = True) -> str:
    """The verdicts as a Markdown table (claim, measured with 95% CIs, difference with CI, n facts /
    questions / seeds, threshold, verdict, why, sections), with a Holm–Bonferroni column after the verdict
    when the verdicts went through :func:`holm`."""
    icon = ICONS
    with_holm = any(v.family for v in verdicts)
    holm_head = f" Holm–Bonferroni (family-wise {100 * FAMILY_ALPHA:.0f}%) |" if with_holm else ""
    head = "| claim | measured (95% CI) | difference (95% CI) | n facts · questions · seeds | threshold | verdict |" + holm_head + " why / condition |" + (" measured in |" if links else "")
    lines = [head, "|---|---|---|---|---|---|---|" + ("---|" if with_holm else "") + ("---|" if links else "")]
    for v in verdicts:
        r = v.row()
        spread = f", seed spread {r['seed spread']}" if r["seed spread"] != "–" else ""
        cond = f" *At {md_cell(v.condition)}.*" if v.condition else ""
        holm_cell = f" {md_cell(v.holm_text())} |" if with_holm else ""
        line = f"| {md_cell(v.claim)} | {md_cell(r['measured'])} | {md_cell(r['difference (95% CI)'])} | {r['n facts']} · {r['n questions']} · {md_cell(r['seeds'])}{md_cell(spread)} | {md_cell(r['threshold'])} | **{icon[v.verdict]} {md_cell(r['verdict'])}** |{holm_cell} {md_cell(v.why)}.{cond} |"
        if links:
            line += f" {v.sections} |"
        lines.append(line)
    return "\n".join(lines)


def holm_summary(verdicts: Sequence[Verdict]) -> str:
    """One Markdown sentence: how many decided verdicts keep their word after :func:`holm` (computed), and how
    many were decided without a test (exact quantities: no sampling, so no chance error to control)."""
    if not any(v.family for v in verdicts):
        return ""
    decided = [v for v in verdicts if v.verdict != UNDETERMINED]
    tested = [v for v in decided if v.p_value is not None]
    lost = [v.id for v in tested if v.p_holm is None or v.p_holm > v.family_alpha]
    untested = len(decided) - len(tested)
    fam = max(v.family for v in verdicts)
    return (f"Holm–Bonferroni over the {fam} verdicts with a test (family-wise {100 * FAMILY_ALPHA:.0f}%, Holm 1979): "
            f"**{len(tested) - len(lost)} of {len(tested)}** decided verdicts keep their word"
            + (f"; not at family-wise {100 * FAMILY_ALPHA:.0f}%: {', '.join(lost)}" if lost else "")
            + (f"; {untested} more decided on exact quantities (no sampling, no test)" if untested else "") + ".")


def counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many verdicts hold, do not hold, and are undetermined."""
    out = {k: 0 for k in VERDICTS}
    for v in verdicts:
        out[v.verdict] += 1
    return out


def summary(verdicts: Sequence[Verdict], condition: str = "") -> str:
    """One Markdown sentence counting the verdicts (computed, never fixed text)."""
    c = counts(verdicts)
    at = f", at {condition}" if condition else ""
    return f"**{c[HOLDS]}** claim(s) hold, **{c[DOES_NOT_HOLD]}** do not hold and **{c[UNDETERMINED]}** are undetermined at this sample{at}."
