"""Retrieval-augmented generation: a LangChain runnable chain, its measurement, and the RAG experiments.

The chain (LCEL, :func:`build_chain`)::

    question ─► check ─► {question, docs: Chroma retriever} ─► prompt (prompts.context_prompt,
    the model's chat template) ─► language model (evaluation.generate) ─► {answer, sources}

``chain.batch(questions)`` retrieves for every question and then generates all answers in **one**
batched ``evaluation.generate`` call (:class:`GenerateRunnable` implements ``batch``).

:func:`run_rag` measures a :class:`lorag_nb.config.RagSettings` (cached in the results store, kind
``"rag"``): retrieval (hit@k, recall@k for k = 1..20 and MRR, over every question of the split),
answers (exact match, token F1, gold contained, multiple-choice accuracy, through
``evaluation.evaluate_qa`` with the retrieved passages as contexts — the same evaluator every method
uses) and the latency of each stage per question (embedding, search, generation, in ms).

The experiments of notebook 03 are here too: answer accuracy against top_k (:func:`sweep_k`), the
prompt-variant comparison on the dev split (:func:`compare_prompt_variants`), swapping the knowledge
base for the revised facts (:func:`swap_experiment`), real documents (:func:`python_docs_retrieval`),
and the article's claims with a verdict each (:func:`article_claims`).

Retrieve-then-generate: Lewis et al. 2020, *Retrieval-Augmented Generation for Knowledge-Intensive
NLP Tasks*; the fine-tuning vs retrieval comparison follows Ovadia et al. 2023.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Sequence

from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough

from .config import EvalSettings, RagSettings, seed_everything
from .experiments import Result, ResultsStore, _cap
from .prompts import CONTEXT_VARIANTS, context_prompt
from .retrieval import MAX_K, KnowledgeBase, chunk_statistics, evaluate_retrieval, split_documents

#: Default EvalSettings for RAG runs: few questions (each costs a generation and 4 option scorings).
DEFAULT_EVAL = EvalSettings(max_questions=12, max_new_tokens=24, batch_size=8)

# --------------------------------------------------------------------------- model cache

_MODELS: dict[str, tuple[Any, Any]] = {}


def get_model(model_name: str = "embedded", model=None, tokenizer=None):
    """``(model, tokenizer)``: the given pair, else one loaded once per process by name."""
    if model is not None and tokenizer is not None:
        _MODELS.setdefault(model_name, (model, tokenizer))
        return model, tokenizer
    if model_name not in _MODELS:
        from .models import load_model

        _MODELS[model_name] = load_model(model_name)
    return _MODELS[model_name]


# --------------------------------------------------------------------------- knowledge bases


def knowledge_documents(ks, knowledge: str = "original", include_distractors: bool = True) -> list:
    """The documents a RAG knowledge base indexes: the world's documents (or their revised versions) and,
    optionally, the near-duplicate distractors.

    Raises:
        ValueError: ``knowledge`` is not ``"original"`` or ``"revised"``.
    """
    if knowledge not in ("original", "revised"):
        raise ValueError(f"knowledge={knowledge!r} is invalid; valid: 'original' or 'revised'")
    docs = list(ks.documents if knowledge == "original" else ks.revised_documents)
    return docs + (list(ks.distractors) if include_distractors else [])


def collection_name(settings: RagSettings, n_entities: int | None, prefix: str = "lorag") -> str:
    """Collection name for a knowledge base built from ``settings`` (knowledge, distractors, chunking, entities)."""
    return f"{prefix}-{settings.knowledge}-e{n_entities or 'all'}-d{int(settings.include_distractors)}-c{settings.chunk_size}-o{settings.chunk_overlap}"


def open_knowledge_base(settings: RagSettings, ks, n_entities: int | None = None, client=None, name: str | None = None, client_kind: str = "persistent"):
    """Open (or create) the collection for ``settings`` and make it hold exactly the knowledge set's documents.

    Ingestion is idempotent (stable chunk ids, upserts) and prunes chunks of documents not in the set,
    so reruns, smaller smoke runs and earlier swaps never leave extra chunks.

    Args:
        client: a ``chromadb`` client; default: ``HttpClient`` if ``settings.chroma_url`` else ``client_kind``.

    Returns:
        ``(kb, ingest_report)``.
    """
    kb = KnowledgeBase(
        name or collection_name(settings, n_entities),
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        client=client,
        client_kind=client_kind,
        chroma_url=settings.chroma_url,
    )
    report = kb.ingest(knowledge_documents(ks, settings.knowledge, settings.include_distractors), prune=True)
    return kb, report


def retriever_for(kb: KnowledgeBase, settings: RagSettings):
    """The LangChain retriever ``settings`` describe (top_k clamped to the collection with a warning)."""
    return kb.retriever(settings.top_k, settings.search_type, settings.fetch_k, settings.lambda_mult)


def contexts_of(docs: Sequence) -> list[str]:
    """Passage texts of retrieved LangChain documents, in retrieval order."""
    return [d.page_content for d in docs]


def sources_of(docs: Sequence) -> list[str]:
    """Distinct source document ids of retrieved chunks, in retrieval order."""
    return list(dict.fromkeys(d.metadata.get("doc_id", "?") for d in docs))


# --------------------------------------------------------------------------- the chain


class GenerateRunnable(Runnable):
    """The language model as a LangChain runnable around :func:`lorag_nb.evaluation.generate`.

    Input: a dict with a ``"prompt"`` string. Output: the same dict plus ``"answer"`` (cleaned text),
    ``"raw"`` and ``"generation_ms"`` (this answer's share of its batch's wall time). ``batch`` sends
    every prompt to one batched ``generate`` call (greedy, left-padded).
    """

    def __init__(self, model, tokenizer, max_new_tokens: int = 24, batch_size: int = 16):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def _run(self, inputs: list[dict]) -> list[dict]:
        from .evaluation import generate

        gens = generate(self.model, self.tokenizer, [x["prompt"] for x in inputs], max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)
        return [dict(x, answer=g.text, raw=g.raw, generation_ms=g.latency_s * 1000) for x, g in zip(inputs, gens)]

    def invoke(self, input: dict, config=None, **kwargs) -> dict:
        return self._run([input])[0]

    def batch(self, inputs: list[dict], config=None, *, return_exceptions: bool = False, **kwargs) -> list[dict]:
        return self._run(list(inputs)) if inputs else []


def _check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question={question!r} is empty; give a non-empty question")
    return question.strip()


def build_chain(kb: KnowledgeBase, model, tokenizer, settings: RagSettings = RagSettings(), max_new_tokens: int = 24, batch_size: int = 16) -> Runnable:
    """The RAG chain (LangChain Expression Language).

    ``chain.invoke("question")`` / ``chain.batch([...])`` return dicts
    ``{"question", "answer", "sources" (doc ids), "chunks" (chunk ids), "contexts", "prompt", "generation_ms"}``.

    Raises:
        ValueError: (when invoked) an empty question; (when built) an empty knowledge base or bad settings.
    """
    retriever = retriever_for(kb, settings)
    variant = settings.prompt_variant

    def to_prompt(x: dict) -> dict:
        return {"question": x["question"], "docs": x["docs"], "prompt": context_prompt(tokenizer, x["question"], contexts_of(x["docs"]), variant)}

    def to_answer(x: dict) -> dict:
        docs = x["docs"]
        return {
            "question": x["question"],
            "answer": x["answer"],
            "sources": sources_of(docs),
            "chunks": [d.id for d in docs],
            "contexts": contexts_of(docs),
            "prompt": x["prompt"],
            "generation_ms": x["generation_ms"],
        }

    return (
        RunnableLambda(_check_question)
        | RunnableParallel(question=RunnablePassthrough(), docs=retriever)
        | RunnableLambda(to_prompt)
        | GenerateRunnable(model, tokenizer, max_new_tokens, batch_size)
        | RunnableLambda(to_answer)
    )


def answers_frame(answers: Sequence[dict]):
    """Chain outputs as a DataFrame: question, answer, sources."""
    import pandas as pd

    return pd.DataFrame([{"question": a["question"], "answer": a["answer"], "sources": ", ".join(a["sources"])} for a in answers])


# --------------------------------------------------------------------------- measurement


def timed_retrieval(kb: KnowledgeBase, retriever, questions: Sequence[str]) -> tuple[list[list], list[float], list[float]]:
    """Retrieve for each question, timing its two stages (ms).

    Embedding: the query embedded alone by the underlying model (never from the cache, so the cost is
    the real one an online query pays); the vector is then cached. Search: ``retriever.invoke`` (the
    query vector comes from the cache, so this is the vector-store search plus LangChain overhead).

    Returns:
        ``(docs per question, embedding_ms, search_ms)``.
    """
    emb = kb.embeddings
    docs, embed_ms, search_ms = [], [], []
    for q in questions:
        t0 = time.perf_counter()
        vec = emb.base.embed_query(q)
        embed_ms.append((time.perf_counter() - t0) * 1000)
        emb.cache.setdefault(q, [float(x) for x in vec])
        t0 = time.perf_counter()
        docs.append(retriever.invoke(q))
        search_ms.append((time.perf_counter() - t0) * 1000)
    return docs, embed_ms, search_ms


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _p50(values: Sequence[float]) -> float:
    from .evaluation import _percentile

    return _percentile(values, 0.5)  # the median (NaN if empty), as evaluate_qa's latency_ms_p50


def questions_for(ks, settings: RagSettings) -> list:
    """The questions a run is scored on: test questions (``knowledge="original"``) or revised-facts test
    questions (``"revised"``), whose gold documents are in that knowledge base."""
    return list(ks.test_qa if settings.knowledge == "original" else ks.revised_test_qa)


def _eval(eval_settings: EvalSettings | None) -> EvalSettings:
    return eval_settings or DEFAULT_EVAL


def run_retrieval(settings: RagSettings, store: ResultsStore | None = None, eval_settings: EvalSettings | None = None, client=None, force: bool = False) -> Result:
    """Retrieval quality of ``settings`` on every question of the split (hit@k, recall@k, k = 1..20, MRR).

    Independent of ``top_k`` and the prompt, so it is cached once per (knowledge base, search) settings
    in the results store (kind ``"retrieval"``). Scores are cosine-distance rankings (lower distance = closer).

    Returns:
        :class:`Result` with metrics ``{"retrieval": retrieval_metrics, "chunks": chunk statistics,
        "ingest": IngestReport}`` and details ``{"rows": [{"id", "gold_doc", "rank", "top3"}]}``.
    """
    from .knowledge import load_knowledge

    ev = _eval(eval_settings)
    store = store or ResultsStore()
    key = {"rag": settings.replace(top_k=1, prompt_variant="context_then_question").to_dict(), "n_entities": ev.n_entities, "max_k": MAX_K}

    def compute(_artifacts: Path):
        ks = load_knowledge(n_entities=ev.n_entities)
        kb, report = open_knowledge_base(settings, ks, ev.n_entities, client=client)
        metrics, rows = evaluate_retrieval(kb, questions_for(ks, settings), MAX_K, settings.search_type, settings.fetch_k, settings.lambda_mult)
        metrics["search_type"] = settings.search_type
        metrics["score"] = "cosine distance (lower is closer)"
        slim = [{"id": r["id"], "gold_doc": r["gold_doc"], "rank": r["rank"], "top3": r["retrieved"][:3]} for r in rows]
        return {"retrieval": metrics, "chunks": chunk_statistics(kb), "ingest": report.to_dict()}, {"rows": slim}

    return store.cached("retrieval", key, compute, force=force)


def run_rag(
    settings: RagSettings,
    store: ResultsStore | None = None,
    eval_settings: EvalSettings | None = None,
    model_name: str = "embedded",
    force: bool = False,
    model=None,
    tokenizer=None,
    client=None,
    multiple_choice: bool = True,
) -> Result:
    """Measure RAG with ``settings`` (cached in the results store, kind ``"rag"``).

    Builds (or syncs) the Chroma knowledge base, retrieves ``top_k`` chunks per question with the
    LangChain retriever, and answers with ``evaluation.evaluate_qa(..., contexts=...)`` (prompt
    variant ``settings.prompt_variant``), generation batched across questions.

    Args:
        settings: the RAG knobs (``chroma_url`` set → everything runs against that Chroma server).
        eval_settings: which questions (``n_entities``, first ``max_questions`` of the split) and
            generation budget; default :data:`DEFAULT_EVAL`.
        model_name: ``"embedded"`` or a Hugging Face id / folder; ``model``/``tokenizer`` reuse a loaded pair.
        client: a ``chromadb`` client (e.g. ``EphemeralClient`` in tests); default persistent under the cache.
        multiple_choice: also score the 4 options (4 extra forward passes per question).

    Returns:
        :class:`Result` (kind ``"rag"``). Metrics: ``retrieval`` (hit@k / recall@k for k = 1..20 and
        MRR over every question of the split, from :func:`run_retrieval`), ``answers`` (n, exact_match,
        f1, contains, mc_accuracy, latency, seconds), ``latency_ms`` (mean and p50 per question of
        ``embedding``, ``search``, ``generation``, ``total``), ``top_k`` (after clamping),
        ``prompt_tokens_mean``, ``chunks``, ``ingest``. Details: ``rows`` per answered question
        (prediction, scores, ``chunks`` = retrieved chunk ids, ``sources``, gold document and its
        rank, stage latencies).

    Raises:
        ValueError: bad settings, an empty knowledge base.
    """
    from .evaluation import evaluate_qa
    from .knowledge import load_knowledge

    ev = _eval(eval_settings)
    store = store or ResultsStore()
    key = {"rag": settings.to_dict(), "eval": ev.to_dict(), "model": model_name, "multiple_choice": multiple_choice, "seed": 0}

    def compute(_artifacts: Path):
        seed_everything(0)
        retrieval = run_retrieval(settings, store, ev, client=client)
        m, tok = get_model(model_name, model, tokenizer)
        ks = load_knowledge(n_entities=ev.n_entities)
        kb, report = open_knowledge_base(settings, ks, ev.n_entities, client=client)
        qas = _cap(questions_for(ks, settings), ev.max_questions)
        retriever = retriever_for(kb, settings)
        docs, embed_ms, search_ms = timed_retrieval(kb, retriever, [q.question for q in qas])
        contexts = [contexts_of(d) for d in docs]
        result = evaluate_qa(m, tok, qas, contexts=contexts, variant=settings.prompt_variant, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size, multiple_choice=multiple_choice)
        prompt_tokens = [len(tok(context_prompt(tok, q.question, c, settings.prompt_variant), add_special_tokens=False)["input_ids"]) for q, c in zip(qas, contexts)]
        gen_ms = [r["latency_ms"] for r in result.rows]
        total = [a + b + c for a, b, c in zip(embed_ms, search_ms, gen_ms)]
        rows = []
        for q, row, d, e, s in zip(qas, result.rows, docs, embed_ms, search_ms):
            doc_ids = [c.metadata.get("doc_id") for c in d]
            rank = next((i + 1 for i, x in enumerate(doc_ids) if x == q.doc_id), None)
            rows.append(dict(row, gold_doc=q.doc_id, gold_rank=rank, chunks=[c.id for c in d], sources=sources_of(d), embedding_ms=e, search_ms=s, generation_ms=row["latency_ms"]))
        latency = {
            "embedding": _mean(embed_ms),
            "search": _mean(search_ms),
            "generation": _mean(gen_ms),
            "total": _mean(total),
            "embedding_p50": _p50(embed_ms),
            "search_p50": _p50(search_ms),
            "generation_p50": _p50(gen_ms),
            "total_p50": _p50(total),
        }
        metrics = {
            "retrieval": retrieval.metrics["retrieval"],
            "answers": result.metrics,
            "answered_hit_rate": sum(r["gold_rank"] is not None for r in rows) / len(rows),
            "latency_ms": latency,
            "top_k": len(docs[0]) if docs else settings.top_k,
            "prompt_tokens_mean": _mean(prompt_tokens),
            "chunks": retrieval.metrics["chunks"],
            "ingest": report.to_dict(),
        }
        return metrics, {"rows": rows}

    return store.cached("rag", key, compute, force=force)


# --------------------------------------------------------------------------- sweeps and tables


def sweep_k(settings: RagSettings, ks: Sequence[int] = (1, 2, 3, 5, 10), store: ResultsStore | None = None, eval_settings: EvalSettings | None = None, model_name: str = "embedded", model=None, tokenizer=None, client=None, multiple_choice: bool = True) -> dict[int, Result]:
    """:func:`run_rag` at each ``top_k`` in ``ks`` (each cached on its own): ``{k: Result}``.

    A result stored with multiple choice is reused when ``multiple_choice`` is False (it holds more).
    """
    store = store or ResultsStore()
    out = {}
    for k in ks:
        s = settings.replace(top_k=int(k))
        res = None
        if not multiple_choice:
            res = _stored_rag(store, s, _eval(eval_settings), model_name, True)
        out[int(k)] = res or run_rag(s, store, eval_settings, model_name, model=model, tokenizer=tokenizer, client=client, multiple_choice=multiple_choice)
    return out


def _stored_rag(store: ResultsStore, settings: RagSettings, ev: EvalSettings, model_name: str, multiple_choice: bool) -> Result | None:
    from .experiments import settings_key

    key = {"rag": settings.to_dict(), "eval": ev.to_dict(), "model": model_name, "multiple_choice": multiple_choice, "seed": 0}
    return store.get("rag", settings_key("rag", key))


def sweep_frame(results: dict[int, Result]):
    """One row per top_k: answer metrics, hit@k at that k, retrieved-gold rate, stage latencies (ms), prompt tokens."""
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


# --------------------------------------------------------------------------- prompt variants


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

    from .evaluation import evaluate_qa
    from .knowledge import document_for, load_knowledge

    ev = _eval(eval_settings)
    variants = list(variants or CONTEXT_VARIANTS)
    unknown = [v for v in variants if v not in CONTEXT_VARIANTS]
    if unknown:
        raise ValueError(f"unknown prompt variant(s) {unknown}; valid: {sorted(CONTEXT_VARIANTS)}")
    store = store or ResultsStore()
    key = {"rag": settings.replace(prompt_variant="context_then_question").to_dict(), "eval": ev.to_dict(), "variants": variants, "templates": [CONTEXT_VARIANTS[v] for v in variants], "model": model_name, "multiple_choice": multiple_choice, "selection": "spread"}

    def compute(_artifacts: Path):
        seed_everything(0)
        m, tok = get_model(model_name, model, tokenizer)
        ks = load_knowledge(n_entities=ev.n_entities)
        kb, _ = open_knowledge_base(settings, ks, ev.n_entities, client=client)
        qas = spread(list(ks.dev_qa), ev.max_questions)
        retriever = retriever_for(kb, settings)
        retrieved = [contexts_of(retriever.invoke(q.question)) for q in qas]
        oracle = [[document_for(ks, q).text] for q in qas]
        rows, examples = [], {}
        for v in variants:
            for kind, ctx in (("oracle", oracle), ("retrieved", retrieved)):
                r = evaluate_qa(m, tok, qas, contexts=ctx, variant=v, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size, multiple_choice=multiple_choice)
                rows.append({"variant": v, "context": kind, **{k: r.metrics[k] for k in ("n", "exact_match", "f1", "contains", "mc_accuracy")}})
                examples[f"{v}/{kind}"] = [(x["gold"], x["prediction"]) for x in r.rows[:3]]
        return {"rows": rows}, {"examples": examples}

    result = store.cached("rag_prompts", key, compute, force=force)
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


# --------------------------------------------------------------------------- swapping the knowledge base


def _score_revised(m, tok, qas, kb, settings, ev, multiple_choice: bool = False) -> dict:
    from .evaluation import evaluate_qa, gold_contained

    retriever = retriever_for(kb, settings)
    docs = [retriever.invoke(q.question) for q in qas]
    r = evaluate_qa(m, tok, qas, contexts=[contexts_of(d) for d in docs], variant=settings.prompt_variant, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size, multiple_choice=multiple_choice)
    old = [gold_contained(row["prediction"], q.old_answer) if q.old_answer else 0.0 for q, row in zip(qas, r.rows)]
    metrics = dict(r.metrics, old_fact_rate=_mean(old))
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
    from .knowledge import load_knowledge

    ev = _eval(eval_settings)
    store = store or ResultsStore()
    base = settings.replace(knowledge="original")
    key = {"rag": base.to_dict(), "eval": ev.to_dict(), "model": model_name, "multiple_choice": multiple_choice, "seed": 0}

    def compute(_artifacts: Path):
        seed_everything(0)
        m, tok = get_model(model_name, model, tokenizer)
        ks = load_knowledge(n_entities=ev.n_entities)
        qas = _cap(list(ks.revised_test_qa), ev.max_questions)
        if not qas:
            raise ValueError(f"no revised-facts questions for n_entities={ev.n_entities}; use more entities")
        kb, _ = open_knowledge_base(base, ks, ev.n_entities, client=client, name=collection_name(base, ev.n_entities, prefix="lorag-swap"))
        chunks_before = kb.count()
        before = _score_revised(m, tok, qas, kb, base, ev, multiple_choice)
        new_chunks = split_documents(ks.revised_documents, base.chunk_size, base.chunk_overlap)
        for c in new_chunks:  # measure the real cost: embed the new chunks from scratch
            kb.embeddings.cache.pop(c.page_content, None)
        report = kb.ingest(ks.revised_documents, remove=[d.id for d in ks.documents])
        stale = sum(1 for meta in kb.chunk_metadata().values() if str((meta or {}).get("doc_id", "")).startswith("doc-"))
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


def swap_table(swap: Result, lora: Result | None = None, baseline: Result | None = None):
    """Revised-facts questions: closed-book base, RAG before/after the swap, and a LoRA adapter, with update cost (s).

    Columns: method, n (questions), update_seconds, contains (the new, true value), mc_accuracy,
    says_old_fact (share of answers containing the outdated value). The LoRA row is a closed-book
    adapter trained on the knowledge set's facts (:func:`lorag_nb.training.run_training`); updating
    what it knows means another training run, whose measured cost is its training time.
    """
    import pandas as pd

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

    Read from the per-question rows of :func:`lorag_nb.experiments.run_baseline` (so a stored baseline
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
            "exact_match": _mean([r["em"] for r in rows]),
            "f1": _mean([r["f1"] for r in rows]),
            "contains": _mean([r["contains"] for r in rows]),
            "mc_accuracy": _mean([float(x) for x in mc]) if mc else None,
            "latency_ms_mean": _mean([r["latency_ms"] for r in rows]),
        }
    return out


def _references(baseline: Result, rag: Result) -> dict[str, dict]:
    """Question-matched baseline scores when both have per-question rows, else the baseline's own metrics."""
    ids = [r["id"] for r in rag.details.get("rows", [])]
    if ids and baseline.details.get("test"):
        return reference_scores(baseline, ids)
    return {k: baseline.metrics[k] for k in ("test", "oracle") if k in baseline.metrics}


def _old_rate(rows: Sequence[dict]) -> float | None:
    """Share of revised-facts answers (evaluate_qa rows) that contain the outdated value; None without rows."""
    from .evaluation import gold_contained
    from .knowledge import load_knowledge

    old = {q.id: q.old_answer for q in load_knowledge().revised_test_qa}
    values = [gold_contained(r["prediction"], old[r["id"]]) for r in rows if old.get(r.get("id"))]
    return _mean(values) if values else None


def training_seconds(result: Result) -> float | None:
    """Wall time of a training run (s): ``metrics["training"]["seconds"]`` of :func:`lorag_nb.training.run_training`
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


# --------------------------------------------------------------------------- real documents


def python_docs_retrieval(n_topics: int = 40, max_chars: int = 6000, chunk_size: int = 500, chunk_overlap: int = 50, search_type: str = "similarity", client=None, name: str | None = None, store: ResultsStore | None = None, force: bool = False) -> tuple[Result, KnowledgeBase]:
    """Retrieval on real text: Python's reference docs, each queried by a sentence held out of its own text.

    See :func:`lorag_nb.retrieval.python_docs_benchmark`. The collection (default
    ``lorag-pydoc-c<size>-o<overlap>``) holds exactly the benchmark's documents.

    Returns:
        ``(result, kb)``: :class:`Result` (kind ``"rag_pydoc"``) with metrics ``retrieval`` (hit@k,
        recall@k for k = 1..20, MRR), ``chunks``, ``ingest``; details ``rows`` (query, gold topic,
        rank, top-3 sources); and the open knowledge base (for answering questions).
    """
    from .retrieval import python_docs_benchmark

    store = store or ResultsStore()
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


# --------------------------------------------------------------------------- the article's claims


def article_claims(rag: Result, baseline: Result, swap: Result | None = None, lora: Result | None = None, latency: Result | None = None, condition: str = "") -> list:
    """The article's RAG claims, judged by the one claims engine (:mod:`lorag_nb.claims`).

    Per-fact scores (each fact's held-out wordings averaged) on the questions both sides answered, and
    a paired 95% bootstrap interval over facts for every difference:

    - *RAG reduces hallucination / answers what the model alone cannot* (``rag_grounded``): gold
      contained, RAG − the closed-book base model;
    - *RAG needs less data* (``rag_no_training``, with a LoRA run): multiple-choice accuracy, RAG − LoRA,
      against the non-inferiority margin of :data:`lorag_nb.claims.MATCH_MARGIN`;
    - *swap the knowledge base without retraining* (``rag_swap``): revised facts answered after − before;
    - *the model repeats what the knowledge base says* (``rag_kb_bias``): before the swap, answers
      stating the outdated value − answers stating the true one;
    - *RAG adds latency* (``rag_latency``, with an :func:`interleaved_latency` Result): the ratio of
      interleaved answer times.

    Returns:
        ``[lorag_nb.claims.Verdict]``.
    """
    from . import claims as C

    out = []
    ids = {r["id"] for r in rag.details.get("rows", [])}
    base_rows = [r for r in baseline.details.get("test", []) if r["id"] in ids]
    rag_s = C.scores(rag.details["rows"], "contains", "RAG")
    if base_rows:
        out.append(C.compare_scores("rag_grounded", rag_s, C.scores(base_rows, "contains", "base model, closed book"), "answers containing the gold value", condition))
    else:
        out.append(C.no_sample("rag_grounded", "the baseline has no rows for the RAG questions", condition))
    if lora is not None:
        lrows = [r for r in (lora.details.get("rows") or {}).get("test", []) if r["id"] in ids]
        if lrows and any(r.get("mc_correct") is not None for r in rag.details["rows"]):
            out.append(C.compare_scores("rag_no_training", C.scores(rag.details["rows"], "mc_correct", "RAG (0 training examples)"), C.scores(lrows, "mc_correct", "LoRA (trained)"),
                                        f"multiple choice on the questions both answered; RAG is said to need less data when at most {100 * C.MATCH_MARGIN:.0f} points below the trained LoRA", condition))
    if swap is not None and swap.details.get("before") and swap.details.get("after"):
        before, after = swap.details["before"], swap.details["after"]
        sec, lsec = swap.metrics["swap_seconds"], training_seconds(lora) if lora is not None else None
        out.append(C.compare_scores("rag_swap", C.scores(after, "contains", "after the swap"), C.scores(before, "contains", "before"),
                                    f"revised facts answered with the new value; re-indexing took {sec:.1f} s" + (f" vs {lsec:.0f} s to retrain LoRA" if lsec else ""), condition))
        out.append(C.compare_scores("rag_kb_bias", C.scores(before, "says_old", "states the outdated value"), C.scores(before, "contains", "states the true value"),
                                    "answers with the OUTDATED knowledge base", condition))
    if latency is not None:
        m = latency.metrics
        out.append(C.judge("rag_latency", C.ratio_estimate(m["ratios"]), {}, f"median {statistics.median(m['rag_ms']):.0f} vs {statistics.median(m['closed_ms']):.0f} ms per answer, "
                           f"{m['n_questions']} questions one at a time, {len(m['ratios'])} interleaved repetitions (load {m.get('loadavg') or 0:.1f})", condition))
    return out


# --------------------------------------------------------------------------- data for the top-k explorer


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
    from .knowledge import load_knowledge
    from .retrieval import curve

    ev = _eval(eval_settings)
    overlap = settings.chunk_overlap if settings.chunk_overlap < chunk_size else chunk_size // 5
    s = settings.replace(search_type=search_type, chunk_size=int(chunk_size), chunk_overlap=overlap)
    store = store or ResultsStore()
    retrieval = run_retrieval(s, store, ev, client=client)
    runs = sweep_k(s, answer_ks, store, ev, model_name, model, tokenizer, client, multiple_choice) if with_answers else {}
    ks = load_knowledge(n_entities=ev.n_entities)
    qas = _cap(questions_for(ks, s), ev.max_questions)
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


def answer_one(settings: RagSettings, question: str, top_k: int, eval_settings: EvalSettings | None = None, model_name: str = "embedded", model=None, tokenizer=None, client=None) -> dict:
    """Answer one question through the RAG chain with ``top_k`` chunks (the explorer's live answer).

    Returns:
        the chain's output dict (answer, sources, chunks, contexts, prompt, generation_ms).
    """
    from .knowledge import load_knowledge

    ev = _eval(eval_settings)
    m, tok = get_model(model_name, model, tokenizer)
    kb, _ = open_knowledge_base(settings, load_knowledge(n_entities=ev.n_entities), ev.n_entities, client=client)
    return build_chain(kb, m, tok, settings.replace(top_k=int(top_k)), max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size).invoke(question)


def interleaved_latency(settings: RagSettings, eval_settings: EvalSettings | None = None, model_name: str = "embedded", model=None, tokenizer=None, store: ResultsStore | None = None, n_questions: int = 6, reps: int = 3, client=None, force: bool = False) -> Result:
    """Answer time with RAG vs closed book, measured **interleaved** in one process (per question:
    closed book, then RAG; the order flips every repetition), one question at a time, so both see the
    same machine load. Each repetition gives one ratio (total RAG time ÷ total closed-book time);
    :func:`lorag_nb.claims.ratio_estimate` gives the median with its spread. Cached (kind ``"latency"``).

    Returns:
        Result with metrics ``rag_ms`` and ``closed_ms`` (per repetition, mean ms per answer),
        ``ratios``, ``n_questions``, ``reps``, ``loadavg``.

    Raises:
        ValueError: ``reps`` < 2 or ``n_questions`` < 1.
    """
    import os

    from .evaluation import generate
    from .knowledge import load_knowledge
    from .prompts import make_prompt

    if reps < 2 or n_questions < 1:
        raise ValueError(f"reps must be ≥ 2 and n_questions ≥ 1; got reps={reps}, n_questions={n_questions}")
    ev = _eval(eval_settings)
    store = store or ResultsStore()
    key = {"rag": settings.replace(chroma_url=None).to_dict(), "eval": ev.to_dict(), "model": model_name, "n_questions": n_questions, "reps": reps}

    def compute(_artifacts: Path):
        m, tok = get_model(model_name, model, tokenizer)
        ks = load_knowledge(n_entities=ev.n_entities)
        kb, _ = open_knowledge_base(settings, ks, ev.n_entities, client=client)
        chain = build_chain(kb, m, tok, settings, max_new_tokens=ev.max_new_tokens, batch_size=1)
        questions = [q.question for q in ks.test_qa[:n_questions]]
        try:
            load = os.getloadavg()[0]
        except OSError:  # pragma: no cover
            load = None
        chain.invoke(questions[0])  # warm-up
        rag_ms, closed_ms = [], []
        for rep in range(reps):
            t = {"rag": 0.0, "closed": 0.0}
            for q in questions:
                for which in (("closed", "rag") if rep % 2 == 0 else ("rag", "closed")):
                    t0 = time.perf_counter()
                    if which == "rag":
                        chain.invoke(q)
                    else:
                        generate(m, tok, [make_prompt(tok, q)], max_new_tokens=ev.max_new_tokens, batch_size=1)
                    t[which] += time.perf_counter() - t0
            rag_ms.append(1000 * t["rag"] / len(questions))
            closed_ms.append(1000 * t["closed"] / len(questions))
        return {"rag_ms": rag_ms, "closed_ms": closed_ms, "ratios": [r / c for r, c in zip(rag_ms, closed_ms)], "n_questions": len(questions), "reps": reps, "loadavg": load}, {}

    return store.cached("latency", key, compute, force=force)


# --------------------------------------------------------------------------- notebook helpers


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
