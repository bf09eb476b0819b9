"""Retrieval-augmented generation: a LangChain runnable chain, its measurement, and the RAG experiments.

The chain (LCEL, :func:`build_chain`)::

    question ─► check ─► {question, docs: Chroma retriever} ─► prompt (prompts.context_prompt,
    the model's chat template) ─► language model (evaluation.generate) ─► {answer, sources}

``chain.batch(questions)`` retrieves for every question and then generates all answers in **one**
batched ``evaluation.generate`` call (:class:`GenerateRunnable` implements ``batch``).

:func:`run_rag` measures a :class:`lorag_nb.core.config.RagSettings` (cached in the results store, kind
``"rag"``): retrieval (hit@k, recall@k for k = 1..20 and MRR, over every question of the split),
answers (exact match, token F1, gold contained, multiple-choice accuracy, through
``evaluation.evaluate_qa`` with the retrieved passages as contexts — the same evaluator every method
uses) and the latency of each stage per question (embedding, search, generation, in ms).

The experiments of notebook 03 are here too: answer accuracy against top_k (:func:`~lorag_nb.methods.hybrid.sweep_k`), the
prompt-variant comparison on the dev split (:func:`~lorag_nb.experiments.nb03.compare_prompt_variants`), swapping the knowledge
base for the revised facts (:func:`~lorag_nb.experiments.nb03.swap_experiment`), real documents (:func:`~lorag_nb.experiments.nb03.python_docs_retrieval`),
and the article's claims with a verdict each (:func:`~lorag_nb.experiments.nb03.article_claims`).

Retrieve-then-generate: Lewis et al. 2020, *Retrieval-Augmented Generation for Knowledge-Intensive
NLP Tasks*; the fine-tuning vs retrieval comparison follows Ovadia et al. 2023.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Sequence

from langchain_core.runnables import (
    Runnable,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)

from lorag_nb.core.config import EvalSettings, RagSettings, seed_everything
from lorag_nb.core.fmt import cap, mean, p50
from lorag_nb.core.stages import stage
from lorag_nb.core.store import Result, ResultsStore, settings_key
from lorag_nb.data.knowledge import document_for, knowledge_fingerprint, load_knowledge
from lorag_nb.data.prompts import context_prompt, make_prompt
from lorag_nb.methods.evaluation import BUDGET_CAP, BUDGET_FALLBACK, BUDGET_MAX_CUT, choose_budget, evaluate_qa, generate
from lorag_nb.methods.retrieval import (
    MAX_K,
    CachedEmbeddings,
    KnowledgeBase,
    chunk_statistics,
    evaluate_retrieval,
    get_embeddings,
    make_client,
)
from lorag_nb.methods.runtime import RUNTIME

#: Default EvalSettings for RAG runs: few questions (each costs a generation and 4 option scorings).
DEFAULT_EVAL = EvalSettings(max_questions=12, max_new_tokens=24, batch_size=8)


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
    fp = knowledge_fingerprint()
    prefix = prefix if fp is None else f"{prefix}-u{fp}"  # a user folder's documents never share a collection with the world's
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
    """The language model as a LangChain runnable around :func:`lorag_nb.methods.evaluation.generate`.

    Input: a dict with a ``"prompt"`` string. Output: the same dict plus ``"answer"`` (cleaned text),
    ``"raw"`` and ``"generation_ms"`` (this answer's share of its batch's wall time). ``batch`` sends
    every prompt to one batched ``generate`` call (greedy, left-padded).
    """

    def __init__(self, model, tokenizer, max_new_tokens: int = 24, batch_size: int = 16):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def _run(self, inputs: list[dict]) -> list[dict]:

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


@stage("retrieval")
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


#: Characters of a dev question's gold document shown when choosing the answer budget (about 3 chunks of 500).
BUDGET_CONTEXT_CHARS = 1500


#: Questions the answer budget is chosen on: dev questions first, then training questions when the knowledge set has
#: fewer dev questions (the choice reads only answer lengths, never scores, so training questions are fair game).
#: With 10, "at most 5% cut" meant none of 10, and 4 of 40 test answers were then cut on the built-in world (budget
#: 48); on a 3-document gallery folder, 1 dev question chose 24 tokens and 7 of 18 RAG answers were then cut.
BUDGET_QUESTIONS = 40


def answer_budget(max_new_tokens: int, n_entities: int | None = None, model_name: str = "embedded", model=None, tokenizer=None,
                  batch_size: int = 16, store: ResultsStore | None = None, n_questions: int = BUDGET_QUESTIONS, force: bool = False,
                  closed_book: bool = False, settings: RagSettings | None = None, client=None) -> tuple[int, str]:
    """An answer budget (``max_new_tokens``) and where it came from: RAG's (``settings``), the oracle arm's (the gold
    document; neither ``settings`` nor ``closed_book``) or the closed-book one (``closed_book=True``).

    ``max_new_tokens`` ≥ 1 is used as given. ``0`` chooses it from evidence (:func:`~lorag_nb.methods.evaluation.choose_budget`):
    the first ``n_questions`` (:data:`BUDGET_QUESTIONS`) dev questions of the knowledge set (first ``n_entities`` documents; training
    questions fill up when it has fewer), each asked as the method asks it: with the ``settings.top_k`` chunks the retriever
    of ``settings`` returns (its prompt variant; the knowledge base opened as :func:`run_rag` opens it), with the first
    :data:`BUDGET_CONTEXT_CHARS` characters of its gold document (no ``settings``; closed book when it has none), or
    without a document (``closed_book``); generated by model ``model_name`` up to
    :data:`~lorag_nb.methods.evaluation.BUDGET_CAP` tokens; the smallest budget that cuts at most 5% of them. Why
    through the retriever: chosen with the gold document, RAG's budget (64) still cut 19 of 180 test answers given
    three retrieved chunks (10.6%; built-in world, 2026-12-07). Stored in the results store (kind ``"budget"``, keyed by
    model, knowledge set and retrieval settings), so notebooks 03–05 choose the same budget. Without dev and training
    questions: :data:`~lorag_nb.methods.evaluation.BUDGET_FALLBACK`.

    Returns:
        ``(tokens, why)``: e.g. ``(24, "chosen on 10 dev questions: the smallest budget that cuts ≤ 5% (0% cut)")``.

    Raises:
        ValueError: ``max_new_tokens`` negative or not an int; an empty knowledge base (``settings``).
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be an int >= 1 (the budget in tokens) or 0 (choose it on the dev split)")
    if max_new_tokens:
        return max_new_tokens, "as set (max_new_tokens)"
    ks = load_knowledge(n_entities=n_entities)
    n_questions = max(1, n_questions)
    dev = list(ks.dev_qa)[:n_questions]
    n_dev = len(dev)
    dev += list(ks.train_qa)[: n_questions - n_dev]  # too few dev questions: training questions fill up to n_questions
    if not dev:
        return BUDGET_FALLBACK, f"no dev or training question to choose it on: the fallback of {BUDGET_FALLBACK} tokens"
    store = RUNTIME.use_store(store)
    retrieved = settings is not None and not closed_book
    key = {"model": model_name, "n_entities": n_entities, "questions": [q.id for q in dev], "cap": BUDGET_CAP, "max_cut": BUDGET_MAX_CUT,
           **({"closed_book": True} if closed_book else {"rag": key_dict(settings)} if retrieved else {"context_chars": BUDGET_CONTEXT_CHARS})}

    def compute(_artifacts: Path):
        m, tok = RUNTIME.model(model_name, model, tokenizer)
        if retrieved:
            kb, _report = open_knowledge_base(settings, ks, n_entities, client=client)
            docs, _e, _s = timed_retrieval(kb, retriever_for(kb, settings), [q.question for q in dev])
            prompts = [make_prompt(tok, q.question, contexts_of(d), settings.prompt_variant) for q, d in zip(dev, docs)]
        else:
            prompts = [make_prompt(tok, q.question, [document_for(ks, q).text[:BUDGET_CONTEXT_CHARS]] if q.doc_id and not closed_book else None) for q in dev]
        return choose_budget(m, tok, prompts, batch_size=batch_size), {}

    m = store.cached("budget", key, compute, force=force).metrics
    asked = (f"{m['n']} dev question{'s' if m['n'] != 1 else ''}" if n_dev == len(dev) else f"{n_dev} dev + {len(dev) - n_dev} training questions") + (
        " closed book" if closed_book else f" with the top {settings.top_k} retrieved chunks" if retrieved else " with the gold document")
    if m["cut_share"] > m["max_cut"]:  # even the cap cuts more than allowed: say so, never "the smallest that cuts ≤ 5%"
        return int(m["max_new_tokens"]), (f"chosen on {asked}: no budget up to the cap of {m['cap']} tokens cuts ≤ {100 * m['max_cut']:.0f}% of their "
                                          f"answers, so the cap ({round(m['cut_share'] * m['n'])} of {m['n']} still cut; the verdicts on generated answers say so)")
    return int(m["max_new_tokens"]), (f"chosen on {asked}: the smallest budget that cuts ≤ {100 * m['max_cut']:.0f}% of their answers "
                                      f"({100 * m['cut_share']:.0f}% cut; at most {m['cap']})")


def questions_for(ks, settings: RagSettings) -> list:
    """The questions a run is scored on: test questions (``knowledge="original"``) or revised-facts test
    questions (``"revised"``), whose gold documents are in that knowledge base."""
    return list(ks.test_qa if settings.knowledge == "original" else ks.revised_test_qa)


def key_dict(settings: RagSettings, **changes) -> dict:
    """The part of a results-store key that ``settings`` contribute: ``settings.replace(**changes).to_dict()``
    with ``chroma_url`` set to None, so a result does not depend on where the Chroma server runs.

    Why that is sound: before any question, :func:`open_knowledge_base` makes the collection hold exactly
    the knowledge set's chunks (stable ids, upserts, stale chunks pruned), embedded in this process by the
    same packaged model; the server only stores and searches them with the same cosine HNSW index as the
    embedded client. ``tests/test_chroma_server.py`` checks that a server and an embedded store rank every
    test question's chunks identically. The caveat: HNSW search is approximate and its graph depends on
    the order of writes, so a server collection that other writers changed in between could order
    near-ties differently; that is not measured here. The key keeps ``chroma_url: None``, so keys stored
    before this function existed (all embedded) are unchanged.
    """
    return settings.replace(chroma_url=None, **changes).to_dict()


def resolve_eval(eval_settings: EvalSettings | None) -> EvalSettings:
    return eval_settings or DEFAULT_EVAL


def run_retrieval(settings: RagSettings, store: ResultsStore | None = None, eval_settings: EvalSettings | None = None, client=None, force: bool = False) -> Result:
    """Retrieval quality of ``settings`` on every question of the split (hit@k, recall@k, k = 1..20, MRR).

    Independent of ``top_k`` and the prompt, so it is cached once per (knowledge base, search) settings
    in the results store (kind ``"retrieval"``). Scores are cosine-distance rankings (lower distance = closer).

    Returns:
        :class:`Result` with metrics ``{"retrieval": retrieval_metrics, "chunks": chunk statistics,
        "ingest": IngestReport}`` and details ``{"rows": [{"id", "gold_doc", "rank", "top3"}]}``.
    """

    ev = resolve_eval(eval_settings)
    store = RUNTIME.use_store(store)
    key = {"rag": key_dict(settings, top_k=1, prompt_variant="context_then_question"), "n_entities": ev.n_entities, "max_k": MAX_K}

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

    ev = resolve_eval(eval_settings)
    store = RUNTIME.use_store(store)
    key = {"rag": key_dict(settings), "eval": ev.to_dict(), "model": model_name, "multiple_choice": multiple_choice, "seed": 0}

    def compute(_artifacts: Path):
        seed_everything(0)
        retrieval = run_retrieval(settings, store, ev, client=client)
        m, tok = RUNTIME.model(model_name, model, tokenizer)
        ks = load_knowledge(n_entities=ev.n_entities)
        kb, report = open_knowledge_base(settings, ks, ev.n_entities, client=client)
        qas = cap(questions_for(ks, settings), ev.max_questions)
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
            "embedding": mean(embed_ms),
            "search": mean(search_ms),
            "generation": mean(gen_ms),
            "total": mean(total),
            "embedding_p50": p50(embed_ms),
            "search_p50": p50(search_ms),
            "generation_p50": p50(gen_ms),
            "total_p50": p50(total),
        }
        metrics = {
            "retrieval": retrieval.metrics["retrieval"],
            "answers": result.metrics,
            "answered_hit_rate": sum(r["gold_rank"] is not None for r in rows) / len(rows),
            "latency_ms": latency,
            "top_k": len(docs[0]) if docs else settings.top_k,
            "prompt_tokens_mean": mean(prompt_tokens),
            "chunks": retrieval.metrics["chunks"],
            "ingest": report.to_dict(),
        }
        return metrics, {"rows": rows}

    return store.cached("rag", key, compute, force=force)


# --------------------------------------------------------------------------- sweeps and tables


def stored_rag(store: ResultsStore, settings: RagSettings, ev: EvalSettings, model_name: str, multiple_choice: bool) -> Result | None:

    key = {"rag": key_dict(settings), "eval": ev.to_dict(), "model": model_name, "multiple_choice": multiple_choice, "seed": 0}
    return store.get("rag", settings_key("rag", key))


# --------------------------------------------------------------------------- data for the top-k explorer


def answer_one(settings: RagSettings, question: str, top_k: int, eval_settings: EvalSettings | None = None, model_name: str = "embedded", model=None, tokenizer=None, client=None) -> dict:
    """Answer one question through the RAG chain with ``top_k`` chunks (the explorer's live answer).

    Returns:
        the chain's output dict (answer, sources, chunks, contexts, prompt, generation_ms).
    """

    ev = resolve_eval(eval_settings)
    m, tok = RUNTIME.model(model_name, model, tokenizer)
    kb, _ = open_knowledge_base(settings, load_knowledge(n_entities=ev.n_entities), ev.n_entities, client=client)
    return build_chain(kb, m, tok, settings.replace(top_k=int(top_k)), max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size).invoke(question)


def interleaved_latency(settings: RagSettings, eval_settings: EvalSettings | None = None, model_name: str = "embedded", model=None, tokenizer=None, store: ResultsStore | None = None, n_questions: int = 6, reps: int = 3, client=None, force: bool = False,
                        closed_max_new_tokens: int | None = None) -> Result:
    """Answer time with RAG vs closed book, measured **interleaved** in one process (per question:
    closed book, then RAG; the order flips every repetition), one question at a time, so both see the
    same machine load. Each repetition gives one ratio (total RAG time ÷ total closed-book time);
    :func:`lorag_nb.core.claims.ratio_estimate` gives the median with its spread. Cached (kind ``"latency"``).

    Each arm answers at its own budget, as the notebooks ask it: RAG at ``eval_settings.max_new_tokens``, closed book
    at ``closed_max_new_tokens`` (None: the closed-book budget chosen for this knowledge set and model,
    :func:`answer_budget` with ``closed_book=True``, the stored choice :func:`lorag_nb.methods.training.closed_book_budget`
    reads; notebook 05 passes its closed-book ``max_new_tokens``). Why: at RAG's 96 tokens the base model's closed-book answers
    rambled to 1.68 s against RAG's 1.55 s (built-in world, 2026-12-07), a budget the closed-book arm never uses. At their
    own budgets (closed book 48, RAG 96): 1.48 s vs 1.35 s, 0.91× (the base model still runs to its budget closed book).

    Returns:
        Result with metrics ``rag_ms`` and ``closed_ms`` (per repetition, mean ms per answer),
        ``ratios``, ``n_questions``, ``reps``, ``loadavg``, ``rag_max_new_tokens``, ``closed_max_new_tokens``.

    Raises:
        ValueError: ``reps`` < 2 or ``n_questions`` < 1.
    """
    import os


    if reps < 2 or n_questions < 1:
        raise ValueError(f"reps must be ≥ 2 and n_questions ≥ 1; got reps={reps}, n_questions={n_questions}")
    ev = resolve_eval(eval_settings)
    store = RUNTIME.use_store(store)
    closed_budget = closed_max_new_tokens or answer_budget(0, None, model_name, model, tokenizer, batch_size=EvalSettings.batch_size, store=store, closed_book=True)[0]
    key = {"rag": key_dict(settings), "eval": ev.to_dict(), "model": model_name, "n_questions": n_questions, "reps": reps, "closed_max_new_tokens": closed_budget}

    def compute(_artifacts: Path):
        m, tok = RUNTIME.model(model_name, model, tokenizer)
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
                        generate(m, tok, [make_prompt(tok, q)], max_new_tokens=closed_budget, batch_size=1)
                    t[which] += time.perf_counter() - t0
            rag_ms.append(1000 * t["rag"] / len(questions))
            closed_ms.append(1000 * t["closed"] / len(questions))
        return {"rag_ms": rag_ms, "closed_ms": closed_ms, "ratios": [r / c for r, c in zip(rag_ms, closed_ms)], "n_questions": len(questions), "reps": reps, "loadavg": load,
                "rag_max_new_tokens": ev.max_new_tokens, "closed_max_new_tokens": closed_budget}, {}

    return store.cached("latency", key, compute, force=force)


# --------------------------------------------------------------------------- the knowledge base's own cost (notebook 05)


def measure_index(settings: RagSettings, n_entities: int | None, store=None, force: bool = False):
    """Build the RAG knowledge base from scratch once and measure it: indexing seconds and bytes on disk.

    A fresh persistent Chroma client in a temporary folder and a fresh embedding cache (the packaged
    all-MiniLM-L6-v2, already loaded, is reused: model loading is not counted), ingest the documents
    (plus distractors) of ``n_entities`` entities, time it, measure the folder, delete it. Cached in the
    results store (kind ``"rag_index"``).

    Returns:
        :class:`~lorag_nb.core.store.Result` with metrics ``seconds`` (s), ``bytes`` (on disk),
        ``chunks``, ``documents``, ``embedded``.
    """

    store = RUNTIME.use_store(store)
    key = {"rag": key_dict(settings, top_k=1, prompt_variant="context_then_question"), "n_entities": n_entities}

    def compute(_artifacts: Path):
        shared = get_embeddings()
        fresh = CachedEmbeddings(shared.base, shared.name, shared.dimension)
        docs = knowledge_documents(load_knowledge(n_entities=n_entities), settings.knowledge, settings.include_distractors)
        tmp = Path(tempfile.mkdtemp(prefix="lorag-index-"))
        try:
            kb = KnowledgeBase("lorag-index-measure", chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, client=make_client("persistent", path=tmp), embeddings=fresh)
            report = kb.ingest(docs)
            size = folder_bytes(tmp)
            del kb
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {"seconds": report.seconds, "bytes": size, "chunks": report.count, "documents": report.documents, "embedded": report.embedded}, {}

    return store.cached("rag_index", key, compute, force=force)


def folder_bytes(path: str | Path) -> int:
    """Total size in bytes of the files under ``path`` (0 if it does not exist)."""
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0
