"""The vector store: LangChain splitter + embeddings + a Chroma collection, idempotent ingestion, retrievers.

Everything goes through LangChain and Chroma:

- chunking: ``langchain_text_splitters.RecursiveCharacterTextSplitter`` (``chunk_size`` and
  ``chunk_overlap`` count **characters**);
- embeddings: ``langchain_huggingface.HuggingFaceEmbeddings`` on the packaged all-MiniLM-L6-v2
  (:func:`lorag_nb.methods.models.load_embeddings`, 384-d, L2-normalized), wrapped in :class:`CachedEmbeddings`
  so a text is embedded once per process;
- storage and search: ``langchain_chroma.Chroma`` over an explicit ``chromadb`` client —
  ``EphemeralClient`` (tests, in memory), ``PersistentClient`` under ``<cache_dir()>/chroma``
  (notebooks) or ``HttpClient`` (a Chroma server, when a ``chroma_url`` is given); collections use
  cosine distance (``{"hnsw:space": "cosine"}``);
- search: ``Chroma.as_retriever(search_type="similarity" | "mmr", search_kwargs=...)``; maximal
  marginal relevance is Carbonell & Goldstein 1998, as implemented by ``langchain_chroma``.

Ingestion is idempotent: a chunk's id is ``<document id>#<position>-<content hash>``, writes are
upserts, and re-ingesting a changed document deletes its old chunks, so no stale chunk survives.
The collection records the embedding model's name and dimension in its metadata; opening it with
another model raises one :class:`ValueError` naming both (or rebuilds it with ``rebuild=True``).

Distances are cosine distances: **lower is closer**; relevance scores are ``1 - distance``: **higher
is better**. How well the store retrieves (hit@k, recall@k, MRR) is measured in
:mod:`lorag_nb.methods.retrieval`, which also re-exports every public name of this module.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlparse

from langchain_core.embeddings import Embeddings

from lorag_nb.core.paths import cache_dir
from lorag_nb.core.stages import stage
from lorag_nb.methods.models import EMBEDDING_DIM, load_embeddings

#: Largest k of every hit@k / recall@k curve.
MAX_K = 20
#: Cosine distance, lower is closer (Chroma's ``hnsw:space``).
DISTANCE = "cosine"
SCORE_DIRECTIONS = {
    "distance": "cosine distance (lower is closer)",
    "relevance": "relevance = 1 - cosine distance (higher is better)",
}
_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{3,512}$")
_PACKAGED_EMBEDDINGS = "sentence-transformers/all-MiniLM-L6-v2"

# --------------------------------------------------------------------------- embeddings (cached)


class CachedEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` that remembers every vector it computed, keyed by the text.

    Within one process each distinct text (document chunk or query) is embedded once; the widget, the
    k-sweeps and re-ingestion then cost nothing. The wall time of each fresh computation is kept per
    text (``seconds[text]``, a batch's time divided by its size) so latency reports stay honest after
    a cache hit.

    Args:
        base: the wrapped embeddings (e.g. ``HuggingFaceEmbeddings``).
        name: the model name recorded in collection metadata.
        dimension: vector length (probed with one query if None).
    """

    def __init__(self, base: Embeddings, name: str, dimension: int | None = None):
        self.base = base
        self.name = name
        self.cache: dict[str, list[float]] = {}
        self.seconds: dict[str, float] = {}
        self.computed = 0  # texts embedded fresh (cache misses) since creation
        self._lock = threading.Lock()
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        """Vector length."""
        if self._dimension is None:
            self._dimension = len(self.embed_query("dimension probe"))
        return self._dimension

    @stage("retrieval")
    def _fill(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if not missing:
            return
        with self._lock:
            missing = [t for t in missing if t not in self.cache]
            if not missing:
                return
            t0 = time.perf_counter()
            vectors = self.base.embed_documents(missing) if len(missing) > 1 else [self.base.embed_query(missing[0])]
            dt = (time.perf_counter() - t0) / len(missing)
            for text, vec in zip(missing, vectors):
                self.cache[text] = [float(x) for x in vec]
                self.seconds[text] = dt
            self.computed += len(missing)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors for ``texts`` (cache misses embedded in one batch)."""
        self._fill(texts)
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Vector for one query (embedded alone on a cache miss, as an online query would be)."""
        self._fill([text])
        return self.cache[text]

    def warm(self, texts: Sequence[str]) -> int:
        """Embed every uncached text of ``texts`` in batches; returns how many were computed."""
        before = self.computed
        self._fill(list(texts))
        return self.computed - before


_EMBEDDINGS: CachedEmbeddings | None = None


def embedding_model_name(embeddings: Any) -> str:
    """A stable name for an embeddings object (the packaged model is ``sentence-transformers/all-MiniLM-L6-v2``)."""
    if isinstance(embeddings, CachedEmbeddings):
        return embeddings.name
    name = str(getattr(embeddings, "model_name", "") or getattr(embeddings, "model", "") or type(embeddings).__name__)
    try:
        from lorag_nb.methods.models import embeddings_model_path

        if Path(name).resolve() == embeddings_model_path().resolve():
            return _PACKAGED_EMBEDDINGS
    except (FileNotFoundError, OSError):
        pass
    return name


def get_embeddings() -> CachedEmbeddings:
    """The process-wide cached embeddings over the packaged all-MiniLM-L6-v2 (loaded on first call, ~4 s)."""
    global _EMBEDDINGS
    if _EMBEDDINGS is None:

        _EMBEDDINGS = CachedEmbeddings(load_embeddings(), _PACKAGED_EMBEDDINGS, EMBEDDING_DIM)
    return _EMBEDDINGS


def as_cached(embeddings: Embeddings | None) -> CachedEmbeddings:
    """``embeddings`` wrapped in :class:`CachedEmbeddings` (the shared packaged model if None)."""
    if embeddings is None:
        return get_embeddings()
    if isinstance(embeddings, CachedEmbeddings):
        return embeddings
    return CachedEmbeddings(embeddings, embedding_model_name(embeddings))


# --------------------------------------------------------------------------- clients


def chroma_settings():
    """``chromadb.config.Settings`` used for every client: telemetry off."""
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """``"http://host:port"`` → ``(host, port, ssl)``.

    Raises:
        ValueError: not an http(s) URL with a host.
    """
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"chroma_url={url!r} is not a Chroma server address; valid: 'http://host:port'")
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 8000), parsed.scheme == "https"


def make_client(kind: str = "persistent", path: str | Path | None = None, chroma_url: str | None = None):
    """A ``chromadb`` client.

    Args:
        kind: ``"ephemeral"`` (in memory; all ephemeral clients of one process share their
            collections, so use distinct collection names), ``"persistent"`` (on disk at ``path``,
            default ``<cache_dir()>/chroma``) or ``"http"`` (needs ``chroma_url``).
        chroma_url: ``http://host:port`` of a Chroma server; when given, ``kind`` is ignored.

    Raises:
        ValueError: unknown ``kind``, or ``"http"`` without a URL.
    """
    import chromadb

    if chroma_url:
        host, port, ssl = parse_chroma_url(chroma_url)
        return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings())
    if kind == "ephemeral":
        return chromadb.EphemeralClient(settings=chroma_settings())
    if kind == "persistent":
        if path is None:

            path = cache_dir() / "chroma"
        Path(path).mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings())
    if kind == "http":
        raise ValueError("kind='http' needs chroma_url='http://host:port'")
    raise ValueError(f"kind={kind!r} is not a Chroma client kind; valid: 'ephemeral', 'persistent', 'http'")


def check_collection_name(name: str) -> str:
    """Return ``name`` if Chroma accepts it.

    Raises:
        ValueError: not 3–512 characters of ``[a-zA-Z0-9._-]``.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"collection name {name!r} is invalid; valid: 3-512 characters of [a-zA-Z0-9._-]")
    return name


# --------------------------------------------------------------------------- chunking


def clean_metadata(metadata: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """Metadata Chroma accepts: ``None`` values dropped, lists/tuples/sets joined with ``", "``, dicts as JSON,
    anything else that is not str/int/float/bool turned into its ``str``."""
    import json

    out: dict[str, str | int | float | bool] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set)):
            out[str(key)] = ", ".join(str(v) for v in value if v is not None)
        elif isinstance(value, dict):
            out[str(key)] = json.dumps(value, sort_keys=True)
        elif isinstance(value, (str, int, float, bool)):
            out[str(key)] = value
        else:
            out[str(key)] = str(value)
    return out


def chunk_id(doc_id: str, position: int, text: str) -> str:
    """Stable chunk id: ``<doc_id>#<position>-<first 12 hex of sha256(text)>``."""
    return f"{doc_id}#{position:04d}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def make_splitter(chunk_size: int = 500, chunk_overlap: int = 50):
    """``RecursiveCharacterTextSplitter`` (sizes in characters, start offsets recorded).

    Raises:
        ValueError: ``chunk_size`` < 1, or ``chunk_overlap`` not in ``[0, chunk_size)``.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} is invalid; valid: an integer > 0 (characters)")
    if not isinstance(chunk_overlap, int) or not 0 <= chunk_overlap < chunk_size:
        raise ValueError(f"chunk_overlap={chunk_overlap!r} is invalid; valid: an integer in [0, chunk_size={chunk_size}) (characters)")
    return RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True)


def split_documents(documents: Sequence, chunk_size: int = 500, chunk_overlap: int = 50) -> list:
    """Split :class:`lorag_nb.data.knowledge.Document` objects into LangChain ``Document`` chunks.

    Each chunk's ``id`` is :func:`chunk_id`; its metadata is the source document's cleaned metadata
    plus ``doc_id``, ``title``, ``chunk_index`` (position in the document, from 0) and
    ``start_index`` (character offset).

    Raises:
        ValueError: bad chunk sizes (see :func:`make_splitter`); two documents with the same id; a
            document with empty text.
    """
    from langchain_core.documents import Document as LCDocument

    splitter = make_splitter(chunk_size, chunk_overlap)
    seen: set[str] = set()
    chunks = []
    for doc in documents:
        if doc.id in seen:
            raise ValueError(f"document id {doc.id!r} occurs twice in one ingestion; ids must be unique")
        seen.add(doc.id)
        if not doc.text or not doc.text.strip():
            raise ValueError(f"document {doc.id!r} has empty text; nothing to index")
        base = clean_metadata(doc.metadata)
        base.update({"doc_id": doc.id, "title": doc.title or doc.id})
        for position, piece in enumerate(splitter.split_documents([LCDocument(page_content=doc.text, metadata={})])):
            meta = dict(base, chunk_index=position, start_index=int(piece.metadata.get("start_index", -1)))
            chunks.append(LCDocument(page_content=piece.page_content, metadata=meta, id=chunk_id(doc.id, position, piece.page_content)))
    return chunks


# --------------------------------------------------------------------------- the knowledge base


@dataclass
class IngestReport:
    """What one :meth:`KnowledgeBase.ingest` did.

    Attributes:
        documents: source documents given.
        chunks: chunks they split into.
        added: chunk ids that were not in the collection before.
        unchanged: chunk ids already present (same id means same text; skipped when the metadata is also the same).
        deleted: stale chunk ids removed (old versions of re-ingested documents, removed documents).
        embedded: texts embedded fresh (cache misses); 0 when every chunk was seen before in this process.
        seconds: wall time of the whole ingestion (split, embed, upsert, delete).
        count: chunks in the collection afterwards.
    """

    documents: int
    chunks: int
    added: int
    unchanged: int
    deleted: int
    embedded: int
    seconds: float
    count: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class KnowledgeBase:
    """A Chroma collection of document chunks with its splitter and (cached) embeddings.

    Args:
        name: collection name (3–512 characters of ``[a-zA-Z0-9._-]``).
        chunk_size, chunk_overlap: splitter settings in characters (overlap < size).
        client: a ``chromadb`` client; default from ``client_kind`` / ``chroma_url`` (:func:`make_client`).
        client_kind: ``"ephemeral"``, ``"persistent"`` (default) or ``"http"``.
        chroma_url: ``http://host:port`` of a Chroma server (overrides ``client_kind``).
        embeddings: LangChain embeddings; default the shared packaged all-MiniLM-L6-v2.
        rebuild: if the collection exists with another embedding model, delete and recreate it
            instead of raising.

    Raises:
        ValueError: invalid name or chunk sizes; the collection was built with another embedding
            model or dimension (message names both) and ``rebuild`` is False.
    """

    @stage("retrieval")
    def __init__(
        self,
        name: str,
        chunk_size: int = 500,
        chunk_overlap: int = 50,
        client=None,
        client_kind: str = "persistent",
        chroma_url: str | None = None,
        embeddings: Embeddings | None = None,
        rebuild: bool = False,
    ):
        from langchain_chroma import Chroma

        self.name = check_collection_name(name)
        make_splitter(chunk_size, chunk_overlap)  # validates
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.client = client if client is not None else make_client(client_kind, chroma_url=chroma_url)
        self.embeddings = as_cached(embeddings)
        wanted = {"hnsw:space": DISTANCE, "embedding_model": self.embeddings.name, "embedding_dim": int(self.embeddings.dimension)}
        existing = self._existing_metadata()
        if existing is not None:
            have_model, have_dim = existing.get("embedding_model"), existing.get("embedding_dim")
            if (have_model, have_dim) != (wanted["embedding_model"], wanted["embedding_dim"]):
                if not rebuild:
                    raise ValueError(
                        f"collection {name!r} was built with embedding model {have_model!r} ({have_dim}-d) but is being "
                        f"opened with {wanted['embedding_model']!r} ({wanted['embedding_dim']}-d); vectors from different "
                        "models are not comparable. Use the same embedding model, another collection name, or rebuild=True."
                    )
                self.client.delete_collection(name)
        self.store = Chroma(
            collection_name=name,
            embedding_function=self.embeddings,
            client=self.client,
            collection_metadata=wanted,
            relevance_score_fn=lambda distance: 1.0 - distance,
        )
        self.collection = self.client.get_collection(name)

    def _existing_metadata(self) -> dict | None:
        names = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        if self.name not in names:
            return None
        return dict(self.client.get_collection(self.name).metadata or {})

    # ---------------------------------------------------------------- contents

    def count(self) -> int:
        """Chunks in the collection."""
        return self.collection.count()

    def chunk_metadata(self) -> dict[str, dict]:
        """Every chunk's metadata, keyed by chunk id."""
        got = self.collection.get(include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    def chunks(self) -> list:
        """Every chunk as a LangChain ``Document`` (id, text, metadata), sorted by id."""
        from langchain_core.documents import Document as LCDocument

        got = self.collection.get(include=["metadatas", "documents"])
        docs = [LCDocument(page_content=t, metadata=m or {}, id=i) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(docs, key=lambda d: d.id)

    def doc_ids(self) -> set[str]:
        """Ids of the source documents with chunks in the collection."""
        return {m.get("doc_id") for m in self.chunk_metadata().values() if m}

    def chunks_per_document(self) -> dict[str, int]:
        """Source document id → number of its chunks in the collection."""
        counts: dict[str, int] = {}
        for meta in self.chunk_metadata().values():
            if meta and meta.get("doc_id") is not None:
                counts[meta["doc_id"]] = counts.get(meta["doc_id"], 0) + 1
        return counts

    def _batch_size(self) -> int:
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:  # older clients / servers
            return 1000

    def _delete(self, ids: Sequence[str]) -> None:
        step = self._batch_size()
        for i in range(0, len(ids), step):
            self.collection.delete(ids=list(ids[i : i + step]))

    # ---------------------------------------------------------------- writes

    @stage("retrieval")
    def ingest(self, documents: Sequence, remove: Iterable[str] = (), prune: bool = False) -> IngestReport:
        """Split, embed and upsert ``documents``; idempotent.

        Args:
            documents: :class:`lorag_nb.data.knowledge.Document` objects (unique ids).
            remove: source document ids whose chunks are deleted first (e.g. the originals that
                revised documents replace).
            prune: also delete every chunk whose source document is not in ``documents`` (the
                collection then holds exactly these documents).

        Returns:
            :class:`IngestReport`. Ingesting the same documents twice leaves the count unchanged and
            embeds nothing, in this process or another (chunks whose id, hence text, and metadata are
            already stored are skipped); a document whose text changed has its old chunks deleted.
            An ingestion killed mid-way leaves some chunks written; rerunning it writes the rest.

        Raises:
            ValueError: bad documents (see :func:`split_documents`), or nothing to ingest and nothing to remove.
        """
        t0 = time.perf_counter()
        documents = list(documents)
        remove = set(remove)
        if not documents and not remove:
            raise ValueError("nothing to ingest: documents is empty and remove is empty")
        chunks = split_documents(documents, self.chunk_size, self.chunk_overlap) if documents else []
        new_ids = [c.id for c in chunks]
        new_set = set(new_ids)
        present = self.chunk_metadata()
        doc_set = {d.id for d in documents}
        stale = [
            cid
            for cid, meta in present.items()
            if cid not in new_set
            and ((meta or {}).get("doc_id") in doc_set or (meta or {}).get("doc_id") in remove or (prune and (meta or {}).get("doc_id") not in doc_set))
        ]
        computed_before = self.embeddings.computed
        # a chunk id carries its text's hash: a stored chunk with the same id and metadata is already
        # right, and is neither embedded again (a knowledge base reopened in a new process) nor rewritten
        todo = [c for c in chunks if c.id not in present or present[c.id] != c.metadata]
        if todo:
            step = self._batch_size()
            for i in range(0, len(todo), step):
                part = todo[i : i + step]
                self.store.add_documents(part, ids=[c.id for c in part])  # Chroma.add_texts upserts
        if stale:
            self._delete(stale)
        added = sum(1 for cid in new_ids if cid not in present)
        return IngestReport(
            documents=len(documents),
            chunks=len(chunks),
            added=added,
            unchanged=len(new_ids) - added,
            deleted=len(stale),
            embedded=self.embeddings.computed - computed_before,
            seconds=time.perf_counter() - t0,
            count=self.count(),
        )

    def delete_documents(self, doc_ids: Iterable[str]) -> int:
        """Delete every chunk of the given source documents; returns how many chunks went."""
        doc_ids = set(doc_ids)
        stale = [cid for cid, meta in self.chunk_metadata().items() if (meta or {}).get("doc_id") in doc_ids]
        self._delete(stale)
        return len(stale)

    # ---------------------------------------------------------------- search

    def _check_query(self, query: str) -> str:
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"query={query!r} is empty; give a non-empty question")
        return query

    def effective_k(self, top_k: int, warn: bool = True) -> int:
        """``top_k`` clamped to the collection size (warns when clamping, if ``warn``).

        Raises:
            ValueError: ``top_k`` ≤ 0 or not an int; the collection is empty.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"top_k={top_k!r} is invalid; valid: an integer > 0")
        n = self.count()
        if n == 0:
            raise ValueError(f"knowledge base {self.name!r} is empty: ingest documents before searching")
        if top_k > n:
            if warn:
                warnings.warn(f"top_k={top_k} exceeds the {n} chunks in {self.name!r}; using top_k={n}", UserWarning, stacklevel=3)
            return n
        return top_k

    def retriever(self, top_k: int = 3, search_type: str = "similarity", fetch_k: int = 20, lambda_mult: float = 0.5, warn: bool = True):
        """A LangChain ``VectorStoreRetriever`` (``Chroma.as_retriever``).

        Args:
            top_k: chunks returned (clamped to the collection size with a warning).
            search_type: ``"similarity"`` (nearest by cosine distance) or ``"mmr"`` (maximal marginal
                relevance over the ``fetch_k`` nearest, trade-off ``lambda_mult``: 1 = relevance only).
            fetch_k: MMR candidate pool; raised to ``top_k`` and clamped to the collection size.

        Raises:
            ValueError: ``top_k`` ≤ 0, unknown ``search_type``, ``lambda_mult`` outside [0, 1],
                ``fetch_k`` < 1, or an empty collection.
        """
        if search_type not in ("similarity", "mmr"):
            raise ValueError(f"search_type={search_type!r} is invalid; valid: 'similarity' or 'mmr'")
        k = self.effective_k(top_k, warn)
        kwargs: dict[str, Any] = {"k": k}
        if search_type == "mmr":
            if not 0 <= lambda_mult <= 1:
                raise ValueError(f"lambda_mult={lambda_mult!r} is invalid; valid: a number in [0, 1]")
            if not isinstance(fetch_k, int) or fetch_k < 1:
                raise ValueError(f"fetch_k={fetch_k!r} is invalid; valid: an integer >= 1")
            kwargs.update(fetch_k=min(max(fetch_k, k), self.count()), lambda_mult=float(lambda_mult))
        return self.store.as_retriever(search_type=search_type, search_kwargs=kwargs)

    def search(self, query: str, top_k: int = 3, search_type: str = "similarity", fetch_k: int = 20, lambda_mult: float = 0.5) -> list:
        """The top-k chunks (LangChain ``Document`` with ``id`` and metadata) for ``query``, via :meth:`retriever`.

        Raises:
            ValueError: empty query, and everything :meth:`retriever` raises.
        """
        self._check_query(query)
        return self.retriever(top_k, search_type, fetch_k, lambda_mult).invoke(query)

    def search_with_scores(self, query: str, top_k: int = 3) -> list[tuple[Any, float, float]]:
        """Similarity search with scores: ``[(chunk, cosine distance, relevance)]``, closest first.

        Cosine distance: lower is closer. Relevance = 1 − distance: higher is better.
        """
        self._check_query(query)
        k = self.effective_k(top_k)
        return [(doc, float(dist), 1.0 - float(dist)) for doc, dist in self.store.similarity_search_with_score(query, k=k)]

    def mmr_order(self, query: str, max_k: int, fetch_k: int = 20, lambda_mult: float = 0.5, warn: bool = True) -> list:
        """The MMR selection order for ``query``: chunk i is the i-th pick of the greedy MMR algorithm.

        ``langchain_chroma``'s own ``maximal_marginal_relevance`` over the ``fetch_k`` nearest chunks
        (``fetch_k`` raised to ``max_k``). The MMR retriever with ``k`` returns the set of the first k
        picks (in candidate order), so one call gives hit@k for every k ≤ max_k.
        """
        import numpy as np
        from langchain_chroma.vectorstores import maximal_marginal_relevance
        from langchain_core.documents import Document as LCDocument

        self._check_query(query)
        k = self.effective_k(max_k, warn)
        fetch = min(max(fetch_k, k), self.count())
        emb = self.embeddings.embed_query(query)
        res = self.collection.query(query_embeddings=[emb], n_results=fetch, include=["metadatas", "documents", "embeddings"])
        picks = maximal_marginal_relevance(np.array(emb, dtype=np.float32), res["embeddings"][0], k=k, lambda_mult=lambda_mult)
        return [LCDocument(page_content=res["documents"][0][i], metadata=res["metadatas"][0][i] or {}, id=res["ids"][0][i]) for i in picks]

    @stage("retrieval")
    def rank(self, queries: Sequence[str], max_k: int = MAX_K, search_type: str = "similarity", fetch_k: int = 20, lambda_mult: float = 0.5) -> list[list]:
        """Ranked chunks for each query, up to ``max_k`` (clamped silently: a curve stops at the collection size).

        Similarity: the retriever with k = max_k (its first k results are the top-k for every smaller k).
        MMR: :meth:`mmr_order` (the greedy pick order). Queries are embedded in one batch first.
        """
        for q in queries:
            self._check_query(q)
        self.embeddings.warm(queries)
        if search_type == "mmr":
            return [self.mmr_order(q, max_k, fetch_k, lambda_mult, warn=False) for q in queries]
        retriever = self.retriever(max_k, "similarity", warn=False)
        return [retriever.invoke(q) for q in queries]
