"""The RAG chain and run_rag (lorag_nb.methods.rag), retrieval latency and the top-k explorer (notebook 03's
experiment module is tested in test_nb03.py). Tiny sizes: 2 entities, 2 questions, in-memory Chroma."""
from __future__ import annotations

import warnings

import pytest

from lorag_nb.core.config import EvalSettings, RagSettings
from lorag_nb.core.store import ResultsStore
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.methods import rag

EV = EvalSettings(n_entities=2, max_questions=2, max_new_tokens=12, batch_size=4)
SETTINGS = RagSettings(top_k=2, prompt_variant="question_sandwich")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ResultsStore(tmp_path_factory.mktemp("rag-store"))


@pytest.fixture(scope="module")
def run(embedded, store, client):
    model, tok = embedded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # top_k 20 > 3 chunks in the retrieval curve: clamped, warned
        return rag.run_rag(SETTINGS, store, EV, model=model, tokenizer=tok, client=client)


def test_run_rag_measures_retrieval_answers_and_latency(run, store, client, embedded):
    m = run.metrics
    assert run.kind == "rag" and not run.cached
    # 2 entities + 1 distractor (of e001) = 3 documents of one chunk each
    assert m["chunks"]["chunks"] == 3 and m["top_k"] == 2
    assert sorted(m["retrieval"]["hit@k"]) == ["1", "2", "3"] and m["retrieval"]["n"] == 36  # 12 facts × 3 test wordings
    assert m["retrieval"]["hit@k"]["3"] == 1.0 and m["retrieval"]["hit@k"]["1"] <= m["retrieval"]["hit@k"]["2"]
    assert m["answers"]["n"] == 2 and m["answers"]["mc_accuracy"] is not None
    lat = m["latency_ms"]
    assert lat["embedding"] > 0 and lat["search"] > 0 and lat["generation"] > 0
    assert lat["total"] == pytest.approx(lat["embedding"] + lat["search"] + lat["generation"])
    rows = run.details["rows"]
    assert [r["id"] for r in rows] == ["test-e001-occupation-7", "test-e001-occupation-8"]
    assert {r["fact"] for r in rows} == {"e001/occupation"}  # one fact, asked in two of its held-out wordings
    for r in rows:
        assert len(r["chunks"]) == 2 and r["sources"][0] == r["chunks"][0].split("#")[0]
        assert r["gold_rank"] == (r["sources"].index("doc-e001") + 1 if "doc-e001" in r["sources"] else None)
    model, tok = embedded
    again = rag.run_rag(SETTINGS, store, EV, model=model, tokenizer=tok, client=client)
    assert again.cached and again.metrics["answers"] == m["answers"]


def test_latency_asks_each_arm_at_its_own_budget(embedded, store, client, monkeypatch):
    """``interleaved_latency``: closed book answers at ``closed_max_new_tokens`` (its own budget), RAG at the eval's;
    both are in the result and the key, so another closed-book budget is another measurement."""
    model, tok = embedded
    seen = []
    real = rag.generate

    def spy(m, t, prompts, max_new_tokens, batch_size=16, **kw):
        seen.append(max_new_tokens)
        return real(m, t, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, **kw)

    monkeypatch.setattr(rag, "generate", spy)
    res = rag.interleaved_latency(SETTINGS, EV, model=model, tokenizer=tok, store=store, n_questions=1, reps=2, client=client, closed_max_new_tokens=5)
    assert res.metrics["closed_max_new_tokens"] == 5 and res.metrics["rag_max_new_tokens"] == 12 and len(res.metrics["ratios"]) == 2
    assert 5 in seen and set(seen) <= {5, 12}  # the closed-book arm at 5; the chain's own generation at 12
    again = rag.interleaved_latency(SETTINGS, EV, model=model, tokenizer=tok, store=store, n_questions=1, reps=2, client=client, closed_max_new_tokens=6)
    assert not again.cached and again.metrics["closed_max_new_tokens"] == 6
    asked = []
    monkeypatch.setattr(rag, "answer_budget", lambda *a, **kw: asked.append(kw) or (7, "chosen"))  # notebook 03 passes none: the closed-book choice
    chosen = rag.interleaved_latency(SETTINGS, EV, model=model, tokenizer=tok, store=store, n_questions=1, reps=2, client=client)
    assert chosen.metrics["closed_max_new_tokens"] == 7 and asked[0]["closed_book"] is True


def test_the_chain_answers_like_the_evaluator_with_sources(run, embedded, client):
    model, tok = embedded
    ks = load_knowledge(n_entities=2)
    kb, _ = rag.open_knowledge_base(SETTINGS, ks, 2, client=client)
    chain = rag.build_chain(kb, model, tok, SETTINGS, max_new_tokens=EV.max_new_tokens, batch_size=EV.batch_size)
    rows = run.details["rows"]
    out = chain.batch([r["question"] for r in rows])
    assert [o["answer"] for o in out] == [r["prediction"] for r in rows]  # same prompt, same greedy decoding
    assert [o["chunks"] for o in out] == [r["chunks"] for r in rows]
    assert all(o["sources"] and o["prompt"].count(r["question"]) == 2 for o, r in zip(out, rows))  # question_sandwich
    with pytest.raises(ValueError, match="empty"):
        chain.invoke("  ")


def test_generation_is_one_batched_call(monkeypatch):
    from lorag_nb.methods import evaluation

    calls = []

    def fake_generate(model, tok, prompts, max_new_tokens, batch_size):
        calls.append(list(prompts))
        return [evaluation.Generation(text=p.upper(), raw=p, latency_s=0.001, new_tokens=1) for p in prompts]

    monkeypatch.setattr(rag, "generate", fake_generate)  # the name the chain calls (imported from evaluation)
    llm = rag.GenerateRunnable(None, None)
    out = llm.batch([{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}])
    assert calls == [["a", "b", "c"]] and [o["answer"] for o in out] == ["A", "B", "C"]


def _marked_k(fig):
    """x of the dotted vertical line marking the chosen k (reference lines are horizontal)."""
    return [s.x0 for s in fig.layout.shapes if s.xref == "x" and s.x0 == s.x1]


def test_top_k_explorer_updates_from_stored_sweeps(embedded, store, client):
    from lorag_nb.ui.widgets import TopKExplorer

    model, tok = embedded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dash = TopKExplorer(SETTINGS, EV, store, model=model, tokenizer=tok, client=client, chunk_sizes=(200, 500), answer_ks=(1, 2), references={"oracle": 0.9}, compute_missing=False)
    dash.update(top_k=1)
    hit = dash.figures["hit"]
    assert _marked_k(hit) == [1]  # the chosen k is marked
    assert list(hit.data[0].x) == [1, 2, 3]
    answers = dash.figures["answers"]
    assert answers.layout.shapes[0].y0 == 0.9  # the oracle reference line
    assert list(answers.data[0].x) == [1, 2] and _marked_k(answers) == [1]
    lat = dash.figures["latency"]
    assert [t.name for t in lat.data] == ["embedding", "search", "generation"] and all(v > 0 for v in lat.data[2].y)
    table = dash.figures["example"].data[0]
    assert len(table.cells.values[0]) == 1 and "(gold)" in table.cells.values[1][0]
    assert dash.figures["example"].layout.title.text.endswith(dash.data("similarity", 500)["example"]["answers"][1])
    assert dash.controls["top_k"].max == 3  # the slider spans only the k retrieval measured (3 chunks), not 1-20
    dash.update(top_k=5)  # clamped to the 3 chunks
    assert len(dash.figures["example"].data[0].cells.values[0]) == 3 and _marked_k(dash.figures["hit"]) == [3]
    assert dash.controls["top_k"].value == 3 == dash.values["top_k"]
    dash.update(search_type="mmr", chunk_size=200)  # not precomputed, compute_missing=False: retrieval only
    assert "answers not computed for this setting" in [a.text for a in dash.figures["answers"].layout.annotations]
    assert len(dash.figures["hit"].data[0].x) >= 3
    assert len(dash.static_figures()) == 4


