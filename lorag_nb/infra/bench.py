"""Benchmarks: our code paths against a plain baseline measured in the same run, reported as ratios.

``lorag-nb bench [training|retrieval|evaluation|model_load|notebooks|precision]`` runs them (plain
``lorag-nb bench`` runs the first four); each prints a Markdown table and writes
``runs/bench/<name>.json`` and ``<name>.md`` (``$LORAG_NB_BENCH_DIR`` overrides the folder). The machine, the load
average and the thread count go into every JSON, because absolute times on a shared 2-core machine
are noise — ratios measured in one run are what the targets are about.

- :func:`bench_training`: our :func:`lorag_nb.methods.training.train` (transformers ``Trainer``) vs a plain
  PyTorch loop over exactly the batches the Trainer saw, with FLOPs per token and MFU
  (:mod:`lorag_nb.infra.bench_train`, where the formulas are written out).
- :func:`bench_retrieval`: Chroma (HNSW, ``hnsw:space=cosine``) vs exact cosine search in NumPy over the
  same vectors: indexing chunks/s (embedding included and excluded), query latency p50/p95, recall@10.
- :func:`bench_evaluation`: batched generation and multiple-choice scoring vs one question at a time.
- :func:`bench_notebooks`: wall time of each notebook (smoke or default parameters) on a fresh store, and
  where it goes: wall and CPU time per stage with each stage's FLOP floor (:mod:`lorag_nb.infra.bench_stages`).
- :func:`bench_model_load`: first load (GGUF → safetensors conversion) vs cached reload.
- :func:`bench_precision`: bf16 autocast vs fp32 on this CPU (training, generation, multiple choice), interleaved.
"""
from __future__ import annotations

import gc
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from lorag_nb.core import stages
from lorag_nb.core.config import PRECISION_ENV, TrainingSettings, auto_precision
from lorag_nb.core.fmt import percentile
from lorag_nb.data.knowledge import Document, load_knowledge
from lorag_nb.data.prompts import make_prompt
from lorag_nb.infra.bench_report import (  # noqa: F401  (re-exported: bench.markdown_table etc. stay importable)
    bench_dir,
    machine_info,
    markdown_table,
    target_entry,
    targets_table,
    write_report,
    write_result,
)
from lorag_nb.infra.bench_stages import notebook_profile, profile_report, read_table
from lorag_nb.infra.bench_train import (  # noqa: F401  (re-exported: bench.bench_training etc. stay importable)
    H200_BF16_PEAK,
    TRAINING_COLUMNS,
    bench_training,
    docs_examples,
    flops_per_token,
    matmul_peak_flops,
    model_shape,
    padding_fraction,
    plain_loop,
    recording_collator,
    training_report,
)
from lorag_nb.infra.runner import notebook_paths, run_notebooks, write_index, write_reference
from lorag_nb.methods import models
from lorag_nb.methods.evaluation import generate, multiple_choice_scores
from lorag_nb.methods.models import load_embeddings, load_model
from lorag_nb.methods.retrieval import CachedEmbeddings, KnowledgeBase, make_client
from lorag_nb.methods.trainer import train

#: Benchmarks run by a plain ``lorag-nb bench``; ``notebooks`` is run only when named.
DEFAULT_BENCHES = ("training", "retrieval", "evaluation", "model_load")
ALL_BENCHES = DEFAULT_BENCHES + ("notebooks", "precision")


# --------------------------------------------------------------------------- retrieval


def synthetic_chunks(n: int, seed: int = 0, n_entities: int | None = None) -> list[str]:
    """``n`` distinct chunk texts: 2–3 sentences of the knowledge set's documents recombined (seeded)."""
    import re


    ks = load_knowledge(n_entities=n_entities)
    sentences = [s.strip() for d in list(ks.documents) + list(ks.distractors) for s in re.split(r"(?<=[.!?])\s+", d.text) if len(s.strip()) > 20]
    rng = random.Random(seed)
    return [" ".join(rng.sample(sentences, rng.randint(2, 3))) + f" (chunk {i})" for i in range(n)]


def derived_vectors(real, n: int, noise: float = 0.5, seed: int = 0):
    """``n`` unit vectors: the ``real`` ones first, then a random real vector plus Gaussian noise of norm
    ≈ ``noise``, renormalized — synthetic vectors that keep the real embeddings' cluster structure."""
    import numpy as np

    real = np.asarray(real, dtype=np.float32)
    if n <= len(real):
        return real[:n].copy()
    rng = np.random.default_rng(seed)
    extra = n - len(real)
    d = real.shape[1]
    v = real[rng.integers(0, len(real), extra)] + noise * rng.standard_normal((extra, d)).astype(np.float32) / np.sqrt(d)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return np.concatenate([real, v])


def exact_top_k(vectors, query, k: int):
    """Indices of the ``k`` largest cosine similarities (unit vectors: dot products), best first (NumPy)."""
    import numpy as np

    scores = vectors @ query
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def recall_at_k(found: Sequence[Sequence], exact: Sequence[Sequence], k: int = 10) -> float:
    """Mean over queries of |found[:k] ∩ exact[:k]| / |exact[:k]| (ANN recall@k against exact search)."""
    vals = [len(set(list(f)[:k]) & set(list(e)[:k])) / max(1, len(list(e)[:k])) for f, e in zip(found, exact)]
    return sum(vals) / len(vals) if vals else float("nan")


def bench_retrieval(sizes: Sequence[int] = (1000, 10000, 100000), n_queries: int = 200, embed_chunks: int = 1000, k: int = 10, noise: float = 0.5, seed: int = 0, ef_search: Sequence[int] = (100, 500, 1500)) -> dict:
    """Indexing throughput, query latency and HNSW recall@k of Chroma vs exact NumPy search, same vectors.

    ``embed_chunks`` synthetic chunks (:func:`synthetic_chunks`) go through the real path —
    :meth:`lorag_nb.methods.retrieval.KnowledgeBase.ingest` with the packaged MiniLM (split, embed, upsert) —
    giving chunks/s with embedding; those real embeddings seed :func:`derived_vectors` for the larger
    sizes (labelled ``derived`` in the rows: embedding 100k chunks on 2 cores would take many minutes
    and measures the embedder, not the index). Each size goes into a fresh Chroma collection
    (``hnsw:space=cosine``; default HNSW parameters M=16, ef_construction=100, ef_search=100) with
    precomputed vectors (chunks/s without embedding), then ``n_queries`` real question embeddings are
    searched one at a time in Chroma (``collection.query``) and in NumPy (:func:`exact_top_k`).
    If recall@k < 0.95 at Chroma's default ``ef_search`` (100), a new collection is built with the next
    ``ef_search`` value (``hnsw:search_ef`` in its metadata), until recall@k reaches 0.95.
    """
    import numpy as np


    t_start = time.perf_counter()
    texts = synthetic_chunks(embed_chunks, seed)
    base = load_embeddings()
    base.embed_documents(["warm-up"])
    emb = CachedEmbeddings(base, "sentence-transformers/all-MiniLM-L6-v2", 384)
    client = make_client("ephemeral")
    name = f"bench-kb-{os.getpid()}-{seed}"
    kb = KnowledgeBase(name, client=client, embeddings=emb)
    docs = [Document(id=f"s{i:06d}", text=t, title="", metadata={"source": "synthetic"}) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    report = kb.ingest(docs)
    ingest_s = time.perf_counter() - t0
    embed_s = sum(emb.seconds.values()) if hasattr(emb, "seconds") else None
    got = kb.collection.get(include=["embeddings"])
    real = np.asarray(got["embeddings"], dtype=np.float32)
    ks = load_knowledge()
    questions = [q.question for q in list(ks.test_qa) + list(ks.train_qa)]
    questions = list(dict.fromkeys(questions))[: n_queries]
    t0 = time.perf_counter()
    qv = np.asarray(base.embed_documents(questions), dtype=np.float32)
    q_embed_s = time.perf_counter() - t0
    # end-to-end query through the KnowledgeBase (LangChain retriever, query embedding included)
    e2e = []
    for q in questions[:50]:
        t0 = time.perf_counter()
        kb.search(q + " ", top_k=k)  # trailing space: a text new to the embedding cache
        e2e.append(time.perf_counter() - t0)
    client.delete_collection(name)
    rows = []
    step = max(1, int(client.get_max_batch_size()))
    for n in sizes:
        vecs = derived_vectors(real, n, noise, seed)
        exact, lat_np = [], []
        for q in qv:
            t0 = time.perf_counter()
            exact.append([str(j) for j in exact_top_k(vecs, q, k)])
            lat_np.append(time.perf_counter() - t0)
        for ef in ef_search:
            # ef_search is fixed when the collection is created (Chroma's local client ignores a later
            # modify() for the loaded index), so each value gets its own collection
            meta = {"hnsw:space": "cosine"} if ef == 100 else {"hnsw:space": "cosine", "hnsw:search_ef": int(ef)}
            col = client.create_collection(f"bench-{n}-{ef}-{os.getpid()}", metadata=meta)
            t0 = time.perf_counter()
            for i in range(0, n, step):
                col.add(ids=[str(j) for j in range(i, min(n, i + step))], embeddings=vecs[i : i + step])
            add_s = time.perf_counter() - t0
            col.query(query_embeddings=[qv[0]], n_results=k, include=[])  # warm-up
            found, lat = [], []
            for q in qv:
                t0 = time.perf_counter()
                res = col.query(query_embeddings=[q], n_results=k, include=[])
                lat.append(time.perf_counter() - t0)
                found.append(res["ids"][0])
            client.delete_collection(col.name)
            rec = recall_at_k(found, exact, k)
            rows.append({"chunks": n, "vectors": "real" if n <= len(real) else f"{len(real)} real + derived", "ef_search": ef,
                         "index_chunks_per_s": n / add_s, "chroma_p50_ms": 1e3 * percentile(lat, 0.5), "chroma_p95_ms": 1e3 * percentile(lat, 0.95),
                         "numpy_p50_ms": 1e3 * percentile(lat_np, 0.5), "numpy_p95_ms": 1e3 * percentile(lat_np, 0.95), f"recall@{k}": rec})
            if rec >= 0.95:
                break
        del vecs
        gc.collect()
    at10k = [x for x in rows if x["chunks"] == 10000]
    targets = {}
    if at10k:
        targets["p50_10k"] = target_entry(at10k[0]["chroma_p50_ms"], 5.0, higher_is_better=False, label="Chroma query p50 at 10k chunks, ms (vector in, ids out)")
    first_by_size = {}
    for x in rows:
        first_by_size.setdefault(x["chunks"], x)
    worst = min(first_by_size.values(), key=lambda x: x[f"recall@{k}"]) if rows else None
    if worst:
        targets["hnsw_recall"] = target_entry(worst[f"recall@{k}"], 0.95, label=f"lowest HNSW recall@{k} at default ef_search (at {worst['chunks']:,} chunks)")
    return {
        "rows": rows,
        "ingest": {"chunks": report.chunks, "seconds": ingest_s, "chunks_per_s_with_embedding": report.chunks / ingest_s,
                   "embedding_seconds": embed_s, "embedding_chunks_per_s": report.chunks / embed_s if embed_s else None},
        "queries": {"n": len(questions), "embed_seconds": q_embed_s, "kb_search_p50_ms": 1e3 * percentile(e2e, 0.5), "kb_search_p95_ms": 1e3 * percentile(e2e, 0.95),
                    "kb_chunks": report.chunks},
        "k": k, "noise": noise, "targets": targets, "seconds": time.perf_counter() - t_start, "machine": machine_info(),
    }


RETRIEVAL_COLUMNS = ["chunks", "vectors", "ef_search", "index_chunks_per_s", "chroma_p50_ms", "chroma_p95_ms", "numpy_p50_ms", "numpy_p95_ms", "recall@10"]


def retrieval_report(res: dict) -> str:
    """Markdown: the retrieval table, ingestion with embedding, end-to-end query latency, targets."""
    i, q = res["ingest"], res["queries"]
    cols = [c if c != "recall@10" else f"recall@{res['k']}" for c in RETRIEVAL_COLUMNS]
    return "\n".join([
        f"### Retrieval (Chroma HNSW vs exact NumPy cosine, {q['n']} queries, k={res['k']})",
        markdown_table(res["rows"], cols),
        "",
        f"Indexing with embedding (KnowledgeBase.ingest: split + MiniLM + upsert): {i['chunks']:,} chunks in {i['seconds']:.1f} s = "
        f"{i['chunks_per_s_with_embedding']:.0f} chunks/s (embedding alone {i['embedding_chunks_per_s'] or float('nan'):.0f} chunks/s). "
        f"A KnowledgeBase.search with query embedding ({q['kb_chunks']:,} chunks): p50 {q['kb_search_p50_ms']:.1f} ms, p95 {q['kb_search_p95_ms']:.1f} ms.",
        "",
        targets_table(res["targets"]),
    ])


# --------------------------------------------------------------------------- evaluation


def bench_evaluation(n_entities: int = 4, max_questions: int = 24, max_new_tokens: int = 16, batch_size: int = 16, one_at_a_time: int = 6, model=None, tokenizer=None, device: str | None = None) -> dict:
    """Batched generation and multiple-choice scoring vs one question at a time, on the test set.

    Generation: :func:`lorag_nb.methods.evaluation.generate` with ``batch_size`` over all questions vs
    ``batch_size=1`` over the first ``one_at_a_time`` of them (greedy; answers compared); the ratio is
    of the time per question (one at a time costs the same per question on any subset; the full set
    one by one would take most of the benchmark's budget on a loaded 2-core machine).
    Multiple choice: ``multiple_choice_scores`` batched with the shared prompt cache (the default) and
    batched without it, vs one prompt+option sequence per forward pass; accuracies compared and the
    largest per-option score difference reported.
    """

    t_start = time.perf_counter()
    if model is None:
        model, tokenizer = load_model("embedded", device=device, dtype="float32")
    ks = load_knowledge(n_entities=n_entities)
    qas = [q for q in ks.test_qa if q.options][:max_questions]
    prompts = [make_prompt(tokenizer, q.question) for q in qas]
    options = [list(q.options) for q in qas]
    generate(model, tokenizer, prompts[:1], max_new_tokens=2, batch_size=1)  # warm-up

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    g_batch, s_gb = timed(lambda: generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size))
    n1 = max(1, min(one_at_a_time, len(prompts)))
    g_one, s_g1 = timed(lambda: generate(model, tokenizer, prompts[:n1], max_new_tokens=max_new_tokens, batch_size=1))
    m_shared, s_ms = timed(lambda: multiple_choice_scores(model, tokenizer, prompts, options, batch_size=batch_size, share_prompt=True))
    m_batch, s_mb = timed(lambda: multiple_choice_scores(model, tokenizer, prompts, options, batch_size=batch_size, share_prompt=False))
    m_one, s_m1 = timed(lambda: multiple_choice_scores(model, tokenizer, prompts, options, batch_size=1, share_prompt=False))

    def acc(scores):
        return sum(max(range(len(s)), key=s.__getitem__) == q.answer_index for s, q in zip(scores, qas)) / len(qas)

    diff = max(abs(a - b) for ra, rb in zip(m_shared, m_one) for a, b in zip(ra, rb))
    n = len(qas)
    rows = [
        {"task": "generation", "mode": f"batched ({batch_size})", "questions": n, "seconds": s_gb, "ms_per_question": 1e3 * s_gb / n, "ratio_vs_one": (s_g1 / n1) / (s_gb / n)},
        {"task": "generation", "mode": "one at a time", "questions": n1, "seconds": s_g1, "ms_per_question": 1e3 * s_g1 / n1, "ratio_vs_one": 1.0},
        {"task": "multiple choice", "mode": f"batched ({batch_size}), shared prompt cache", "questions": n, "seconds": s_ms, "ms_per_question": 1e3 * s_ms / n, "ratio_vs_one": s_m1 / s_ms, "accuracy": acc(m_shared)},
        {"task": "multiple choice", "mode": f"batched ({batch_size} sequences)", "questions": n, "seconds": s_mb, "ms_per_question": 1e3 * s_mb / n, "ratio_vs_one": s_m1 / s_mb, "accuracy": acc(m_batch)},
        {"task": "multiple choice", "mode": "one sequence at a time", "questions": n, "seconds": s_m1, "ms_per_question": 1e3 * s_m1 / n, "ratio_vs_one": 1.0, "accuracy": acc(m_one)},
    ]
    same_answers = sum(a.text == b.text for a, b in zip(g_batch, g_one)) / n1
    targets = {"generation_batched": target_entry((s_g1 / n1) / (s_gb / n), 4.0, label="batched / one-at-a-time generation speed (per question)"),
               "mc_batched": target_entry(s_m1 / s_ms, 4.0, label="batched (shared cache) / one-at-a-time MC scoring speed")}
    return {"rows": rows, "questions": n, "max_new_tokens": max_new_tokens, "batch_size": batch_size, "generation_same_answers": same_answers,
            "mc_max_score_diff": diff, "mc_same_accuracy": acc(m_shared) == acc(m_one), "targets": targets,
            "seconds": time.perf_counter() - t_start, "machine": machine_info()}


def evaluation_report(res: dict) -> str:
    """Markdown: the evaluation table and targets."""
    return "\n".join([
        f"### Evaluation ({res['questions']} test questions, {res['max_new_tokens']} new tokens, batch {res['batch_size']})",
        markdown_table(res["rows"], ["task", "mode", "questions", "seconds", "ms_per_question", "ratio_vs_one", "accuracy"]),
        "",
        f"Batched and one-at-a-time generation gave the same answer for {100 * res['generation_same_answers']:.0f}% of the questions run both ways; "
        f"multiple-choice scores differ by at most {res['mc_max_score_diff']:.1g} (per byte), same accuracy: {res['mc_same_accuracy']}.",
        "",
        targets_table(res["targets"]),
    ])


# --------------------------------------------------------------------------- notebooks and model load


def bench_notebooks(smoke: bool = True, prefixes: list[str] | None = None, out_dir: Path | None = None, fresh_store: bool = True) -> dict:
    """Wall time of each notebook run through papermill (:func:`lorag_nb.infra.runner.run_notebooks`), and
    where it goes, stage by stage (:func:`lorag_nb.infra.bench_stages.notebook_profile`).

    Each notebook runs on its own (one ``run_notebooks`` call per notebook, in order) with
    ``LORAG_NB_STAGES`` set to ``<out>/stages/<notebook>.json``, which its kernel writes at exit
    (:mod:`lorag_nb.core.stages`); ``index.html``, ``run.json`` and ``reference.json`` are rewritten for
    the whole run at the end. Nothing goes into the results store beyond what the notebooks store.

    ``fresh_store``: point ``LORAG_NB_RESULTS`` at an empty temporary store so nothing is read from
    earlier runs (the notebooks still share that store among themselves, as in ``make demo``).

    Raises:
        FileNotFoundError: no notebook matches ``prefixes``.
    """

    t_start = time.perf_counter()
    load_before = machine_info()["load_average"]
    paths = notebook_paths(prefixes=prefixes)
    if not paths:
        raise FileNotFoundError(f"no notebooks match {prefixes}")
    out = Path(out_dir or (bench_dir() / f"notebooks-{'smoke' if smoke else 'defaults'}"))
    saved = {k: os.environ.get(k) for k in ("LORAG_NB_RESULTS", stages.ENV)}
    tmp = tempfile.mkdtemp(prefix="lorag-bench-store-")
    if fresh_store:
        os.environ["LORAG_NB_RESULTS"] = tmp
    records, tables = [], {}
    try:
        for path in paths:
            stage_file = out / "stages" / f"{path.stem}.json"
            stage_file.unlink(missing_ok=True)
            os.environ[stages.ENV] = str(stage_file)  # the papermill kernel inherits it and writes its stage table at exit
            records += run_notebooks(out, smoke=smoke, prefixes=[path.name])[1]
            tables[path.name] = read_table(stage_file)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(r["seconds"] for r in records)
    write_index(out, records)  # each run_notebooks call wrote these for its own notebook only
    (out / "run.json").write_text(json.dumps(records, indent=1))
    write_reference(out, records, total, {"smoke": True} if smoke else {})
    rows = [{"notebook": r["notebook"], "seconds": r["seconds"], "status": "ok" if not r["error"] else f"error: {r['error']}"} for r in records]
    limit = 600.0 if smoke else 1800.0
    return {"mode": "smoke" if smoke else "defaults", "rows": rows, "total_seconds": total, "output": str(out),
            "stages": notebook_profile(records, tables, load_before),
            "targets": {"suite": target_entry(total, limit, higher_is_better=False, label=f"{'smoke' if smoke else 'default'} suite wall time, s (2 cores)")},
            "seconds": time.perf_counter() - t_start, "machine": machine_info()}


def notebooks_report(res: dict) -> str:
    """Markdown: per-notebook wall time, the suite target and the per-stage profile."""
    parts = [f"### Notebook suite ({res['mode']} parameters, fresh results store)", markdown_table(res["rows"] + [{"notebook": "total", "seconds": res["total_seconds"]}], ["notebook", "seconds", "status"]), "", targets_table(res["targets"])]
    if res.get("stages"):
        parts += ["", profile_report(res["stages"])]
    return "\n".join(parts)


def bench_model_load(reloads: int = 3) -> dict:
    """First load of the embedded model (GGUF → safetensors conversion, in a temporary cache) vs cached reload."""

    old = os.environ.get("LORAG_NB_CACHE")
    t_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["LORAG_NB_CACHE"] = tmp
            t0 = time.perf_counter()
            models.load_model("embedded", device="cpu")
            first = time.perf_counter() - t0
            times = []
            for _ in range(reloads):
                t0 = time.perf_counter()
                models.load_model("embedded", device="cpu")
                times.append(time.perf_counter() - t0)
    finally:
        if old is None:
            os.environ.pop("LORAG_NB_CACHE", None)
        else:
            os.environ["LORAG_NB_CACHE"] = old
    best = min(times)
    return {"first_load_s": first, "reload_s": times, "speedup": first / best, "rows": [{"load": "first (convert GGUF)", "seconds": first}, {"load": f"cached reload (best of {reloads})", "seconds": best}],
            "targets": {"reload": target_entry(best, 2.0, higher_is_better=False, label="cached reload, s")}, "seconds": time.perf_counter() - t_start, "machine": machine_info()}


def model_load_report(res: dict) -> str:
    """Markdown: first load vs cached reload."""
    return "\n".join(["### Model load", markdown_table(res["rows"], ["load", "seconds"]), f"Ratio {res['speedup']:.1f}×.", "", targets_table(res["targets"])])


def bench_precision(reps: int = 3, steps: int = 6, n_entities: int = 2, batch_size: int = 4, questions: int = 48, max_new_tokens: int = 48, model=None, tokenizer=None) -> dict:
    """bf16 autocast vs fp32 on this CPU (:func:`lorag_nb.core.config.cpu_precision`), interleaved in one process.

    Each of ``reps`` rounds runs both precisions (fp32 first in even rounds, bf16 first in odd ones), each doing what
    the notebooks do: ``steps`` full fine-tuning steps through :func:`lorag_nb.methods.trainer.train` (the ``Trainer``,
    batch ``batch_size``, the built-in world's first ``n_entities`` entities), greedy generation of ``questions`` closed-book
    test answers at ``max_new_tokens`` (batch 16), and their multiple-choice scoring (shared prompt cache). Ratios are
    bf16 ÷ fp32 time within a round; the table gives their median and range over the rounds. Answers are compared
    between the two precisions (same text, same multiple-choice pick); the first training loss is compared too.
    ``$LORAG_NB_PRECISION`` is restored afterwards.
    """
    t_start = time.perf_counter()
    if model is None:
        model, tokenizer = load_model("embedded", device="cpu", dtype="float32")
    qas = [q for q in load_knowledge(n_entities=10).test_qa if q.options][:questions]
    prompts = [make_prompt(tokenizer, q.question) for q in qas]
    options = [list(q.options) for q in qas]
    settings = TrainingSettings(n_entities=n_entities, max_steps=steps, batch_size=batch_size)
    saved = os.environ.get(PRECISION_ENV)
    times: dict[str, dict[str, list[float]]] = {p: {"training": [], "generation": [], "multiple choice": []} for p in ("fp32", "bf16")}
    last: dict[str, dict] = {}
    try:
        for rep in range(reps):
            for p in (("fp32", "bf16") if rep % 2 == 0 else ("bf16", "fp32")):
                os.environ[PRECISION_ENV] = p
                out = train(settings, model=model, tokenizer=tokenizer)
                times[p]["training"].append(out.seconds)
                t0 = time.perf_counter()
                gens = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
                times[p]["generation"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                mc = multiple_choice_scores(model, tokenizer, prompts, options)
                times[p]["multiple choice"].append(time.perf_counter() - t0)
                last[p] = {"texts": [g.text for g in gens], "picks": [max(range(len(sc)), key=sc.__getitem__) for sc in mc], "loss_first": out.summary()["loss_first"]}
                del out
                gc.collect()
    finally:
        if saved is None:
            os.environ.pop(PRECISION_ENV, None)
        else:
            os.environ[PRECISION_ENV] = saved
    rows = []
    for task in ("training", "generation", "multiple choice"):
        ratios = sorted(b / f for f, b in zip(times["fp32"][task], times["bf16"][task]))
        rows.append({"task": task, "fp32_s": percentile(times["fp32"][task], 0.5), "bf16_s": percentile(times["bf16"][task], 0.5),
                     "ratio_bf16_fp32": percentile(ratios, 0.5), "ratio_min": ratios[0], "ratio_max": ratios[-1], "rounds": len(ratios)})
    n = len(qas)
    return {"rows": rows, "reps": reps, "steps": steps, "batch_size": batch_size, "questions": n, "max_new_tokens": max_new_tokens,
            "same_text": sum(a == b for a, b in zip(last["fp32"]["texts"], last["bf16"]["texts"])) / n,
            "same_pick": sum(a == b for a, b in zip(last["fp32"]["picks"], last["bf16"]["picks"])) / n,
            "loss_first": {p: last[p]["loss_first"] for p in last}, "auto_precision": auto_precision(),
            "seconds": time.perf_counter() - t_start, "machine": machine_info()}


def precision_report(res: dict) -> str:
    """Markdown: the bf16 ÷ fp32 table and how far the answers moved."""
    lf = res["loss_first"]
    return "\n".join([
        f"### Precision: bf16 autocast vs fp32 ({res['reps']} interleaved rounds; {res['steps']} training steps of batch {res['batch_size']}, "
        f"{res['questions']} questions at {res['max_new_tokens']} new tokens)",
        markdown_table(res["rows"], ["task", "fp32_s", "bf16_s", "ratio_bf16_fp32", "ratio_min", "ratio_max", "rounds"]),
        "",
        f"Same generated answer in both precisions: {100 * res['same_text']:.0f}% of {res['questions']}; same multiple-choice pick: "
        f"{100 * res['same_pick']:.0f}%; first training loss fp32 {lf['fp32']:.4f}, bf16 {lf['bf16']:.4f}. "
        f"`LORAG_NB_PRECISION=auto` picks **{res['auto_precision']}** on this CPU.",
    ])


# --------------------------------------------------------------------------- runner

#: Sizes for ``lorag-nb bench --tiny`` (seconds, for checking that the code paths work).
TINY = {
    "training": dict(n_entities=1, steps=2, skip_steps=1, batch_size=2, max_length=64, r=2),
    "retrieval": dict(sizes=(200, 500), n_queries=20, embed_chunks=100, ef_search=(100,)),
    "evaluation": dict(n_entities=1, max_questions=4, max_new_tokens=4, batch_size=4, one_at_a_time=2),
    "precision": dict(reps=1, steps=1, n_entities=1, batch_size=2, questions=4, max_new_tokens=4),
}

REPORTS: dict[str, Callable[[dict], str]] = {"training": training_report, "retrieval": retrieval_report, "evaluation": evaluation_report,
                                              "notebooks": notebooks_report, "model_load": model_load_report, "precision": precision_report}


def run(names: Sequence[str] | None = None, options: dict[str, dict] | None = None, out_dir: Path | None = None, echo: bool = True) -> dict:
    """Run benchmarks by name (default :data:`DEFAULT_BENCHES`), print each report, write each JSON.

    Args:
        names: a subset of :data:`ALL_BENCHES`.
        options: ``name → keyword arguments`` for that bench function (sizes, device…).
        out_dir: JSON folder (default :func:`bench_dir`).

    Returns:
        ``name → result dict``; each result also has ``report`` (the Markdown printed) and ``json``.

    Raises:
        ValueError: an unknown name.
    """
    names = list(names or DEFAULT_BENCHES)
    bad = [n for n in names if n not in ALL_BENCHES]
    if bad:
        raise ValueError(f"unknown benchmark(s) {bad}; valid: {list(ALL_BENCHES)}")
    options = options or {}
    funcs = {"training": bench_training, "retrieval": bench_retrieval, "evaluation": bench_evaluation, "notebooks": bench_notebooks, "model_load": bench_model_load,
             "precision": bench_precision}
    shared: dict[str, Any] = {}
    results = {}
    for name in names:
        kw = dict(options.get(name, {}))
        if name in ("training", "evaluation", "precision") and "model" not in kw:
            dev = kw.get("device") or "cpu"
            if ("model", dev) not in shared:

                shared[("model", dev)] = load_model("embedded", device=dev, dtype="float32")
            kw["model"], kw["tokenizer"] = shared[("model", dev)]
        res = funcs[name](**kw)
        res["report"] = REPORTS[name](res)
        stem = name if name != "training" or res.get("device", "cpu") == "cpu" else f"training_{res['device']}"
        res["json"] = str(write_result(stem, res, out_dir))
        res["markdown"] = str(write_report(stem, res["report"], out_dir))
        if echo:
            print(res["report"], flush=True)
            print(f"(written: {res['json']}; load average {res['machine']['load_average']}, {res['machine']['torch_threads']} torch threads, {res['seconds']:.0f} s)\n", flush=True)
        results[name] = res
    return results
