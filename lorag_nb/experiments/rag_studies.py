"""The RAG studies notebooks 03, 04 and 05 share: the top_k sweep, the prompt-variant choice on the dev
split, the knowledge-base swap, and the top-k explorer's data.

Each reads and writes the results store through the RAG method (:mod:`lorag_nb.methods.rag`), so the
notebook that runs a study first stores it and the others get a store hit. Notebook 03 shows them
(``nb03.sweep_k`` etc. stay importable from :mod:`lorag_nb.experiments.nb03`); notebook 04 reuses the
chosen prompt variant; notebook 05 (:func:`lorag_nb.experiments.comparison.gather`) the variant and the swap;
the top-k explorer widget (:mod:`lorag_nb.ui.widgets`) the explorer data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lorag_nb.core import claims as C
from lorag_nb.core.config import EvalSettings, RagSettings, seed_everything
from lorag_nb.core.fmt import cap, mean
from lorag_nb.core.store import Result, ResultsStore
from lorag_nb.data.knowledge import document_for, load_knowledge
from lorag_nb.data.prompts import CONTEXT_VARIANTS, DEFAULT_CONTEXT_VARIANT
from lorag_nb.methods.evaluation import evaluate_qa, gold_contained, one_truncation_warning
from lorag_nb.methods.rag import (
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
from lorag_nb.methods.retrieval import MAX_K, at_k, curve, split_documents
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
    facts: ``<metric>_low`` / ``<metric>_high``), hit@k at that k (a k larger than the knowledge base is its
    whole collection: :func:`lorag_nb.methods.retrieval.at_k`; None when no question was linked), stage
    latencies (ms), prompt tokens."""
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
                "hit@k": at_k(r.metrics["retrieval"], int(k)),
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
