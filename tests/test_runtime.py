"""The session runtime (lorag_nb.methods.runtime): one results store per folder, one model per name."""
from __future__ import annotations

import pytest

from lorag_nb.core.store import ResultsStore
from lorag_nb.methods import runtime
from lorag_nb.methods.runtime import Runtime


def test_the_store_follows_lorag_nb_results_and_is_one_object_per_folder(tmp_path, monkeypatch):
    rt = Runtime()
    monkeypatch.setenv("LORAG_NB_RESULTS", str(tmp_path / "a"))
    a = rt.store
    assert a.root == (tmp_path / "a").absolute() and a.root.is_dir() and rt.store is a
    monkeypatch.setenv("LORAG_NB_RESULTS", str(tmp_path / "b"))  # read at each use: the next method call writes there
    assert rt.store.root == (tmp_path / "b").absolute() and rt.store is not a
    monkeypatch.setenv("LORAG_NB_RESULTS", str(tmp_path / "a"))
    assert rt.store is a
    own = ResultsStore(tmp_path / "own")
    assert rt.use_store(own) is own and rt.use_store(None) is a


def test_a_model_is_loaded_once_per_name_and_a_given_pair_is_remembered(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "load_model", lambda name: calls.append(name) or (f"model:{name}", f"tok:{name}"))
    rt = Runtime()
    assert rt.model("tiny") == ("model:tiny", "tok:tiny") and rt.model("tiny") == ("model:tiny", "tok:tiny")
    assert calls == ["tiny"]  # the second call reused the first load
    held = (object(), object())
    assert rt.model("mine", *held) == held and rt.model("mine") == held and calls == ["tiny"]
    assert rt.loaded_models() == ["tiny", "mine"] and rt.holds("mine") and not rt.holds("other")
    rt.release_models()
    rt.model("tiny")
    assert calls == ["tiny", "tiny"]


def test_an_unknown_model_raises_and_nothing_is_remembered(tmp_path):
    rt = Runtime()
    with pytest.raises(FileNotFoundError, match="no such folder"):
        rt.model(str(tmp_path / "no-model-here"))
    assert rt.loaded_models() == []

