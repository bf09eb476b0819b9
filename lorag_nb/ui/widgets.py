"""Dashboards: ipywidgets controls redrawing plotly charts, through plain callbacks.

A dashboard keeps its state in plain Python: ``update(**values)`` recomputes every figure from the
results store and is what the widgets' observers call, so tests drive it without a browser.
``figures`` holds the current charts as plain ``go.Figure``; ``static_figures()`` returns copies for
executed notebooks and HTML (a live widget shows nothing there).

Each chart is an ``ipywidgets.Output`` whose synced ``outputs`` hold the figure as plotly's JSON mime bundle
(``application/vnd.plotly.v1+json``, drawn by the ``jupyterlab-plotly`` renderer), not a ``go.FigureWidget``:

- **Reload.** plotly 7's FigureWidget is an anywidget whose model carries plotly.js itself (a 4.96 MB
  ``_esm`` string) and must start within anywidget's 2 s limit. After a page reload the browser receives
  and evaluates one copy per chart; on 2 loaded cores that took longer ("[anywidget] Failed to initialize
  model.", and notebook 03's dashboard not drawn after 180 s, seen in CI). A FigureWidget inside a ``VBox``
  also never copies its figure into its synced state (a later view starts empty). An ``Output``'s state is
  the figure's JSON (tens of kB), restored with the page, and plotly.js loads once for the whole page.
- **Width.** The charts sit in a CSS grid (:func:`figure_grid`): two columns when the output area is
  at least :data:`GRID_MIN_WIDTH_PX` × 2 wide, one column below, each chart as wide as its cell
  (plotly's ``autosize``, and ``responsive`` so it follows a resized window).
"""
from __future__ import annotations

import json
from typing import Any

import anywidget
import plotly.graph_objects as go
import plotly.io as pio

from lorag_nb.core.config import LoraSettings, RagSettings
from lorag_nb.core import catalog
from lorag_nb.core.stages import stage
from lorag_nb.experiments.comparison_table import COLUMNS
from lorag_nb.experiments.rag_studies import explorer_data
from lorag_nb.experiments.recipes import default_lora
from lorag_nb.methods import adapters, training
from lorag_nb.methods.models import load_model
from lorag_nb.methods.rag import answer_one
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.training import find_training, run_training
from lorag_nb.ui import charts, plots


class Dashboard:
    """Base class: subclasses fill ``controls`` (name → ipywidget) and ``figures`` (name → ``go.Figure``, in
    display order) and implement :meth:`refresh`, which redraws each chart with :meth:`set_figure`."""

    def __init__(self):
        self.controls: dict[str, Any] = {}
        self.figures: dict[str, go.Figure] = {}
        self.views: dict[str, Any] = {}  # name → ipywidgets.Output showing that figure
        self.values: dict[str, Any] = {}

    def set_figure(self, name: str, fig: go.Figure) -> None:
        """Make ``fig`` chart ``name``: kept in :attr:`figures` and sent to its view (:func:`chart_output`)
        as the view's synced ``outputs``, so a view created later (a page reload) draws it too."""
        fig = go.Figure(fig)
        fig.layout.width = None  # as wide as its grid cell
        fig.layout.autosize = True
        self.figures[name] = fig
        view = self.views.get(name)
        if view is None:
            view = self.views[name] = chart_output()
        view.outputs = (figure_output(fig),)

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

        return W.VBox([control_row(self.controls.values()), figure_grid(self.chart_views())], layout=W.Layout(width="100%"))

    def chart_views(self) -> list:
        """The charts' ``Output`` views in :attr:`figures` order."""
        return [self.views[name] for name in self.figures]

    def static_figures(self) -> list[go.Figure]:
        """Plain-figure copies of the current charts (for papermill output and HTML export)."""
        return [go.Figure(f) for f in self.figures.values()]

    def show_static(self) -> None:
        """Display :meth:`static_figures` with the notebook renderer."""
        for fig in self.static_figures():
            fig.show()


# --------------------------------------------------------------------------- notebook 03: the top-k explorer


#: Narrowest chart column (px): two columns need about twice this, so below ~1,200 px one column.
GRID_MIN_WIDTH_PX = 560

#: plotly.js config of every live chart: ``responsive`` refits a chart on a window resize.
LIVE_CONFIG = {"responsive": True, "displaylogo": False}


@stage("plotting")
def figure_output(fig: go.Figure) -> dict:
    """One nbformat ``display_data`` output showing ``fig`` with plotly's mime renderer: the
    ``application/vnd.plotly.v1+json`` bundle of ``plotly.io``'s ``plotly_mimetype`` renderer (the figure as
    JSON plus :data:`LIVE_CONFIG`), and a one-line ``text/plain``. In Colab, which draws no plotly mime
    bundle, also the ``text/html`` of plotly's ``colab`` renderer (plotly.js from its CDN)."""
    figure = {**json.loads(pio.to_json(fig, validate=False)), "config": LIVE_CONFIG}
    title = fig.layout.title.text or "chart"
    data = {"application/vnd.plotly.v1+json": figure, "text/plain": f"<plotly figure: {title}>"}
    if plots.in_colab():
        data.update(pio.renderers["colab"].to_mimebundle({**fig.to_dict(), "config": LIVE_CONFIG}))
    return {"output_type": "display_data", "data": data, "metadata": {}}


def chart_output() -> Any:
    """An empty ``ipywidgets.Output`` sized to its grid cell, the view of one chart."""
    import ipywidgets as W

    return W.Output(layout=W.Layout(width="100%", min_width="0", margin="0"))  # no widget margin: exactly its cell


def new_figure() -> go.Figure:
    """An empty figure: a chart's place before the first :meth:`Dashboard.refresh`."""
    return go.Figure()


#: The browser side of :class:`ChartsAutosize`: when the chart grid is laid out, changes size or comes on
#: screen, send one (debounced) window ``resize`` event, on which every plotly chart drawn with the
#: ``responsive`` config (:data:`LIVE_CONFIG`) fits itself to its cell again (``Plotly.Plots.resize``).
AUTOSIZE_ESM = """
function render({ el }) {
  el.style.display = "none";
  let timer = null, tries = 0, observers = [];
  const nudge = () => { clearTimeout(timer); timer = setTimeout(() => window.dispatchEvent(new Event("resize")), 150); };
  const attach = () => {
    const grid = el.closest(".widget-gridbox");
    if (!grid) { if (tries++ < 600) requestAnimationFrame(attach); return; }
    const ro = new ResizeObserver(nudge);
    const io = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) nudge(); });
    ro.observe(grid);
    io.observe(grid);
    observers = [ro, io];
  };
  attach();
  return () => { clearTimeout(timer); observers.forEach((o) => o.disconnect()); };
}
export default { render };
"""


class ChartsAutosize(anywidget.AnyWidget):
    """An invisible widget (anywidget) that makes the charts of the grid it sits in fit their cells.

    A chart can be drawn before its cell has a size: JupyterLab skips the layout of cells off
    screen (its ``contentVisibility`` windowing) and restores views after a reload before they are shown.
    plotly then draws at its default 700 px (wider than a cell: the right column is cut off) and a table
    wraps its text against no width (cells drawn empty) until the next change. This widget's browser side
    (:data:`AUTOSIZE_ESM`) watches the grid (``ResizeObserver``, ``IntersectionObserver``) and sends one window
    ``resize`` event after each change, which plotly's ``responsive`` charts answer by fitting their cell.
    """

    _esm = AUTOSIZE_ESM


def figure_grid(figures) -> Any:
    """The charts in a responsive CSS grid (``ipywidgets.GridBox``): as many columns of at least
    :data:`GRID_MIN_WIDTH_PX` as fit (at most 2), each chart filling its cell, refitted whenever the grid is
    laid out or resized (:class:`ChartsAutosize`, an invisible last child)."""
    import ipywidgets as W

    return W.GridBox([*figures, ChartsAutosize()], layout=W.Layout(width="100%", grid_template_columns=f"repeat(auto-fit, minmax(min({GRID_MIN_WIDTH_PX}px, 100%), 1fr))", grid_gap="8px"))


def control_row(controls) -> Any:
    """Controls in a row that wraps on a narrow output area."""
    import ipywidgets as W

    return W.HBox(list(controls), layout=W.Layout(flex_flow="row wrap"))


class TopKExplorer(Dashboard):
    """RAG top-k explorer: how many chunks to retrieve, by which search, from chunks of which size.

    Controls: ``top_k`` (slider from 1 to the largest k measured for the setting: 20, or the number of
    chunks when the collection is smaller), ``search_type`` (similarity / MMR), ``chunk_size`` (a few choices).
    Charts: hit@k and recall@k for k = 1..20 with the chosen k marked; answer metrics against k (the
    oracle-document ceiling as a dashed line); latency per question against k (embedding, search,
    generation); the example question's top-k chunks (gold document highlighted) and the answer.

    Every (search type, chunk size) is measured once — retrieval for k = 1..20 and answers at each k of
    ``answer_ks`` through :func:`lorag_nb.experiments.rag_studies.explorer_data` (stored results) — and kept in memory, so a
    change among measured settings redraws in well under a second. A setting not yet measured is
    measured when first selected (answers cost generation: minutes on a CPU), unless
    ``compute_missing=False``, which shows its retrieval charts only. With ``live_answers`` the example
    answer at a k outside ``answer_ks`` is generated on demand (one chain call) and kept.

    Args:
        settings: base :class:`~lorag_nb.core.config.RagSettings` (its top_k, search_type and chunk_size
            are the initial control values).
        eval_settings, store, model_name, model, tokenizer, client: as for :func:`lorag_nb.methods.rag.run_rag`.
        chunk_sizes: the chunk-size choices (characters).
        answer_ks: the k values at which answers are measured.
        precompute: (search_type, chunk_size) pairs to measure at construction (default: the initial one).
        references: dashed lines on the answers chart, label → value (e.g. the oracle ceiling).
        multiple_choice: also measure multiple-choice accuracy (4 forward passes per question more).
    """

    def __init__(
        self,
        settings=None,
        eval_settings=None,
        store=None,
        model_name: str = "embedded",
        model=None,
        tokenizer=None,
        client=None,
        chunk_sizes: tuple[int, ...] = (200, 500),
        answer_ks: tuple[int, ...] = (1, 2, 3, 5),
        precompute=None,
        references: dict | None = None,
        multiple_choice: bool = False,
        compute_missing: bool = True,
        live_answers: bool = True,
        example_index: int = 0,
    ):
        import ipywidgets as W


        super().__init__()
        self.settings = settings or RagSettings()
        self.eval_settings, self.model_name, self.model, self.tokenizer, self.client = eval_settings, model_name, model, tokenizer, client
        self.store = RUNTIME.use_store(store)
        self.chunk_sizes = tuple(sorted(set(int(c) for c in chunk_sizes) | {self.settings.chunk_size}))
        self.answer_ks = tuple(sorted(set(int(k) for k in answer_ks)))
        self.references = dict(references or {})
        self.multiple_choice, self.compute_missing, self.live_answers = multiple_choice, compute_missing, live_answers
        self.example_index = example_index
        self._data: dict[tuple[str, int], dict] = {}
        self._live: dict[tuple[str, int, int], str] = {}
        for st, cs in precompute or [(self.settings.search_type, self.settings.chunk_size)]:
            self.data(st, cs, with_answers=True)
        self.controls = {
            "top_k": W.IntSlider(value=min(max(self.settings.top_k, 1), 20), min=1, max=20, description="top_k", continuous_update=False),
            "search_type": W.Dropdown(options=[("similarity", "similarity"), ("MMR", "mmr")], value=self.settings.search_type, description="search"),
            "chunk_size": W.Dropdown(options=list(self.chunk_sizes), value=self.settings.chunk_size, description="chunk size"),
        }
        self.figures = {name: new_figure() for name in ("hit", "answers", "latency", "example")}
        self._wire()

    def data(self, search_type: str, chunk_size: int, with_answers: bool | None = None) -> dict:
        """The measurements of one (search type, chunk size), measured on first use and kept in memory."""

        key = (search_type, int(chunk_size))
        want_answers = self.compute_missing if with_answers is None else with_answers
        have = self._data.get(key)
        if have is not None and (have["sweep"] or not want_answers):
            return have
        self._data[key] = explorer_data(
            self.settings, search_type, int(chunk_size), self.answer_ks, self.store, self.eval_settings, self.model_name,
            self.model, self.tokenizer, self.client, with_answers=want_answers, multiple_choice=self.multiple_choice, example_index=self.example_index,
        )
        return self._data[key]

    def example_answer(self, search_type: str, chunk_size: int, k: int) -> str | None:
        """The example question's answer with ``k`` chunks: measured, generated live (if allowed), or None."""
        d = self.data(search_type, chunk_size)
        if k in d["example"]["answers"]:
            return d["example"]["answers"][k]
        key = (search_type, int(chunk_size), int(k))
        if key not in self._live and self.live_answers:

            s = self.settings.replace(**{kk: v for kk, v in d["settings"].items() if kk in ("search_type", "chunk_size", "chunk_overlap")})
            self._live[key] = answer_one(s, d["example"]["question"], k, self.eval_settings, self.model_name, self.model, self.tokenizer, self.client)["answer"]
        return self._live.get(key)

    def build_figures(self, top_k: int, search_type: str, chunk_size: int) -> dict[str, go.Figure]:
        """The four charts for these control values, as plain figures."""

        d = self.data(search_type, chunk_size)
        label = f"{'MMR' if search_type == 'mmr' else 'similarity'}, chunk {chunk_size}"
        k_max = max(d["hit"][0]) if d["hit"][0] else 20
        k = min(top_k, k_max)
        return {
            "hit": plots.hit_at_k_figure({f"hit@k ({label})": d["hit"], f"recall@k ({label})": d["recall"]}, k, title=f"Retrieval: hit@k and recall@k — MRR {d['mrr']:.2f}", yaxis="fraction of questions"),
            "answers": plots.answers_vs_k_figure(d["sweep"], k, self.references, title=f"Answers vs top_k ({label})"),
            "latency": plots.latency_vs_k_figure(d["sweep"], k),
            "example": plots.retrieved_chunks_figure(d["example"], k, self.example_answer(search_type, chunk_size, k)),
        }

    def k_max(self, search_type: str, chunk_size: int) -> int:
        """The largest k this setting can show: retrieval is measured for k = 1 … min(20, chunks)."""
        ks = self.data(search_type, chunk_size)["hit"][0]
        return int(max(ks)) if ks else 1

    def refresh(self) -> None:
        v = self.values
        slider = self.controls["top_k"]
        k_max = self.k_max(v["search_type"], int(v["chunk_size"]))
        if slider.max != k_max or int(v["top_k"]) > k_max:  # the slider spans only the k this setting can show
            slider.unobserve(self._on_change, names="value")
            slider.max = k_max
            slider.value = min(int(v["top_k"]), k_max)
            slider.observe(self._on_change, names="value")
            self.values["top_k"] = slider.value
        for name, fig in self.build_figures(int(self.values["top_k"]), v["search_type"], int(v["chunk_size"])).items():
            self.set_figure(name, fig)


# --------------------------------------------------------------------------- notebook 02: the LoRA rank explorer

#: Explorer variant name → (use_rslora, use_dora).
LORA_VARIANTS = {"LoRA": (False, False), "rsLoRA": (True, False), "DoRA": (False, True)}


def _progress_callback(bar):
    """A ``TrainerCallback`` that moves an ipywidgets ``IntProgress`` with the optimizer steps."""
    from transformers import TrainerCallback

    class WidgetProgress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            bar.max = max(1, state.max_steps)
            bar.value = 0

        def on_step_end(self, args, state, control, **kwargs):
            bar.value = state.global_step

    return WidgetProgress()


class RankExplorer(Dashboard):
    """LoRA rank explorer: how rank, lora_alpha, target modules and the LoRA variant change what is
    learned, what is forgotten and what it costs.

    Controls: ``r`` (a ``SelectionSlider`` over ``ranks``), ``lora_alpha``, ``target_modules`` (preset),
    ``variant`` (LoRA, rsLoRA: Kalajdzievski 2023, DoRA: Liu et al. 2024). Charts: trainable parameters
    vs rank (log axes, computed from the model's layer shapes for every rank, the chosen point
    starred, full fine-tuning as a reference); held-out accuracy vs rank; forgetting (control-set drop,
    perplexity change) vs rank with full fine-tuning's values as dashed lines; the chosen run's loss
    curve. Everything comes from the results store (:func:`lorag_nb.methods.training.find_training`): moving a
    control among trained settings only reads JSON records. An untrained setting shows a "Train"
    button with a progress bar; its result then joins the charts.

    Args:
        base: LoRA :class:`~lorag_nb.core.config.TrainingSettings` whose adapter fields the controls replace
            (default :func:`lorag_nb.experiments.recipes.default_lora`).
        eval_settings: the evaluation of the stored runs (default ``default_eval(base.n_entities)``).
        store: results store.
        ranks, alphas, targets, variants: the control choices.
        full_result: the stored full fine-tuning run (reference lines); None for none.
        model, tokenizer: a loaded base model to train with (loaded on the first click if None).
    """

    def __init__(self, base=None, eval_settings=None, store=None, ranks=(2, 8, 32), alphas=(16,), targets=("all-linear", "attention"), variants=("LoRA", "rsLoRA", "DoRA"), full_result=None, model=None, tokenizer=None):
        import ipywidgets as W


        super().__init__()
        self.base = base or default_lora()
        if self.base.lora is None:
            raise ValueError("RankExplorer needs LoRA base settings (base.lora is None: that is full fine-tuning)")
        self.eval_settings = eval_settings or training.default_eval(self.base.n_entities, model_name=self.base.model)
        self.store = RUNTIME.use_store(store)
        self.ranks = tuple(sorted({int(r) for r in ranks}))
        self.alphas = tuple(sorted({a for a in alphas}))
        self.targets = tuple(targets)
        unknown = [v for v in variants if v not in LORA_VARIANTS]
        if unknown:
            raise ValueError(f"variants {unknown} unknown; valid: {sorted(LORA_VARIANTS)}")
        self.variants = tuple(variants)
        self.full_result = full_result
        self.model, self.tokenizer = model, tokenizer
        meta = adapters.meta_model(self.base.model)
        self.full_params = sum(p.numel() for p in meta.parameters())
        self.param_counts = {t: [adapters.expected_trainable(meta, LoraSettings(r=r, target_modules=t)) for r in self.ranks] for t in self.targets}
        del meta
        r0 = self.base.lora.r if self.base.lora.r in self.ranks else self.ranks[0]
        a0 = self.base.lora.lora_alpha if self.base.lora.lora_alpha in self.alphas else self.alphas[0]
        t0 = self.base.lora.target_modules if self.base.lora.target_modules in self.targets else self.targets[0]
        self.controls = {
            "r": W.SelectionSlider(options=list(self.ranks), value=r0, description="rank r", continuous_update=False),
            "lora_alpha": W.Dropdown(options=list(self.alphas), value=a0, description="lora_alpha"),
            "target_modules": W.Dropdown(options=list(self.targets), value=t0, description="targets"),
            "variant": W.Dropdown(options=list(self.variants), value=self.variants[0], description="variant"),
        }
        self.train_button = W.Button(description="Train", button_style="warning", icon="play", tooltip="train this configuration (minutes on a CPU)")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="steps")
        self.status = W.HTML()
        self.train_button.on_click(lambda _b: self.train_current())
        self.figures = {name: new_figure() for name in ("params", "accuracy", "forgetting", "loss")}
        self._wire()

    # ---- data

    def settings_for(self, r: int, lora_alpha: float, target_modules: str, variant: str = "LoRA"):
        """The TrainingSettings of one control combination."""

        rs, dora = LORA_VARIANTS[variant]
        lora = LoraSettings(r=int(r), lora_alpha=lora_alpha, lora_dropout=self.base.lora.lora_dropout, target_modules=target_modules, use_rslora=rs, use_dora=dora)
        return self.base.replace(lora=lora)

    def result_for(self, r: int, lora_alpha: float, target_modules: str, variant: str = "LoRA"):
        """The stored run of that combination, or None (reads one JSON file; never trains)."""

        return find_training(self.settings_for(r, lora_alpha, target_modules, variant), self.store, self.eval_settings)

    # ---- figures

    def build_figures(self, r: int, lora_alpha: float, target_modules: str, variant: str = "LoRA") -> dict[str, go.Figure]:
        """The four charts for these control values, as plain figures (stored runs only)."""

        results = [self.result_for(rr, lora_alpha, target_modules, variant) for rr in self.ranks]
        chosen = results[self.ranks.index(int(r))]

        def metric(res, split, name):
            return None if res is None else plots._metric(res.metrics, split, name)

        full = self.full_result.metrics if self.full_result is not None else None
        base_metrics = (full or {}).get("baseline") or next((x.metrics.get("baseline") for x in results if x is not None), None)
        refs = {}
        if full:
            refs["full FT (MC acc)"] = full["test"]["mc_accuracy"]
        if base_metrics:
            refs["base model (MC acc)"] = base_metrics["test"]["mc_accuracy"]
        label = f"{variant}, {target_modules}, lora_alpha={lora_alpha}"
        acc = plots.rank_accuracy_figure(
            self.ranks,
            {"test MC acc": [metric(x, "test", "mc_accuracy") for x in results], "test F1": [metric(x, "test", "f1") for x in results], "test EM": [metric(x, "test", "exact_match") for x in results]},
            chosen_r=int(r),
            references=refs,
            title=f"Held-out accuracy vs rank ({label})",
        )
        fg = [None if x is None else x.metrics["forgetting"] for x in results]
        forget = plots.rank_forgetting_figure(self.ranks, [None if f is None else f["control_drop"] for f in fg], [None if f is None else f["perplexity_change"] for f in fg], chosen_r=int(r), full=(full or {}).get("forgetting"))
        histories = {}
        if chosen is not None:
            histories[f"r={r} ({label})"] = chosen.details.get("loss_history", [])
        if self.full_result is not None:
            histories["full fine-tuning"] = self.full_result.details.get("loss_history", [])
        loss = plots.loss_curves_figure(histories, title="Training loss of the chosen run" if chosen is not None else f"r={r}, {label}: not trained yet — press Train", colors={"full fine-tuning": plots.METHOD_COLORS["full"]})
        return {
            "params": plots.rank_params_figure(self.ranks, self.param_counts, int(r), target_modules, self.full_params),
            "accuracy": acc,
            "forgetting": forget,
            "loss": loss,
        }

    def refresh(self) -> None:
        v = self.values
        args = (int(v["r"]), v["lora_alpha"], v["target_modules"], v["variant"])
        for name, fig in self.build_figures(*args).items():
            self.set_figure(name, fig)
        chosen = self.result_for(*args)
        if chosen is None:
            self.train_button.layout.display = None
            self.progress.layout.display = None
            self.status.value = "<b>Not trained yet.</b> Press <i>Train</i> (a few minutes on a CPU)."
        else:
            self.train_button.layout.display = "none"
            self.progress.layout.display = "none"
            tr = chosen.metrics["training"]
            self.status.value = f"stored run {chosen.key}: {tr['trainable_params']:,} trainable parameters, {tr['seconds']:.0f} s, test MC acc {chosen.metrics['test']['mc_accuracy']:.2f}"

    def is_trained(self) -> bool:
        """Whether the current control values have a stored run."""
        v = self.values
        return self.result_for(int(v["r"]), v["lora_alpha"], v["target_modules"], v["variant"]) is not None

    def train_current(self):
        """Train (or fetch) the current control values' run, moving the progress bar; then redraw.

        Returns the :class:`~lorag_nb.core.store.Result`.
        """

        v = self.values
        settings = self.settings_for(int(v["r"]), v["lora_alpha"], v["target_modules"], v["variant"])
        self.train_button.disabled = True
        self.status.value = "training…"
        try:
            if self.model is None:
                self.model, self.tokenizer = load_model(self.base.model, dtype="float32")
            result = run_training(settings, store=self.store, eval_settings=self.eval_settings, model=self.model, tokenizer=self.tokenizer, callbacks=[_progress_callback(self.progress)])
        except Exception as err:  # shown in the widget; the notebook keeps running
            self.status.value = f"<b>training failed:</b> {type(err).__name__}: {err}"
            raise
        finally:
            self.train_button.disabled = False
        self.refresh()
        return result

    def widget(self):
        """Controls, the Train button with its progress bar and status, then the charts two by two."""
        import ipywidgets as W

        return W.VBox([control_row(self.controls.values()), control_row([self.train_button, self.progress, self.status]), figure_grid(self.chart_views())], layout=W.Layout(width="100%"))


# --------------------------------------------------------------------------- notebook 04: the hybrid explorer


class HybridExplorer(Dashboard):
    """LoRA + RAG hybrid explorer: test-time top_k and the methods shown.

    Controls: ``top_k`` (a ``SelectionSlider`` over the measured k), ``methods`` (``SelectMultiple`` of
    RAG, naive hybrid, RAFT hybrid) and ``example`` (the test question shown). Charts: answer accuracy
    (``data["metric"]``, gold contained by default) against top_k for the chosen methods, the chosen k
    marked, closed-book references dashed; and the example question's top-k retrieved chunks with each
    chosen method's answer at that k.

    Everything comes from ``data`` (:func:`lorag_nb.experiments.nb03.explorer_data`, built once from stored
    results), so :meth:`update` only rebuilds two figures: no model, no retrieval.

    Args:
        data: :func:`lorag_nb.experiments.nb03.explorer_data` output.
        top_k: initial k (the nearest measured one is used).
        references: dashed lines on the accuracy chart, label → value (e.g. the closed-book LoRA).
    """

    def __init__(self, data: dict, top_k: int | None = None, references: dict | None = None):
        import ipywidgets as W


        super().__init__()
        if not data.get("ks") or not data.get("series"):
            raise ValueError("HybridExplorer needs explorer data with at least one k and one method (hybrid.explorer_data of a non-empty sweep)")
        self.data = data
        self.references = dict(references or {})
        chain_labels = catalog.labels(catalog.RETRIEVAL, long=True)  # notebook 04's labels of the methods in the RAG chain
        self.labels = {m: chain_labels.get(m, m) for m in data["series"]}
        ks = list(data["ks"])
        k0 = min(ks, key=lambda k: abs(k - (top_k if top_k is not None else ks[len(ks) // 2])))
        methods = list(data["series"])
        self.controls = {
            "top_k": W.SelectionSlider(options=ks, value=k0, description="top_k", continuous_update=False),
            "methods": W.SelectMultiple(options=[(self.labels[m], m) for m in methods], value=tuple(methods), description="methods", rows=len(methods)),
            "example": W.Dropdown(options=[(f"{i + 1}. {e['question']}", i) for i, e in enumerate(data["examples"])], value=0 if data["examples"] else None, description="question"),
        }
        self.figures = {"accuracy": new_figure(), "example": new_figure()}
        self._wire()

    def build_figures(self, top_k: int, methods, example: int = 0) -> dict[str, go.Figure]:
        """The two charts for these control values, as plain figures."""

        d = self.data
        chosen = [m for m in d["series"] if m in set(methods)]
        series = {self.labels[m]: (d["series_ks"][m], d["series"][m]) for m in chosen}
        colors = {self.labels[m]: plots.METHOD_COLORS[catalog.color_keys(catalog.RETRIEVAL).get(m, "base")] for m in d["series"]}
        name = plots.RAG_ANSWER_METRICS.get(d["metric"], d["metric"])
        acc = plots.lines_figure(series, f"Answers ({name}) vs test-time top_k", "top_k (chunks in the prompt)", name, chosen_x=int(top_k), references=self.references, colors=colors, range_y=(0, 1.05))
        at_k = {m: d["series"][m][d["series_ks"][m].index(int(top_k))] for m in chosen if int(top_k) in d["series_ks"][m]}
        for (m, y), pos in zip(at_k.items(), plots.label_positions(list(at_k.values()))):
            acc.add_scatter(x=[int(top_k)], y=[y], mode="markers+text", marker=dict(size=13, symbol="circle-open", line=dict(width=2), color=colors[self.labels[m]]), text=[f"{y:.2f}"], textposition=pos, showlegend=False)
        ex = d["examples"][min(int(example), len(d["examples"]) - 1)] if d["examples"] else {"question": "(no example)", "gold": "", "ranked": [], "answers": {}, "correct": {}}
        return {"accuracy": acc, "example": plots.hybrid_example_figure(ex, int(top_k), chosen, self.labels)}

    def refresh(self) -> None:
        v = self.values
        for name, fig in self.build_figures(int(v["top_k"]), v["methods"], int(v["example"] or 0)).items():
            self.set_figure(name, fig)


# --------------------------------------------------------------------------- notebook 05: the comparison explorer


class ComparisonExplorer(Dashboard):
    """Every method side by side: pick the metric(s) and the methods; grouped bars and the table follow.

    Controls: ``metrics`` (``SelectMultiple`` over :data:`lorag_nb.experiments.comparison_table.COLUMNS`), ``methods``
    (``SelectMultiple`` over the compared methods). Figures: ``bars`` (one panel per metric, one bar
    per method: :func:`lorag_nb.ui.charts.bars_chart`) and ``table`` (the selected rows and columns, as
    formatted in :meth:`lorag_nb.experiments.comparison_table.Comparison.table`). Everything is already measured, so a
    change redraws from memory. An empty selection shows an empty chart, not an error.

    Args:
        comparison: a :class:`lorag_nb.experiments.comparison_table.Comparison`.
        metrics: initially selected metrics (default :data:`lorag_nb.ui.charts.DEFAULT_BAR_METRICS`).
        methods: initially selected methods (default all).

    Raises:
        ValueError: an unknown metric or method in the initial selection.
    """

    def __init__(self, comparison, metrics=None, methods=None):
        import ipywidgets as W


        super().__init__()
        self.comparison = comparison
        metrics = tuple(metrics or charts.DEFAULT_BAR_METRICS)
        methods = tuple(methods or comparison.methods)
        bad = [m for m in metrics if m not in COLUMNS] + [m for m in methods if m not in comparison.rows]
        if bad:
            raise ValueError(f"unknown metric(s)/method(s) {bad}; metrics: {list(COLUMNS)}, methods: {comparison.methods}")
        self.controls = {
            "metrics": W.SelectMultiple(options=list(COLUMNS), value=metrics, description="metrics", rows=8),
            "methods": W.SelectMultiple(options=[(comparison.label(m), m) for m in comparison.methods], value=methods, description="methods", rows=6),
        }
        self.figures = {"bars": new_figure(), "table": new_figure()}
        self._wire()

    def build_figures(self, metrics, methods) -> dict[str, go.Figure]:
        """The bars and the table for this selection, as plain figures."""
        import pandas as pd


        metrics = [m for m in COLUMNS if m in set(metrics)]
        methods = [m for m in self.comparison.methods if m in set(methods)]
        bars = charts.bars_chart(self.comparison, metrics, methods)
        table = self.comparison.table(pretty=True, columns=metrics, methods=methods) if methods else None
        tab = plots.table_figure(table, title="Selected methods and metrics") if table is not None and len(table.columns) else plots.table_figure(pd.DataFrame(), title="(nothing selected)")
        return {"bars": bars, "table": tab}

    def refresh(self) -> None:
        for name, fig in self.build_figures(self.values["metrics"], self.values["methods"]).items():
            self.set_figure(name, fig)
