"""Kill-mid-run fault tests (issue 13): a process SIGKILLed in the middle of a training run or of a
knowledge-base ingestion leaves nothing that breaks the next run, and the rerun gives the result of an
uninterrupted run.

The victim runs in a subprocess and stops at a known point (it writes a marker file, then sleeps);
the test then kills it with SIGKILL, as the out-of-memory killer or a closed laptop lid would.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from test_robustness import (  # the same tiny evaluation and timing-free comparison
    TINY_EVAL,
    scores,
)

from lorag_nb.core.store import ResultsStore
from lorag_nb.experiments import nb02
from lorag_nb.methods import training
from lorag_nb.methods.models import load_model

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

SETTINGS = nb02.default_lora(r=2, n_entities=1, max_steps=3, batch_size=2, max_length=96, warmup_ratio=0.0, learning_rate=5e-3)

TRAIN_VICTIM = """
import json, os, sys, time
from lorag_nb.core.store import ResultsStore
from lorag_nb.methods import measure, training
from lorag_nb.core.config import EvalSettings, TrainingSettings
from transformers import TrainerCallback

where, marker, store = sys.argv[1], sys.argv[2], sys.argv[3]

def stop_here():
    open(marker, "w").write(str(os.getpid()))
    time.sleep(600)  # the test kills us here

class StopAtStep2(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if where == "training" and state.global_step == 2:
            stop_here()

if where == "measuring":  # after training and saving the adapter, before any record is written
    measure.measure_model = lambda *a, **k: stop_here()
settings = TrainingSettings(**json.loads(os.environ["VICTIM_SETTINGS"]))
ev = EvalSettings(**json.loads(os.environ["VICTIM_EVAL"]))
training.run_training(settings, store=ResultsStore(store), eval_settings=ev, callbacks=[StopAtStep2()])
"""

INGEST_VICTIM = """
import sys, time
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.methods.retrieval import KnowledgeBase, make_client
from lorag_nb.experiments import nb02

path, marker = sys.argv[1], sys.argv[2]
kb = KnowledgeBase("killed-ingest", chunk_size=150, chunk_overlap=20, client=make_client("persistent", path=path))
kb._batch_size = lambda: 3  # several writes, so the kill lands between two of them
add, calls = kb.store.add_documents, []

def add_then_stop(docs, **kw):
    calls.append(1)
    if len(calls) == 3:
        open(marker, "w").write(str(kb.count()))
        time.sleep(600)  # the test kills us here
    return add(docs, **kw)

kb.store.add_documents = add_then_stop
kb.ingest(load_knowledge(n_entities=6).documents)
"""


def _run_and_kill(script: str, args: list[str], tmp_path: Path, env: dict | None = None, timeout: float = 300) -> str:
    """Start ``script`` in a subprocess, wait for its marker file, SIGKILL it; returns the marker's text."""
    marker = tmp_path / "marker"
    log = open(tmp_path / "victim.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args[:1], str(marker), *args[1:]],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"the victim exited ({proc.returncode}) before its kill point:\n{(tmp_path / 'victim.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the victim did not reach its kill point in {timeout} s")
            time.sleep(0.2)
        time.sleep(0.2)  # the marker is written: the victim is inside its kill point
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    return marker.read_text()


@pytest.fixture(scope="module")
def base():
    return load_model("embedded", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def uninterrupted(base, tmp_path_factory):
    """The same run, never killed: the reference a rerun must reproduce."""
    model, tok = base
    store = ResultsStore(tmp_path_factory.mktemp("clean-store"))
    return store, training.run_training(SETTINGS, store=store, eval_settings=TINY_EVAL, model=model, tokenizer=tok)


def _adapter_tensors(store: ResultsStore, key: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(store.artifact_dir("train", key) / "adapter" / "adapter_model.safetensors"))


@pytest.mark.parametrize("where", ["training", "measuring"])
def test_training_killed_mid_run_leaves_nothing_that_breaks_the_rerun(where, base, uninterrupted, tmp_path):
    clean_store, clean = uninterrupted
    root = tmp_path / "store"
    pid = int(_run_and_kill(TRAIN_VICTIM, [where, str(root)], tmp_path,
                            env={"VICTIM_SETTINGS": json.dumps(SETTINGS.to_dict()), "VICTIM_EVAL": json.dumps(TINY_EVAL.to_dict())}))
    store = ResultsStore(root)
    assert store.all() == [] and not list(root.glob("*.json")) and not list(root.glob(".tmp-*"))  # no partial record
    left = sorted(p.name for p in root.iterdir())
    # killed while training: nothing in the store; killed while measuring: the saved adapter, owned by no record
    assert left == ([] if where == "training" else [f"train-{clean.key}"])
    scratch = list(Path(tempfile.gettempdir()).glob(f"{training.SCRATCH_PREFIX}{pid}-*"))
    assert len(scratch) == (1 if where == "training" else 0)  # train()'s finally never ran

    model, tok = base
    assert training.find_training(SETTINGS, store, TINY_EVAL) is None
    rerun = training.run_training(SETTINGS, store=store, eval_settings=TINY_EVAL, model=model, tokenizer=tok)
    assert not rerun.cached and rerun.key == clean.key
    assert not any(p.exists() for p in scratch)  # the dead process's scratch folder was removed
    assert rerun.details["loss_history"] == clean.details["loss_history"]
    assert scores(rerun.details["rows"]) == scores(clean.details["rows"])
    for name in ("test", "revised", "control", "perplexity", "baseline", "forgetting"):
        assert scores(rerun.metrics[name]) == scores(clean.metrics[name]), name
    a, b = _adapter_tensors(store, rerun.key), _adapter_tensors(clean_store, clean.key)
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    assert sorted(p.name for p in (store.artifact_dir("train", rerun.key) / "adapter").iterdir()) == \
        sorted(p.name for p in (clean_store.artifact_dir("train", clean.key) / "adapter").iterdir())
    assert training.find_training(SETTINGS, store, TINY_EVAL).cached


def test_ingestion_killed_mid_way_is_completed_by_the_rerun(tmp_path):
    from lorag_nb.data.knowledge import load_knowledge
    from lorag_nb.methods.retrieval import (
        CachedEmbeddings,
        KnowledgeBase,
        get_embeddings,
        make_client,
    )

    path = tmp_path / "chroma"
    written = int(_run_and_kill(INGEST_VICTIM, [str(path)], tmp_path))
    assert written == 6  # two batches of 3 chunks were written before the kill

    shared = get_embeddings()
    docs = load_knowledge(n_entities=6).documents

    def kb_at(where: Path) -> KnowledgeBase:  # an empty embedding cache, as in a new process
        return KnowledgeBase("killed-ingest", chunk_size=150, chunk_overlap=20, client=make_client("persistent", path=where),
                             embeddings=CachedEmbeddings(shared.base, shared.name, shared.dimension))

    recovered = kb_at(path)
    assert recovered.count() == written  # the killed ingestion's writes survived, no more
    report = recovered.ingest(docs)
    clean = kb_at(tmp_path / "clean")
    reference = clean.ingest(docs)
    assert report.count == reference.count == reference.chunks > written
    assert (report.added, report.unchanged, report.embedded) == (reference.chunks - written, written, reference.chunks - written)
    got, want = recovered.chunks(), clean.chunks()
    assert [c.id for c in got] == [c.id for c in want]
    assert [(c.page_content, c.metadata) for c in got] == [(c.page_content, c.metadata) for c in want]
    question = load_knowledge(n_entities=6).test_qa[0].question
    assert [d.id for d in recovered.search(question, top_k=5)] == [d.id for d in clean.search(question, top_k=5)]
