"""The reference result (``reference.json``) and notebook 05's side-by-side view; ``lorag-nb run --profile``.

The comparisons are built from test_nb05's synthetic records (known numbers, through a real results store),
the reference files by the real builder; nothing here is a hand-written reference."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import subprocess

import pytest
from test_nb05 import FACTS, _rows, synthetic_results

from lorag_nb.core import claims as C
from lorag_nb.core.paths import REPO_ROOT
from lorag_nb.experiments import reference
from lorag_nb.experiments.nb05 import METHODS, Comparison, CompareSettings, claims
from lorag_nb.infra import runner


def _comparison(tmp_path, lora_facts: int = 18):
    """test_nb05's synthetic comparison; LoRA answers the first ``lora_facts`` of 20 facts in multiple choice."""
    res = synthetic_results(tmp_path)
    lora = copy.deepcopy(res["lora"])
    lora.details["rows"]["test"] = _rows(lora_facts, 10)
    res["lora"] = lora
    return Comparison.from_results(res, CompareSettings())


def test_reference_result_holds_metrics_with_intervals_the_frontier_verdicts_and_provenance(tmp_path):
    comp = _comparison(tmp_path)
    verdicts = claims(comp)
    ref = reference.reference_result(comp, verdicts, profile="cpu", parameters={"n_entities": 10})
    ref = json.loads(json.dumps(ref, allow_nan=False))  # strict JSON, and what a reader gets back

    assert ref["method_order"] == list(METHODS) and set(ref["methods"]) == set(METHODS)
    mc = {m: ref["methods"][m]["intervals"]["test MC acc"] for m in METHODS}
    # facts right of 20 (test_nb05): base 5, full 18, LoRA 18, RAG 20, naive 19, RAFT 20
    assert [round(mc[m]["value"], 6) for m in METHODS] == [0.25, 0.9, 0.9, 1.0, 0.95, 1.0]
    assert mc["base"]["low"] < 0.25 < mc["base"]["high"] and mc["base"]["n_facts"] == len(FACTS) == 20
    assert mc["base"]["text"] == C.mean_estimate(comp.samples["base"]["mc"]).text()
    assert ref["methods"]["rag"]["intervals"]["test gold contained"]["value"] == pytest.approx(0.75)
    assert ref["methods"]["lora"]["metrics"]["trainable params"] == 2_442_240 and ref["methods"]["rag"]["metrics"]["setup s"] == 8.0
    # cheapest first: the base model (0 s, 25%) and RAG (8 s of indexing, 100%); every other method costs more for no more accuracy
    assert ref["frontier"]["pareto"] == ["base model", "RAG"]
    assert [v["id"] for v in ref["verdicts"]] == [v.id for v in verdicts]
    assert {v["id"]: v["verdict"] for v in ref["verdicts"]} == {v.id: v.verdict for v in verdicts}
    lm = next(v for v in ref["verdicts"] if v["id"] == "lora_matches")
    assert lm["verdict"] == C.HOLDS and lm["difference"]["value"] == 0.0 and lm["threshold"] == -C.MATCH_MARGIN

    p = ref["provenance"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    assert p["commit"] == head and isinstance(p["dirty"], bool)
    import peft
    import torch
    import transformers

    assert (p["versions"]["torch"], p["versions"]["transformers"], p["versions"]["peft"]) == (torch.__version__, transformers.__version__, peft.__version__)
    assert p["device"].startswith("CPU ") and p["profile"] == "cpu" and p["parameters"] == {"n_entities": 10}
    assert abs(dt.datetime.fromisoformat(p["date"]) - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)


def _reference_file(tmp_path, comp, device="NVIDIA H200", date="2026-12-04T10:00:00+00:00"):
    ref = reference.reference_result(comp, claims(comp), profile="gpu")
    ref["provenance"].update(device=device, date=date)  # as if measured there: the label shows them
    folder = tmp_path / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "h200.json").write_text(json.dumps(ref))
    return folder


def test_side_by_side_labels_each_run_and_takes_each_verdict_from_its_own_run(tmp_path):
    """The reference run: LoRA 18 of 20 facts (it matches full fine-tuning); this run: LoRA 10 of 20 (it does
    not). Each column shows its own run's number and verdict; a verdict on mixed numbers would show neither."""
    folder = _reference_file(tmp_path / "ref", _comparison(tmp_path / "a", lora_facts=18))
    this = _comparison(tmp_path / "b", lora_facts=10)
    ref = reference.newest(folder)
    other = "reference run (NVIDIA H200, 2026-12-04)"
    assert reference.run_label(ref) == other

    acc = reference.accuracy_table(this, ref)
    assert list(acc.columns) == ["this run: test MC acc [95% CI]", f"{other}: test MC acc [95% CI]", "this run: test gold contained [95% CI]",
                                 f"{other}: test gold contained [95% CI]", "this run: facts", f"{other}: facts"]
    lora = acc.loc[this.label("lora")]
    assert lora["this run: test MC acc [95% CI]"].startswith("50.0% [") and lora[f"{other}: test MC acc [95% CI]"].startswith("90.0% [")
    assert acc.loc["RAG", "this run: test MC acc [95% CI]"] == acc.loc["RAG", f"{other}: test MC acc [95% CI]"]  # same numbers, same text

    ver = reference.verdict_table(claims(this), ref)
    row = ver.loc[C.CLAIMS["lora_matches"][0]]
    assert row["this run: verdict"] == C.DOES_NOT_HOLD and row[f"{other}: verdict"] == C.HOLDS
    assert row["this run: difference [95% CI]"].startswith("-40.0 [") and row[f"{other}: difference [95% CI]"].startswith("+0.0 [")
    text = reference.describe(ref)
    assert other in text and "profile gpu" in text and "no verdict mixes the two runs" in text


def test_no_reference_and_a_bad_reference(tmp_path):
    assert reference.newest(tmp_path / "missing") is None and reference.find(tmp_path) == []
    assert "No reference result" in reference.describe(None, tmp_path) and "--profile gpu" in reference.describe(None, tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({"format": 99, "methods": {}}))
    with pytest.raises(ValueError, match=r"x\.json is not a reference result of format 1 \(format 99\)"):
        reference.find(tmp_path)


def _executed_05(tmp_path, ref: dict | None):
    outputs = [{"output_type": "display_data", "data": {"text/markdown": "x"}, "metadata": {reference.METADATA_KEY: ref} if ref else {}}]
    path = tmp_path / "05_comparison.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": outputs}]}))
    return path


def test_the_runner_writes_reference_json_from_notebook_05s_output(tmp_path):
    comp = _comparison(tmp_path)
    ref = reference.reference_result(comp, claims(comp), profile="cpu")
    nb = _executed_05(tmp_path, ref)
    records = [{"notebook": "00_overview_baseline.ipynb", "output": None, "seconds": 10.04, "error": None},
               {"notebook": "05_comparison.ipynb", "output": str(nb), "seconds": 2.0, "error": None}]
    path = runner.write_reference(tmp_path, records, 12.34, {"profile": "cpu", "smoke": True}, "cpu")
    assert path == tmp_path / "reference.json"
    back = reference.load(path)
    assert back["provenance"]["wall_seconds"] == 12.3 and [n["seconds"] for n in back["provenance"]["notebooks"]] == [10.0, 2.0]
    assert back["provenance"]["run_parameters"] == {"profile": "cpu", "smoke": True} and back["provenance"]["asked_profile"] == "cpu"
    assert back["methods"] == ref["methods"] and back["verdicts"] == ref["verdicts"]
    # a failed notebook 05, or one without the output, writes nothing
    (tmp_path / "reference.json").unlink()
    assert runner.write_reference(tmp_path, [dict(records[1], error="PapermillExecutionError: boom")], 1.0) is None
    assert runner.write_reference(tmp_path, [dict(records[1], output=str(_executed_05(tmp_path / "..", None)))], 1.0) is None
    assert not (tmp_path / "reference.json").exists()


def test_cli_profile_reaches_every_notebook_and_gpu_needs_cuda(tmp_path, capsys):
    """A real papermill run of a two-cell notebook: ``--profile cpu`` arrives as its ``profile`` parameter."""
    from lorag_nb.experiments import profiles
    from lorag_nb.infra.cli import main

    folder = tmp_path / "nbs"
    folder.mkdir()
    meta = json.loads((runner.NOTEBOOKS_DIR / "00_overview_baseline.ipynb").read_text())["metadata"]
    cells = [{"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [], "source": 'profile: str = "auto"  # run profile'},
             {"cell_type": "code", "id": "q", "metadata": {}, "execution_count": None, "outputs": [], "source": "print('PROFILE', profile)"}]
    (folder / "00_tiny.ipynb").write_text(json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}))
    out, records = runner.run_notebooks(tmp_path / "out", folder=folder, profile="cpu")
    assert records[0]["error"] is None
    printed = "".join("".join(o.get("text", "")) for c in json.loads((out / "00_tiny.ipynb").read_text())["cells"] for o in c.get("outputs", []))
    assert "PROFILE cpu" in printed and not (out / "reference.json").exists()
    with pytest.raises(ValueError, match="disagree"):
        runner.run_notebooks(tmp_path / "out2", folder=folder, profile="cpu", overrides={"profile": "gpu"})
    if not profiles.cuda_available():
        assert main(["run", "--profile", "gpu", "-n", "00", "-o", str(tmp_path / "out3")]) == 2
        assert "needs a CUDA device" in capsys.readouterr().err and not (tmp_path / "out3").exists()


def test_reference_intervals_are_the_claims_engines(tmp_path):
    """The stored interval is the claims engine's own estimate (same seed, same resamples), field by field."""
    comp = _comparison(tmp_path)
    ref = reference.reference_result(comp, claims(comp))
    est = C.mean_estimate(comp.samples["lora"]["mc"])
    stored = ref["methods"]["lora"]["intervals"]["test MC acc"]
    assert "null" not in stored  # the bootstrap distribution behind p-values is not stored
    for f in dataclasses.fields(est):
        if f.name == "null":
            continue
        want = getattr(est, f.name)
        assert stored[f.name] == (list(want) if isinstance(want, tuple) else want), f.name
