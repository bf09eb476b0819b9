"""The papermill harness: every notebook in notebooks/ is checked and executed with its smoke parameters.

New notebooks are picked up by the glob; smoke parameters come from the one table of defaults
(``lorag_nb.experiments.recipes.SMOKE_CHANGES``) and are injected by papermill into the ``parameters`` cell.
Notebooks 00–04 run against the store notebook 05 filled from empty (``conftest.smoke_store``): at the
aligned smoke sizes they find its runs there, as a reader's notebooks find each other's; never the user's store.
"""
from __future__ import annotations

import json

import papermill as pm
import pytest

from lorag_nb.infra.runner import (
    NOTEBOOKS_DIR,
    check_notebook,
    notebook_paths,
    smoke_parameters,
)

NOTEBOOKS = notebook_paths(NOTEBOOKS_DIR)


def test_there_are_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS][:1] == ["00"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    assert check_notebook(path) == []


def _write(tmp_path, cells, **meta):
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3"}, "language_info": {"name": "python"}, **meta}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _code(src, tags=(), outputs=()):
    _code.n = getattr(_code, "n", 0) + 1
    return {"id": f"c{_code.n}", "cell_type": "code", "source": src, "metadata": {"tags": list(tags)}, "outputs": list(outputs), "execution_count": None}


COLAB = "import sys\nif 'google.colab' in sys.modules: pass\n"


def test_check_notebook_catches_each_problem(tmp_path):
    good = _write(tmp_path, [_code(COLAB), _code("n: int = 3  # entities\n", tags=["parameters"])])
    assert check_notebook(good) == []
    untagged = _write(tmp_path, [_code(COLAB), _code("n: int = 3  # entities\n")])
    assert check_notebook(untagged) == ["0 cells tagged 'parameters' (want exactly 1)"]
    two = _write(tmp_path, [_code(COLAB), _code("n: int = 3  # a\n", tags=["parameters"]), _code("m: int = 1  # b\n", tags=["parameters"])])
    assert "2 cells tagged" in check_notebook(two)[0]
    no_comment = _write(tmp_path, [_code(COLAB), _code("n: int = 3\n", tags=["parameters"])])
    assert "no trailing comment" in check_notebook(no_comment)[0]
    untyped = _write(tmp_path, [_code(COLAB), _code("n = 3  # entities\n", tags=["parameters"])])
    assert "not a typed assignment" in check_notebook(untyped)[0]
    with_out = _write(tmp_path, [_code(COLAB, outputs=[{"output_type": "stream", "name": "stdout", "text": "x"}]), _code("n: int = 3  # e\n", tags=["parameters"])])
    assert "committed with outputs" in check_notebook(with_out)[0]
    no_colab = _write(tmp_path, [_code("n: int = 3  # e\n", tags=["parameters"])])
    assert check_notebook(no_colab) == ["first code cell is not the guarded Colab set-up cell"]


#: Notebooks papermill runs in another test, in a stronger setting: 05 from an EMPTY results store
#: (conftest.smoke_store, checked in tests/test_nb05.py), whose store the others then run against.
RUN_ELSEWHERE = {"05_comparison": "tests/conftest.py::smoke_store"}


def figures_in(nb: dict) -> int:
    """Static plotly figures among an executed notebook's outputs."""
    return sum(1 for c in nb["cells"] for o in c.get("outputs", []) if "text/html" in o.get("data", {}) and "plotly" in "".join(o["data"]["text/html"]))


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem not in RUN_ELSEWHERE], ids=lambda p: p.stem)
def test_notebook_runs_with_smoke_parameters(path, tmp_path, smoke_store, monkeypatch):
    monkeypatch.setenv("LORAG_NB_RESULTS", str(smoke_store[1]))  # the papermill kernel inherits it
    params = smoke_parameters(path)
    out = tmp_path / path.name
    # Any cell error raises PapermillExecutionError and fails the test.
    pm.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3", cwd=str(path.parent), progress_bar=False, execution_timeout=1200)
    nb = json.loads(out.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == (1 if params else 0)
    tagged_at = next(i for i, c in enumerate(nb["cells"]) if "parameters" in c["metadata"].get("tags", []))
    if params:  # injected right after the defaults, so the smoke values win
        assert "injected-parameters" in nb["cells"][tagged_at + 1]["metadata"].get("tags", [])
    assert figures_in(nb) >= 1, "an executed notebook must show at least one static plotly figure"


def test_check_notebook_catches_parameter_papermill_cannot_parse(tmp_path):
    bad = _write(tmp_path, [_code(COLAB), _code("n: int = 3  # entities (80 = all)\n", tags=["parameters"])])
    assert check_notebook(bad) == ["papermill does not recognize parameter(s) ['n'] (avoid '=' in their comments)"]


def test_cli_run_rejects_bad_input_with_one_line(capsys):
    from lorag_nb.infra.cli import main

    assert main(["run", "-n", "99"]) == 2
    assert "no notebooks match ['99']" in capsys.readouterr().err
    assert main(["run", "-n", "00", "-p", "noequals"]) == 2
    assert "must look like name=value" in capsys.readouterr().err
    assert main(["run", "-n", "00", "-p", "bogus_knob=3"]) == 2
    err = capsys.readouterr().err
    assert "['bogus_knob'] are not defined" in err and "n_entities" in err
    assert main(["run", "-n", "00", "-k", "nosuchkernel"]) == 2
    assert "kernel 'nosuchkernel' is not installed" in capsys.readouterr().err


def test_check_overrides_accepts_a_parameter_of_any_selected_notebook():
    from lorag_nb.infra.runner import check_overrides

    paths = notebook_paths(NOTEBOOKS_DIR, ["00", "02"])
    check_overrides(paths, {"ranks": [2], "n_entities": 3})  # `ranks` exists only in 02: allowed
    for bad in ({"n_entities": "abc"}, {"n_entities": 2.5}, {"n_entities": True}, {"ranks": 2}):
        with pytest.raises(ValueError, match=rf"parameter {next(iter(bad))}=.* valid: an? (int|list), as its notebooks declare it"):
            check_overrides(paths, bad)
    with pytest.raises(ValueError, match="ranks"):
        check_overrides(notebook_paths(NOTEBOOKS_DIR, ["00"]), {"ranks": [2]})


def test_executed_notebooks_drop_the_live_widget_state(tmp_path):
    """The saved widget state (MBs of plotly bundle per chart, useless without a kernel) is removed and
    the dashboard's place says how to get it live; the static outputs stay."""
    from lorag_nb.infra.runner import (
        LIVE_NOTE,
        WIDGET_VIEW,
        drop_live_widgets,
        export_html,
    )

    nb = json.loads(_write(tmp_path, [_code(COLAB), _code("n: int = 3  # e\n", tags=["parameters"])]).read_text())
    nb["cells"].append(_code("dash.widget()", outputs=[{"output_type": "display_data", "metadata": {}, "data": {WIDGET_VIEW: {"model_id": "m1", "version_major": 2, "version_minor": 0}, "text/plain": "VBox(...)"}}]))
    nb["cells"].append(_code("fig", outputs=[{"output_type": "display_data", "metadata": {}, "data": {"text/html": "<div>static figure</div>"}}]))
    progress = {"output_type": "display_data", "metadata": {}, "data": {WIDGET_VIEW: {"model_id": "m2", "version_major": 2, "version_minor": 0}, "text/plain": "Loading weights: 100%|##########| 272/272"}}
    nb["cells"].insert(1, _code("model = load_model()", outputs=[progress, {**progress, "data": {WIDGET_VIEW: {"model_id": "m3"}}}]))  # tqdm bars: not dashboards
    nb["metadata"]["kernelspec"]["display_name"] = "Python 3"
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m1": {"bundle": "x" * 2_000_000}}, "version_major": 2, "version_minor": 0}}
    path = tmp_path / "executed.ipynb"
    path.write_text(json.dumps(nb))
    saved = drop_live_widgets(path)
    assert saved > 1_900_000 and path.stat().st_size < 20_000
    out = json.loads(path.read_text())
    assert "widgets" not in out["metadata"]
    assert [o["data"] for o in out["cells"][1]["outputs"]] == [{"text/plain": "Loading weights: 100%|##########| 272/272"}]  # a progress bar keeps its text, no dashboard note
    assert sum(LIVE_NOTE in json.dumps(c.get("outputs", [])) for c in out["cells"]) == 1
    assert out["cells"][-2]["outputs"][0]["data"] == {"text/plain": LIVE_NOTE} and out["cells"][-1]["outputs"][0]["data"]["text/html"] == "<div>static figure</div>"
    html = export_html(path).read_text()
    assert LIVE_NOTE in html and "static figure" in html
