"""Notebook 03 (RAG): the top_k sweep, the prompt-variant choice on the dev split, the knowledge-base swap,
the closed-book references, the explorer's data and the article's RAG claims."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Mapping, Sequence

from lorag_nb.core import claims as C
from lorag_nb.core.config import KB_ENTITIES, EvalSettings, RagSettings, seed_everything
from lorag_nb.core.fmt import cap, mean
from lorag_nb.core.store import Result, ResultsStore
from lorag_nb.data.knowledge import document_for, load_knowledge
from lorag_nb.data.prompts import CONTEXT_VARIANTS, DEFAULT_CONTEXT_VARIANT
from lorag_nb.methods.evaluation import evaluate_qa, gold_contained, one_truncation_warning
from lorag_nb.methods.rag import (
    answers_frame,
    build_chain,
    collection_name,
    contexts_of,
    key_dict,
    open_knowledge_base,
    questions_for,
    resolve_eval,
    retriever_for,
    run_rag,
    run_retrieval,
    sources_of,
    stored_rag,
)
from lorag_nb.methods.retrieval import (
    parse_chroma_url,
    MAX_K,
    KnowledgeBase,
    chunk_statistics,
    curve,
    evaluate_retrieval,
    python_docs_benchmark,
    split_documents,
)
from lorag_nb.methods.runtime import RUNTIME


def sweep_k(settings: RagSettings, ks: Sequence[int] = (1, 2, 3, 5, 10), store: ResultsStore | None = None, eval_settings: EvalSettings | None = None, model_name: str = "embedded", model=None, tokenizer=None, client=None, multiple_choice: bool = True) -> dict[int, Result]:
    """:func:`run_rag` at each ``top_k`` in ``ks`` (each cached on its own): ``{k: Result}``.

    A result stored with multiple choice is reused when ``multiple_choice`` is False (it holds more).
    """
    store = RUNTIME.use_store(store)
    out = {}
    with one_truncation_warning():  # one warning for the whole sweep
        for k in ks:
            s = settings.replace(top_k=int(k))
            res = None
            if not multiple_choice:
                res = stored_rag(store, s, resolve_eval(eval_settings), model_name, True)
            out[int(k)] = res or run_rag(s, store, eval_settings, model_name, model=model, tokenizer=tokenizer, client=client, multiple_choice=multiple_choice)
    return out


#: Answer metrics of the top_k sweep that get a 95% interval: table column → per-question row field.
#: Notebook 03's defaults (its ``parameters`` cell has the same values; a test checks): the knowledge
#: base (``n_entities``: all 80), the test questions (the first 180: every wording of the 10 entities the
#: fine-tuned methods learn), the dev questions of the prompt-variant choice, the answer budget and batch,
#: and the interleaved latency measurement. Notebooks 04 and 05 take them from here.
RAG_DEFAULTS = dict(n_entities=KB_ENTITIES, n_questions=180, n_dev_questions=10, max_new_tokens=0, batch_size=16, latency_reps=3, latency_questions=6)

#: What notebook 03 calls the knowledge base it compares with Python's docs: ``KB_LABEL[knowledge_set is None]``.
KB_LABEL = {True: "fictional world", False: "your folder"}


def rag_settings(top_k: int = RagSettings.top_k, chunk_size: int = RagSettings.chunk_size, chunk_overlap: int = RagSettings.chunk_overlap, chroma_url: str = "") -> RagSettings:
    """Notebook 03's retrieval settings from its parameters (same names).

    Args:
        chroma_url: ``"http://host:port"`` of a Chroma server (``chroma run --path DIR --host H --port P``)
            that holds the knowledge base, so a team shares one; ``""`` keeps the embedded store under
            the cache. Where the store runs is not part of a result's key (:func:`lorag_nb.methods.rag.key_dict`).

    Raises:
        ValueError: an invalid value, named (a ``chroma_url`` that is not ``http(s)://host[:port]``
            among them, before anything connects).
    """
    if chroma_url:
        parse_chroma_url(chroma_url)
    return RagSettings(top_k=top_k, chunk_size=chunk_size, chunk_overlap=chunk_overlap, chroma_url=chroma_url or None)


INTERVAL_METRICS = {"exact_match": "em", "f1": "f1", "contains": "contains"}


def _intervals(rows: list) -> dict:
    """``{"<metric>_low", "<metric>_high"}``: the 95% bootstrap interval over facts of each
    :data:`INTERVAL_METRICS` mean (:func:`lorag_nb.core.claims.mean_estimate`); NaN with one fact."""
    out = {}
    for col, field in INTERVAL_METRICS.items():
        try:
            e = C.mean_estimate(C.scores(rows, field))
        except ValueError:  # no row carries the field
            continue
        out[f"{col}_low"], out[f"{col}_high"] = e.low, e.high
    return out


def sweep_frame(results: dict[int, Result]):
    """One row per top_k: answer metrics (exact match, F1 and gold contained with their 95% interval over
    facts: ``<metric>_low`` / ``<metric>_high``), hit@k at that k, retrieved-gold rate, stage latencies
    (ms), prompt tokens."""
    import pandas as pd

    rows = []
    for k, r in sorted(results.items()):
        a, lat = r.metrics["answers"], r.metrics["latency_ms"]
        rows.append(
            {
                "top_k": k,
                "exact_match": a["exact_match"],
                "f1": a["f1"],
                "contains": a["contains"],
                "mc_accuracy": a["mc_accuracy"],
                "hit@k": r.metrics["retrieval"]["hit@k"].get(str(min(k, max(int(x) for x in r.metrics["retrieval"]["hit@k"])))),
                "embedding_ms": lat["embedding"],
                "search_ms": lat["search"],
                "generation_ms": lat["generation"],
                "total_ms": lat["total"],
                "prompt_tokens": r.metrics["prompt_tokens_mean"],
                "n": a["n"],
                **_intervals(r.details.get("rows") or []),
            }
        )
    return pd.DataFrame(rows)


def retrieval_table(results: dict[str, Result], ks: Sequence[int] = (1, 3, 5, 10, 20)):
    """hit@k, recall@k and MRR per labelled retrieval result (``run_retrieval`` or ``run_rag``)."""
    import pandas as pd

    rows = []
    for label, r in results.items():
        m = r.metrics["retrieval"]
        row = {"setting": label, "n": m["n"], "MRR": m["mrr"]}
        if m.get("unlinked_left_out"):
            row["left out (unlinked)"] = m["unlinked_left_out"]
        for k in ks:
            if str(k) in m["hit@k"]:
                row[f"hit@{k}"] = m["hit@k"][str(k)]
        for k in ks:
            if str(k) in m["recall@k"]:
                row[f"recall@{k}"] = m["recall@k"][str(k)]
        rows.append(row)
    return pd.DataFrame(rows)


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


def compare_prompt_variants(
    settings: RagSettings,
    store: ResultsStore | None = None,
    eval_settings: EvalSettings | None = None,
    variants: Sequence[str] | None = None,
    model_name: str = "embedded",
    model=None,
    tokenizer=None,
    client=None,
    multiple_choice: bool = False,
    force: bool = False,
):
    """Compare with-context prompt variants on the **dev** split, with the oracle document and with retrieved chunks.

    Dev questions (``max_questions`` of them, evenly spaced through the split so they cover many
    entities and relations: :func:`spread`) are never used for the test numbers, so choosing the
    variant here does not leak into them. The winner has the highest mean token F1 over the two
    context kinds (ties: mean gold-contained rate, then the order of ``variants``).

    Returns:
        ``(table, winner)``: a DataFrame (variant, context, n, exact_match, f1, contains, mc_accuracy)
        and the winning variant's name. Cached in the results store (kind ``"rag_prompts"``).

    Raises:
        ValueError: an unknown variant.
    """
    import pandas as pd


    ev = resolve_eval(eval_settings)
    variants = list(variants or CONTEXT_VARIANTS)
    unknown = [v for v in variants if v not in CONTEXT_VARIANTS]
    if unknown:
        raise ValueError(f"unknown prompt variant(s) {unknown}; valid: {sorted(CONTEXT_VARIANTS)}")
    store = RUNTIME.use_store(store)
    key = {"rag": key_dict(settings, prompt_variant="context_then_question"), "eval": ev.to_dict(), "variants": variants, "templates": [CONTEXT_VARIANTS[v] for v in variants], "model": model_name, "multiple_choice": multiple_choice, "selection": "spread"}

    def compute(_artifacts: Path):
        seed_everything(0)
        m, tok = RUNTIME.model(model_name, model, tokenizer)
        ks = load_knowledge(n_entities=ev.n_entities)
        kb, _ = open_knowledge_base(settings, ks, ev.n_entities, client=client)
        qas = spread([q for q in ks.dev_qa if q.doc_id], ev.max_questions)  # the oracle context needs the question's document
        if not qas:  # no dev question linked to a document (or none at all): nothing to choose on
            return {"rows": [], "not_measured": f"no dev question linked to a document ({len(ks.dev_qa)} dev questions): the default variant {DEFAULT_CONTEXT_VARIANT!r} is used"}, {"examples": {}}
        retriever = retriever_for(kb, settings)
        retrieved = [contexts_of(retriever.invoke(q.question)) for q in qas]
        oracle = [[document_for(ks, q).text] for q in qas]
        rows, examples = [], {}
        with one_truncation_warning():  # one warning for the comparison, not one per variant
            for v in variants:
                for kind, ctx in (("oracle", oracle), ("retrieved", retrieved)):
                    r = evaluate_qa(m, tok, qas, contexts=ctx, variant=v, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size, multiple_choice=multiple_choice)
                    rows.append({"variant": v, "context": kind, **{k: r.metrics[k] for k in ("n", "exact_match", "f1", "contains", "mc_accuracy")}})
                    examples[f"{v}/{kind}"] = [(x["gold"], x["prediction"]) for x in r.rows[:3]]
        return {"rows": rows}, {"examples": examples}

    result = store.cached("rag_prompts", key, compute, force=force)
    if not result.metrics["rows"]:
        return pd.DataFrame([{"variant": DEFAULT_CONTEXT_VARIANT, "context": "not measured", "n": 0, "note": result.metrics["not_measured"]}]), DEFAULT_CONTEXT_VARIANT
    table = pd.DataFrame(result.metrics["rows"])
    return table, best_variant(table, variants)


def spread(items: Sequence, n: int | None) -> list:
    """``n`` items evenly spaced through ``items`` (all of them if ``n`` is None or ≥ their number), in order."""
    items = list(items)
    if n is None or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def best_variant(table, order: Sequence[str] | None = None) -> str:
    """The variant with the highest mean F1 over context kinds (ties: mean contains, then ``order``)."""
    means = table.groupby("variant")[["f1", "contains"]].mean()
    order = list(order or means.index)
    return max(order, key=lambda v: (round(float(means.loc[v, "f1"]), 9), round(float(means.loc[v, "contains"]), 9), -order.index(v)))


def _score_revised(m, tok, qas, kb, settings, ev, multiple_choice: bool = False) -> dict:

    retriever = retriever_for(kb, settings)
    docs = [retriever.invoke(q.question) for q in qas]
    r = evaluate_qa(m, tok, qas, contexts=[contexts_of(d) for d in docs], variant=settings.prompt_variant, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size, multiple_choice=multiple_choice)
    old = [gold_contained(row["prediction"], q.old_answer) if q.old_answer else 0.0 for q, row in zip(qas, r.rows)]
    metrics = dict(r.metrics, old_fact_rate=mean(old))
    rows = [dict(row, old_answer=q.old_answer, says_old=o, sources=sources_of(d)) for q, row, o, d in zip(qas, r.rows, old, docs)]
    return {"metrics": metrics, "rows": rows}


def swap_experiment(settings: RagSettings, store: ResultsStore | None = None, eval_settings: EvalSettings | None = None, model_name: str = "embedded", model=None, tokenizer=None, client=None, multiple_choice: bool = False, force: bool = False) -> Result:
    """Swap the knowledge base: the revised-facts documents replace the originals in the same collection.

    1. Index the original documents (plus distractors) in a collection of its own; answer the
       revised-facts questions (whose true answers are the new values): the model can only repeat
       the knowledge base's outdated facts (``old_fact_rate``).
    2. Replace: ``kb.ingest(revised_documents, remove=original ids)`` — upserts of the new chunks
       and deletion of the old ones, timed (the new chunks are embedded from scratch, never from the
       process cache) → ``swap_seconds``.
    3. Answer the same questions again: now from the new facts, with no training.

    ``multiple_choice`` also scores the 4 options (they include the old and the new value).

    Returns:
        :class:`Result` (kind ``"rag_swap"``): metrics ``before`` / ``after`` (evaluate_qa metrics
        plus ``old_fact_rate``: share of answers containing the outdated value), ``swap_seconds``,
        ``swap`` (the IngestReport), ``chunks_before`` / ``chunks_after``, ``stale_chunks`` (original
        chunks left after the swap; 0 expected).
    """

    ev = resolve_eval(eval_settings)
    store = RUNTIME.use_store(store)
    base = settings.replace(knowledge="original")
    key = {"rag": key_dict(base), "eval": ev.to_dict(), "model": model_name, "multiple_choice": multiple_choice, "seed": 0}
    skipped = swap_skipped()
    if skipped:  # a user folder without revised/: nothing to measure, and nothing stored
        return Result(kind="rag_swap", key="", settings=key, metrics={"skipped": skipped, "before": {}, "after": {}, "swap_seconds": None, "n_questions": 0}, details={})

    def compute(_artifacts: Path):
        seed_everything(0)
        m, tok = RUNTIME.model(model_name, model, tokenizer)
        ks = load_knowledge(n_entities=ev.n_entities)
        qas = cap(list(ks.revised_test_qa), ev.max_questions)
        if not qas:
            raise ValueError(f"no revised-facts questions for n_entities={ev.n_entities}; use more entities")
        kb, _ = open_knowledge_base(base, ks, ev.n_entities, client=client, name=collection_name(base, ev.n_entities, prefix="lorag-swap"))
        chunks_before = kb.count()
        before = _score_revised(m, tok, qas, kb, base, ev, multiple_choice)
        new_chunks = split_documents(ks.revised_documents, base.chunk_size, base.chunk_overlap)
        for c in new_chunks:  # measure the real cost: embed the new chunks from scratch
            kb.embeddings.cache.pop(c.page_content, None)
        report = kb.ingest(ks.revised_documents, remove=[d.id for d in ks.documents])
        originals = {d.id for d in ks.documents}
        stale = sum(1 for meta in kb.chunk_metadata().values() if str((meta or {}).get("doc_id", "")) in originals)
        after = _score_revised(m, tok, qas, kb, base, ev, multiple_choice)
        metrics = {
            "before": before["metrics"],
            "after": after["metrics"],
            "swap_seconds": report.seconds,
            "swap": report.to_dict(),
            "chunks_before": chunks_before,
            "chunks_after": kb.count(),
            "stale_chunks": stale,
            "n_questions": len(qas),
        }
        return metrics, {"before": before["rows"], "after": after["rows"]}

    return store.cached("rag_swap", key, compute, force=force)


def swap_skipped() -> str | None:
    """Why the swap experiment cannot run on the active knowledge (a user folder without ``revised/``), or None.

    Then :func:`swap_experiment` returns an unstored Result whose metrics hold ``"skipped"`` (this reason),
    empty ``before``/``after`` and no rows, and the claims that need it are reported as not measured."""
    ks = load_knowledge()
    if ks.source != "builtin" and not ks.revised_test_qa:
        return f"swap experiment skipped: {ks.root} has no revised/ folder (revised/docs/ and revised/qa_test.jsonl with \"old_answer\")"
    return None


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


def training_seconds(result: Result) -> float | None:
    """Wall time of a training run (s): ``metrics["training"]["seconds"]`` of :func:`lorag_nb.methods.training.run_training`
    (else a top-level ``train_seconds`` / ``*seconds`` key); None if absent."""
    m = result.metrics
    if isinstance(m.get("training"), dict) and isinstance(m["training"].get("seconds"), (int, float)):
        return float(m["training"]["seconds"])
    for key in ("train_seconds", "training_seconds", "train_runtime", "seconds"):
        if isinstance(m.get(key), (int, float)):
            return float(m[key])
    for key, value in m.items():
        if "seconds" in key and isinstance(value, (int, float)):
            return float(value)
    return None


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


def article_claims(rag: Result, baseline: Result, swap: Result | None = None, trained: Result | Mapping[int, Result] | None = None, latency: Result | Mapping | None = None,
                   condition: str = "", trained_label: str = "LoRA (trained)", sections=None) -> list:
    """The article's RAG claims, judged by the one claims engine (:mod:`lorag_nb.core.claims`). Notebook 03
    calls it on its own runs and notebook 05 (:func:`lorag_nb.experiments.nb05.claims`) on the stored
    runs it gathered, so the two judge each claim by the same rule on the same numbers.

    Per-fact scores (each fact's held-out wordings averaged, then the training seeds) on the questions
    both sides answered, and a paired 95% bootstrap interval over facts for every difference:

    - *RAG reduces hallucination / answers what the model alone cannot* (``rag_grounded``): gold
      contained, RAG − the closed-book base model;
    - *RAG needs less data* (``rag_no_training``, with a trained run): multiple-choice accuracy, RAG − the
      trained model (notebook 05 passes its most accurate fine-tuned method), against the
      non-inferiority margin of :data:`lorag_nb.core.claims.MATCH_MARGIN`;
    - *swap the knowledge base without retraining* (``rag_swap``): revised facts answered after − before;
    - *the model repeats what the knowledge base says* (``rag_kb_bias``): before the swap, answers
      stating the outdated value − answers stating the true one;
    - *RAG adds latency* (``rag_latency``, with an :func:`lorag_nb.methods.rag.interleaved_latency`
      Result): the ratio of interleaved answer times.

    Args:
        trained: a training Result, or ``{seed: Result}`` for a method trained with several seeds.
        latency: the interleaved-latency Result (or its metrics: ``ratios``, ``rag_ms``, ``closed_ms``, ``n_questions``).
        sections: optional ``f(claim_id) -> str`` (links to the notebook sections that measured it).

    Returns:
        ``[lorag_nb.core.claims.Verdict]``.
    """
    out = []
    links = sections or (lambda _cid: "")
    ids = {r["id"] for r in rag.details.get("rows", [])}
    base_rows = [r for r in baseline.details.get("test", []) if r["id"] in ids]
    rag_s = C.scores(rag.details["rows"], "contains", "RAG")
    if base_rows:
        out.append(C.compare_scores("rag_grounded", rag_s, C.scores(base_rows, "contains", "base model, closed book"), "answers containing the gold value", condition, links("rag_grounded")))
    else:
        out.append(C.no_sample("rag_grounded", "the baseline has no rows for the RAG questions", condition, links("rag_grounded")))
    if trained is not None:
        runs = dict(trained) if isinstance(trained, Mapping) else {None: trained}
        trows = {s: [r for r in (t.details.get("rows") or {}).get("test", []) if r["id"] in ids] for s, t in runs.items()}
        if all(trows.values()) and any(r.get("mc_correct") is not None for r in rag.details["rows"]):
            rows = trows[None] if None in trows else trows
            out.append(C.compare_scores("rag_no_training", C.scores(rag.details["rows"], "mc_correct", "RAG (0 training examples)"), C.scores(rows, "mc_correct", trained_label),
                                        f"multiple choice on the questions both answered; RAG is said to need less data when at most {100 * C.MATCH_MARGIN:.0f} points below {trained_label}", condition, links("rag_no_training")))
    if swap is not None and swap.details.get("before") and swap.details.get("after"):
        before, after = swap.details["before"], swap.details["after"]
        first = next(iter(dict(trained).values())) if isinstance(trained, Mapping) else trained
        sec, lsec = swap.metrics["swap_seconds"], training_seconds(first) if first is not None else None
        out.append(C.compare_scores("rag_swap", C.scores(after, "contains", "after the swap"), C.scores(before, "contains", "before"),
                                    f"revised facts answered with the new value; re-indexing took {sec:.1f} s" + (f" vs {lsec:.0f} s to retrain {trained_label}" if lsec else ""), condition, links("rag_swap")))
        out.append(C.compare_scores("rag_kb_bias", C.scores(before, "says_old", "states the outdated value"), C.scores(before, "contains", "states the true value"),
                                    "answers with the OUTDATED knowledge base", condition, links("rag_kb_bias")))
    if latency is not None:
        m = latency.metrics if hasattr(latency, "metrics") else latency
        out.append(C.judge("rag_latency", C.ratio_estimate(m["ratios"]), {}, f"median {statistics.median(m['rag_ms']):.0f} vs {statistics.median(m['closed_ms']):.0f} ms per answer, "
                           f"{m['n_questions']} questions one at a time, {len(m['ratios'])} interleaved repetitions (load {m.get('loadavg') or 0:.1f})", condition, links("rag_latency")))
    return out


def explorer_data(
    settings: RagSettings,
    search_type: str,
    chunk_size: int,
    answer_ks: Sequence[int] = (1, 2, 3, 5),
    store: ResultsStore | None = None,
    eval_settings: EvalSettings | None = None,
    model_name: str = "embedded",
    model=None,
    tokenizer=None,
    client=None,
    with_answers: bool = True,
    multiple_choice: bool = False,
    example_index: int = 0,
) -> dict:
    """Everything the top-k explorer draws for one (search type, chunk size), from stored results.

    Retrieval curves come from :func:`run_retrieval` (k = 1..20); answer metrics and latency at each
    k in ``answer_ks`` from :func:`sweep_k` (each a stored :func:`run_rag`; computed if missing and
    ``with_answers``); the example question's ranked chunks (up to 20, with cosine distances) and the
    answers the runs gave it.

    Returns:
        ``{"settings", "hit", "recall", "mrr", "sweep" (sweep_frame records), "example": {"question",
        "gold", "gold_doc", "ranked": [{"rank", "chunk", "doc_id", "distance", "text", "gold"}],
        "answers": {k: answer}}}``.
    """

    ev = resolve_eval(eval_settings)
    overlap = settings.chunk_overlap if settings.chunk_overlap < chunk_size else chunk_size // 5
    s = settings.replace(search_type=search_type, chunk_size=int(chunk_size), chunk_overlap=overlap)
    store = RUNTIME.use_store(store)
    retrieval = run_retrieval(s, store, ev, client=client)
    runs = sweep_k(s, answer_ks, store, ev, model_name, model, tokenizer, client, multiple_choice) if with_answers else {}
    ks = load_knowledge(n_entities=ev.n_entities)
    qas = cap(questions_for(ks, s), ev.max_questions)
    q = qas[min(example_index, len(qas) - 1)]
    kb, _ = open_knowledge_base(s, ks, ev.n_entities, client=client)
    ranked = kb.rank([q.question], MAX_K, s.search_type, s.fetch_k, s.lambda_mult)[0]
    pool = max(MAX_K, s.fetch_k)
    distances = {d.id: dist for d, dist, _ in kb.search_with_scores(q.question, min(pool, kb.count()))}
    answers = {}
    for k, run in runs.items():
        for row in run.details.get("rows", []):
            if row["id"] == q.id:
                answers[int(k)] = row["prediction"]
    hk, hv = curve(retrieval.metrics["retrieval"], "hit@k")
    rk, rv = curve(retrieval.metrics["retrieval"], "recall@k")
    return {
        "settings": s.to_dict(),
        "hit": (hk, hv),
        "recall": (rk, rv),
        "mrr": retrieval.metrics["retrieval"]["mrr"],
        "sweep": sweep_frame(runs).to_dict("records") if runs else [],
        "example": {
            "id": q.id,
            "question": q.question,
            "gold": q.answer,
            "gold_doc": q.doc_id,
            "ranked": [
                {"rank": i + 1, "chunk": d.id, "doc_id": d.metadata.get("doc_id"), "distance": distances.get(d.id), "text": d.page_content, "gold": d.metadata.get("doc_id") == q.doc_id}
                for i, d in enumerate(ranked)
            ],
            "answers": answers,
        },
    }


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
    hit = r["hit@k"]
    refs = _references(baseline, rag)
    a = rag.metrics["answers"]
    lat = rag.metrics["latency_ms"]
    lines = [
        f"- **Retrieval** over {r['n']} test questions and {rag.metrics['chunks']['chunks']} chunks: hit@1 {hit.get('1', float('nan')):.2f}, "
        f"hit@5 {hit.get('5', float('nan')):.2f}, hit@10 {hit.get('10', float('nan')):.2f}, MRR {r['mrr']:.2f}.",
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
        lines.append(f"- **Python docs** ({p['n']} topics, query = a sentence held out of its topic): hit@1 {p['hit@k'].get('1', float('nan')):.2f}, hit@5 {p['hit@k'].get('5', float('nan')):.2f}, MRR {p['mrr']:.2f}.")
    return "\n".join(lines)
