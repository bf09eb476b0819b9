"""Run profiles (lorag_nb.experiments.profiles): every notebook has ``profile`` and a cell that applies it; with
the device forced, "auto" picks cpu or gpu, the GPU values replace only what is still at its CPU
default, and a notebook's own profile cell assigns them."""
from __future__ import annotations

import ast

import nbformat
import pytest

from lorag_nb.experiments import profiles
from lorag_nb.core.paths import NOTEBOOKS_DIR
from lorag_nb.infra.runner import notebook_defaults

STEMS = sorted(profiles.CPU)


def _profile_cell(stem: str) -> str:
    nb = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "profiles.apply(" in c.source]
    assert len(cells) == 1, f"{stem}: want one cell calling profiles.apply, found {len(cells)}"
    return cells[0]


def test_every_notebook_has_a_profile():
    assert STEMS == sorted(p.stem for p in NOTEBOOKS_DIR.glob("0*.ipynb"))
    assert set(profiles.GPU) == set(profiles.CPU) and all(set(profiles.GPU[s]) == set(profiles.CPU[s]) for s in STEMS)


# The CPU values against the notebooks' cells: tests/test_recipes.py (CPU is read from the table of defaults).


@pytest.mark.parametrize("cuda", [False, True], ids=["cpu", "cuda"])
@pytest.mark.parametrize("stem", STEMS)
def test_the_notebooks_profile_cell_honours_the_device(stem, cuda, monkeypatch):
    """Run the notebook's own profile cell on its defaults with the device forced."""
    monkeypatch.setattr(profiles, "cuda_available", lambda: cuda)
    ns = dict(notebook_defaults(NOTEBOOKS_DIR / f"{stem}.ipynb"), knowledge_set=None)
    exec(compile(ast.parse(_profile_cell(stem)), f"{stem}:profile", "exec"), ns)
    want = profiles.GPU[stem] if cuda else profiles.CPU[stem]
    assert {k: ns[k] for k in want} == want
    assert ns["run_profile"].name == ("gpu" if cuda else "cpu") and "CUDA" in ns["run_profile"].why


def test_gpu_keeps_what_the_reader_set_and_refuses_without_cuda():
    params = dict(profiles.CPU["02_lora"], n_entities=3)  # set by the reader (or papermill's smoke values)
    c = profiles.apply("02_lora", "auto", params, cuda=True)
    assert c.values["n_entities"] == 3 and c.values["seeds"] == [0, 1, 2] and "n_entities" not in c.changed
    assert c.changed["batch_size"] == (4, 16) and "batch_size 4 → 16" in str(c)
    assert profiles.apply("02_lora", "auto", params, cuda=False).changed == {}
    assert profiles.apply("02_lora", "cpu", params, cuda=True).values == params  # asked for cpu on a GPU machine
    with pytest.raises(ValueError, match="profile='gpu' needs a CUDA device"):
        profiles.apply("02_lora", "gpu", params, cuda=False)
    with pytest.raises(ValueError, match=r"profile='laptop' is invalid; valid: one of \('auto', 'cpu', 'gpu'\)"):
        profiles.apply("02_lora", "laptop", params)
    with pytest.raises(ValueError, match=r"parameters \['seeds'\] are missing"):
        profiles.apply("02_lora", "auto", {k: v for k, v in params.items() if k != "seeds"})


class _Folder:
    def __init__(self, n):
        self.documents = list(range(n))


@pytest.mark.parametrize("stem", STEMS)
def test_on_a_folder_every_notebook_takes_one_slice(stem):
    """At the defaults every notebook uses the same first documents of a folder (FOLDER_DOCUMENTS), so 01-05
    teach, test and index the same facts; n_entities set by the reader is that slice everywhere."""
    ns = dict(notebook_defaults(NOTEBOOKS_DIR / f"{stem}.ipynb"))
    c = profiles.apply(stem, "cpu", ns, folder=_Folder(100))
    assert {c.values[k] for k in profiles.FOLDER_KNOBS[stem]} == {profiles.FOLDER_DOCUMENTS["cpu"]}
    small = profiles.apply(stem, "cpu", ns, folder=_Folder(7))
    assert {small.values[k] for k in profiles.FOLDER_KNOBS[stem]} == {7} and "first 7 of its 7 documents" in small.why
    set_by_reader = profiles.apply(stem, "cpu", dict(ns, n_entities=3), folder=_Folder(100))
    assert {set_by_reader.values[k] for k in profiles.FOLDER_KNOBS[stem]} == {3}
    for k in profiles.FOLDER_SWEEP_KNOBS.get(stem, ()):
        assert set_by_reader.values[k] == min(ns[k], 3)
    assert profiles.apply(stem, "cpu", ns, folder=None).values == {k: ns[k] for k in profiles.CPU[stem]}  # the built-in world: unchanged
