"""Benchmarks (lorag_nb.infra.bench): tiny runs that check the values that could be wrong. No timing assertions."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lorag_nb.infra import bench


def test_flops_per_token_formulas():
    shape = {"layers": 30, "heads": 9, "head_dim": 64, "matmul_params": 134_515_008}
    full, f_formula = bench.flops_per_token(shape, seq_len=50)
    assert full == 6 * 134_515_008 + 12 * 30 * 9 * 64 * 50 and f_formula == "6N + 12LHQT"
    lora, l_formula = bench.flops_per_token(shape, seq_len=50, lora_params=1000)
    assert lora == 4 * 134_515_008 + 6 * 1000 + 12 * 30 * 9 * 64 * 50 and l_formula.startswith("4N")


def test_model_shape_counts_tied_embedding_once(embedded):
    model, _ = embedded
    shape = bench.model_shape(model)
    assert shape == {"layers": 30, "heads": 9, "head_dim": 64, "matmul_params": 134_515_008}


def test_padding_fraction():
    assert bench.padding_fraction([1, 3], 2, grouped=False) == pytest.approx(1 / 3)  # one batch: 4 real of 6
    assert bench.padding_fraction([5] * 8, 4, grouped=False) == 0.0
    lengths = [10, 50] * 32  # bimodal: random batches of 4 almost always mix the two lengths
    grouped, random_ = bench.padding_fraction(lengths, 4, grouped=True), bench.padding_fraction(lengths, 4, grouped=False)
    assert 0.0 <= grouped < random_ <= 0.4 + 1e-9  # 0.4 = every batch mixed (2 short + 2 long: 120 real of 200)


def test_exact_top_k_and_recall():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((40, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q = v[3]
    top = bench.exact_top_k(v, q, 5)
    assert top[0] == 3 and list(top) == list(np.argsort(-(v @ q))[:5])
    exact = [[str(i) for i in bench.exact_top_k(v, x, 10)] for x in v[:5]]
    assert bench.recall_at_k(exact, exact, 10) == 1.0
    assert bench.recall_at_k([["1", "2", "3"]], [["1", "2", "4"]], 3) == pytest.approx(2 / 3)


@pytest.mark.bench
def test_hnsw_recall_against_brute_force():
    """Chroma's HNSW on a tiny collection vs the exact answer computed here: recall is computed right."""
    from lorag_nb.methods.retrieval import make_client

    rng = np.random.default_rng(1)
    v = rng.standard_normal((60, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    client = make_client("ephemeral")
    col = client.create_collection("test-bench-hnsw", metadata={"hnsw:space": "cosine"})
    try:
        col.add(ids=[str(i) for i in range(60)], embeddings=v)
        found = [col.query(query_embeddings=[q], n_results=10, include=[])["ids"][0] for q in v[:8]]
    finally:
        client.delete_collection("test-bench-hnsw")
    exact = [[str(i) for i in bench.exact_top_k(v, q, 10)] for q in v[:8]]
    rec = bench.recall_at_k(found, exact, 10)
    assert 0.0 <= rec <= 1.0
    assert rec == pytest.approx(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)]))
    assert rec >= 0.9  # ef_search 100 over 60 vectors finds (nearly) all true neighbours


def test_derived_vectors_are_unit_and_keep_real_ones():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((5, 12)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    out = bench.derived_vectors(real, 20)
    assert out.shape == (20, 12)
    assert np.allclose(out[:5], real) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.bench
def test_shared_prompt_mc_scores_equal_separate(embedded, fp32):
    """The KV-cache-sharing fast path gives the per-option log-probs of the old path within 1e-4."""
    from lorag_nb.data.knowledge import document_for, load_knowledge
    from lorag_nb.data.prompts import make_prompt
    from lorag_nb.methods.evaluation import (
        continuation_logprobs,
        shared_prompt_logprobs,
    )

    model, tok = embedded
    ks = load_knowledge(n_entities=1)
    qas = [q for q in ks.test_qa if q.options][:3]
    prompts = [make_prompt(tok, q.question, [document_for(ks, q).text[:200]] if i == 1 else None) for i, q in enumerate(qas)]
    options = [list(q.options) for q in qas]
    options[0] = options[0] + ["a much longer option than the others"]  # uneven counts and lengths
    new = shared_prompt_logprobs(model, tok, prompts, options, batch_size=2)
    old = continuation_logprobs(model, tok, [(p, o) for p, opts in zip(prompts, options) for o in opts], batch_size=4)
    flat = [x for row in new for x in row]
    assert [n for _, n in flat] == [n for _, n in old]
    assert max(abs(a - b) for (a, _), (b, _) in zip(flat, old)) < 1e-4
    with pytest.raises(ValueError, match="prompts"):
        shared_prompt_logprobs(model, tok, prompts, options[:2])


@pytest.mark.bench
def test_training_bench_same_batches(embedded, tmp_path, fp32):
    """Our Trainer path and the plain loop see the same batches: same non-padding tokens, same first loss."""
    model, tok = embedded
    res = bench.run(["training"], options={"training": dict(n_entities=1, steps=2, skip_steps=1, batch_size=2, max_length=64, r=2, methods=("lora",), model=model, tokenizer=tok)},
                    out_dir=tmp_path, echo=False)["training"]
    check = res["checks"]["lora"]
    assert check["same_tokens"] and check["tokens_ours"] > 0
    assert check["first_loss_abs_diff"] < 1e-4  # same model, same first batch, before any update
    ours = next(r for r in res["rows"] if r["path"] == "ours")
    plain = next(r for r in res["rows"] if r["path"] == "plain")
    assert ours["tokens"] == plain["tokens"] and ours["steps"] == plain["steps"] == 2
    assert 0.0 <= ours["padding_fraction"] < 1.0 and ours["mfu"] > 0
    assert ours["ratio_vs_plain"] == pytest.approx(ours["steady_tokens_per_second"] / plain["steady_tokens_per_second"])
    saved = json.loads((tmp_path / "training.json").read_text())
    assert {"rows", "checks", "padding", "targets", "machine", "peak_flops", "model_shape"} <= set(saved)
    assert "cpu_lora_vs_plain" in saved["targets"]
    assert "| method | path |" in res["report"]


@pytest.mark.bench
def test_precision_bench_tiny(embedded, tmp_path, monkeypatch):
    """Issue 25: bf16 ÷ fp32, interleaved in one process; the precision the reader set is restored."""
    import os

    monkeypatch.setenv("LORAG_NB_PRECISION", "auto")
    model, tok = embedded
    res = bench.run(["precision"], options={"precision": dict(bench.TINY["precision"], model=model, tokenizer=tok)}, out_dir=tmp_path, echo=False)["precision"]
    assert [r["task"] for r in res["rows"]] == ["training", "generation", "multiple choice"]
    assert all(r["rounds"] == 1 and r["ratio_min"] == r["ratio_bf16_fp32"] == r["ratio_max"] > 0 for r in res["rows"])
    assert res["questions"] == 4 and 0 <= res["same_text"] <= 1 and 0 <= res["same_pick"] <= 1
    assert res["loss_first"]["fp32"] != res["loss_first"]["bf16"]  # bf16 really ran
    assert os.environ["LORAG_NB_PRECISION"] == "auto" and "| task |" in res["report"]


@pytest.mark.bench
def test_evaluation_bench_tiny(embedded, tmp_path, fp32):
    model, tok = embedded
    res = bench.run(["evaluation"], options={"evaluation": dict(n_entities=1, max_questions=2, max_new_tokens=2, batch_size=2, model=model, tokenizer=tok)}, out_dir=tmp_path, echo=False)["evaluation"]
    assert res["questions"] == 2 and res["mc_same_accuracy"] and res["mc_max_score_diff"] < 1e-4
    assert {r["mode"] for r in res["rows"]} >= {"one at a time", "one sequence at a time"}
    assert set(json.loads((tmp_path / "evaluation.json").read_text())["targets"]) == {"generation_batched", "mc_batched"}


@pytest.mark.bench
def test_retrieval_bench_tiny(tmp_path):
    res = bench.run(["retrieval"], options={"retrieval": dict(sizes=(30, 80), n_queries=5, embed_chunks=30, ef_search=(100,))}, out_dir=tmp_path, echo=False)["retrieval"]
    assert [r["chunks"] for r in res["rows"]] == [30, 80]
    assert res["rows"][0]["vectors"] == "real" and "derived" in res["rows"][1]["vectors"]
    assert all(0.0 <= r["recall@10"] <= 1.0 for r in res["rows"])
    assert res["ingest"]["chunks"] == 30 and res["queries"]["n"] == 5
    assert set(json.loads((tmp_path / "retrieval.json").read_text())) >= {"rows", "ingest", "queries", "targets", "machine"}


def test_unknown_bench_name(capsys):
    from lorag_nb.infra.cli import main

    with pytest.raises(ValueError, match="unknown benchmark"):
        bench.run(["nope"])
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


@pytest.mark.bench
def test_gpu_script_cpu_path(tmp_path, monkeypatch):
    """benchmarks/gpu_bench.py runs its code path at a tiny size on CPU and writes its JSON."""
    import importlib.util

    from lorag_nb.infra.runner import REPO_ROOT

    monkeypatch.setenv("LORAG_NB_BENCH_DIR", str(tmp_path))
    spec = importlib.util.spec_from_file_location("gpu_bench", REPO_ROOT / "benchmarks" / "gpu_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--tiny"])
    assert {r["path"] for r in res["main"]["rows"]} == {"ours", "plain", "plain+fused"}
    assert res["main"]["checks"]["full"]["same_tokens"] and res["main"]["padding"]["random"] == 0.0  # full-length windows
    assert (tmp_path / "gpu_tiny_cpu.json").exists()
