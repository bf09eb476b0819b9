"""Retrieval evaluation: metrics over a :class:`KnowledgeBase`, chunk statistics, a benchmark on real text.

Retrieval metrics (:func:`retrieval_metrics`): hit@k (the gold document is among the top-k chunks),
recall@k (share of the gold document's chunks among the top-k) and mean reciprocal rank (MRR,
Voorhees 1999, TREC-8 QA track); :func:`at_k` reads them at any k (a k larger than the collection is the
whole collection); :func:`evaluate_retrieval` ranks a question set's chunks and scores
them; :func:`chunk_statistics` / :func:`chunk_lengths` describe a collection's chunks;
:func:`python_docs_benchmark` builds a retrieval benchmark from Python's own documentation.

The store itself (cached embeddings, Chroma clients, chunking, :class:`KnowledgeBase`, idempotent
ingestion, similarity / MMR search) lives in :mod:`lorag_nb.methods.vectorstore`; its public names are
re-exported here, so ``from lorag_nb.methods.retrieval import KnowledgeBase, make_client, ...`` keeps
working. Distances are cosine distances: **lower is closer**; relevance scores are ``1 - distance``:
**higher is better**.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from lorag_nb.data.knowledge import QA, Document, load_python_docs
from lorag_nb.methods.vectorstore import (  # noqa: F401  (re-exported: the store's public names)
    DISTANCE,
    MAX_K,
    SCORE_DIRECTIONS,
    CachedEmbeddings,
    IngestReport,
    KnowledgeBase,
    as_cached,
    check_collection_name,
    chroma_settings,
    chunk_id,
    clean_metadata,
    embedding_model_name,
    get_embeddings,
    make_client,
    make_splitter,
    parse_chroma_url,
    split_documents,
)


# --------------------------------------------------------------------------- metrics


def retrieval_metrics(rankings: Sequence[Sequence[str]], gold_doc_ids: Sequence[str], ks: Sequence[int] = tuple(range(1, MAX_K + 1)), gold_chunks: Mapping[str, int] | None = None) -> dict:
    """hit@k, recall@k and MRR of ranked chunk lists against one gold document per query.

    Args:
        rankings: per query, the source document id of each retrieved chunk, best first.
        gold_doc_ids: per query, the gold document id (``qa.doc_id``).
        ks: cut-offs.
        gold_chunks: gold document id → its number of chunks in the collection (for recall@k);
            if None, every gold document counts as one chunk (recall@k then equals hit@k).

    Returns:
        ``{"n", "ks", "hit@k": {str(k): v}, "recall@k": {str(k): v}, "mrr", "mrr_cutoff"}``:
        hit@k = share of queries with a gold chunk in the top k; recall@k = mean share of the gold
        document's chunks found in the top k; MRR = mean of 1 / rank of the first gold chunk (0 when
        none is in the ranking; Voorhees 1999), over the whole ranking given (``mrr_cutoff`` = its
        longest length). All in [0, 1], higher is better.

    Raises:
        ValueError: no queries, or the two lists differ in length.
    """
    if not rankings:
        raise ValueError("retrieval_metrics needs at least one ranked query; got none")
    if len(rankings) != len(gold_doc_ids):
        raise ValueError(f"{len(rankings)} rankings for {len(gold_doc_ids)} gold documents; they must match")
    n = len(rankings)
    hit = {str(k): 0.0 for k in ks}
    recall = {str(k): 0.0 for k in ks}
    rr = 0.0
    for ranked, gold in zip(rankings, gold_doc_ids):
        total = max(1, (gold_chunks or {}).get(gold, 1))
        first = next((i for i, d in enumerate(ranked) if d == gold), None)
        if first is not None:
            rr += 1.0 / (first + 1)
        for k in ks:
            top = list(ranked[:k])
            found = sum(1 for d in top if d == gold)
            hit[str(k)] += float(found > 0)
            recall[str(k)] += min(1.0, found / total)
    return {
        "n": n,
        "ks": list(ks),
        "hit@k": {k: v / n for k, v in hit.items()},
        "recall@k": {k: v / n for k, v in recall.items()},
        "mrr": rr / n,
        "mrr_cutoff": max((len(r) for r in rankings), default=0),
    }


def collection_chunks(metrics: Mapping) -> int | None:
    """The number of chunks in the collection when the ranking behind ``metrics`` covered all of it, else None.

    From there on every cut-off k retrieves the whole collection (Chroma and LangChain return all ``n``
    chunks when asked for more; :meth:`KnowledgeBase.effective_k` clamps the same way), so hit@k and
    recall@k for k ≥ that number equal their value at it. Read from ``metrics["collection_chunks"]``
    (:func:`evaluate_retrieval` records it); a record stored before that field existed was measured for
    k = 1 … min(:data:`MAX_K`, chunks), so a largest cut-off below :data:`MAX_K` is the number of chunks.
    None when nothing was measured (``n`` = 0) or the collection is larger than the largest cut-off.
    """
    measured = [int(k) for k in metrics.get("hit@k") or {}]
    if not measured:
        return None
    if metrics.get("collection_chunks") is not None:
        n = int(metrics["collection_chunks"])
        return n if n <= max(measured) else None
    return max(measured) if max(measured) < MAX_K else None


def at_k(metrics: Mapping, k: int, name: str = "hit@k") -> float | None:
    """``name`` (``"hit@k"`` or ``"recall@k"``, a share of questions in [0, 1]) at cut-off ``k`` chunks.

    A ``k`` larger than the collection is the whole collection, as in retrieval itself (top_k clamped to the
    collection size): with ``n`` chunks, hit@k for k ≥ n is hit@n (:func:`collection_chunks`). This is the
    one place that reads a stored curve at a given k, so no table, summary or chart shows NaN for a k the
    knowledge base is too small for; :func:`beyond_collection_note` gives the words that say so.

    Returns:
        The value, or None when nothing was measured (``metrics["n"]`` = 0: ``metrics["not_measured"]``
        says why).

    Raises:
        ValueError: ``k`` is not an int ≥ 1, or ``k`` lies beyond the measured cut-offs of a collection
            that holds more chunks than them (a value that was never measured, so none is made up).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} is invalid; valid: an integer >= 1 (chunks retrieved)")
    values = metrics.get(name) or {}
    if not values:
        return None
    if str(k) in values:
        return float(values[str(k)])
    largest = max(int(x) for x in values)
    if collection_chunks(metrics) is not None and k > largest:
        return float(values[str(largest)])
    raise ValueError(f"{name} at k={k} was not measured (cut-offs {min(int(x) for x in values)}..{largest}) and the collection holds more chunks than that")


def beyond_collection_note(metrics: Mapping, k: int) -> str | None:
    """The note to show beside values read at cut-offs up to ``k`` when the collection has fewer chunks:
    ``"k ≥ N = the whole knowledge base (it has only N chunks)"``; None when ``k`` ≤ the collection size,
    the collection is larger than the measured cut-offs, or nothing was measured."""
    n = collection_chunks(metrics)
    if n is None or k <= n:
        return None
    return f"k ≥ {n} = the whole knowledge base (it has only {n} chunk{'s' if n != 1 else ''})"


def curve(metrics: Mapping, name: str = "hit@k") -> tuple[list[int], list[float]]:
    """``(ks, values)`` of a stored curve (``"hit@k"`` or ``"recall@k"``), sorted by k."""
    pairs = sorted((int(k), float(v)) for k, v in metrics[name].items())
    return [k for k, _ in pairs], [v for _, v in pairs]


def evaluate_retrieval(kb: KnowledgeBase, qas: Sequence, max_k: int = MAX_K, search_type: str = "similarity", fetch_k: int = 20, lambda_mult: float = 0.5) -> tuple[dict, list[dict]]:
    """Rank each question's chunks and score them against its gold document (``qa.doc_id``).

    Returns:
        ``(metrics, rows)``: :func:`retrieval_metrics` for k = 1..max_k (clamped to the collection
        size; ``metrics["collection_chunks"]`` = chunks in the collection, so :func:`at_k` reads a larger k
        as the whole collection), and per question ``{"id", "question", "gold_doc", "rank", "retrieved"}`` (rank of the
        first gold chunk from 1, or None; the top chunk ids).

    Questions linked to no document (a reader's question no linking rule could place) have no gold to find:
    they are left out, and ``metrics["unlinked_left_out"]`` counts them. When none is left, the metrics are
    ``{"n": 0, "ks": [], "hit@k": {}, "recall@k": {}, "mrr": None, "not_measured": <reason>, ...}`` and no row.

    Raises:
        ValueError: no questions at all, an empty collection.
    """
    if not qas:
        raise ValueError("evaluate_retrieval needs at least one question; got none")
    unlinked = [q.id for q in qas if not q.doc_id]
    qas = [q for q in qas if q.doc_id]
    if not qas:
        return {"n": 0, "ks": [], "hit@k": {}, "recall@k": {}, "mrr": None, "mrr_cutoff": 0, "unlinked_left_out": len(unlinked),
                "not_measured": f"none of the {len(unlinked)} questions is linked to a document (add \"doc\" fields)"}, []
    k = kb.effective_k(max_k, warn=False)
    ranked = kb.rank([q.question for q in qas], k, search_type, fetch_k, lambda_mult)
    doc_rankings = [[d.metadata.get("doc_id") for d in r] for r in ranked]
    metrics = retrieval_metrics(doc_rankings, [q.doc_id for q in qas], ks=tuple(range(1, k + 1)), gold_chunks=kb.chunks_per_document())
    metrics["unlinked_left_out"] = len(unlinked)
    metrics["collection_chunks"] = kb.count()
    rows = []
    for q, r, docs in zip(qas, doc_rankings, ranked):
        first = next((i + 1 for i, d in enumerate(r) if d == q.doc_id), None)
        rows.append({"id": q.id, "question": q.question, "gold_doc": q.doc_id, "rank": first, "retrieved": [d.id for d in docs]})
    return metrics, rows


def chunk_statistics(kb: KnowledgeBase, tokenizer=None) -> dict:
    """Size of the collection's chunks.

    Returns:
        ``{"chunks", "documents", "chunks_per_document_mean", "chunks_per_document_max",
        "chars_mean", "chars_min", "chars_max", "chunk_size", "chunk_overlap"}`` plus ``"tokens_mean"``
        (tokens per chunk with ``tokenizer``) when a tokenizer is given. Sizes in characters.

    Raises:
        ValueError: the collection is empty.
    """
    chunks = kb.chunks()
    if not chunks:
        raise ValueError(f"knowledge base {kb.name!r} is empty: ingest documents first")
    lengths = [len(c.page_content) for c in chunks]
    per_doc = kb.chunks_per_document()
    stats = {
        "chunks": len(chunks),
        "documents": len(per_doc),
        "chunks_per_document_mean": len(chunks) / max(1, len(per_doc)),
        "chunks_per_document_max": max(per_doc.values()),
        "chars_mean": sum(lengths) / len(lengths),
        "chars_min": min(lengths),
        "chars_max": max(lengths),
        "chunk_size": kb.chunk_size,
        "chunk_overlap": kb.chunk_overlap,
    }
    if tokenizer is not None:
        stats["tokens_mean"] = sum(len(tokenizer(c.page_content, add_special_tokens=False)["input_ids"]) for c in chunks) / len(chunks)
    return stats


def chunk_lengths(kb: KnowledgeBase) -> list[int]:
    """Characters of every chunk in the collection (for a histogram)."""
    return [len(c.page_content) for c in kb.chunks()]


# --------------------------------------------------------------------------- real documents: Python's docs

_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def held_out_sentence(text: str, min_chars: int = 60, max_chars: int = 240) -> str | None:
    """A prose sentence from ``text`` to use as a query: the first of ``min_chars``–``max_chars`` characters,
    mostly letters, in the middle third of the text onwards (deterministic). None if there is none."""
    flat = " ".join(text.split())
    sentences = _SENTENCE_RE.split(flat)
    start = len(sentences) // 3
    for s in sentences[start:] + sentences[:start]:
        letters = sum(ch.isalpha() or ch == " " for ch in s)
        if min_chars <= len(s) <= max_chars and letters / len(s) > 0.85 and s.endswith("."):
            return s
    return None


def python_docs_benchmark(n_topics: int = 40, max_chars: int = 6000) -> tuple[list, list]:
    """A retrieval benchmark on real text: Python's reference documentation (``pydoc_data.topics``).

    For each topic of at most ``max_chars`` characters (the first ``n_topics`` in name order that have a
    usable sentence), one prose sentence is taken out of the topic's text and becomes the query; the
    indexed document is the text without that sentence, so the query cannot match itself.

    Returns:
        ``(documents, questions)``: the :class:`lorag_nb.data.knowledge.Document` objects to index and one
        :class:`lorag_nb.data.knowledge.QA` per topic (``question`` = the held-out sentence, ``answer`` = the
        topic name, ``doc_id`` = the topic's document id).

    Raises:
        ValueError: ``n_topics`` < 1 or ``max_chars`` < 200.
    """

    if n_topics < 1 or max_chars < 200:
        raise ValueError(f"n_topics={n_topics} must be >= 1 and max_chars={max_chars} >= 200")
    docs, qas = [], []
    for doc in load_python_docs():
        if len(doc.text) > max_chars:
            continue
        sentence = held_out_sentence(doc.text)
        if sentence is None:
            continue
        flat = " ".join(doc.text.split())
        indexed = flat.replace(sentence, " ").strip()
        docs.append(Document(id=doc.id, text=indexed, title=doc.title, metadata=dict(doc.metadata)))
        qas.append(QA(id=f"pyq-{doc.title}", question=sentence, answer=doc.title, doc_id=doc.id))
        if len(docs) >= n_topics:
            break
    return docs, qas
