"""Everything against a real Chroma server (``chroma run``): ingest, query, restart, the collection intact.

The server is the ``chroma`` command installed with chromadb next to this Python. The fixture always
stops it (terminate, wait, kill if it lingers), whatever the test does.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from lorag_nb.core.config import EvalSettings, RagSettings
from lorag_nb.core.store import ResultsStore
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.methods import rag
from lorag_nb.methods import retrieval as R


def _chroma_cli() -> str | None:
    local = Path(sys.executable).parent / "chroma"
    return str(local) if local.exists() else shutil.which("chroma")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """A ``chroma run`` subprocess on 127.0.0.1 with its data in ``path``."""

    def __init__(self, cli: str, path: Path, port: int, log: Path):
        self.cli, self.path, self.port, self.log = cli, path, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        import chromadb

        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.cli, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)], stdout=self._logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port, settings=R.chroma_settings()).heartbeat()
                return
            except Exception:
                time.sleep(0.3)
        raise RuntimeError(f"chroma server gave no heartbeat within {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "_logf", None):
            self._logf.close()


@pytest.fixture
def server(tmp_path):
    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the chroma command is not installed")
    srv = ChromaServer(cli, tmp_path / "chroma-data", _free_port(), tmp_path / "chroma.log")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def test_collection_survives_a_server_restart(server, tmp_path):
    ks = load_knowledge(n_entities=5)
    kb = R.KnowledgeBase("server-world", chroma_url=server.url)
    report = kb.ingest(ks.documents + ks.distractors)
    assert report.count == len(ks.documents) + len(ks.distractors) == 6
    assert kb.ingest(ks.documents + ks.distractors).count == 6  # idempotent over HTTP too
    query = ks.test_qa[0].question
    top = kb.search(query, top_k=1)[0]
    assert top.metadata["doc_id"] == ks.test_qa[0].doc_id

    server.stop()
    server.start()
    reopened = R.KnowledgeBase("server-world", chroma_url=server.url)
    assert reopened.count() == 6
    assert reopened.search(query, top_k=1)[0].id == top.id
    assert reopened.collection.metadata["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"

    # run_retrieval with chroma_url set runs against the server (its own collection, synced to the set)
    settings = RagSettings(chroma_url=server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rag.run_retrieval(settings, ResultsStore(tmp_path / "store"), EvalSettings(n_entities=5))
    assert res.metrics["chunks"]["chunks"] == 6 and res.metrics["retrieval"]["n"] == 90  # 5 entities × 6 facts × 3 test wordings
    names = [c if isinstance(c, str) else c.name for c in R.make_client(chroma_url=server.url).list_collections()]
    assert rag.collection_name(settings, 5) in names and "server-world" in names


def test_a_server_and_the_embedded_store_rank_alike_under_one_key(server, tmp_path):
    """Notebook 03's ``chroma_url`` reaches the settings, retrieval then runs on the server, and its result
    equals the embedded store's, question by question, under the same results-store key (where the
    server runs is not part of the key: :func:`lorag_nb.methods.rag.key_dict`)."""
    from lorag_nb.experiments import nb03

    on_server = nb03.rag_settings(3, 500, 50, server.url)
    embedded = nb03.rag_settings(3, 500, 50, "")
    assert on_server.chroma_url == server.url and embedded.chroma_url is None
    ev = EvalSettings(n_entities=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = rag.run_retrieval(on_server, ResultsStore(tmp_path / "a"), ev)  # no client: the HttpClient of chroma_url
        b = rag.run_retrieval(embedded, ResultsStore(tmp_path / "b"), ev, client=R.make_client("ephemeral"))
    names = [c if isinstance(c, str) else c.name for c in R.make_client(chroma_url=server.url).list_collections()]
    assert rag.collection_name(on_server, 4) in names  # it ran on the server
    assert a.key == b.key and a.metrics["retrieval"] == b.metrics["retrieval"]
    assert [(r["id"], r["rank"], r["top3"]) for r in a.details["rows"]] == [(r["id"], r["rank"], r["top3"]) for r in b.details["rows"]]
    assert len(a.details["rows"]) == 72  # 4 entities × 6 facts × 3 test wordings


def test_chroma_url_reaches_the_settings_of_notebooks_03_04_05():
    """Each retrieval notebook declares ``chroma_url = ""`` and hands it to the function that builds its
    settings; notebook 05's settings carry it into the RAG runs; a bad address fails before connecting."""
    from lorag_nb.experiments import nb03
    from lorag_nb.experiments.nb05 import CompareSettings
    from lorag_nb.infra.runner import NOTEBOOKS_DIR, notebook_defaults

    calls = {"03_rag": "nb03.rag_settings(top_k, chunk_size, chunk_overlap, chroma_url)", "04_hybrid": "chroma_url=chroma_url)", "05_comparison": "chroma_url=chroma_url,"}
    for stem, call in calls.items():
        path = NOTEBOOKS_DIR / f"{stem}.ipynb"
        assert notebook_defaults(path)["chroma_url"] == ""
        code = [("".join(c["source"])) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", [])]
        assert any(call in c for c in code), stem
    assert CompareSettings.from_parameters(chroma_url="http://127.0.0.1:8123").rag_base().chroma_url == "http://127.0.0.1:8123"
    assert CompareSettings.from_parameters(chroma_url="").rag_base().chroma_url is None
    assert CompareSettings.from_parameters(chroma_url="").rag_base() == CompareSettings().rag_base()
    with pytest.raises(ValueError, match=r"chroma_url='ftp://x' is not a Chroma server address; valid: 'http://host:port'"):
        nb03.rag_settings(chroma_url="ftp://x")
    server_key, local_key = rag.key_dict(RagSettings(chroma_url="http://10.0.0.5:8000")), rag.key_dict(RagSettings())
    assert server_key == local_key == RagSettings().to_dict()  # embedded runs stored before keep their keys
