"""Fault and bad-input tests (issue 13): each defect found by them, and the smaller ones.

1. a diverged training with a finite loss (lr 1e6: the loss pins at ln |vocab|) raises, stores nothing;
2. an unreadable results-store record is moved aside with a warning and recomputed;
3. a notebook whose kernel dies is recorded as failed, the rest of ``lorag-nb run`` goes on;
4. ``lorag-nb run -k NAME`` refuses a kernel that runs another environment's python; set-up
   registers the kernel inside the venv;
5. settings reject wrong types and meaningless sizes at construction.

Tiny runs only: one entity, 1-3 optimizer steps, batches of 2, evaluation capped at 2 questions.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

from lorag_nb.core.config import (
    BaselineSettings,
    EvalSettings,
    LoraSettings,
    RagSettings,
    TrainingSettings,
)
from lorag_nb.core.store import ResultsStore
from lorag_nb.experiments import nb01, nb02
from lorag_nb.infra import cli, runner
from lorag_nb.methods import training
from lorag_nb.methods.models import load_model

REPO = Path(__file__).resolve().parent.parent
TINY_EVAL = EvalSettings(n_entities=1, max_questions=2, max_new_tokens=4, batch_size=4, perplexity_texts=1, perplexity_tokens=32)


def scores(value):
    """``value`` without wall-time entries (latency, seconds), which differ between identical runs."""
    if isinstance(value, dict):
        return {k: scores(v) for k, v in value.items() if "latency" not in k and "seconds" not in k}
    if isinstance(value, list):
        return [scores(v) for v in value]
    return value


def tiny(method: str = "lora", r: int = 2, **kw) -> TrainingSettings:
    base = dict(n_entities=1, max_steps=3, batch_size=2, max_length=96, warmup_ratio=0.0)
    base.update(kw)
    return nb01.default_full_ft(**base) if method == "full" else nb02.default_lora(r=r, **base)


@pytest.fixture(scope="module")
def base():
    return load_model("embedded", device="cpu", dtype="float32")


# --------------------------------------------------------------------------- 1. divergence


def test_divergence_with_finite_loss_raises_and_stores_nothing(base, tmp_path):
    """lr 1e6: the loss is finite but pinned at ln 49,152 = 10.8027 (every logit equal) from step 2 on."""
    model, tok = base
    store = ResultsStore(tmp_path)
    with pytest.raises(training.TrainingDivergedError, match=r"step 3, at or above the uniform-distribution loss ln 49,152 = 10\.8027"):
        training.run_training(tiny(learning_rate=1e6), store=store, eval_settings=TINY_EVAL, model=model, tokenizer=tok)
    assert store.all() == [] and list(tmp_path.iterdir()) == []  # no record, no adapter folder
    # full fine-tuning, 2 steps: the last step is at the uniform loss, so it is caught at the end
    with pytest.raises(training.TrainingDivergedError, match="step 2, at or above the uniform"):
        training.train(tiny("full", learning_rate=1e6, max_steps=2), model, tok)


def test_divergence_rules_on_loss_sequences():
    V, u = 49_152, math.log(49_152)
    reason = training.divergence_reason
    assert reason([7.0, 6.1, 5.2, 4.0], V) is None  # a normal run
    assert reason([u], V) is None  # step 1 never counts: a model can start near uniform
    assert reason([7.0, u - 1e-6], V) is None  # one step at the uniform loss: not yet
    assert "uniform" in reason([7.0, u - 1e-6, u - 1e-6], V)  # two in a row (fp32 logs 10.802672 < ln V)
    assert "uniform" in reason([7.0, u], V, final=True)  # the last step of a run
    assert reason([7.0, u, u], V, warmup_steps=3) is None  # during warm-up
    assert reason([4.0, 8.0, 8.0], V) is None  # far above the start (4 -> 8 > 7.4) for 2 steps: not yet
    assert "far above its starting value 4.0000" in reason([4.0, 8.0, 8.0, 8.0], V)
    # a 2-step run whose second batch happens to be harder: batch noise, not divergence (a reader's 18-question folder)
    assert reason([3.9035, 7.5627], V, final=True) is None
    assert "far above" in reason([4.0, 8.0, 8.0], V, final=True)  # with 2 steps after the first, the last one decides
    assert reason([4.0, 7.0, 7.0, 7.0], V) is None  # below halfway to uniform (7.4)
    assert "nan" in reason([7.0, float("nan")], V) and "inf" in reason([7.0, float("inf")], V)
    assert "gradient norm is inf" in reason([7.0, 6.0], V, grad_norm=float("inf"))


# --------------------------------------------------------------------------- 2. corrupt records


def test_unreadable_record_is_moved_aside_and_recomputed(tmp_path):
    store = ResultsStore(tmp_path)
    calls = []

    def compute(_artifacts):
        calls.append(1)
        return {"acc": float(len(calls))}, {"rows": [1]}

    first = store.cached("demo", {"r": 4}, compute)
    path = store.path("demo", first.key)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # cut short, as by a full disk
    with pytest.warns(UserWarning, match=re.escape(f"results record {path} is unreadable: invalid JSON")):
        again = store.cached("demo", {"r": 4}, compute)
    assert again.metrics == {"acc": 2.0} and not again.cached and len(calls) == 2
    aside = path.with_name(path.name + ".corrupt")
    assert aside.read_text() == text[: len(text) // 2]
    assert store.get("demo", first.key).metrics == {"acc": 2.0}
    # all() skips an unreadable record with the warning, and lists the readable ones
    other = store.cached("demo", {"r": 8}, compute)
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.warns(UserWarning, match="not UTF-8"):
        assert [r.key for r in store.all()] == [other.key]
    store.path("demo", other.key).write_text('["a list"]')
    with pytest.warns(UserWarning, match="not a results record"):
        assert store.all() == []


def test_corrupt_training_and_baseline_records_are_recomputed(base, tmp_path):
    """run_training, find_training and the baseline all survive unreadable records (a rerun, not a crash)."""
    model, tok = base
    store = ResultsStore(tmp_path)
    s = tiny(max_steps=1)
    first = training.run_training(s, store=store, eval_settings=TINY_EVAL, model=model, tokenizer=tok)
    base_path = store.path("baseline", first.metrics["baseline_key"])
    for path in (store.path("train", first.key), base_path):
        path.write_text(path.read_text()[:100])
    with pytest.warns(UserWarning, match="unreadable"):
        assert training.find_training(s, store, TINY_EVAL) is None
    with pytest.warns(UserWarning, match=re.escape(str(base_path))):
        again = training.run_training(s, store=store, eval_settings=TINY_EVAL, model=model, tokenizer=tok)
    assert not again.cached and again.details["loss_history"] == first.details["loss_history"]
    assert scores(again.metrics["test"]) == scores(first.metrics["test"]) and scores(again.metrics["baseline"]) == scores(first.metrics["baseline"])
    assert sorted(p.name for p in tmp_path.glob("*.corrupt")) == sorted([f"train-{first.key}.json.corrupt", base_path.name + ".corrupt"])
    import warnings

    with warnings.catch_warnings():  # both records were rewritten; the set-aside files are not read as records
        warnings.simplefilter("error")
        assert sorted(r.kind for r in store.all()) == ["baseline", "train"]
    config = json.loads((store.artifact_dir("train", first.key) / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "embedded"  # the model's name, not this machine's cache path


# --------------------------------------------------------------------------- 3. a dying kernel


def _notebook(path: Path, source: str) -> Path:
    nb = {"cells": [{"id": "c1", "cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}, "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def test_a_dead_kernel_fails_its_notebook_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "00_dies.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does")
    _notebook(nbs / "01_fine.ipynb", "print(6 * 7)")
    monkeypatch.setattr(runner, "notebook_paths", lambda folder=None, prefixes=None: sorted(nbs.glob("*.ipynb")))
    out = tmp_path / "run"
    assert cli.main(["run", "-o", str(out)]) == 1  # exit non-zero: a notebook failed
    printed = capsys.readouterr().out
    assert re.search(r"00_dies\.ipynb .* FAILED: kernel died", printed) and re.search(r"01_fine\.ipynb .* ok", printed)
    records = json.loads((out / "run.json").read_text())
    assert [r["notebook"] for r in records] == ["00_dies.ipynb", "01_fine.ipynb"]
    assert records[0]["error"].startswith("kernel died") and records[1]["error"] is None
    assert "42" in (out / "01_fine.ipynb").read_text()  # the next notebook really ran
    assert "error: kernel died" in (out / "index.html").read_text()


# --------------------------------------------------------------------------- 4. kernel of this checkout


def _kernel(root: Path, name: str, python: str) -> None:
    folder = root / "kernels" / name
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python (lorag_nb)", "language": "python"}))


def test_run_refuses_a_kernel_of_another_environment(tmp_path, monkeypatch, capsys):
    """A `lorag-nb` kernel registered by another checkout (found first here, as a --user one used to be)."""
    _kernel(tmp_path, "lorag-nb", "/elsewhere/checkout/.venv/bin/python")
    _kernel(tmp_path, "mine", sys.executable)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))  # searched before every other kernel folder
    with pytest.raises(ValueError, match=re.escape("runs /elsewhere/checkout/.venv/bin/python, not this environment's python")):
        runner.check_kernel("lorag-nb")
    assert cli.main(["run", "-n", "00", "-k", "lorag-nb"]) == 2
    assert "not this environment's python" in capsys.readouterr().err
    runner.check_kernel("mine")  # this environment's python: accepted
    runner.check_kernel("python3")  # a bare `python` argv: jupyter_client starts sys.executable


def test_setup_registers_the_kernel_inside_the_venv():
    makefile = (REPO / "Makefile").read_text()
    assert "ipykernel install --sys-prefix --name $(KERNEL)" in makefile and "--user" not in makefile
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "lorag-nb" / "kernel.json"
    if not spec.is_file():
        pytest.skip(f"{spec} missing: `make setup` was not run for this environment")
    assert json.loads(spec.read_text())["argv"][0] == sys.executable
    runner.check_kernel("lorag-nb")


# --------------------------------------------------------------------------- 5. settings validation


@pytest.mark.parametrize(
    "cls, kwargs, fragment",
    [
        (EvalSettings, {"perplexity_tokens": 1}, "perplexity_tokens=1"),
        (EvalSettings, {"perplexity_tokens": 0}, "perplexity_tokens=0"),
        (EvalSettings, {"perplexity_texts": 0}, "perplexity_texts=0"),
        (EvalSettings, {"perplexity_texts": 10_000}, "perplexity_texts=10000"),
        (EvalSettings, {"max_new_tokens": 2.5}, "max_new_tokens=2.5"),
        (LoraSettings, {"r": True}, "r=True"),
        (LoraSettings, {"lora_alpha": "16"}, "lora_alpha='16'"),
        (LoraSettings, {"lora_dropout": None}, "lora_dropout=None"),
        (LoraSettings, {"use_dora": "yes"}, "use_dora='yes'"),
        (TrainingSettings, {"max_steps": 2.5}, "max_steps=2.5"),
        (TrainingSettings, {"seed": "a"}, "seed='a'"),
        (TrainingSettings, {"seed": -1}, "seed=-1"),
        (TrainingSettings, {"learning_rate": float("inf")}, "learning_rate=inf"),
        (TrainingSettings, {"epochs": "3"}, "epochs='3'"),
        (TrainingSettings, {"n_entities": 1.5}, "n_entities=1.5"),
        (TrainingSettings, {"gradient_checkpointing": 1}, "gradient_checkpointing=1"),
        (TrainingSettings, {"lora": 8}, "lora=8"),
        (RagSettings, {"top_k": True}, "top_k=True"),
        (RagSettings, {"fetch_k": 2.0}, "fetch_k=2.0"),
        (BaselineSettings, {"seed": "0"}, "seed='0'"),
    ],
)
def test_bad_types_and_sizes_raise_one_clear_error(cls, kwargs, fragment):
    with pytest.raises(ValueError) as err:
        cls(**kwargs)
    assert fragment in str(err.value) and "valid" in str(err.value) and "\n" not in str(err.value)


def test_numpy_integers_are_accepted_and_stored_as_int():
    import numpy as np

    s = TrainingSettings(seed=np.int64(3), batch_size=np.int32(2), lora=LoraSettings(r=np.int64(4)))
    assert type(s.seed) is int and type(s.batch_size) is int and type(s.lora.r) is int
    json.dumps(s.to_dict())


# --------------------------------------------------------------------------- smaller ones


def test_mistyped_model_folder_says_no_such_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(f"model './my_models/x': no such folder ({tmp_path}/my_models/x)")):
        load_model("./my_models/x")
    import inspect

    doc = inspect.getdoc(load_model)
    assert "LORAG_NB_ALLOW_DOWNLOAD=1" in doc and "HF_HUB_OFFLINE=0" not in doc


def test_qa_file_reports_its_first_bad_line(tmp_path):
    from lorag_nb.data.knowledge import KnowledgeError, load_qa_jsonl

    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "Q1?", "answer": "A1"}\n{"question": "Q2?"}\n{not json\n')
    with pytest.raises(KnowledgeError, match=re.escape(f'{path}, line 2: missing "answer"')):
        load_qa_jsonl(path)
    path.write_bytes(b'{"question": "Q1?", "answer": "A1"}\n\n{"question": "Q\xff?", "answer": "A"}\n')
    with pytest.raises(KnowledgeError, match=re.escape(f"{path}, line 3: not UTF-8")):
        load_qa_jsonl(path)


def test_reopened_knowledge_base_embeds_nothing_again(tmp_path):
    """A new process has an empty embedding cache: chunks already stored (same id = same text) are skipped."""
    from lorag_nb.data.knowledge import load_knowledge
    from lorag_nb.methods.retrieval import (
        CachedEmbeddings,
        KnowledgeBase,
        get_embeddings,
        make_client,
    )

    shared = get_embeddings()
    docs = load_knowledge(n_entities=3).documents

    def fresh_kb():  # as in a new process: a new client and an empty embedding cache
        return KnowledgeBase("reopen-test", chunk_size=200, chunk_overlap=20, client=make_client("persistent", path=tmp_path),
                             embeddings=CachedEmbeddings(shared.base, shared.name, shared.dimension))

    first = fresh_kb().ingest(docs)
    assert first.embedded == first.chunks == first.added > 0
    kb = fresh_kb()
    again = kb.ingest(docs)
    assert (again.embedded, again.added, again.unchanged, again.count) == (0, 0, first.chunks, first.count)
    changed = [docs[0].__class__(**{**docs[0].__dict__, "text": docs[0].text + " It also keeps bees."}), *docs[1:]]
    third = kb.ingest(changed)
    assert third.embedded >= 1 and third.count == first.count and third.deleted >= 1


# --------------------------------------------------------------------------- gradient checkpointing


def test_gradient_checkpointing_with_lora_gives_the_same_losses(base):
    model, tok = base
    s = tiny(r=4, learning_rate=5e-3)
    plain = training.train(s, model, tok)
    ckpt = training.train(s.replace(gradient_checkpointing=True), model, tok)
    flag = "is_activation_checkpointing" if hasattr(ckpt.model.base_model.model, "is_activation_checkpointing") else "is_gradient_checkpointing"
    assert getattr(ckpt.model.base_model.model, flag) and not getattr(plain.model.base_model.model, flag)
    assert len(ckpt.loss_history) == 3
    assert max(abs(a - b) for a, b in zip(plain.loss_history, ckpt.loss_history)) < 1e-5
    a = {n: p for n, p in plain.model.named_parameters() if "lora_B" in n}
    b = {n: p for n, p in ckpt.model.named_parameters() if "lora_B" in n}
    assert a.keys() == b.keys() and len(a) == 30 * 7
    # B starts at zero: non-zero B means gradients reached the adapter through the checkpointed blocks
    assert all(float(p.detach().abs().max()) > 0 for p in b.values())
    assert max(float((a[n] - b[n]).detach().abs().max()) for n in a) < 1e-5
    assert "gradient_checkpointing" not in s.to_dict()  # off by default: stored keys unchanged
