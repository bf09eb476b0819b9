"""Retrieval: chunking, idempotent ingestion into Chroma, retrievers, metrics (no language model needed).

Every test uses an in-memory Chroma (``EphemeralClient``); ephemeral clients of one process share
their collections, so each test uses its own collection name.
"""
from __future__ import annotations

import uuid
import warnings

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from lorag_nb.data.knowledge import Document, load_knowledge
from lorag_nb.methods import retrieval as R


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def client():
    return R.make_client("ephemeral")


@pytest.fixture(scope="module")
def ks():
    return load_knowledge(n_entities=12)


@pytest.fixture(scope="module")
def world_kb(client, ks):
    kb = R.KnowledgeBase(_name("world"), client=client)
    kb.ingest(ks.documents + ks.distractors)
    return kb


def test_ingesting_twice_leaves_the_count_unchanged(client, ks):
    kb = R.KnowledgeBase(_name(), client=client)
    first = kb.ingest(ks.documents)
    second = kb.ingest(ks.documents)
    assert first.count == second.count == first.chunks == len(ks.documents)  # documents are < 500 chars: one chunk each
    assert (first.added, second.added, second.unchanged, second.deleted) == (first.chunks, 0, first.chunks, 0)
    assert second.embedded == 0  # every chunk came from the per-process embedding cache


def test_chunk_ids_are_stable_and_positional():
    doc = Document(id="d1", text="Alpha beta gamma. " * 40, title="t")
    a = R.split_documents([doc], chunk_size=120, chunk_overlap=20)
    b = R.split_documents([doc], chunk_size=120, chunk_overlap=20)
    assert [c.id for c in a] == [c.id for c in b]
    assert len(a) > 3 and [c.metadata["chunk_index"] for c in a] == list(range(len(a)))
    assert all(c.id.startswith(f"d1#{i:04d}-") for i, c in enumerate(a))
    assert all(len(c.page_content) <= 120 for c in a)


def test_reingesting_a_changed_document_leaves_no_stale_chunk(client):
    kb = R.KnowledgeBase(_name(), chunk_size=100, chunk_overlap=10, client=client)
    other = Document(id="other", text="An unrelated note about ships and harbours.")
    v1 = Document(id="src", text="The first version says the bridge is red. " * 6)
    v2 = Document(id="src", text="The second version says the bridge is blue and was rebuilt in 1990.")
    kb.ingest([v1, other])
    old_ids = {cid for cid, m in kb.chunk_metadata().items() if m["doc_id"] == "src"}
    report = kb.ingest([v2])
    now = kb.chunk_metadata()
    src_ids = {cid for cid, m in now.items() if m["doc_id"] == "src"}
    assert src_ids == {c.id for c in R.split_documents([v2], 100, 10)}
    assert not (old_ids & src_ids) and report.deleted == len(old_ids)
    assert any(m["doc_id"] == "other" for m in now.values())  # other documents untouched
    assert "red" not in " ".join(c.page_content for c in kb.chunks())


def test_replace_and_prune(client, ks):
    kb = R.KnowledgeBase(_name(), client=client)
    kb.ingest(ks.documents + ks.distractors)
    report = kb.ingest(ks.revised_documents, remove=[d.id for d in ks.documents])
    assert kb.doc_ids() == {d.id for d in ks.revised_documents + ks.distractors}
    assert report.deleted == len(ks.documents)
    kb.ingest(ks.documents[:2], prune=True)
    assert kb.doc_ids() == {d.id for d in ks.documents[:2]}


def test_metadata_with_none_and_lists_is_cleaned_not_rejected(client):
    kb = R.KnowledgeBase(_name(), client=client)
    kb.ingest([Document(id="m1", text="Some text about metadata.", metadata={"gone": None, "tags": ["a", "b"], "nested": {"x": 1}, "n": 3})])
    meta = next(iter(kb.chunk_metadata().values()))
    assert "gone" not in meta and meta["tags"] == "a, b" and meta["nested"] == '{"x": 1}' and meta["n"] == 3
    assert R.clean_metadata({"a": None, "b": ("x", None, "y"), "c": 1.5}) == {"b": "x, y", "c": 1.5}


def test_another_embedding_model_is_refused_or_rebuilt(client, ks):
    name = _name()
    R.KnowledgeBase(name, client=client).ingest(ks.documents[:2])
    fake = DeterministicFakeEmbedding(size=16)
    with pytest.raises(ValueError) as err:
        R.KnowledgeBase(name, client=client, embeddings=R.CachedEmbeddings(fake, "fake-16"))
    assert "sentence-transformers/all-MiniLM-L6-v2" in str(err.value) and "fake-16" in str(err.value)
    kb = R.KnowledgeBase(name, client=client, embeddings=R.CachedEmbeddings(fake, "fake-16"), rebuild=True)
    assert kb.count() == 0 and kb.collection.metadata["embedding_model"] == "fake-16" and kb.collection.metadata["embedding_dim"] == 16


def test_bad_inputs_raise_one_clear_error(client, world_kb):
    with pytest.raises(ValueError, match="top_k=0"):
        world_kb.search("Who founded it?", top_k=0)
    with pytest.raises(ValueError, match="chunk_overlap=50"):
        R.KnowledgeBase(_name(), chunk_size=50, chunk_overlap=50, client=client)
    with pytest.raises(ValueError, match="empty"):
        world_kb.search("   ")
    empty = R.KnowledgeBase(_name(), client=client)
    with pytest.raises(ValueError, match="is empty"):
        empty.search("anything")
    with pytest.raises(ValueError, match="collection name"):
        R.KnowledgeBase("a b", client=client)
    with pytest.raises(ValueError, match="search_type"):
        world_kb.retriever(3, "bm25")


def test_top_k_beyond_the_collection_is_clamped_with_a_warning(world_kb):
    n = world_kb.count()
    with pytest.warns(UserWarning, match=f"using top_k={n}"):
        docs = world_kb.search("Which profession did Grumith Zorwolova practise?", top_k=n + 50)
    assert len(docs) == n


def test_real_questions_find_their_gold_document(world_kb, ks):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics, rows = R.evaluate_retrieval(world_kb, ks.test_qa)
    ks_, hits = R.curve(metrics, "hit@k")
    assert metrics["n"] == len(ks.test_qa) == 216  # 12 entities × 6 facts × 3 test wordings
    assert hits[0] >= 0.8 and hits[-1] == 1.0
    assert all(a <= b for a, b in zip(hits, hits[1:]))  # hit@k never decreases with k
    assert metrics["mrr"] >= hits[0]  # MRR ≥ hit@1 (rank-1 questions contribute 1 each)
    assert all(r["rank"] is None or r["rank"] >= 1 for r in rows)
    top = world_kb.search_with_scores(ks.test_qa[0].question, top_k=3)
    distances = [d for _, d, _ in top]
    assert distances == sorted(distances)  # cosine distance: lower is closer, best first
    assert all(abs(rel - (1 - d)) < 1e-9 for _, d, rel in top)


def test_similarity_rankings_are_prefixes_and_mmr_order_matches_the_retriever(world_kb, ks):
    q = ks.test_qa[7].question
    top10 = [d.id for d in world_kb.search(q, top_k=10)]
    assert [d.id for d in world_kb.search(q, top_k=3)] == top10[:3]
    order = [d.id for d in world_kb.mmr_order(q, max_k=6, fetch_k=10, lambda_mult=0.3)]
    for k in (1, 3, 6):
        assert {d.id for d in world_kb.search(q, top_k=k, search_type="mmr", fetch_k=10, lambda_mult=0.3)} == set(order[:k])


def test_retrieval_metrics_by_hand():
    rankings = [["a", "x", "a"], ["x", "y", "b"], ["x", "y", "z"]]
    m = R.retrieval_metrics(rankings, ["a", "b", "c"], ks=(1, 2, 3), gold_chunks={"a": 2, "b": 1, "c": 1})
    assert m["hit@k"] == {"1": pytest.approx(1 / 3), "2": pytest.approx(1 / 3), "3": pytest.approx(2 / 3)}
    assert m["recall@k"]["1"] == pytest.approx((1 / 2) / 3) and m["recall@k"]["3"] == pytest.approx((1 + 1) / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    with pytest.raises(ValueError):
        R.retrieval_metrics([], [])


def test_embeddings_are_cached_per_process():
    emb = R.CachedEmbeddings(DeterministicFakeEmbedding(size=8), "fake-8")
    texts = ["one", "two", "one", "three"]
    first = emb.embed_documents(texts)
    assert emb.computed == 3
    again = emb.embed_documents(list(reversed(texts)))
    assert emb.computed == 3 and again == list(reversed(first))
    assert emb.embed_query("two") == first[1] and emb.computed == 3
    assert R.get_embeddings() is R.get_embeddings()


def test_python_docs_benchmark_holds_the_query_sentence_out():
    docs, qas = R.python_docs_benchmark(n_topics=6, max_chars=3000)
    assert len(docs) == len(qas) == 6
    for d, q in zip(docs, qas):
        assert q.doc_id == d.id and q.question not in d.text and len(d.text) <= 3000
