"""Notebook 03 (RAG): the top_k sweep, the prompt-variant choice on the dev split, the knowledge-base swap,
the closed-book references, the explorer's data and the article's RAG claims.

The studies notebooks 04 and 05 share (top_k sweep, prompt-variant choice, swap, explorer data) live in
:mod:`lorag_nb.experiments.rag_studies`, the RAG claims in :mod:`lorag_nb.experiments.method_claims`;
they are importable from here too (``nb03.sweep_k`` …)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lorag_nb.core.config import KB_ENTITIES, RagSettings
from lorag_nb.core.fmt import mean
from lorag_nb.core.store import Result, ResultsStore
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.experiments.method_claims import article_claims, general_knowledge_claim, general_knowledge_frame, training_seconds  # noqa: F401  (notebook 03 calls them as nb03.*)
from lorag_nb.experiments.rag_studies import (  # noqa: F401  (the shared RAG studies; notebook 03 calls them as nb03.*)
    INTERVAL_METRICS,
    best_variant,
    compare_prompt_variants,
    explorer_data,
    spread,
    swap_experiment,
    swap_skipped,
    sweep_frame,
    sweep_k,
)
from lorag_nb.methods.evaluation import gold_contained
from lorag_nb.methods.rag import answers_frame, build_chain
from lorag_nb.methods.retrieval import (
    MAX_K,
    KnowledgeBase,
    at_k,
    beyond_collection_note,
    chunk_statistics,
    evaluate_retrieval,
    python_docs_benchmark,
)
from lorag_nb.methods.runtime import RUNTIME


# Notebook 03's defaults (RAG_DEFAULTS) and its retrieval-settings factory (rag_settings) live in the one table
# of defaults (re-exported here).
from lorag_nb.experiments.recipes import RAG_DEFAULTS, rag_settings  # noqa: E402,F401

#: What notebook 03 calls the knowledge base it compares with Python's docs: ``KB_LABEL[knowledge_set is None]``.
KB_LABEL = {True: "fictional world", False: "your folder"}


def retrieval_table(results: dict[str, Result], ks: Sequence[int] = (1, 3, 5, 10, 20)):
    """hit@k, recall@k and MRR per labelled retrieval result (``run_retrieval`` or ``run_rag``).

    Columns: setting, n (questions), MRR, ``hit@k`` and ``recall@k`` for each k in ``ks`` (shares in
    [0, 1]), and ``note`` where a row needs one. A k larger than a knowledge base's chunks is its whole
    collection (:func:`lorag_nb.methods.retrieval.at_k`: hit@k = hit@N for k ≥ N chunks), and the row's
    note says so ("k ≥ N = the whole knowledge base (it has only N chunks)"), so a small folder beside a
    large one shows values, never NaN. A result with nothing measured (no linked question) has no values
    and its note says why.

    Raises:
        ValueError: a k in ``ks`` is < 1, or beyond the measured cut-offs (20) of a larger collection.
    """
    import pandas as pd

    rows = []
    for label, r in results.items():
        m = r.metrics["retrieval"]
        row = {"setting": label, "n": m["n"], "MRR": m["mrr"]}
        if m.get("unlinked_left_out"):
            row["left out (unlinked)"] = m["unlinked_left_out"]
        for name in ("hit@k", "recall@k"):
            for k in ks:
                v = at_k(m, int(k), name)
                if v is not None:
                    row[f"{name[:-1]}{k}"] = v
        note = m.get("not_measured") or (beyond_collection_note(m, max(ks)) if ks else None)
        if note:
            row["note"] = note
        rows.append(row)
    frame = pd.DataFrame(rows)
    if "note" in frame:
        frame["note"] = frame["note"].fillna("")
    return frame


def latency_table(result: Result):
    """The per-question latency breakdown (ms) of one RAG run: mean and p50 of each stage."""
    import pandas as pd

    lat = result.metrics["latency_ms"]
    stages = ["embedding", "search", "generation", "total"]
    return pd.DataFrame({"stage": stages, "mean_ms": [lat[s] for s in stages], "p50_ms": [lat[f"{s}_p50"] for s in stages]})


def examples_frame(result: Result, n: int = 6):
    """The first ``n`` answered questions of a RAG run: question, gold, prediction, sources, gold rank."""
    import pandas as pd

    rows = result.details.get("rows", [])[:n]
    return pd.DataFrame([{"question": r["question"], "gold": r["gold"], "prediction": r["prediction"], "sources": ", ".join(r["sources"]), "gold_rank": r["gold_rank"]} for r in rows])


def swap_table(swap: Result, lora: Result | None = None, baseline: Result | None = None):
    """Revised-facts questions: closed-book base, RAG before/after the swap, and a LoRA adapter, with update cost (s).

    Columns: method, n (questions), update_seconds, contains (the new, true value), mc_accuracy,
    says_old_fact (share of answers containing the outdated value). The LoRA row is a closed-book
    adapter trained on the knowledge set's facts (:func:`lorag_nb.methods.training.run_training`); updating
    what it knows means another training run, whose measured cost is its training time.
    """
    import pandas as pd

    if swap.metrics.get("skipped"):  # a user folder without revised/: one row that says so, no numbers
        return pd.DataFrame([{"method": "swap experiment", "n": 0, "update_seconds": None, "contains": None, "mc_accuracy": None, "says_old_fact": None, "note": swap.metrics["skipped"]}])
    rows = []
    if baseline is not None and "revised" in baseline.metrics:
        b = baseline.metrics["revised"]
        rows.append({"method": "base model, closed book", "n": b["n"], "update_seconds": 0.0, "contains": b["contains"], "mc_accuracy": b["mc_accuracy"], "says_old_fact": _old_rate(baseline.details.get("revised", []))})
    for label, part, sec in (("RAG, original knowledge base", "before", 0.0), ("RAG, revised documents swapped in", "after", swap.metrics["swap_seconds"])):
        a = swap.metrics[part]
        rows.append({"method": label, "n": a["n"], "update_seconds": sec, "contains": a["contains"], "mc_accuracy": a["mc_accuracy"], "says_old_fact": a["old_fact_rate"]})
    if lora is not None:
        r = lora.metrics.get("revised", {})
        rows.append({"method": "LoRA adapter, closed book (update = retrain)", "n": r.get("n"), "update_seconds": training_seconds(lora), "contains": r.get("contains"), "mc_accuracy": r.get("mc_accuracy"), "says_old_fact": _old_rate((lora.details.get("rows") or {}).get("revised", []))})
    return pd.DataFrame(rows)


def reference_scores(baseline: Result, question_ids: Sequence[str]) -> dict[str, dict]:
    """The base model's closed-book and oracle-document scores on exactly ``question_ids``.

    Read from the per-question rows of :func:`lorag_nb.methods.measure.run_baseline` (so a stored baseline
    over more questions serves a RAG run over its first ones).

    Returns:
        ``{"test": {...}, "oracle": {...}}`` with n, exact_match, f1, contains, mc_accuracy, latency_ms_mean.

    Raises:
        ValueError: a question id is missing from the baseline's rows.
    """
    out = {}
    for split in ("test", "oracle"):
        by_id = {r["id"]: r for r in baseline.details.get(split, [])}
        missing = [q for q in question_ids if q not in by_id]
        if missing:
            raise ValueError(f"baseline {baseline.key} has no {split!r} row for {missing[:3]}…: measure the baseline on at least these questions")
        rows = [by_id[q] for q in question_ids]
        mc = [r["mc_correct"] for r in rows if r.get("mc_correct") is not None]
        out[split] = {
            "n": len(rows),
            "exact_match": mean([r["em"] for r in rows]),
            "f1": mean([r["f1"] for r in rows]),
            "contains": mean([r["contains"] for r in rows]),
            "mc_accuracy": mean([float(x) for x in mc]) if mc else None,
            "latency_ms_mean": mean([r["latency_ms"] for r in rows]),
        }
    return out


def _references(baseline: Result, rag: Result) -> dict[str, dict]:
    """Question-matched baseline scores when both have per-question rows, else the baseline's own metrics."""
    # the questions both measured: a baseline over another slice of a reader's folder scores only the shared
    # ones (each table row says its n), never a KeyError
    have = {r["id"] for r in baseline.details.get("test", [])} & {r["id"] for r in baseline.details.get("oracle", [])}
    ids = [r["id"] for r in rag.details.get("rows", []) if r["id"] in have]
    if ids:
        return reference_scores(baseline, ids)
    return {k: baseline.metrics[k] for k in ("test", "oracle") if k in baseline.metrics}


def _old_rate(rows: Sequence[dict]) -> float | None:
    """Share of revised-facts answers (evaluate_qa rows) that contain the outdated value; None without rows."""

    old = {q.id: q.old_answer for q in load_knowledge().revised_test_qa}
    values = [gold_contained(r["prediction"], old[r["id"]]) for r in rows if old.get(r.get("id"))]
    return mean(values) if values else None


def python_docs_retrieval(n_topics: int = 40, max_chars: int = 6000, chunk_size: int = 500, chunk_overlap: int = 50, search_type: str = "similarity", client=None, name: str | None = None, store: ResultsStore | None = None, force: bool = False) -> tuple[Result, KnowledgeBase]:
    """Retrieval on real text: Python's reference docs, each queried by a sentence held out of its own text.

    See :func:`lorag_nb.methods.retrieval.python_docs_benchmark`. The collection (default
    ``lorag-pydoc-c<size>-o<overlap>``) holds exactly the benchmark's documents.

    Returns:
        ``(result, kb)``: :class:`Result` (kind ``"rag_pydoc"``) with metrics ``retrieval`` (hit@k,
        recall@k for k = 1..20, MRR), ``chunks``, ``ingest``; details ``rows`` (query, gold topic,
        rank, top-3 sources); and the open knowledge base (for answering questions).
    """

    store = RUNTIME.use_store(store)
    name = name or f"lorag-pydoc-c{chunk_size}-o{chunk_overlap}"
    docs, qas = python_docs_benchmark(n_topics, max_chars)
    kb = KnowledgeBase(name, chunk_size=chunk_size, chunk_overlap=chunk_overlap, client=client)
    report = kb.ingest(docs, prune=True)
    key = {"n_topics": n_topics, "max_chars": max_chars, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "search_type": search_type, "docs": [d.id for d in docs]}

    def compute(_artifacts: Path):
        metrics, rows = evaluate_retrieval(kb, qas, MAX_K, search_type)
        slim = [{"query": r["question"], "gold_doc": r["gold_doc"], "rank": r["rank"], "top3": [c.split("#")[0] for c in r["retrieved"][:3]]} for r in rows]
        return {"retrieval": metrics, "chunks": chunk_statistics(kb), "ingest": report.to_dict()}, {"rows": slim}

    return store.cached("rag_pydoc", key, compute, force=force), kb


def sweep_references(baseline: Result, rag: Result) -> dict[str, float]:
    """Dashed reference lines for the answers-vs-k chart: the oracle-document ceiling and the closed-book
    base, on the RAG run's own questions (gold contained and, where measured, MC accuracy)."""
    refs = _references(baseline, rag)
    out = {f"oracle document (contains) {refs['oracle']['contains']:.2f}": refs["oracle"]["contains"], f"closed book (contains) {refs['test']['contains']:.2f}": refs["test"]["contains"]}
    if refs["oracle"].get("mc_accuracy") is not None:
        out[f"oracle document (MC) {refs['oracle']['mc_accuracy']:.2f}"] = refs["oracle"]["mc_accuracy"]
    return out


def answer_python_questions(kb: KnowledgeBase, model, tokenizer, questions: Sequence[str], settings: RagSettings = RagSettings(), max_new_tokens: int = 32, batch_size: int = 8):
    """Answer free-form questions from a knowledge base through the RAG chain; a DataFrame of question, answer, sources."""
    chain = build_chain(kb, model, tokenizer, settings, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return answers_frame(chain.batch(list(questions)))


def summary_markdown(rag: Result, baseline: Result, winner: str | None = None, pydoc: Result | None = None) -> str:
    """A short markdown summary of the measured RAG numbers (filled at run time, nothing hard-coded)."""
    r = rag.metrics["retrieval"]
    refs = _references(baseline, rag)
    a = rag.metrics["answers"]
    lat = rag.metrics["latency_ms"]
    lines = [
        f"- **Retrieval** over {r['n']} test questions and {rag.metrics['chunks']['chunks']} chunks: {_retrieval_numbers(r)}.",
        f"- **Answers** with top_k = {rag.metrics['top_k']} on {a['n']} test questions: gold contained {a['contains']:.2f}, token F1 {a['f1']:.2f}, "
        f"exact match {a['exact_match']:.2f}" + (f", MC accuracy {a['mc_accuracy']:.2f}" if a.get("mc_accuracy") is not None else "") + ".",
        f"- **Reference** on the same questions: closed book contains {refs['test']['contains']:.2f}, oracle document contains {refs['oracle']['contains']:.2f}"
        + (f" (MC {refs['test']['mc_accuracy']:.2f} → {refs['oracle']['mc_accuracy']:.2f})" if refs['oracle'].get('mc_accuracy') is not None else "") + ".",
        f"- **Latency** per question: embedding {lat['embedding']:.0f} ms, search {lat['search']:.0f} ms, generation {lat['generation']:.0f} ms.",
    ]
    if winner:
        lines.append(f"- **Prompt** chosen on the dev split: `{winner}`.")
    if pydoc is not None:
        p = pydoc.metrics["retrieval"]
        lines.append(f"- **Python docs** ({p['n']} topics, query = a sentence held out of its topic): {_retrieval_numbers(p, (1, 5))}.")
    return "\n".join(lines)


def _retrieval_numbers(m: dict, ks: Sequence[int] = (1, 5, 10)) -> str:
    """``"hit@1 0.80, hit@5 1.00, hit@10 1.00, MRR 0.87 (k ≥ 3 = the whole knowledge base …)"``, or the
    reason nothing was measured."""
    if not m.get("hit@k"):
        return "not measured: " + m.get("not_measured", "no question to rank")
    note = beyond_collection_note(m, max(ks))
    return ", ".join(f"hit@{k} {at_k(m, k):.2f}" for k in ks) + f", MRR {m['mrr']:.2f}" + (f" ({note})" if note else "")
