"""Shared fixtures. Tests never write into the user's results store: LORAG_NB_RESULTS points at a
session temp folder. The converted embedded model stays in the normal cache (converted once)."""
from __future__ import annotations

import os

# OpenMP threads that spin while waiting make torch 5-10x slower when another process shares the 2 cores
# (measured: a 4x64 forward 6.5 s spinning vs 0.5 s passive). Set before torch is imported; papermill
# kernels inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_results(tmp_path_factory):
    path = tmp_path_factory.mktemp("results")
    old = os.environ.get("LORAG_NB_RESULTS")
    os.environ["LORAG_NB_RESULTS"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LORAG_NB_RESULTS", None)
    else:
        os.environ["LORAG_NB_RESULTS"] = old


@pytest.fixture(scope="session")
def embedded():
    """The embedded model and tokenizer, loaded once per test session: ``(model, tokenizer)``."""
    from lorag_nb.methods.models import load_model

    return load_model("embedded")
