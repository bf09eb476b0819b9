"""Plotly figure builders. Each returns a ``go.Figure`` and never shows it; :func:`show` displays.

Executed notebooks (papermill, nbconvert HTML) need static figures with plotly.js embedded, because
the reader may be offline; :func:`setup_notebook` selects the ``plotly_mimetype+notebook`` renderer,
which sends both the JupyterLab mimetype (interactive in the Lab) and self-contained HTML (shown in
exported HTML and classic viewers). In Colab it selects Colab's renderer.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from lorag_nb.core import catalog
from lorag_nb.core.stages import stage
from lorag_nb.data.knowledge import active_knowledge

TEMPLATE = "plotly_white"
#: One colour per method, used by every chart so a method keeps its colour across notebooks; keyed by
#: :attr:`lorag_nb.core.catalog.Method.color` (plus ``oracle`` and ``dora``, which are not methods of their own).
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


@stage("plotting")
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
    where = "the fictional-world test questions" if active_knowledge() is None else "your folder's test questions"  # a label true for the folder at hand
    fig = grouped_bars(groups, f"Base model on {where}", "fraction correct", range_y=(0, 1))
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


# --------------------------------------------------------------------------- notebook 03: RAG and the top-k explorer

RAG_ANSWER_METRICS = {"exact_match": "exact match", "f1": "token F1", "contains": "gold contained", "mc_accuracy": "MC accuracy"}
_RAG_METRIC_COLORS = {"exact_match": "#1f77b4", "f1": "#ff7f0e", "contains": "#2ca02c", "mc_accuracy": "#9467bd"}


def _ticks_at(fig: go.Figure, xs) -> go.Figure:
    """x ticks at exactly these values when there are at most 12 (an integer axis such as top_k then
    never shows 1.5); more are left to plotly, whose automatic ticks on a wide range are whole numbers."""
    values = sorted(set(xs))
    return fig.update_xaxes(tickmode="array", tickvals=values) if len(values) <= 12 else fig


def label_positions(ys: Sequence[float]) -> list[str]:
    """Plotly ``textposition`` for value labels drawn side by side at one x: the highest value's label
    above its marker, the lowest's below, the rest beside it, so labels of close values (0.37, 0.35)
    do not print on top of each other. Same order as ``ys``."""
    order = sorted(range(len(ys)), key=lambda i: -ys[i])
    pos = ["middle right"] * len(ys)
    if len(ys) > 1:
        pos[order[0]], pos[order[-1]] = "top right", "bottom right"
    return pos


def _mark_k(fig: go.Figure, k: int | None) -> go.Figure:
    if k is not None:
        fig.add_vline(x=k, line_dash="dot", line_color="#444", annotation_text=f"top_k = {k}", annotation_position="top right")
    return fig


def hit_at_k_figure(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], chosen_k: int | None = None, title: str = "Retrieval: hit@k (gold document among the top-k chunks)", yaxis: str = "hit@k") -> go.Figure:
    """Lines of hit@k (or recall@k) against k, one per label; the chosen k marked with a dotted line and dots."""
    fig = go.Figure()
    for label, (ks, values) in curves.items():
        fig.add_scatter(x=list(ks), y=list(values), mode="lines+markers", name=label)
    at_k = {label: values[list(ks).index(chosen_k)] for label, (ks, values) in curves.items() if chosen_k is not None and chosen_k in ks}
    for (label, y), pos in zip(at_k.items(), label_positions(list(at_k.values()))):
        fig.add_scatter(x=[chosen_k], y=[y], mode="markers+text", marker=dict(size=13, symbol="circle-open", line=dict(width=2)), text=[f"{y:.2f}"], textposition=pos, showlegend=False, name=f"{label} at k")
    _ticks_at(fig, [k for ks, _ in curves.values() for k in ks])
    fig.update_layout(title=title, xaxis_title="k (chunks retrieved)", yaxis_title=yaxis, template=TEMPLATE, height=380, yaxis_range=[0, 1.05])
    return _mark_k(fig, chosen_k)


def answers_vs_k_figure(rows: Sequence[Mapping], chosen_k: int | None = None, references: Mapping[str, float] | None = None, metrics: Sequence[str] = ("exact_match", "f1", "contains", "mc_accuracy"), title: str = "Answers vs top_k") -> go.Figure:
    """Answer metrics (rows of ``nb03.sweep_frame``) against top_k, with error bars where a row carries
    ``<metric>_low`` / ``<metric>_high`` (95% intervals over facts); dashed reference lines (e.g. the oracle ceiling)."""
    fig = go.Figure()
    rows = sorted(rows, key=lambda r: r["top_k"])
    for m in metrics:
        pts = [r for r in rows if r.get(m) is not None and r[m] == r[m]]  # skip None and NaN
        if pts:
            ok = [r.get(f"{m}_low") is not None and r.get(f"{m}_high") is not None and r[f"{m}_low"] == r[f"{m}_low"] for r in pts]
            err = dict(type="data", symmetric=False, array=[r[f"{m}_high"] - r[m] if o else 0 for r, o in zip(pts, ok)], arrayminus=[r[m] - r[f"{m}_low"] if o else 0 for r, o in zip(pts, ok)], thickness=1.2, width=5) if any(ok) else None
            fig.add_scatter(x=[r["top_k"] for r in pts], y=[r[m] for r in pts], mode="lines+markers", name=RAG_ANSWER_METRICS.get(m, m), line_color=_RAG_METRIC_COLORS.get(m), error_y=err)
    for label, y in (references or {}).items():
        if y is not None:
            add_reference_line(fig, y, label)
    if not rows:
        fig.add_annotation(text="answers not computed for this setting", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_title="top_k (chunks in the prompt)", yaxis_title="fraction correct", template=TEMPLATE, height=380, yaxis_range=[0, 1.05])
    _ticks_at(fig, [r["top_k"] for r in rows])
    return _mark_k(fig, chosen_k)


def latency_vs_k_figure(rows: Sequence[Mapping], chosen_k: int | None = None, title: str = "Latency per question vs top_k (ms)") -> go.Figure:
    """Stacked bars of embedding, search and generation time per question (ms) at each top_k."""
    rows = sorted(rows, key=lambda r: r["top_k"])
    fig = go.Figure()
    for key, label, color in (("embedding_ms", "embedding", "#8c564b"), ("search_ms", "search", "#e377c2"), ("generation_ms", "generation", METHOD_COLORS["rag"])):
        fig.add_bar(x=[r["top_k"] for r in rows], y=[r[key] for r in rows], name=label, marker_color=color)
    if not rows:
        fig.add_annotation(text="latency not measured for this setting", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_title="top_k", yaxis_title="ms per question", barmode="stack", template=TEMPLATE, height=380)
    _ticks_at(fig, [r["top_k"] for r in rows])
    return _mark_k(fig, chosen_k)


#: Table text: characters per line assumed for a column that gets ``share`` of a chart ~560 px wide (the
#: narrowest grid cell of the dashboards) at plotly's 12 px font (about 6.5 px per character), and the
#: height of one line (px). Estimated high on purpose: a taller table shows white space, a shorter one
#: clips rows (plotly tables scroll inside a fixed-height figure).
TABLE_LINE_PX = 19
TABLE_CHART_PX = 560


def table_rows_height(columns: Sequence[Sequence[str]], widths: Sequence[float], min_row_px: int = 28) -> int:
    """Pixels that rows of wrapped text need: each row is as tall as its longest-wrapping cell.

    Args:
        columns: cell texts, one sequence per column (same length each).
        widths: plotly's relative ``columnwidth`` of each column.
    """
    total = float(sum(widths))
    per_line = [max(4, int(TABLE_CHART_PX * w / total / 6.5)) for w in widths]
    n_rows = max((len(c) for c in columns), default=0)
    height = 0
    for i in range(n_rows):
        lines = max(-(-len(str(col[i])) // n) if i < len(col) else 1 for col, n in zip(columns, per_line))
        height += max(min_row_px, TABLE_LINE_PX * lines + 8)
    return height


def retrieved_chunks_figure(example: Mapping, k: int, answer: str | None = None, max_chars: int = 180) -> go.Figure:
    """A table of the top-k chunks retrieved for the example question; chunks of the gold document highlighted.

    ``example`` is ``rag.explorer_data(...)["example"]``. The title carries the question, the gold answer
    and the model's answer with these k chunks (or says it was not computed).
    """
    ranked = list(example["ranked"])[:k]
    fill = ["#c7e9c0" if r["gold"] else "white" for r in ranked]
    cells = [
        [r["rank"] for r in ranked],
        [r["doc_id"] + (" (gold)" if r["gold"] else "") for r in ranked],
        ["" if r["distance"] is None else f"{r['distance']:.3f}" for r in ranked],
        [r["text"][:max_chars] + ("…" if len(r["text"]) > max_chars else "") for r in ranked],
    ]
    widths, header = [50, 110, 90, 510], ["rank", "source", "cosine distance (lower = closer)", "chunk"]
    fig = go.Figure(go.Table(
        columnwidth=widths,
        header=dict(values=header, fill_color="#eeeeee", align="left"),
        cells=dict(values=cells, fill_color=[fill] * 4, align="left", height=28),
    ))
    said = answer if answer is not None else "(not computed for this k)"
    height = 110 + table_rows_height([[h] for h in header], widths) + table_rows_height(cells, widths) + 30  # title, header, rows (grow with the wrapped text), bottom
    fig.update_layout(title=f"Q: {example['question']}<br>gold: {example['gold']} · answer with top_k={k}: {said}", template=TEMPLATE, height=height, margin=dict(t=90, b=20))
    return fig


def chunk_length_histogram(lengths: Sequence[int], chunk_size: int, title: str = "Chunk lengths (characters)") -> go.Figure:
    """Histogram of chunk lengths with the splitter's chunk_size marked."""
    fig = go.Figure(go.Histogram(x=list(lengths), nbinsx=30, marker_color=METHOD_COLORS["rag"]))
    fig.add_vline(x=chunk_size, line_dash="dash", annotation_text=f"chunk_size = {chunk_size}")
    fig.update_layout(title=title, xaxis_title="characters", yaxis_title="chunks", template=TEMPLATE, height=340)
    return fig


def prompt_variants_figure(table, metric: str = "f1", winner: str | None = None) -> go.Figure:
    """Grouped bars: one group per prompt variant, oracle vs retrieved context (``rag.compare_prompt_variants``);
    a table with a ``note`` (no dev question to compare on) gives a figure that says so."""
    fig = go.Figure()
    if "note" in table.columns:
        fig.add_annotation(text=str(table["note"].iloc[0]), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(template=TEMPLATE, height=200, title="Prompt variants on the dev split: not measured", xaxis_visible=False, yaxis_visible=False)
        return fig
    for kind, color in (("oracle", METHOD_COLORS["oracle"]), ("retrieved", METHOD_COLORS["rag"])):
        part = table[table["context"] == kind]
        fig.add_bar(name=f"{kind} context", x=list(part["variant"]), y=list(part[metric]), marker_color=color, text=[f"{v:.2f}" for v in part[metric]], textposition="auto")
    title = f"Prompt variants on the dev split ({RAG_ANSWER_METRICS.get(metric, metric)})" + (f" — best: {winner}" if winner else "")
    fig.update_layout(title=title, barmode="group", yaxis_title=RAG_ANSWER_METRICS.get(metric, metric), template=TEMPLATE, height=380, yaxis_range=[0, 1.05])
    return fig


def update_cost_figure(table) -> go.Figure:
    """Two panels from ``rag.swap_table``: revised-facts accuracy (gold contained) per method, and its update cost (s, log scale)."""
    from plotly.subplots import make_subplots

    if "note" in table.columns:  # the swap was skipped (a knowledge folder without revised/): say why, draw no bars
        fig = go.Figure()
        fig.add_annotation(text=str(table["note"].iloc[0]), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(template=TEMPLATE, height=200, title="Swapping the knowledge base vs retraining an adapter: not measured", xaxis_visible=False, yaxis_visible=False)
        return fig
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Revised facts answered (gold contained)", "Update cost (seconds, log scale)"))
    labels = [m.split(",")[0] if len(m) > 40 else m for m in table["method"]]
    colors = [METHOD_COLORS["base"] if "base" in m else METHOD_COLORS["lora"] if "LoRA" in m else METHOD_COLORS["rag"] for m in table["method"]]
    fig.add_bar(x=list(table["method"]), y=list(table["contains"].fillna(0)), marker_color=colors, text=[f"{v:.2f}" for v in table["contains"].fillna(0)], row=1, col=1, showlegend=False)
    secs = [max(float(s or 0.0), 1e-2) for s in table["update_seconds"]]
    fig.add_bar(x=list(table["method"]), y=secs, marker_color=colors, text=[f"{s:.1f} s" for s in table["update_seconds"].fillna(0)], row=1, col=2, showlegend=False)
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(tickangle=20, ticktext=labels, tickvals=list(table["method"]))
    fig.update_layout(template=TEMPLATE, height=460, title="Swapping the knowledge base vs retraining an adapter")
    return fig


# --------------------------------------------------------------------------- notebooks 01-02: fine-tuning, LoRA, the rank explorer

#: Labels of the answer metrics compared before and after fine-tuning: (split, metric) → label.
FT_METRICS = {
    ("test", "exact_match"): "test EM",
    ("test", "f1"): "test F1",
    ("test", "mc_accuracy"): "test MC acc",
    ("revised", "mc_accuracy"): "revised-facts MC acc",
    ("control", "contains"): "control acc",
}


def _metric(metrics: Mapping, split: str, name: str) -> float | None:
    """``metrics[split][name]``, ``control_accuracy`` for the control set; None if absent."""
    if split == "control" and "control_accuracy" in metrics:
        return metrics["control_accuracy"]
    value = (metrics.get(split) or {}).get(name)
    return None if value is None else float(value)


def loss_curves_figure(histories: Mapping[str, Sequence[float]], title: str = "Training loss per step", colors: Mapping[str, str] | None = None, log_y: bool = False) -> go.Figure:
    """Training loss (mean cross-entropy over the answer/document tokens, nats) against optimizer step, one line per run."""
    fig = go.Figure()
    for label, losses in histories.items():
        fig.add_scatter(x=list(range(1, len(losses) + 1)), y=list(losses), mode="lines+markers" if len(losses) <= 40 else "lines", name=label, line_color=(colors or {}).get(label))
    fig.update_layout(title=title, xaxis_title="optimizer step", yaxis_title="training loss (nats/token)", template=TEMPLATE, height=380)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def before_after_figure(runs: Mapping[str, Mapping], title: str = "Before and after fine-tuning", chance: float | None = 0.25) -> go.Figure:
    """Left: answer metrics per run (grouped bars; ``runs`` maps a label to a metrics dict as stored by
    ``measure_model`` / ``run_training``); right: perplexity on real text. Colour by method name where the
    label starts with one (``base``, ``full``, ``lora`` …). A dashed line marks multiple-choice chance."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.78, 0.22], subplot_titles=("Answers (fraction correct)", "Perplexity, Python docs (lower = better)"))
    for label, m in runs.items():
        color = next((c for k, c in METHOD_COLORS.items() if label.lower().startswith(k)), None)
        cats, vals = [], []
        for (split, name), cat in FT_METRICS.items():
            v = _metric(m, split, name)
            if v is not None:
                cats.append(cat)
                vals.append(v)
        fig.add_bar(x=cats, y=vals, name=label, marker_color=color, text=[f"{v:.2f}" for v in vals], textposition="auto", legendgroup=label, row=1, col=1)
        fig.add_bar(x=[label], y=[m["perplexity"]], marker_color=color, text=[f"{m['perplexity']:.1f}"], textposition="auto", showlegend=False, legendgroup=label, row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dot", line_color="#444", annotation_text=f"MC chance {chance:.2f}", annotation_position="top left", row=1, col=1)
    fig.update_layout(title=title, barmode="group", template=TEMPLATE, height=420)
    return fig


def lines_figure(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xaxis: str,
    yaxis: str,
    log_x: bool = False,
    log_y: bool = False,
    chosen_x: float | None = None,
    references: Mapping[str, float] | None = None,
    colors: Mapping[str, str] | None = None,
    range_y: tuple[float, float] | None = None,
    x_is_category: bool = False,
) -> go.Figure:
    """Lines with markers: ``series[label] = (xs, ys)`` or ``(xs, ys, lows, highs)`` (95% intervals,
    drawn as error bars; None values are skipped); dashed horizontal ``references`` (label → y); a
    dotted vertical line at ``chosen_x``; optional log axes. On a linear axis whose x values are all
    whole numbers (top_k, steps) the ticks sit at those values, never at 1.5."""
    fig = go.Figure()
    for label, (xs, ys, *bounds) in series.items():
        pts = [(x, y, *(b[i] for b in bounds)) for i, (x, y) in enumerate(zip(xs, ys)) if y is not None]
        err = None
        if bounds:
            ok = [len(p) == 4 and p[2] is not None and p[3] is not None and p[2] == p[2] and p[3] == p[3] for p in pts]
            err = dict(type="data", symmetric=False, array=[p[3] - p[1] if o else 0 for p, o in zip(pts, ok)], arrayminus=[p[1] - p[2] if o else 0 for p, o in zip(pts, ok)], thickness=1.2, width=5)
        fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=label, line_color=(colors or {}).get(label), error_y=err)
    for i, (label, y) in enumerate((references or {}).items()):
        if y is not None:
            fig.add_hline(y=y, line_dash="dash", line_color=(colors or {}).get(label, "#444"), annotation_text=label, annotation_position="top left" if i % 2 == 0 else "bottom right")
    if chosen_x is not None:
        fig.add_vline(x=chosen_x, line_dash="dot", line_color="#888")  # shapes take data values, also on log axes (plotly.py#4012)
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, template=TEMPLATE, height=380)
    if log_x:
        fig.update_xaxes(type="log")
    if x_is_category:
        fig.update_xaxes(type="category")
    all_x = [x for xs, *_ in series.values() for x in xs]
    if all_x and not (log_x or x_is_category) and all(isinstance(x, int) and not isinstance(x, bool) for x in all_x):
        _ticks_at(fig, all_x)
    if log_y:
        fig.update_yaxes(type="log")
    if range_y:
        fig.update_yaxes(range=list(range_y))
    return fig


def rank_params_figure(ranks: Sequence[int], counts: Mapping[str, Sequence[int]], chosen_r: int | None = None, chosen_target: str | None = None, full_params: int | None = None) -> go.Figure:
    """Trainable parameters against LoRA rank (log–log), one line per target-module set; full
    fine-tuning's count as a dashed line; the chosen (rank, target) starred (the last trace)."""
    fig = lines_figure({f"LoRA, {t}": (list(ranks), list(c)) for t, c in counts.items()}, "Trainable parameters vs rank", "rank r", "trainable parameters (log)", log_x=True, log_y=True)
    if full_params:  # a trace, not add_hline: annotations on a log axis would need log10 positions
        fig.add_scatter(x=[min(ranks), max(ranks)], y=[full_params, full_params], mode="lines", line_dash="dash", line_color=METHOD_COLORS["full"], name=f"full fine-tuning: {full_params:,}")
    if chosen_r is not None and chosen_target in counts:
        y = counts[chosen_target][list(ranks).index(chosen_r)]
        fig.add_scatter(x=[chosen_r], y=[y], mode="markers+text", marker_symbol="star", marker_size=16, marker_color="#d62728", text=[f"{y:,}"], textposition="top center", name=f"chosen: r={chosen_r}, {chosen_target}")
    return fig


def rank_accuracy_figure(ranks: Sequence[int], values: Mapping[str, Sequence[float | None]], chosen_r: int | None = None, references: Mapping[str, float | None] | None = None, title: str = "Held-out accuracy vs rank") -> go.Figure:
    """Held-out (test-wording) answer metrics against rank (log x); ``values[metric label]`` per rank,
    None where not trained; dashed references (full fine-tuning, base model)."""
    fig = lines_figure({k: (list(ranks), list(v)) for k, v in values.items()}, title, "rank r", "fraction correct", log_x=True, chosen_x=chosen_r, references=references, range_y=(0, 1))
    return fig


def rank_forgetting_figure(ranks: Sequence[int], control_drop: Sequence[float | None], perplexity_change: Sequence[float | None], chosen_r: int | None = None, full: Mapping[str, float] | None = None) -> go.Figure:
    """Forgetting against rank: control-set accuracy drop (fraction; positive = forgot) and relative
    perplexity change (positive = worse), with full fine-tuning's values as dashed lines."""
    refs = {}
    if full:
        refs = {"full FT control drop": full.get("control_drop"), "full FT perplexity change": full.get("perplexity_change")}
    colors = {"control drop": "#1f77b4", "perplexity change": "#ff7f0e", "full FT control drop": "#1f77b4", "full FT perplexity change": "#ff7f0e"}
    fig = lines_figure({"control drop": (list(ranks), list(control_drop)), "perplexity change": (list(ranks), list(perplexity_change))}, "Forgetting vs rank", "rank r", "change (fraction; > 0 = worse)", log_x=True, chosen_x=chosen_r, references=refs, colors=colors)
    fig.add_hline(y=0, line_color="#bbb", line_width=1)
    return fig


def sweep_panels_figure(
    series: Mapping[str, tuple[Sequence[float], Sequence[float | None], Sequence[float | None]]],
    title: str,
    xaxis: str,
    left_title: str = "last-epoch training loss (nats/token)",
    right_title: str = "held-out MC accuracy",
    log_x: bool = False,
    references: Mapping[str, float | None] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Two panels sharing x: ``series[label] = (xs, left values, right values)``; dashed horizontal
    ``references`` (label → y) on the right panel (e.g. full fine-tuning, the base model)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(left_title, right_title))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]
    for i, (label, (xs, left, right)) in enumerate(series.items()):
        color = (colors or {}).get(label, palette[i % len(palette)])
        for col, ys in ((1, left), (2, right)):
            pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
            fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=label, line_color=color, legendgroup=label, showlegend=col == 1, row=1, col=col)
    for label, y in (references or {}).items():
        if y is not None:
            fig.add_hline(y=y, line_dash="dash", line_color=(colors or {}).get(label, "#444"), annotation_text=label, annotation_position="top left", row=1, col=2)
    fig.update_yaxes(range=[0, 1.05], row=1, col=2)
    fig.update_xaxes(title_text=xaxis, type="log" if log_x else "linear")
    fig.update_layout(title=title, template=TEMPLATE, height=400)
    return fig


# --------------------------------------------------------------------------- notebook 04: hybrids


def hybrid_example_figure(example: Mapping, k: int, methods: Sequence[str], labels: Mapping[str, str] | None = None, max_chars: int = 160) -> go.Figure:
    """One question through several methods with ``k`` retrieved chunks: a table of each method's answer
    (right or wrong by ``example["correct"]``) above a table of the top-k chunks (gold document's in green).

    ``example`` is one entry of ``hybrid.explorer_data(...)["examples"]``: ``question``, ``gold``,
    ``ranked`` (chunks with rank, doc_id, text, gold), ``answers[method][k]``, ``correct[method][k]``.
    """
    from plotly.subplots import make_subplots

    ranked = list(example["ranked"])[:k]
    methods = list(methods)
    answers = [(example.get("answers", {}).get(m, {}) or {}).get(k) for m in methods]
    correct = [(example.get("correct", {}).get(m, {}) or {}).get(k) for m in methods]
    chunk_texts = [r["text"][:max_chars] + ("…" if len(r["text"]) > max_chars else "") for r in ranked]
    top = 40 + table_rows_height([[(labels or {}).get(m, m) for m in methods], ["(not measured at this k)" if a is None else str(a) for a in answers], ["yes"] * len(methods)], [220, 480, 80])
    bottom = 40 + table_rows_height([[str(r["rank"]) for r in ranked], [str(r["doc_id"]) + " (gold)" for r in ranked], chunk_texts], [40, 120, 620])
    fig = make_subplots(rows=2, cols=1, specs=[[{"type": "table"}], [{"type": "table"}]], row_heights=[top / (top + bottom), bottom / (top + bottom)], vertical_spacing=0.04)
    fig.add_trace(go.Table(
        columnwidth=[220, 480, 80],
        header=dict(values=["method", f"answer with top_k={k}", "right?"], fill_color="#eeeeee", align="left"),
        cells=dict(values=[[(labels or {}).get(m, m) for m in methods], ["(not measured at this k)" if a is None else a for a in answers], ["" if c is None else ("yes" if c else "no") for c in correct]],
                   fill_color=[["#c7e9c0" if c else "#fde0dd" if c is not None else "white" for c in correct]] * 3, align="left"),
    ), row=1, col=1)
    fill = ["#c7e9c0" if r["gold"] else "white" for r in ranked]
    fig.add_trace(go.Table(
        columnwidth=[40, 120, 620],
        header=dict(values=["rank", "source", "retrieved chunk"], fill_color="#eeeeee", align="left"),
        cells=dict(values=[[r["rank"] for r in ranked], [str(r["doc_id"]) + (" (gold)" if r["gold"] else "") for r in ranked], chunk_texts], fill_color=[fill] * 3, align="left"),
    ), row=2, col=1)
    fig.update_layout(title=f"Q: {example['question']}<br>gold: {example['gold']}", template=TEMPLATE, height=100 + top + bottom, margin=dict(t=80, b=20))
    return fig


# --------------------------------------------------------------------------- notebook 05: the comparison


def _comparison_color(label: str, colors: Mapping[str, str] | None) -> str | None:
    return (colors or {}).get(label)


def pareto_figure(points: Mapping[str, tuple[float | None, float | None]], front: Sequence[str], colors: Mapping[str, str] | None = None, xaxis: str = "set-up cost: training + indexing (s)", yaxis: str = "held-out MC accuracy", title: str = "Accuracy vs training cost (Pareto front marked)", chance: float | None = 0.25) -> go.Figure:
    """Scatter of methods by cost (x) and accuracy (y); the Pareto front (``front``, cheapest first,
    from :func:`lorag_nb.experiments.nb05.pareto_front`) joined by a dashed line and its points ringed.

    Args:
        points: label → ``(cost, accuracy)``; points with a missing coordinate are skipped.
        colors: label → colour.
    """
    fig = go.Figure()
    valid = {k: v for k, v in points.items() if v[0] is not None and v[1] is not None}
    for label, (x, y) in valid.items():
        on = label in front
        fig.add_scatter(x=[x], y=[y], mode="markers+text", name=label, text=[label], textposition="top center",
                        marker=dict(size=16 if on else 11, color=_comparison_color(label, colors), line=dict(width=3 if on else 0, color="#222")),
                        hovertemplate=f"{label}<br>cost %{{x:.1f}} s<br>accuracy %{{y:.2f}}<extra>{'on the Pareto front' if on else 'dominated'}</extra>")
    f = [k for k in front if k in valid]
    if f:
        fig.add_scatter(x=[valid[k][0] for k in f], y=[valid[k][1] for k in f], mode="lines", line=dict(dash="dash", color="#222", shape="hv"), name="Pareto front", hoverinfo="skip")
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dot", line_color="#999", annotation_text=f"chance {chance:.2f}", annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, template=TEMPLATE, height=460)
    fig.update_yaxes(range=[0, 1.08])
    return fig


#: Pixels between the upper end of an error bar (its cap is 1.5 px thick) and the bottom of its value label.
LABEL_GAP_PX = 4


def interval_figure(points: Mapping[str, tuple[float, float, float]], title: str = "Held-out accuracy with 95% intervals over facts", yaxis: str = "held-out MC accuracy", colors: Mapping[str, str] | None = None, chance: float | None = 0.25) -> go.Figure:
    """Bars with error bars: ``points[label] = (value, low, high)`` (a 95% interval from
    :func:`lorag_nb.core.claims.mean_estimate`, in the metric's units, e.g. a share in [0, 1]); labels with a
    NaN interval get no error bar.

    Each value label is an annotation whose bottom edge sits :data:`LABEL_GAP_PX` pixels above the upper end of
    its error bar (above the bar's top where there is no interval), so no label is drawn over a whisker, however
    short the bar or wide the interval.
    The y axis reaches at least 1.08 and leaves room for the highest label.
    """
    fig = go.Figure()
    tops = []
    for label, (v, lo, hi) in points.items():
        ok = lo == lo and hi == hi  # not NaN
        fig.add_bar(x=[label], y=[v], name=label, marker_color=_comparison_color(label, colors),
                    error_y=dict(type="data", symmetric=False, array=[hi - v if ok else 0], arrayminus=[v - lo if ok else 0], visible=ok, color="#222", thickness=1.5, width=8),
                    hovertemplate=f"{label}<br>%{{y:.3f}}" + (f" [{lo:.3f}, {hi:.3f}]" if ok else "") + "<extra></extra>")
        if v == v:  # a NaN value has no bar and no label
            top = max(v, hi) if ok else v
            tops.append(top)
            fig.add_annotation(x=label, y=top, text=f"{v:.2f}", showarrow=False, yanchor="bottom", yshift=LABEL_GAP_PX, font=dict(size=13, color="#222"), name=f"value {label}")
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dot", line_color="#999", annotation_text=f"chance {chance:.2f}", annotation_position="bottom right")
    fig.update_layout(title=title, yaxis_title=yaxis, template=TEMPLATE, height=420, showlegend=False)
    fig.update_yaxes(range=[0, max([1.08] + [t + 0.12 for t in tops])])
    return fig


def frontier_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], colors: Mapping[str, str] | None = None, matched: float | None = None,
                    title: str = "Learning vs forgetting during training (after Biderman et al. 2024)", xaxis: str = "learned: held-out MC accuracy on the taught facts",
                    yaxis: str = "forgot: control-set drop (MC log-likelihood)") -> go.Figure:
    """One curve per run (``series[label] = (learned, forgot)`` per checkpoint, the first = before
    training), the end point marked with a star; a dotted vertical line at the ``matched`` learning level."""
    fig = go.Figure()
    dashes, used = ("solid", "dash", "dot", "dashdot"), {}
    for label, (xs, ys) in series.items():
        color = (colors or {}).get(label) or next((c for k, c in METHOD_COLORS.items() if label.lower().startswith(k)), None)
        dash = dashes[used.get(color, 0) % len(dashes)]  # runs of one method (one colour) differ by dash
        used[color] = used.get(color, 0) + 1
        fig.add_scatter(x=list(xs), y=list(ys), mode="lines+markers", name=label, line=dict(color=color, dash=dash), marker=dict(size=7))
        fig.add_scatter(x=[xs[-1]], y=[ys[-1]], mode="markers", marker=dict(symbol="star", size=16, color=color, line=dict(width=1, color="#222")), showlegend=False, hovertemplate=f"{label}: end point<extra></extra>")
    if matched is not None:
        fig.add_vline(x=matched, line_dash="dot", line_color="#444", annotation_text=f"matched learning {matched:.2f}", annotation_position="top left")
    fig.add_hline(y=0, line_color="#bbb")
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, template=TEMPLATE, height=460)
    return fig


def verdicts_figure(verdicts: Sequence, title: str = "Every verdict: the difference it is about, with its 95% interval") -> go.Figure:
    """A forest plot of :class:`lorag_nb.core.claims.Verdict` objects: one row per claim, the measured
    difference (points) with its 95% interval (bars) and the claim's threshold (a mark), coloured by
    verdict. Differences of fractions are drawn in points (×100); ratios on a second panel (log x)."""
    from plotly.subplots import make_subplots

    colour = {"holds": "#2ca02c", "does not hold": "#d62728", "undetermined": "#7f7f7f"}
    groups = {"fraction": [v for v in verdicts if v.diff.unit == "fraction" and v.diff.has_interval],
              "ratio": [v for v in verdicts if v.diff.unit == "ratio" and v.diff.has_interval]}
    cols = [k for k, g in groups.items() if g]
    fig = make_subplots(rows=1, cols=max(1, len(cols)), subplot_titles=[("difference (percentage points)" if k == "fraction" else "ratio (×)") for k in cols], horizontal_spacing=0.28)
    for ci, k in enumerate(cols, start=1):
        scale = 100.0 if k == "fraction" else 1.0
        for v in groups[k]:
            d = v.diff
            name = v.claim if len(v.claim) <= 48 else v.claim[:46] + "…"
            fig.add_scatter(x=[d.value * scale], y=[name], mode="markers", marker=dict(size=10, color=colour[v.verdict]), showlegend=False,
                            error_x=dict(type="data", symmetric=False, array=[(d.high - d.value) * scale], arrayminus=[(d.value - d.low) * scale], color=colour[v.verdict], thickness=2),
                            hovertemplate=f"{v.claim}<br>{v.compared}<br>%{{x:.2f}} [{d.low * scale:.2f}, {d.high * scale:.2f}]<br>{v.verdict_text()}<extra></extra>", row=1, col=ci)
            fig.add_scatter(x=[v.threshold * scale], y=[name], mode="markers", marker=dict(symbol="line-ns-open", size=18, color="#222"), showlegend=False, hoverinfo="skip", row=1, col=ci)
        if k == "ratio":
            fig.update_xaxes(type="log", row=1, col=ci)
        names = [v.claim if len(v.claim) <= 48 else v.claim[:46] + "…" for v in groups[k]]
        # every claim's label, even when the rows are dense (plotly would skip category ticks otherwise)
        fig.update_yaxes(type="category", tickmode="array", tickvals=names, ticktext=names, categoryorder="array", categoryarray=names[::-1], automargin=True, row=1, col=ci)
    for verdict, c in colour.items():
        fig.add_scatter(x=[None], y=[None], mode="markers", marker=dict(size=10, color=c), name=verdict)
    n_rows = max((len(g) for g in groups.values()), default=1)
    fig.update_layout(title=title, template=TEMPLATE, height=max(280, 150 + 42 * n_rows), legend=dict(orientation="h", y=-0.12 - 1.5 / max(n_rows, 4)), margin=dict(l=10))
    return fig


def learning_forgetting_figure(points: Mapping[str, Mapping[str, float | None]], colors: Mapping[str, str] | None = None, title: str = "Learns vs forgets (after Biderman et al. 2024, LoRA Learns Less and Forgets Less)") -> go.Figure:
    """Two panels, one point per method: new-knowledge accuracy (x) against forgetting (y) — the
    control-set accuracy drop (left) and the perplexity change on real text (right); up is worse.

    Args:
        points: label → ``{"learned", "control_drop", "perplexity_change"}`` (fractions), optionally
            ``"note"`` (shown instead of a measured value, e.g. ``"0 (no weights change)"``).
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Control-set accuracy drop (up = forgot)", "Perplexity change on Python's docs (up = worse)"), horizontal_spacing=0.12)
    for label, p in points.items():
        if p.get("learned") is None:
            continue
        for col, key in ((1, "control_drop"), (2, "perplexity_change")):
            y = p.get(key)
            if y is None:
                continue
            note = p.get("note")  # e.g. "0 (no weights change)": forgetting 0 by construction, not measured
            fig.add_scatter(x=[p["learned"]], y=[y], mode="markers+text" if note else "markers", name=label + (f": {note}" if note else ""), legendgroup=label, showlegend=col == 1,
                            text=[note] if note else None, textposition="top center", textfont=dict(size=10, color="#555"),
                            marker=dict(size=13, color=_comparison_color(label, colors), symbol="circle-open" if note else "circle"), row=1, col=col,
                            hovertemplate=f"{label}<br>learned %{{x:.2f}}<br>{key} " + (note if note else "%{y:.3f}") + "<extra></extra>")
    for col in (1, 2):
        fig.add_hline(y=0, line_dash="dot", line_color="#999", row=1, col=col)
        fig.update_xaxes(title_text="new-knowledge accuracy (held-out MC)", range=[-0.05, 1.08], row=1, col=col)
    fig.update_yaxes(title_text="control accuracy drop", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="relative perplexity change", tickformat="+.1%", row=1, col=2)
    fig.update_layout(title=title, template=TEMPLATE, height=460)
    return fig


def metric_bars_figure(values: Mapping[str, Mapping[str, float | None]], colors: Mapping[str, str] | None = None, title: str = "Every method, metric by metric", log_metrics: Sequence[str] = (), cols: int = 3) -> go.Figure:
    """Grouped bars per metric: one panel per metric (its own scale and unit), one bar per method.

    Args:
        values: metric → ``{method label: value}`` (None values are drawn as missing).
        colors: method label → colour (the same in every panel; one legend entry per method).
        log_metrics: metrics drawn on a log axis (costs spanning orders of magnitude).
    """
    from plotly.subplots import make_subplots

    metrics = list(values)
    if not metrics:
        fig = go.Figure()
        fig.update_layout(title=f"{title} (no metric selected)", template=TEMPLATE, height=300)
        return fig
    cols = max(1, min(cols, len(metrics)))
    rows = -(-len(metrics) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=metrics, vertical_spacing=0.22 if rows > 1 else 0.1)
    seen = set()
    for i, metric in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        for label, v in values[metric].items():
            text = "" if v is None else (f"{v:.2f}" if abs(v) < 10 else f"{v:,.0f}")
            fig.add_bar(x=[label], y=[v], name=label, legendgroup=label, showlegend=label not in seen, marker_color=_comparison_color(label, colors), text=[text], textposition="auto", row=r, col=c)
            seen.add(label)
        if metric in log_metrics:
            fig.update_yaxes(type="log", row=r, col=c)
        fig.update_xaxes(showticklabels=False, row=r, col=c)
    fig.update_layout(title=title, template=TEMPLATE, height=330 * rows + 80, barmode="group", legend=dict(orientation="h", y=-0.08))
    return fig


def table_figure(frame, title: str = "", height: int | None = None) -> go.Figure:
    """A pandas DataFrame (index included) as a plotly table (strings shown as they are)."""
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    cells = [list(map(str, frame.index))] + [[("" if v is None else str(v)) for v in frame[c]] for c in frame.columns]
    fig = go.Figure(go.Table(header=dict(values=header, fill_color="#eeeeee", align="left"), cells=dict(values=cells, align="left")))
    fig.update_layout(title=title, template=TEMPLATE, height=height or 120 + 32 * len(frame), margin=dict(t=50, b=10, l=10, r=10))
    return fig


def series_colors() -> dict[str, str]:
    """Notebook 04's method label → colour (:data:`METHOD_COLORS`, keyed by the catalog's colour keys)."""
    return {catalog.method(m).display_long: METHOD_COLORS[catalog.method(m).color] for m in catalog.RETRIEVAL}
