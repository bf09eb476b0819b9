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
        widgets._replace_figure(self.figures["bars"], go.Figure(go.Bar(x=list(range(n)), y=[1] * n), layout=dict(title=f"n={n}", width=700)))
        widgets._replace_figure(self.figures["line"], go.Figure([go.Scatter(y=[i, i + 1]) for i in range(n)]))


def test_the_synced_state_follows_every_change():
    """A view created later (a page reload) starts from ``_widget_data`` / ``_widget_layout``: they must hold
    the current figure, not the empty one of construction (plotly copies them only for a FigureWidget
    displayed by itself, and the dashboards show theirs inside a box)."""
    d = Counter()
    d.update(n=4)
    bars, line = d.figures["bars"], d.figures["line"]
    assert len(bars._widget_data) == 1 and list(bars._widget_data[0]["x"]) == [0, 1, 2, 3]
    assert len(line._widget_data) == 4 == len(line.data)
    assert bars._widget_layout["title"]["text"] == "n=4"
    assert bars._widget_layout.get("width") is None and bars._widget_layout["autosize"] is True  # as wide as its grid cell
    d.update(n=1)
    assert len(line._widget_data) == 1 and bars._widget_layout["title"]["text"] == "n=1"
    assert bars._config["responsive"] is True


def test_the_figures_sit_in_a_responsive_grid():
    box = Counter().widget()
    controls, grid = box.children
    assert isinstance(grid, W.GridBox) and len(grid.children) == 3
    assert isinstance(grid.children[-1], widgets.ChartsAutosize) and "ResizeObserver" in grid.children[-1]._esm  # refits the charts in the browser
    assert f"minmax(min({widgets.GRID_MIN_WIDTH_PX}px, 100%), 1fr)" in grid.layout.grid_template_columns and "auto-fit" in grid.layout.grid_template_columns
    assert controls.layout.flex_flow == "row wrap"
