"""Notebook 03's experiment module (lorag_nb.experiments.nb03): the prompt-variant comparison on dev, the
knowledge-base swap, the article's RAG claims and the top_k sweep table (the chain and run_rag are tested
in test_rag.py). Tiny sizes: 2 entities, 2 questions, in-memory Chroma."""
from __future__ import annotations

import pytest

from lorag_nb.core.config import EvalSettings, RagSettings
from lorag_nb.core.store import Result, ResultsStore
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.experiments import nb03

EV = EvalSettings(n_entities=2, max_questions=2, max_new_tokens=12, batch_size=4)
SETTINGS = RagSettings(top_k=2, prompt_variant="question_sandwich")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ResultsStore(tmp_path_factory.mktemp("nb03-store"))


def test_prompt_variants_are_compared_on_dev(embedded, store, client):
    model, tok = embedded
    table, winner = nb03.compare_prompt_variants(SETTINGS, store, EV, variants=["context_then_question", "question_sandwich"], model=model, tokenizer=tok, client=client)
    assert len(table) == 4 and set(table["context"]) == {"oracle", "retrieved"} and set(table["n"]) == {2}
    means = table.groupby("variant")["f1"].mean()
    assert winner in means.index and means[winner] == means.max()
    with pytest.raises(ValueError, match="unknown prompt variant"):
        nb03.compare_prompt_variants(SETTINGS, store, EV, variants=["nope"])


def test_best_variant_breaks_ties_by_contains_then_order():
    import pandas as pd

    t = pd.DataFrame([{"variant": "a", "f1": 0.5, "contains": 0.2}, {"variant": "b", "f1": 0.5, "contains": 0.4}, {"variant": "c", "f1": 0.5, "contains": 0.4}])
    assert nb03.best_variant(t, ["a", "b", "c"]) == "b"
    assert nb03.best_variant(t, ["c", "b", "a"]) == "c"


def test_swapping_the_knowledge_base_replaces_every_old_chunk(embedded, store, client):
    model, tok = embedded
    swap = nb03.swap_experiment(SETTINGS, store, EV, model=model, tokenizer=tok, client=client)
    m = swap.metrics
    ks = load_knowledge(n_entities=2)
    assert m["n_questions"] == min(2, len(ks.revised_test_qa)) >= 1
    assert m["stale_chunks"] == 0 and m["chunks_after"] == m["chunks_before"] == 3
    assert m["swap"]["deleted"] == 2 and m["swap"]["added"] == 2 and m["swap"]["embedded"] == 2
    assert m["swap_seconds"] > 0
    assert all(r["sources"][0].startswith("rev-") for r in swap.details["after"])  # answers now come from the new facts
    assert all(0 <= m[p]["old_fact_rate"] <= 1 for p in ("before", "after"))


def _result(kind, metrics):
    return Result(kind=kind, key="k", settings={}, metrics=metrics)


def _qrows(n_facts, contains_facts, mc_facts=0, prefix="test", says_old_facts=0):
    """3 wordings per fact; the first ``contains_facts`` facts contain the gold answer, etc."""
    return [{"id": f"{prefix}-e{i:03d}-river-{t}", "contains": float(i < contains_facts), "mc_correct": i < mc_facts, "says_old": float(i < says_old_facts), "prediction": "x"}
            for i in range(n_facts) for t in (7, 8, 9)]


def test_article_claims_verdicts_follow_the_numbers():
    from lorag_nb.core import claims as C

    rag_r = _result("rag", {"answers": {"n": 60}})
    rag_r.details = {"rows": _qrows(20, 16, mc_facts=18)}
    base = _result("baseline", {})
    base.details = {"test": _qrows(20, 0, mc_facts=5)}
    swap = _result("rag_swap", {"swap_seconds": 2.0})
    swap.details = {"before": _qrows(20, 2, prefix="revised", says_old_facts=15), "after": _qrows(20, 18, prefix="revised")}
    lora = _result("train", {"training": {"seconds": 200.0}})
    lora.details = {"rows": {"test": _qrows(20, 10, mc_facts=18)}}
    latency = _result("latency", {"ratios": [1.5, 1.6, 1.4], "rag_ms": [300.0, 310.0, 290.0], "closed_ms": [200.0] * 3, "n_questions": 6})
    v = {x.id: x for x in nb03.article_claims(rag_r, base, swap, lora, latency)}
    assert set(v) == {"rag_grounded", "rag_no_training", "rag_swap", "rag_kb_bias", "rag_latency"}
    assert v["rag_grounded"].verdict == C.HOLDS and v["rag_grounded"].diff.value == pytest.approx(0.8) and v["rag_grounded"].diff.n_facts == 20
    assert v["rag_no_training"].verdict == C.HOLDS  # the same 18 of 20 facts: 0 > -5 points
    assert v["rag_swap"].verdict == C.HOLDS and v["rag_swap"].diff.value == pytest.approx(0.8)
    assert v["rag_kb_bias"].verdict == C.HOLDS  # 15 facts stated the outdated value, 2 the true one
    assert v["rag_latency"].verdict == C.HOLDS and v["rag_latency"].diff.value == 1.5
    # weak RAG: 1 fact more than closed book on 20 is not decided; a swap that changed nothing does not hold
    rag_r.details = {"rows": _qrows(20, 1, mc_facts=3)}
    swap.details["after"] = swap.details["before"]
    w = {x.id: x for x in nb03.article_claims(rag_r, base, swap, lora)}
    assert w["rag_grounded"].verdict == C.UNDETERMINED and w["rag_grounded"].facts_needed > 20
    assert w["rag_no_training"].verdict == C.DOES_NOT_HOLD  # 3 of 20 vs 18 of 20
    assert w["rag_swap"].verdict == C.DOES_NOT_HOLD and "rag_latency" not in w


def test_sweep_frame_carries_an_interval_per_answer_metric():
    """The top_k sweep's table (and its chart) carry each answer metric's 95% interval over facts."""
    from lorag_nb.ui import plots

    rows = [dict(r, em=0.0, f1=0.5 * r["contains"]) for r in _qrows(20, 12)]  # 20 facts, 12 answered
    res = _result("rag", {"answers": {"n": len(rows), "exact_match": 0.0, "f1": 0.3, "contains": 0.6, "mc_accuracy": None},
                          "latency_ms": {"embedding": 10.0, "search": 2.0, "generation": 300.0, "total": 312.0},
                          "retrieval": {"hit@k": {"1": 0.9, "3": 1.0}}, "prompt_tokens_mean": 200.0})
    res.details = {"rows": rows}
    row = nb03.sweep_frame({3: res}).iloc[0]
    assert row["contains_low"] < 0.6 < row["contains_high"] and row["f1_low"] < 0.3 < row["f1_high"]
    assert row["exact_match_low"] == row["exact_match_high"] == 0.0  # no variation: a zero-width interval
    fig = plots.answers_vs_k_figure(nb03.sweep_frame({3: res}).to_dict("records"))
    bars = {tr.name: tr.error_y.array for tr in fig.data if tr.name}
    assert bars and all(b is not None for b in bars.values())
