"""Notebook 01's experiment module (lorag_nb.experiments.nb01): the fine-tuning verdicts notebooks 01 and
02 share, and notebook 01's findings, on stored runs with known numbers (test_nb05's synthetic records:
multiple choice, facts of 20 right: base 5, full fine-tuning 18, LoRA 18; control of 20: base 20, full 12,
LoRA 20)."""
from __future__ import annotations

import pytest
from test_nb05 import synthetic_results

from lorag_nb.core.store import Result, ResultsStore
from lorag_nb.experiments import nb01


@pytest.fixture()
def stored(tmp_path):
    """full / LoRA runs that point at their baseline record, in one store (as run_training writes them)."""
    res = synthetic_results(tmp_path)
    store = ResultsStore(tmp_path / "store")
    runs = {}
    for m in ("full", "lora"):
        r = res[m]
        settings = {**r.settings, "training": {**r.settings["training"], "seed": 0}}
        runs[m] = Result(r.kind, r.key, settings, {**r.metrics, "baseline_key": res["base"].key}, r.details)
        store.put(runs[m])
    return store, runs, res


def test_fine_tuning_verdicts_follow_the_numbers(stored):
    store, runs, _ = stored
    v = {x.id: x for x in nb01.fine_tuning_verdicts({0: runs["full"]}, {0: runs["lora"]}, store=store)}
    assert set(v) == {"full_learns", "full_forgets", "lora_learns", "lora_matches", "lora_forgets_less_endpoint"}
    assert v["full_learns"].verdict == "holds" and v["full_learns"].diff.value == pytest.approx(18 / 20 - 5 / 20)
    assert v["full_forgets"].verdict == "holds" and v["full_forgets"].diff.value == pytest.approx(8 / 20)
    assert v["lora_matches"].verdict == "holds"  # the same 18 facts: 0 is above the −5-point margin
    assert v["lora_forgets_less_endpoint"].verdict == "holds"  # LoRA lost none of the 8 control answers
    assert "0.001 vs 5e-05" in v["lora_forgets_less_endpoint"].why  # the two learning rates are named
    for x in v.values():
        assert x.diff.has_interval and x.diff.n_facts == 20


def test_fine_tuning_verdicts_need_runs_and_their_baseline(stored, tmp_path):
    store, runs, _ = stored
    with pytest.raises(ValueError, match="needs full_runs or lora_runs"):
        nb01.fine_tuning_verdicts(None, None, store=store)
    with pytest.raises(ValueError, match="baseline record"):
        nb01.fine_tuning_verdicts({0: runs["full"]}, store=ResultsStore(tmp_path / "other-store"))


def test_only_full_fine_tuning_judges_only_its_own_claims(stored):
    store, runs, _ = stored
    ids = [x.id for x in nb01.fine_tuning_verdicts({0: runs["full"]}, store=store)]
    assert ids == ["full_learns", "full_forgets"]
