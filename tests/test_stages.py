"""The stage timer (lorag_nb.core.stages) and the per-stage profile of `lorag-nb bench notebooks`
(lorag_nb.infra.bench_stages): exclusive nesting on a fake clock, both forms, the JSON file written at
exit, token counts and the FLOP-floor arithmetic."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from lorag_nb.core import stages
from lorag_nb.infra import bench_stages
from lorag_nb.infra.bench_train import flops_per_token


class FakeClock:
    """Stands in for time.perf_counter and time.process_time: advanced by hand, CPU at half the wall rate."""

    def __init__(self):
        self.wall = 100.0

    def perf_counter(self):
        return self.wall

    def process_time(self):
        return self.wall / 2

    def tick(self, seconds):
        self.wall += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(stages, "perf_counter", fake.perf_counter)
    monkeypatch.setattr(stages, "process_time", fake.process_time)
    stages.reset()
    yield fake
    stages.reset()


def _table():
    return stages.snapshot()["stages"]


def test_nesting_is_exclusive(clock):
    with stages.stage("outer"):
        clock.tick(1.0)
        with stages.stage("inner"):
            clock.tick(3.0)
        clock.tick(0.5)
        with stages.stage("inner"):
            clock.tick(2.0)
        clock.tick(0.25)
    clock.tick(10.0)  # outside every stage: counted nowhere
    t = _table()
    assert t["outer"]["wall_s"] == pytest.approx(1.75)  # 1 + 0.5 + 0.25: the inner 5 s excluded
    assert t["inner"]["wall_s"] == pytest.approx(5.0)
    assert t["outer"]["cpu_s"] == pytest.approx(0.875) and t["inner"]["cpu_s"] == pytest.approx(2.5)
    assert t["outer"]["calls"] == 1 and t["inner"]["calls"] == 2


def test_same_stage_nested_counts_its_time_once(clock):
    @stages.stage("rec")
    def f(depth):
        clock.tick(1.0)
        if depth:
            f(depth - 1)

    f(2)
    assert _table()["rec"]["wall_s"] == pytest.approx(3.0) and _table()["rec"]["calls"] == 3


def test_decorator_keeps_the_function_and_counts_on_exceptions(clock):
    @stages.stage("deco")
    def add(a, b=1):
        """Adds."""
        clock.tick(2.0)
        return a + b

    @stages.stage("deco")
    def boom():
        clock.tick(0.5)
        raise RuntimeError("x")

    assert add(2, b=3) == 5 and add.__name__ == "add" and add.__doc__ == "Adds."
    with pytest.raises(RuntimeError):
        boom()
    with stages.stage("after"):  # the stack is clean after the exception
        clock.tick(1.0)
    t = _table()
    assert t["deco"]["wall_s"] == pytest.approx(2.5) and t["deco"]["calls"] == 2
    assert t["after"]["wall_s"] == pytest.approx(1.0)


def test_snapshot_counts_a_running_stage_and_is_a_copy(clock):
    with stages.stage("running"):
        clock.tick(4.0)
        snap = stages.snapshot()
        clock.tick(1.0)
    assert snap["stages"]["running"]["wall_s"] == pytest.approx(4.0)
    assert _table()["running"]["wall_s"] == pytest.approx(5.0)
    assert snap["process_cpu_s"] == pytest.approx(clock.process_time() - 0.5)


def test_stage_left_while_another_threads_stage_is_on_top(clock):
    """Thread A enters a, thread B enters b (pausing a), A leaves a first: a keeps its time until b began, b all of its own."""
    a = stages.stage("a")
    a.__enter__()
    clock.tick(1.0)
    entered, leave = threading.Event(), threading.Event()

    def worker():
        with stages.stage("b"):
            entered.set()
            leave.wait(5)
            clock.tick(2.0)

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(5)
    a.__exit__(None, None, None)  # a is not on top: removed, nothing added
    leave.set()
    t.join(5)
    table = _table()
    assert table["a"]["wall_s"] == pytest.approx(1.0) and table["b"]["wall_s"] == pytest.approx(2.0)
    assert stages.snapshot()["stages"] == table  # nothing left running


def test_add_tokens_by_kind(clock):
    stages.add_tokens("generation", 120, "prefill")
    stages.add_tokens("generation", 30)  # forward by default
    stages.add_tokens("generation", 10, "forward")
    stages.add_tokens("training", 2912, "train")
    assert _table()["generation"]["tokens"] == {"prefill": 120, "forward": 40}
    assert _table()["training"]["tokens"] == {"train": 2912}
    with pytest.raises(ValueError, match="kind"):
        stages.add_tokens("generation", 1, "backward")


def test_table_written_at_exit_when_the_variable_names_a_file(tmp_path):
    out = tmp_path / "sub" / "stages.json"
    code = ("import time; from lorag_nb.core.stages import stage, add_tokens\n"
            "with stage('generation'):\n    time.sleep(0.05)\n    add_tokens('generation', 7)\n")
    env = {**os.environ, stages.ENV: str(out)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    got = json.loads(out.read_text())
    g = got["stages"]["generation"]
    assert g["calls"] == 1 and g["tokens"] == {"forward": 7} and 0.04 < g["wall_s"] < 30
    assert got["pid"] != os.getpid() and got["elapsed_s"] >= g["wall_s"]
    # unset: nothing written; set but no stage entered: an existing file is left alone
    out.write_text("keep")
    env.pop(stages.ENV)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    subprocess.run([sys.executable, "-c", "import lorag_nb.core.stages"], env={**env, stages.ENV: str(out)}, check=True, timeout=120)
    assert out.read_text() == "keep"


SHAPE = {"layers": 30, "heads": 9, "head_dim": 64, "matmul_params": 10**8}


def test_floor_arithmetic():
    fpt = bench_stages.floor_flops_per_token(SHAPE, head_params=2 * 10**7)
    assert fpt == {"train": 6e8, "train_lora": 4e8, "forward": 2e8, "prefill": 1.6e8}
    assert fpt["train"] == flops_per_token(SHAPE, 0.0)[0]  # the training bench's formula at T = 0
    assert bench_stages.floor_seconds({"train": 10**6}, fpt, 1e12) == pytest.approx(600.0)  # 1e6 × 6 × 1e8 ÷ 1e12
    assert bench_stages.floor_seconds({"forward": 10**6, "prefill": 5 * 10**5}, fpt, 1e12) == pytest.approx(200.0 + 80.0)
    assert bench_stages.floor_seconds({}, fpt, 1e12) is None and bench_stages.floor_seconds({"forward": 0}, fpt, 1e12) is None


def test_stage_rows_share_floor_and_other():
    fpt = bench_stages.floor_flops_per_token(SHAPE)
    table = {"stages": {"plotting": {"wall_s": 5.0, "cpu_s": 4.0, "calls": 3, "tokens": {}},
                        "training": {"wall_s": 1200.0, "cpu_s": 2300.0, "calls": 1, "tokens": {"train": 10**6}},
                        "custom": {"wall_s": 1.0, "cpu_s": 1.0, "calls": 1, "tokens": {}}},
             "process_cpu_s": 2400.0}
    rows = bench_stages.stage_rows("01.ipynb", 1300.0, table, fpt, 1e12)
    by = {r["stage"]: r for r in rows}
    assert [r["stage"] for r in rows] == ["training", "plotting", "custom", "other"]
    assert by["training"]["floor_s"] == pytest.approx(600.0) and by["training"]["x_floor"] == pytest.approx(2.0)
    assert by["training"]["share"] == pytest.approx(1200 / 1300) and by["plotting"]["floor_s"] is None
    assert by["other"]["wall_s"] == pytest.approx(94.0) and by["other"]["cpu_s"] == pytest.approx(95.0)
    missing = bench_stages.stage_rows("02.ipynb", 50.0, None, fpt, 1e12)
    assert [(r["stage"], r["wall_s"], r["share"]) for r in missing] == [("other", 50.0, 1.0)]
    piv = bench_stages.pivot(rows + missing)
    assert piv[0]["total"] == pytest.approx(1300.0) and piv[-1]["notebook"] == "all" and piv[-1]["other"] == pytest.approx(144.0)


def test_the_methods_count_their_tokens():
    """The real code paths report into their stages: perplexity's forward tokens are the tokens it scored (+1 per text)."""

    class Tok:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": list(range(len(text.split())))}

    class Model:
        def parameters(self):
            import torch

            yield torch.zeros(1)

        def __call__(self, input_ids, attention_mask):
            import torch

            class Out:
                logits = torch.zeros(*input_ids.shape, 8)

            return Out()

    from lorag_nb.methods.evaluation import perplexity

    before = stages.snapshot()["stages"].get("perplexity", {"calls": 0, "tokens": {}})
    ppl = perplexity(Model(), Tok(), ["a b c d", "e f", "g"], max_tokens=3, batch_size=2)
    after = stages.snapshot()["stages"]["perplexity"]
    assert ppl == pytest.approx(8.0)  # uniform logits over 8 words
    assert after["calls"] == before["calls"] + 1
    assert after["tokens"]["forward"] - before["tokens"].get("forward", 0) == 3 + 2  # "g" has one token: nothing to predict, skipped


def test_bench_notebooks_hands_each_kernel_its_own_stage_file(tmp_path, monkeypatch):
    """bench_notebooks sets LORAG_NB_STAGES per notebook, reads each table back and reports it (papermill faked:
    the fake 'kernel' writes what a real one writes at exit; the second notebook's kernel writes nothing)."""
    from lorag_nb.infra import bench

    seen = []

    def fake_run_notebooks(out, smoke, prefixes):
        assert smoke and len(prefixes) == 1
        target = os.environ[stages.ENV]
        seen.append((prefixes[0], os.path.basename(target), os.environ["LORAG_NB_RESULTS"]))
        if prefixes[0].startswith("00"):
            table = {"stages": {"generation": {"wall_s": 30.0, "cpu_s": 50.0, "calls": 2, "tokens": {"prefill": 10**5, "forward": 10**5}}}, "process_cpu_s": 60.0}
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                json.dump(table, f)
        return out, [{"notebook": prefixes[0], "output": None, "html": None, "seconds": 40.0, "error": None}]

    monkeypatch.setattr(bench, "run_notebooks", fake_run_notebooks)
    monkeypatch.setattr(bench_stages, "floor_inputs", lambda: {"device": "cpu", "peak_flops": 1e11, "peak_dtype": "float32", "model_shape": SHAPE,
                                                              "head_params": 0, "flops_per_token": bench_stages.floor_flops_per_token(SHAPE)})
    monkeypatch.delenv(stages.ENV, raising=False)
    res = bench.bench_notebooks(smoke=True, prefixes=["00", "01"], out_dir=tmp_path)
    assert [s[0] for s in seen] == ["00_overview_baseline.ipynb", "01_full_finetuning.ipynb"]
    assert [s[1] for s in seen] == ["00_overview_baseline.json", "01_full_finetuning.json"]
    assert seen[0][2] == seen[1][2] != os.environ.get("LORAG_NB_RESULTS")  # one fresh store shared by the run, then restored
    assert stages.ENV not in os.environ
    rows = {(r["notebook"][:2], r["stage"]): r for r in res["stages"]["rows"]}
    gen = rows[("00", "generation")]
    assert gen["floor_s"] == pytest.approx((10**5 * 2e8 + 10**5 * 2e8) / 1e11) and gen["x_floor"] == pytest.approx(30.0 / 400.0)
    assert rows[("00", "other")]["wall_s"] == pytest.approx(10.0) and rows[("00", "other")]["cpu_s"] == pytest.approx(10.0)
    assert rows[("01", "other")]["wall_s"] == pytest.approx(40.0) and res["stages"]["missing"] == ["01_full_finetuning.ipynb"]
    assert [r["notebook"] for r in json.loads((tmp_path / "run.json").read_text())] == ["00_overview_baseline.ipynb", "01_full_finetuning.ipynb"]
    report = bench.notebooks_report(res)
    assert "| 00_overview_baseline.ipynb | generation | 30 | 50 |" in report and "No stage table from: 01_full_finetuning.ipynb" in report
