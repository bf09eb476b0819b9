"""The results store: caching by settings hash, atomic records, no recompute on a hit."""
from __future__ import annotations

import json

import pytest

from lorag_nb.core.store import ResultsStore, settings_key
from lorag_nb.methods.measure import run


def test_cached_computes_once_and_keys_by_settings(tmp_path):
    store = ResultsStore(tmp_path)
    calls = []

    def compute(artifacts):
        calls.append(artifacts)
        return {"acc": 0.5 + len(calls)}, {"rows": [1, 2]}

    a = store.cached("demo", {"r": 4}, compute)
    b = store.cached("demo", {"r": 4}, compute)
    c = store.cached("demo", {"r": 8}, compute)
    assert len(calls) == 2
    assert a.metrics == b.metrics == {"acc": 1.5} and c.metrics == {"acc": 2.5}
    assert not a.cached and b.cached
    assert a.key == settings_key("demo", {"r": 4}) != c.key
    assert len(store.all("demo")) == 2 and len(list(tmp_path.glob("*.json"))) == 2
    assert json.loads(store.path("demo", a.key).read_text())["details"] == {"rows": [1, 2]}
    forced = store.cached("demo", {"r": 4}, compute, force=True)
    assert forced.metrics == {"acc": 3.5} and len(store.all("demo")) == 2


def test_failed_compute_stores_nothing(tmp_path):
    store = ResultsStore(tmp_path)

    def boom(_):
        raise RuntimeError("loss is nan")

    with pytest.raises(RuntimeError):
        store.cached("demo", {"r": 1}, boom)
    assert store.all() == []


def test_tuple_and_list_settings_hash_alike():
    assert settings_key("k", {"m": ("q_proj", "v_proj")}) == settings_key("k", {"m": ["q_proj", "v_proj"]})


def test_run_rejects_unknown_settings():
    with pytest.raises(TypeError, match="no experiment runner for dict"):
        run({"r": 4})
