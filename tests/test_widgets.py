"""The dashboard base (lorag_nb.ui.widgets) without a browser: the figure state a reloaded page draws from,
the responsive grid, and the top_k slider's range (the browser test checks the same in JupyterLab)."""
from __future__ import annotations

import ipywidgets as W
import plotly.graph_objects as go

from lorag_nb.ui import widgets


class Counter(widgets.Dashboard):
    """A dashboard of one slider and two charts whose numbers follow the slider."""

    def __init__(self):
        super().__init__()
        self.controls = {"n": W.IntSlider(value=2, min=1, max=5)}
        self.figures = {"bars": widgets.new_figure(), "line": widgets.new_figure()}
        self._wire()

    def refresh(self):
        n = int(self.values["n"])
        self.set_figure("bars", go.Figure(go.Bar(x=list(range(n)), y=[1] * n), layout=dict(title=f"n={n}", width=700)))
        self.set_figure("line", go.Figure([go.Scatter(y=[i, i + 1]) for i in range(n)]))


def _shown(view) -> dict:
    """The plotly figure JSON a browser draws from an Output view's synced state."""
    (out,) = view.outputs
    assert out["output_type"] == "display_data"
    return out["data"]["application/vnd.plotly.v1+json"]


def test_the_synced_state_follows_every_change():
    """A view created later (a page reload) draws from each chart's synced ``outputs``: they must hold the
    current figure as plotly's mime bundle (no FigureWidget: each carried plotly.js, 4.96 MB, and timed out
    on reload), as wide as its cell and responsive."""
    d = Counter()
    d.update(n=4)
    bars, line = _shown(d.views["bars"]), _shown(d.views["line"])
    assert len(bars["data"]) == 1 and list(bars["data"][0]["x"]) == [0, 1, 2, 3]
    assert len(line["data"]) == 4 == len(d.figures["line"].data)
    assert bars["layout"]["title"]["text"] == "n=4"
    assert bars["layout"].get("width") is None and bars["layout"]["autosize"] is True  # as wide as its grid cell
    assert bars["config"]["responsive"] is True
    d.update(n=1)
    assert len(_shown(d.views["line"])["data"]) == 1 and _shown(d.views["bars"])["layout"]["title"]["text"] == "n=1"
    assert d.figures["bars"].layout.title.text == "n=1"  # the plain figure the tests and static output read
    assert not any(isinstance(w, go.FigureWidget) for w in d.views.values())
    assert sum(len(str(v.outputs)) for v in d.views.values()) < 50_000  # the figures' JSON, not a plotly.js bundle


def test_colab_also_gets_html_and_jupyterlab_only_the_plotly_bundle(monkeypatch):
    import sys
    import types

    fig = go.Figure(go.Bar(y=[3, 1]), layout=dict(title="t"))
    assert set(widgets.figure_output(fig)["data"]) == {"application/vnd.plotly.v1+json", "text/plain"}
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    html = widgets.figure_output(fig)["data"]["text/html"]  # Colab's output area draws no plotly mime bundle
    assert "cdn.plot.ly" in html and '"responsive": true' in html


def test_the_figures_sit_in_a_responsive_grid():
    d = Counter()
    controls, grid = d.widget().children
    assert isinstance(grid, W.GridBox) and len(grid.children) == 3
    assert list(grid.children[:2]) == [d.views["bars"], d.views["line"]]  # each chart's Output, in figures order
    assert isinstance(grid.children[-1], widgets.ChartsAutosize) and "ResizeObserver" in grid.children[-1]._esm  # refits the charts in the browser
    assert f"minmax(min({widgets.GRID_MIN_WIDTH_PX}px, 100%), 1fr)" in grid.layout.grid_template_columns and "auto-fit" in grid.layout.grid_template_columns
    assert controls.layout.flex_flow == "row wrap"


def test_an_integer_axis_ticks_only_at_its_values_and_close_labels_do_not_stack():
    """top_k is an integer: its axis shows the measured k, never 1.5; the value labels of close points
    at the chosen k go above, beside and below their markers (0.37 and 0.35 printed on top of each other
    was the bug)."""
    from lorag_nb.ui import plots

    fig = plots.lines_figure({"RAG": ([1, 3, 5], [0.2, 0.3, 0.4]), "hybrid": ([1, 3, 5], [0.3, 0.35, 0.5])}, "t", "top_k", "acc")
    assert list(fig.layout.xaxis.tickvals) == [1, 3, 5] and fig.layout.xaxis.tickmode == "array"
    assert plots.lines_figure({"x": ([0.5, 1.0], [1, 2])}, "t", "lr", "acc").layout.xaxis.tickvals is None  # not whole numbers: plotly's ticks
    assert plots.lines_figure({"x": ([1, 10, 100], [1, 2, 3])}, "t", "r", "acc", log_x=True).layout.xaxis.tickvals is None
    assert plots.lines_figure({"x": (list(range(1, 40)), [1] * 39)}, "t", "step", "loss").layout.xaxis.tickvals is None  # too many: plotly's
    assert plots.label_positions([0.35, 0.37, 0.36]) == ["bottom right", "top right", "middle right"]
    assert plots.label_positions([0.5]) == ["middle right"] and plots.label_positions([]) == []
    fig = plots.hit_at_k_figure({"dense": ([1, 2, 3], [0.5, 0.6, 0.7]), "bm25": ([1, 2, 3], [0.45, 0.55, 0.69])}, chosen_k=3)
    labels = [t for t in fig.data if t.mode == "markers+text"]
    assert [(t.text[0], t.textposition) for t in labels] == [("0.70", "top right"), ("0.69", "bottom right")]
    assert list(fig.layout.xaxis.tickvals) == [1, 2, 3]


def test_the_hybrid_explorer_draws_without_example_questions():
    """Explorer data with measured k but no example question: the question menu is empty (value None),
    the accuracy chart is still drawn and the example panel says so, instead of a TraitError."""
    data = {"ks": [1, 2], "metric": "contains", "series": {"rag": [0.3, 0.4]}, "series_ks": {"rag": [1, 2]}, "examples": []}
    dash = widgets.HybridExplorer(data, top_k=2)
    assert dash.controls["example"].value is None
    assert [list(t.y) for t in dash.figures["accuracy"].data] == [[0.3, 0.4], [0.4]]
    assert "(no example)" in (dash.figures["example"].layout.title.text or "")


def test_interval_bar_labels_sit_above_their_error_bars():
    """Notebook 05's accuracy bars with 95% error bars (plots.interval_figure, via charts.intervals_chart): each
    value label's bottom edge lies above the upper end of its error bar, never on a whisker (0.67 and 0.80
    were drawn on their lower whiskers inside the bar tops), including a short bar and one without an interval."""
    from lorag_nb.ui import plots

    pts = {"base": (0.26, 0.18, 0.36), "full FT": (0.71, 0.6, 0.8), "LoRA": (0.67, 0.56, 0.77), "RAG": (0.76, 0.66, 0.84),
           "LoRA + RAG (naive)": (0.80, 0.7, 0.88), "RAFT": (0.92, 0.85, 0.96), "tiny": (0.03, 0.0, 0.07), "one fact": (0.5, float("nan"), float("nan"))}
    fig = plots.interval_figure(pts, chance=0.25)
    labels = {a.x: a for a in fig.layout.annotations if a.name and a.name.startswith("value ")}
    for bar in fig.data:
        (label,), (v,) = bar.x, bar.y
        lo, hi = v - bar.error_y.arrayminus[0], v + bar.error_y.array[0]
        assert label in labels, f"{label}: no value label above its error bar (bar text {bar.text}, {bar.textposition})"
        a = labels[label]
        assert not bar.text, f"{label}: a label drawn on the bar as well"
        assert a.text == f"{v:.2f}" and a.yanchor == "bottom" and a.yshift and a.yshift > 0
        assert a.y >= max(v, hi) and not (lo <= a.y + 1e-9 < hi), (label, a.y, lo, hi)  # the label starts above [lo, hi]
        assert fig.layout.yaxis.range[1] >= a.y + 0.1  # and the axis leaves room for it
