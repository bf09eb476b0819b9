"""Notebook 05's charts of a :class:`lorag_nb.experiments.comparison_table.Comparison`: Pareto front, learning vs
forgetting, the frontier, accuracies with intervals, and the metric bars of the explorer."""
from __future__ import annotations

from typing import Sequence

from lorag_nb.core import claims as C
from lorag_nb.core import catalog
from lorag_nb.experiments.comparison_table import (
    COLUMN_HELP,
    COLUMNS,
    NO_WEIGHT_CHANGE,
    Comparison,
    pareto_front,
)
from lorag_nb.ui.plots import (
    METHOD_COLORS,
    frontier_figure,
    interval_figure,
    learning_forgetting_figure,
    metric_bars_figure,
    pareto_figure,
)


def colors(comp: Comparison) -> dict[str, str]:
    """Method label → colour (:data:`lorag_nb.ui.plots.METHOD_COLORS`, the same in every notebook)."""

    return {comp.label(m): METHOD_COLORS[catalog.method(m).color] for m in comp.methods}


def pareto_chart(comp: Comparison, accuracy: str = "test MC acc", cost: str = "setup s"):
    """Accuracy (``accuracy`` column) against set-up cost (``cost`` column), Pareto front marked (plotly figure)."""

    points = {comp.label(m): (comp.rows[m].get(cost), comp.rows[m].get(accuracy)) for m in comp.methods}
    chance = 0.25 if accuracy == "test MC acc" else None
    return pareto_figure(points, pareto_front(points), colors(comp), xaxis=f"{cost}: {COLUMN_HELP.get(cost, '')}"[:90], yaxis=accuracy, chance=chance)


def forgetting_chart(comp: Comparison, learned: str = "test MC acc"):
    """New-knowledge accuracy against forgetting (control drop, perplexity change), one point per method."""

    pts = {comp.label(m): {"learned": comp.rows[m].get(learned), "control_drop": comp.rows[m].get("control drop"), "perplexity_change": comp.rows[m].get("perplexity change"),
                           "note": NO_WEIGHT_CHANGE if comp.rows[m].get("weights unchanged") else None} for m in comp.methods}
    return learning_forgetting_figure(pts, colors(comp))


def frontier_chart(comp: Comparison):
    """Notebook 02's learning-vs-forgetting curves (:func:`lorag_nb.experiments.forgetting.frontier_series`), or an
    empty chart saying none were measured."""

    series = comp.extra.get("frontier_series") or {}
    fig = frontier_figure(series)
    if not series:
        fig.update_layout(title="Learning vs forgetting during training: no curves in this run (frontier_checkpoints = 0)")
    return fig


def intervals_chart(comp: Comparison, metric: str = "mc"):
    """Each method's held-out accuracy (``"mc"`` multiple choice, or ``"contains"``) with its 95% bootstrap
    interval over facts (the same per-fact scores the verdicts use)."""

    pts = {}
    for m in comp.methods:
        s_ = (comp.samples.get(m) or {}).get(metric)
        if s_ is not None:
            e = C.mean_estimate(s_)
            pts[comp.label(m)] = (e.value, e.low, e.high)
    n = comp.samples["base"][metric].n_facts if "base" in comp.samples else None
    what = "multiple-choice accuracy" if metric == "mc" else "gold contained"
    return interval_figure(pts, title=f"Held-out {what} with 95% intervals over {n} facts", yaxis=what, colors=colors(comp), chance=0.25 if metric == "mc" else None)


#: Metrics the bars chart shows by default.
DEFAULT_BAR_METRICS = ("test MC acc", "test EM", "revised acc", "control drop", "setup s", "p50 latency ms")


def bars_chart(comp: Comparison, metrics: Sequence[str] = DEFAULT_BAR_METRICS, methods: Sequence[str] | None = None):
    """Grouped bars: one panel per metric in ``metrics`` (columns of :data:`COLUMNS`), one bar per method.

    Raises:
        ValueError: an unknown metric or method.
    """

    bad = [m for m in metrics if m not in COLUMNS]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; valid: {list(COLUMNS)}")
    methods = list(methods) if methods is not None else comp.methods
    bad = [m for m in methods if m not in comp.rows]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; valid: {comp.methods}")
    values = {metric: {comp.label(m): comp.rows[m].get(metric) for m in methods} for metric in metrics}
    return metric_bars_figure(values, colors(comp))
