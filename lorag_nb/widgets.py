"""Dashboards: ipywidgets controls driving ``go.FigureWidget`` charts, through plain callbacks.

A dashboard keeps its state in plain Python: ``update(**values)`` recomputes every figure from the
results store and is what the widgets' observers call, so tests drive it without a browser.
``static_figures()`` returns the same charts as plain ``go.Figure`` for executed notebooks and HTML
(a FigureWidget alone shows nothing there).
"""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go


class Dashboard:
    """Base class: subclasses fill ``controls`` (name → ipywidget) and ``figures`` (name → FigureWidget)
    and implement :meth:`refresh` (rewrite every figure's data from ``self.values``)."""

    def __init__(self):
        self.controls: dict[str, Any] = {}
        self.figures: dict[str, go.FigureWidget] = {}
        self.values: dict[str, Any] = {}

    def refresh(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, **values) -> None:
        """Set control values (the widgets follow) and redraw every figure. Plain callback for tests.

        Raises:
            ValueError: an unknown control name.
        """
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; valid: {sorted(self.controls)}")
        self.values.update(values)
        for name, value in values.items():
            w = self.controls[name]
            if w.value != value:
                w.unobserve(self._on_change, names="value")
                w.value = value
                w.observe(self._on_change, names="value")
        self.refresh()

    def _on_change(self, change) -> None:
        name = next(k for k, w in self.controls.items() if w is change["owner"])
        self.update(**{name: change["new"]})

    def _wire(self) -> None:
        """Call at the end of a subclass ``__init__``: observe controls, take their values, draw."""
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.values = {k: w.value for k, w in self.controls.items()}
        self.refresh()

    def widget(self):
        """The live dashboard: controls above, figures in a grid."""
        import ipywidgets as W

        return W.VBox([W.HBox(list(self.controls.values())), *[W.HBox(list(self.figures.values())[i : i + 2]) for i in range(0, len(self.figures), 2)]])

    def static_figures(self) -> list[go.Figure]:
        """Plain-figure copies of the current charts (for papermill output and HTML export)."""
        return [go.Figure(f) for f in self.figures.values()]

    def show_static(self) -> None:
        """Display :meth:`static_figures` with the notebook renderer."""
        for fig in self.static_figures():
            fig.show()
