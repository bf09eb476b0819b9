"""Plotly figure builders. Each returns a ``go.Figure`` and never shows it; :func:`show` displays.

Executed notebooks (papermill, nbconvert HTML) need static figures with plotly.js embedded, because
the reader may be offline; :func:`setup_notebook` selects the ``plotly_mimetype+notebook`` renderer,
which sends both the JupyterLab mimetype (interactive in the Lab) and self-contained HTML (shown in
exported HTML and classic viewers). In Colab it selects Colab's renderer.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

TEMPLATE = "plotly_white"
#: One colour per method, used by every chart so a method keeps its colour across notebooks.
METHOD_COLORS = {
    "base": "#7f7f7f",
    "oracle": "#bcbd22",
    "full": "#d62728",
    "lora": "#1f77b4",
    "dora": "#17becf",
    "rag": "#2ca02c",
    "hybrid": "#9467bd",
    "raft": "#ff7f0e",
}


def in_colab() -> bool:
    """True inside Google Colab."""
    try:
        import google.colab  # noqa: F401

        return True
    except ImportError:
        return False


def setup_notebook() -> str:
    """Pick the plotly renderer for notebooks (see module doc); returns its name."""
    import plotly.io as pio

    pio.renderers.default = "colab" if in_colab() else "plotly_mimetype+notebook"
    return pio.renderers.default


def show(fig: go.Figure) -> None:
    """Display ``fig`` as a static (non-widget) figure with the notebook renderer."""
    fig.show()


def bar(labels: Sequence[str], values: Sequence[float], title: str, xaxis: str = "", yaxis: str = "", colors: Sequence[str] | None = None, text_format: str = ".2f") -> go.Figure:
    """A labelled bar chart (one bar per label, value printed on each bar)."""
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), marker_color=list(colors) if colors else None, text=[format(v, text_format) for v in values], textposition="auto"))
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, template=TEMPLATE, height=380)
    return fig


def grouped_bars(groups: Mapping[str, Mapping[str, float]], title: str, yaxis: str = "", range_y: tuple[float, float] | None = None) -> go.Figure:
    """Grouped bars: ``groups[series][category] = value``; one colour per series (method colours where named)."""
    fig = go.Figure()
    for series, values in groups.items():
        fig.add_bar(name=series, x=list(values), y=list(values.values()), marker_color=METHOD_COLORS.get(series), text=[f"{v:.2f}" for v in values.values()], textposition="auto")
    fig.update_layout(title=title, yaxis_title=yaxis, barmode="group", template=TEMPLATE, height=400)
    if range_y:
        fig.update_yaxes(range=list(range_y))
    return fig


def counts_bar(counts: Mapping[str, int], title: str, xaxis: str = "", yaxis: str = "count") -> go.Figure:
    """Bar chart of integer counts, sorted by label."""
    labels = sorted(counts)
    return bar(labels, [counts[k] for k in labels], title, xaxis, yaxis, text_format="d")


def add_reference_line(fig: go.Figure, y: float, label: str, color: str = "#444", dash: str = "dash") -> go.Figure:
    """A horizontal dashed line at ``y`` with a label (e.g. full fine-tuning, chance, oracle ceiling)."""
    fig.add_hline(y=y, line_dash=dash, line_color=color, annotation_text=label, annotation_position="top left")
    return fig


# --------------------------------------------------------------------------- notebook 00: tour and baseline

ANSWER_METRICS = {"exact_match": "exact match", "f1": "token F1", "contains": "gold contained", "mc_accuracy": "MC accuracy"}


def entities_per_kind(ks) -> go.Figure:
    """Bar chart: how many entities of each kind the knowledge set ``ks`` holds."""
    from collections import Counter

    return counts_bar(Counter(e["kind"] for e in ks.entities), "Entities per kind", "kind", "entities")


def facts_per_relation(ks) -> go.Figure:
    """Bar chart: how many atomic facts each relation contributes."""
    from collections import Counter

    return counts_bar(Counter(r for e in ks.entities for r in e["attributes"]), "Facts per relation", "relation", "facts")


def baseline_answers(metrics: dict, chance: float = 0.25) -> go.Figure:
    """Grouped bars of answer metrics for the base model: closed book vs oracle document (ceiling),
    and revised-facts questions closed book; a dashed line at multiple-choice chance (1 / options)."""
    groups = {}
    for key, label in (("test", "closed book"), ("oracle", "oracle document"), ("revised", "revised facts, closed book")):
        if key in metrics:
            groups[label] = {ANSWER_METRICS[m]: (metrics[key].get(m) or 0.0) for m in ANSWER_METRICS}
    fig = grouped_bars(groups, "Base model on the fictional-world test questions", "fraction correct", range_y=(0, 1))
    return add_reference_line(fig, chance, f"MC chance = {chance:.2f}")


def forgetting_baseline(metrics: dict) -> go.Figure:
    """Two panels: control-set accuracy and real-text perplexity of the base model (forgetting baseline)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Control set: general knowledge (gold contained)", "Perplexity on Python docs (lower is better)"))
    fig.add_bar(x=["base"], y=[metrics["control_accuracy"]], marker_color=METHOD_COLORS["base"], text=[f"{metrics['control_accuracy']:.2f}"], row=1, col=1, showlegend=False)
    fig.add_bar(x=["base"], y=[metrics["perplexity"]], marker_color=METHOD_COLORS["base"], text=[f"{metrics['perplexity']:.1f}"], row=1, col=2, showlegend=False)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_layout(template=TEMPLATE, height=360, title="What fine-tuning must not break")
    return fig
