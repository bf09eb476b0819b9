"""The live dashboards in a real browser: JupyterLab from the project's venv, driven by Playwright in
Debian's Chromium (``executable_path``; ``playwright install`` cannot download browsers here).

For notebooks 02 (rank explorer) and 03 (top-k explorer) at smoke sizes: run every cell, move the
slider by keyboard and by click and check from the DOM (plotly's ``_fullLayout`` / ``_fullData``) that
the charts show the chosen setting; save, **reload the page** and check the charts are drawn again, at
the chosen setting, not blank; no console error, no "Error displaying widget". Screenshots before /
after / after reload go to the test's tmp folder (``--basetemp`` keeps them).

The kernel runs against the store notebook 05 filled at smoke size (``conftest.smoke_store``), as the
papermill tests of 00–04 do: runs either stored are hits for the other.

Needs ``/usr/bin/chromium`` (Debian's ``chromium`` package; ``.ci/run`` installs it). Without it the test
is skipped with that reason, unless ``LORAG_NB_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes it fail.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from lorag_nb.core.paths import NOTEBOOKS_DIR
from lorag_nb.infra.runner import smoke_parameters

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_BROWSER = Path(CHROMIUM).exists()
REQUIRED = os.environ.get("LORAG_NB_REQUIRE_BROWSER") == "1"
# Chromium flags for a closed network (no background connections, no first-run work), as root in CI
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# what a notebook needs beyond its smoke parameters for the test: 02 gets a second rank to move to
EXTRA = {"02_lora": {"ranks": [4, 8]}}
#: how long a reloaded page may take to show the dashboard again (models restored from the kernel, then drawn)
RELOAD_TIMEOUT_MS = 180_000

if not HAVE_BROWSER and REQUIRED:
    pytest.fail(f"LORAG_NB_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
pytestmark = [pytest.mark.browser, pytest.mark.skipif(not HAVE_BROWSER, reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium); .ci/run installs it")]

#: every plotly chart inside a dashboard grid: the number of traces, the title and the marked x (a vertical line)
CHARTS_JS = """() => [...window.jupyterapp.shell.currentWidget.node.querySelectorAll('.widget-gridbox .js-plotly-plot')].map(e => ({
    traces: (e._fullData || []).length,
    title: (e._fullLayout && e._fullLayout.title && e._fullLayout.title.text) || '',
    marked: ((e._fullLayout && e._fullLayout.shapes) || []).filter(s => s.xref === 'x' && s.x0 === s.x1 && s.type === 'line').map(s => s.x0),
    rows: (e._fullData || []).filter(t => t.type === 'table').map(t => t.cells.values[0].length),
    names: (e._fullData || []).map(t => t.name || ''),
    width: e.getBoundingClientRect().width,
    overflow: Math.round(e.getBoundingClientRect().right - e.closest('.widget-gridbox').getBoundingClientRect().right),
    texts: [...e.querySelectorAll('.table .cell-text')].filter(t => t.textContent.trim()).length,
    cells: e.querySelectorAll('.table .cell-text').length,
    svg: e.querySelectorAll('.main-svg .trace, .main-svg .table').length,
}))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _smoke_copy(stem: str, folder: Path) -> Path:
    """The committed notebook with its smoke parameters (and :data:`EXTRA`) injected, as papermill would."""
    from papermill.parameterize import parameterize_notebook

    src = NOTEBOOKS_DIR / f"{stem}.ipynb"
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(nb, {**smoke_parameters(src), **EXTRA.get(stem, {})})
    out = folder / src.name
    nbformat.write(nb, out)
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory, smoke_store):
    """JupyterLab from this venv on 127.0.0.1, a free port, a random token and its own config, runtime,
    settings and workspace folders; stopped at the end whatever happens."""
    root = tmp_path_factory.mktemp("lab")
    home = tmp_path_factory.mktemp("lab-home")
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # no news pop-up
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, LORAG_NB_RESULTS=str(smoke_store[1]), JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_DATA_DIR=str(Path(sys.prefix) / "share" / "jupyter"))
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(home / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: {(home / 'jupyterlab.log').read_text()[-2000:]}")
                time.sleep(0.3)
        yield {"root": root, "url": f"http://127.0.0.1:{port}", "token": token, "shots": tmp_path_factory.mktemp("screenshots")}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Notebook:
    """One notebook open in JupyterLab: run all, read the dashboard's charts, save and reload."""

    def __init__(self, browser, lab, stem: str):
        self.stem, self.lab = stem, lab
        self.path = _smoke_copy(stem, lab["root"])
        self.page = browser.new_page(viewport={"width": 1600, "height": 1100})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.open()

    def open(self):
        # a workspace of its own: only this notebook opens (a shared one would reopen the other notebook's tab)
        self.page.goto(f"{self.lab['url']}/lab/workspaces/{self.stem}/tree/{self.path.name}?token={self.lab['token']}")
        self.page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=90_000)
        self.page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle'; }""", timeout=120_000)

    def run_all(self, timeout_s: float = 420):
        self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self.page.wait_for_timeout(1500)
        self.page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
            const idle = w.sessionContext.session.kernel.status === 'idle';
            const running = [...document.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*'));
            return idle && !running; }""", timeout=timeout_s * 1000, polling=1000)
        failed = self.page.evaluate("() => [...window.jupyterapp.shell.currentWidget.node.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')].map(e => e.textContent).filter(t => t.includes('Traceback') || t.includes('Error'))")
        assert not failed, f"{self.stem}: a cell raised: {failed[0][:2000]}"

    def charts(self, n: int, timeout_ms: int = 60_000) -> list[dict]:
        """The dashboard's ``n`` charts once each is drawn (traces in ``_fullData`` and in the SVG)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(f"() => {{ const c = ({CHARTS_JS})(); return c.length >= {n} && c.every(x => x.traces > 0 && x.svg > 0); }}", timeout=timeout_ms)
        except PlaywrightTimeout:
            state = [(c["title"][:50], c["traces"], c["svg"]) for c in self.page.evaluate(CHARTS_JS)]
            raise AssertionError(f"{self.stem}: the dashboard's {n} charts were not drawn within {timeout_ms / 1000:.0f} s (title, traces, SVG traces): {state}; console: {self.errors[:3]}") from None
        return self.page.evaluate(CHARTS_JS)

    def wait_charts(self, predicate_js: str, timeout_ms: int = 60_000):
        """Wait until ``predicate_js`` (a JS expression over ``c``, the :data:`CHARTS_JS` list) holds."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(f"() => {{ const c = ({CHARTS_JS})(); return c.length > 0 && ({predicate_js}); }}", timeout=timeout_ms, polling=250)
        except PlaywrightTimeout:
            state = [(c["title"][:50], c["marked"], c["rows"], c["names"][:3], f"width {c['width']:.0f} overflow {c['overflow']} cell texts {c['texts']}/{c['cells']}") for c in self.page.evaluate(CHARTS_JS)]
            raise AssertionError(f"{self.stem}: the charts did not follow the control within {timeout_ms / 1000:.0f} s: want {predicate_js}; have {state}") from None
        return self.page.evaluate(CHARTS_JS)

    def slider(self):
        """The dashboard's slider handle (the first slider of the widget box holding the chart grid)."""
        box = self.dashboard()
        return box.locator(".widget-slider .noUi-handle").first, box.locator(".widget-slider .noUi-target").first, box.locator(".widget-slider .widget-readout").first

    def dashboard(self):
        """The dashboard: the widget box that holds the chart grid, in the notebook on screen."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-vbox:has(.widget-gridbox)").first

    def shot(self, name: str):
        box = self.dashboard()
        box.scroll_into_view_if_needed()
        box.screenshot(path=str(self.lab["shots"] / f"{self.stem}-{name}.png"))

    def save_and_reload(self):
        self.page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        self.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
        self.page.reload()
        self.open()
        # After a reload JupyterLab restores every widget model from the kernel before it draws the views
        # (with FigureWidgets, 5 MB of plotly.js each, that took over 60 s for notebook 03 on shared cores);
        # its dashboard sits 32 cells down. Bring the dashboard's cell on screen through the notebook's own
        # API, then give the views time.
        self.page.evaluate("""() => { const nb = window.jupyterapp.shell.currentWidget.content;
            const i = nb.widgets.findIndex(c => c.model.sharedModel.getSource().includes('dash.widget()'));
            if (i >= 0) { nb.activeCellIndex = i; return nb.scrollToItem(i, 'start'); } }""")
        self.dashboard().scroll_into_view_if_needed(timeout=RELOAD_TIMEOUT_MS)

    def check_clean(self):
        shown = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) >> text=Error displaying widget").count()
        assert shown == 0, f"{self.stem}: 'Error displaying widget' shown {shown} times"
        assert not self.errors, f"{self.stem}: console errors: {self.errors[:5]}"


def _drag_to_end(track):
    """Click near the right end of a slider's track (noUiSlider moves the handle to a click)."""
    box = track.bounding_box()
    track.click(position={"x": box["width"] - 2, "y": box["height"] / 2})


def test_top_k_explorer_in_jupyterlab_follows_the_slider_and_survives_a_reload(lab, browser):
    nb = Notebook(browser, lab, "03_rag")
    nb.run_all()
    charts = nb.charts(4)
    nb.shot("before")
    handle, track, readout = nb.slider()
    k0 = int(readout.inner_text())
    k_max = int(float(handle.get_attribute("aria-valuemax")))
    assert k0 == 2 and k_max >= 3, (k0, k_max)  # smoke top_k 2; the slider stops at the last k retrieval measured
    hit, _, _, table = charts[:4]
    assert hit["marked"] == [k0] and table["rows"] == [k0] and f"top_k={k0}" in table["title"]
    # the first render already fits: no chart wider than the grid, every table cell with its text
    fitted = nb.wait_charts("c.every(x => x.overflow <= 1) && c[3].cells > 0 && c[3].texts === c[3].cells")
    assert max(c["overflow"] for c in fitted) <= 1 and fitted[3]["texts"] == fitted[3]["cells"] > 0
    assert min(c["width"] for c in charts) < 800  # two columns in a 1,600 px window, each as wide as its cell

    handle.focus()
    handle.press("ArrowRight")  # keyboard: one step
    after = nb.wait_charts(f"c[0].marked[0] === {k0 + 1} && c[3].rows[0] === {k0 + 1}")
    assert f"top_k={k0 + 1}" in after[3]["title"] and int(readout.inner_text()) == k0 + 1

    _drag_to_end(track)  # click: to the largest k
    after = nb.wait_charts(f"c[0].marked[0] === {k_max} && c[3].rows[0] === {k_max}")
    assert int(readout.inner_text()) == k_max and f"top_k={k_max}" in after[3]["title"]
    nb.shot("after")

    nb.save_and_reload()
    again = nb.charts(4, timeout_ms=RELOAD_TIMEOUT_MS)
    nb.shot("reloaded")
    assert [c["title"] for c in again[:4]] == [c["title"] for c in after[:4]]  # drawn again, at the chosen k
    assert again[0]["marked"] == [k_max] and again[3]["rows"] == [k_max]
    nb.check_clean()
    nb.page.close()


def test_rank_explorer_in_jupyterlab_follows_the_slider_and_survives_a_reload(lab, browser):
    nb = Notebook(browser, lab, "02_lora")
    nb.run_all()
    charts = nb.charts(4)
    nb.shot("before")
    handle, track, readout = nb.slider()
    assert readout.inner_text().strip() == "8"  # the notebook's r
    loss = charts[3]
    assert any(n.startswith("r=8 ") for n in loss["names"]), loss["names"]

    handle.focus()
    handle.press("ArrowLeft")  # keyboard: to r=4 (trained by the notebook's rank sweep)
    after = nb.wait_charts("c[3].names.some(n => n.startsWith('r=4 '))")
    assert readout.inner_text().strip() == "4"
    nb.shot("after-keyboard")

    _drag_to_end(track)  # click: back to r=8
    after = nb.wait_charts("c[3].names.some(n => n.startsWith('r=8 '))")
    assert readout.inner_text().strip() == "8"
    handle.focus()
    handle.press("ArrowLeft")
    after = nb.wait_charts("c[3].names.some(n => n.startsWith('r=4 '))")
    nb.shot("after")

    nb.save_and_reload()
    again = nb.charts(4, timeout_ms=RELOAD_TIMEOUT_MS)
    nb.shot("reloaded")
    assert [c["title"] for c in again[:4]] == [c["title"] for c in after[:4]]
    assert any(n.startswith("r=4 ") for n in again[3]["names"])  # the chosen rank, not the first drawn
    nb.check_clean()
    nb.page.close()
