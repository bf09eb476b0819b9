"""The comparison (notebook 05): table, Pareto front, verdicts, same-questions check, widget, index headline,
and the notebook run alone from an empty results store."""
from __future__ import annotations

import copy
import json
import time

import pytest

from lorag_nb import compare
from lorag_nb.compare import COLUMNS, CompareSettings, Comparison, best_lora_rank, check_same_questions, claims, pareto_front
from lorag_nb.experiments import Result, ResultsStore

TEST_IDS = ["test-e001-occupation", "test-e001-birth_year", "test-e001-hometown", "test-e001-employer"]
REV_IDS = ["revised-e001-employer", "revised-e001-instrument"]  # real revised-facts ids (their old answers are looked up)


def _answers(em, f1, mc, contains, p50):
    return {"n": len(TEST_IDS), "exact_match": em, "f1": f1, "contains": contains, "mc_accuracy": mc, "latency_ms_p50": p50}


def _rows(ids=TEST_IDS):
    return [{"id": i, "prediction": "x", "contains": 0.0, "em": 0.0} for i in ids]


def _revised(contains, stale, ids=REV_IDS):
    return [{"id": i, "prediction": "y", "contains": c, "says_old": s} for i, c, s in zip(ids, contains, stale)]


def _training(seconds, steps, params, peak, artifact):
    return {"seconds": seconds, "steps": steps, "seconds_per_step": seconds / steps, "tokens_per_second": 1000 / seconds, "trainable_params": params,
            "total_params": 134_515_008, "peak_memory_bytes": peak, "memory_before_bytes": 1 << 30, "artifact_bytes": artifact, "device": "cpu", "threads": 1}


def synthetic_results(tmp_path):
    """Records with known numbers, written to and read back from a real ResultsStore (JSON round trip)."""
    MiB = 2**20
    recs = {
        "base": Result("baseline", "b0", {}, {"test": _answers(0.0, 0.05, 0.25, 0.0, 100.0), "oracle": {"mc_accuracy": 0.9}, "control": {"n": 10}, "control_accuracy": 0.8, "perplexity": 10.0},
                       {"test": _rows(), "revised": _revised([0.0, 0.0], [0.0, 0.0]) + _revised([1.0], [0.0], ids=["revised-e003-mascot"])}),
        "full": Result("train", "f0", {"training": {"lora": None}}, {"method": "full", "training": _training(200.0, 20, 134_515_008, 3000 * MiB, 513 * MiB), "test": _answers(0.5, 0.6, 0.75, 0.5, 90.0),
                                                                      "control": {"n": 10}, "forgetting": {"control_drop": 0.3, "perplexity_change": 0.01}},
                       {"rows": {"test": _rows(), "revised": _revised([0.0, 0.0], [1.0, 1.0])}}),
        "lora": Result("train", "l0", {"training": {"lora": {"r": 8}}}, {"method": "lora", "training": _training(100.0, 20, 2_442_240, 2000 * MiB, 9.4 * MiB), "test": _answers(0.5, 0.55, 0.5, 0.5, 110.0),
                                                                          "control": {"n": 10}, "forgetting": {"control_drop": 0.0, "perplexity_change": 0.0}},
                       {"rows": {"test": _rows(), "revised": _revised([0.0, 0.0], [1.0, 0.0])}}),
        "rag": Result("rag", "r0", {}, {"answers": _answers(0.25, 0.4, 1.0, 0.75, 400.0), "latency_ms": {"total_p50": 400.0, "embedding_p50": 10.0, "search_p50": 5.0}, "answered_hit_rate": 1.0, "top_k": 3, "chunks": {"chunks": 170}},
                      {"rows": _rows()}),
        "rag_swap": Result("rag_swap", "s0", {}, {"before": {"contains": 0.0, "old_fact_rate": 1.0, "n": 12}, "after": {"contains": 0.75, "old_fact_rate": 0.0, "n": 12}, "swap_seconds": 2.0, "n_questions": 12},
                           {"after": _revised([1.0, 1.0], [0.0, 0.0])}),
        "rag_index": Result("rag_index", "i0", {}, {"seconds": 8.0, "bytes": 4 * MiB, "chunks": 170}, {}),
        "naive_hybrid": Result("hybrid", "n0", {}, {"answers": _answers(0.5, 0.6, 0.75, 0.75, 500.0), "latency_ms": {"total_p50": 500.0}, "adapter": {"seconds": 100.0, "trainable_params": 2_442_240, "artifact_bytes": 9.4 * MiB, "peak_memory_bytes": 2000 * MiB},
                                                  "forgetting": {"control_drop": 0.0, "perplexity_change": 0.0}}, {"rows": _rows()}),
        "naive_hybrid_revised": Result("hybrid", "n1", {}, {}, {"rows": _revised([0.0, 0.0], [1.0, 1.0])}),
        "raft_hybrid": Result("hybrid", "h0", {}, {"answers": _answers(0.75, 0.8, 1.0, 1.0, 450.0), "latency_ms": {"total_p50": 450.0}, "adapter": {"seconds": 150.0, "trainable_params": 2_442_240, "artifact_bytes": 9.4 * MiB, "peak_memory_bytes": 2500 * MiB},
                                                 "forgetting": {"control_drop": 0.1, "perplexity_change": 0.0}}, {"rows": _rows()}),
        "raft_hybrid_revised": Result("hybrid", "h1", {}, {}, {"rows": _revised([1.0, 1.0], [0.0, 0.0])}),
    }
    store = ResultsStore(tmp_path / "store")
    out = {}
    for name, r in recs.items():
        store.put(r)
        out[name] = store.get(r.kind, r.key)
    out.update(best_rank=8, lora_dev={2: {"mc_accuracy": 0.25, "f1": 0.1}, 8: {"mc_accuracy": 0.5, "f1": 0.2}}, prompt_variant="context_then_question")
    return out


@pytest.fixture()
def comp(tmp_path):
    return Comparison.from_results(synthetic_results(tmp_path), CompareSettings())


def test_table_has_one_row_per_method_and_the_known_numbers(comp):
    df = comp.table()
    assert list(df.columns) == list(COLUMNS)
    assert list(df.index) == ["base model", "full fine-tuning", "LoRA r=8", "RAG", "naive hybrid (LoRA + RAG)", "RAFT hybrid"]
    assert df.loc["full fine-tuning", "test MC acc"] == 0.75
    assert df.loc["RAG", "update s"] == 2.0 and df.loc["RAG", "setup s"] == 8.0 and df.loc["RAG", "trainable params"] == 0
    assert df.loc["RAG", "artifact MiB"] == pytest.approx(4.0)
    assert df.loc["naive hybrid (LoRA + RAG)", "setup s"] == pytest.approx(108.0)  # adapter training + indexing
    assert df.loc["naive hybrid (LoRA + RAG)", "artifact MiB"] == pytest.approx(13.4)  # adapter + index
    assert df.loc["LoRA r=8", "update s"] == 100.0  # update = retraining
    # revised columns use only the ids every method answered: the base model's extra question is left out
    assert comp.revised_ids == REV_IDS
    assert df.loc["base model", "revised acc"] == 0.0
    assert df.loc["RAG", "revised acc"] == 1.0 and df.loc["RAFT hybrid", "revised acc"] == 1.0 and df.loc["LoRA r=8", "revised acc"] == 0.0
    assert df.loc["naive hybrid (LoRA + RAG)", "revised stale"] == 1.0 and df.loc["LoRA r=8", "revised stale"] == 0.5
    pretty = comp.table(pretty=True)
    assert pretty.loc["full fine-tuning", "test MC acc"] == "75.0%" and pretty.loc["full fine-tuning", "trainable params"] == "134,515,008"
    assert pretty.loc["RAG", "tokens/s"] == ""


def test_pareto_front():
    pts = {"a": (0.0, 0.25), "b": (10.0, 0.9), "c": (100.0, 0.5), "d": (200.0, 0.95), "e": (10.0, 0.8), "f": (None, 1.0)}
    assert pareto_front(pts) == ["a", "b", "d"]
    assert pareto_front({"x": (1.0, 0.5), "y": (1.0, 0.5)}) == ["x", "y"]  # equal points do not dominate each other


def test_pareto_front_of_the_comparison(comp):
    pts = {comp.label(m): (comp.rows[m]["setup s"], comp.rows[m]["test MC acc"]) for m in comp.methods}
    assert pareto_front(pts) == ["base model", "RAG"]  # RAG: 8 s of indexing, MC 1.0; nothing cheaper is as good


def test_verdicts_from_the_numbers(comp):
    v = {r["id"]: r for r in claims(comp)}
    assert v["lora_faster"]["verdict"] == "holds"  # 5 vs 10 s/step
    assert v["lora_tiny"]["verdict"] == "holds"
    assert v["lora_matches"]["verdict"] == "holds"  # MC 0.5 vs 0.75 on 4 questions is one question: a tie; EM equal
    assert v["full_forgets"]["verdict"] == "holds"  # control drop 0.3 > 1/10 and perplexity +1%
    assert v["lora_forgets_less"]["verdict"] == "holds"
    assert v["rag_latency"]["verdict"] == "holds"  # 400 ms vs closed-book median 100 ms
    assert v["rag_swap"]["verdict"] == "holds"  # 0 → 0.75 on 12 questions, 2 s vs 100 s
    assert v["rag_no_training"]["verdict"] == "holds"
    assert v["hybrid_best"]["verdict"] == "depends"  # RAFT 1.0 ties RAG 1.0
    assert v["hybrid_update"]["verdict"] == "does not hold"  # naive hybrid answers 0 of 2 revised facts (RAG 2 of 2) and states the old value
    assert all(r["condition"] and r["sections"].count("](") >= 2 for r in v.values())
    assert "135M" in v["lora_faster"]["condition"] and "20 steps" in v["lora_faster"]["condition"]


def test_lora_matches_on_a_tie_and_on_a_loss(comp):
    c = copy.deepcopy(comp)
    c.rows["lora"].update({"test MC acc": 0.5, "test EM": 0.5})
    c.rows["full"].update({"test MC acc": 0.75, "test EM": 0.5})  # one question of 4 apart: a tie on both
    assert {r["id"]: r["verdict"] for r in claims(c)}["lora_matches"] == "holds"
    c.rows["full"].update({"test MC acc": 1.0, "test EM": 1.0})  # two questions apart on both
    assert {r["id"]: r["verdict"] for r in claims(c)}["lora_matches"] == "does not hold"


def test_depends_when_the_forgetting_measures_disagree(comp):
    c = copy.deepcopy(comp)
    c.rows["lora"].update({"control drop": 0.0, "perplexity change": 0.05})  # less control loss, more perplexity damage
    c.rows["full"].update({"control drop": 0.3, "perplexity change": 0.01})
    row = {r["id"]: r for r in claims(c)}["lora_forgets_less"]
    assert row["verdict"] == "depends" and "disagree" in row["why"]
    c.rows["lora"].update({"seconds per step": 9.5})  # 0.95× of full's 10 s/step: within the 10% margin
    assert {r["id"]: r["verdict"] for r in claims(c)}["lora_faster"] == "depends"


def test_methods_on_different_questions_raise(tmp_path):
    res = synthetic_results(tmp_path)
    res["rag"].details["rows"] = _rows(TEST_IDS[:3] + ["test-e002-country"])
    with pytest.raises(ValueError, match=r"different test questions.*rag"):
        Comparison.from_results(res)
    with pytest.raises(ValueError, match="no per-question test rows"):
        check_same_questions({"base": ["a"], "rag": []})
    assert check_same_questions({"a": ["q2", "q1"], "b": ["q1", "q2"]}) == ["q1", "q2"]


def test_best_lora_rank_and_settings_validation():
    assert best_lora_rank({2: {"mc_accuracy": 0.5, "f1": 0.1}, 8: {"mc_accuracy": 0.75, "f1": 0.0}, 32: {"mc_accuracy": 0.75, "f1": 0.0}}) == 8
    assert best_lora_rank({2: {"mc_accuracy": 0.5, "f1": 0.3}, 8: {"mc_accuracy": 0.5, "f1": 0.2}}) == 2
    with pytest.raises(ValueError, match="lora_ranks"):
        CompareSettings(lora_ranks=())
    with pytest.raises(ValueError, match="rag_questions"):
        CompareSettings(rag_questions=0)
    s = CompareSettings()
    # the same settings notebooks 01-03 use by default → the same stored runs
    from lorag_nb import training

    assert s.full_settings() == training.default_full_ft()
    assert s.lora_settings(8) == training.default_lora()
    assert s.train_eval() == training.default_eval(2)


def test_section_links_point_at_real_headings():
    for cid, sections in compare.SECTIONS.items():
        for stem, heading in sections:
            heads = compare.notebook_headings(stem)
            if heading is not None and heads:
                assert heading in heads, f"{cid}: heading {heading!r} not in {stem}"
    assert compare.anchor("Answers vs top_k, against the oracle-document ceiling") == "Answers-vs-top_k,-against-the-oracle-document-ceiling"


def test_widget_follows_the_selection(comp):
    from lorag_nb.widgets import ComparisonExplorer

    dash = ComparisonExplorer(comp)
    dash.update(metrics=("test EM", "update s"), methods=("rag", "lora"))
    bars = dash.static_figures()[0]
    assert len(bars.data) == 4  # 2 metrics × 2 methods
    assert {t.name for t in bars.data} == {"RAG", "LoRA r=8"}
    table = dash.figures["table"].data[0]
    assert list(table.header.values) == ["method", "test EM", "update s"]
    dash.update(metrics=())
    assert len(dash.static_figures()[0].data) == 0
    with pytest.raises(ValueError, match="unknown"):
        ComparisonExplorer(comp, metrics=("accuracy",))


def test_decision_guide_and_claims_markdown(comp):
    rows = claims(comp)
    text = compare.decision_guide(comp, rows)
    assert "RAFT hybrid" in text and "135M" in text and compare.SCALE_PARAGRAPH in text
    md = compare.claims_markdown(rows)
    assert md.count("\n") == len(rows) + 1 and "02_lora.html#LoRA-vs-full-fine-tuning" in md


def test_index_shows_headline_numbers(tmp_path, comp):
    from lorag_nb.cli import write_index

    executed = tmp_path / "05_comparison.ipynb"
    data = {"condition": comp.condition(), "rows": comp.headline()}
    nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [{"output_type": "display_data", "data": {"text/markdown": "x"}, "metadata": {compare.HEADLINE_KEY: data}}]}]}
    executed.write_text(json.dumps(nb))
    assert compare.headline_from_notebook(executed)["rows"][3]["method"] == "RAG"
    records = [{"notebook": "05_comparison.ipynb", "output": str(executed), "html": None, "seconds": 1.0, "error": None}]
    page = write_index(tmp_path, records).read_text()
    assert "Headline numbers" in page and "<td>RAG</td><td>100%</td>" in page  # RAG: test MC acc 1.0
    failed = [dict(records[0], error="PapermillExecutionError: boom")]
    assert "none in this run" in write_index(tmp_path, failed).read_text()
    missing = [dict(records[0], output=str(tmp_path / "nope.ipynb"))]
    assert "none in this run" in write_index(tmp_path, missing).read_text()


def test_notebook_05_runs_alone_from_an_empty_store(tmp_path, monkeypatch):
    """The comparison trains and measures everything itself when the results store is empty."""
    import papermill as pm

    from lorag_nb.cli import NOTEBOOKS_DIR, smoke_parameters

    store = tmp_path / "empty-store"
    store.mkdir()
    monkeypatch.setenv("LORAG_NB_RESULTS", str(store))
    path = NOTEBOOKS_DIR / "05_comparison.ipynb"
    out = tmp_path / path.name
    t0 = time.perf_counter()
    pm.execute_notebook(str(path), str(out), parameters=smoke_parameters(path), kernel_name="python3", cwd=str(path.parent), progress_bar=False, execution_timeout=1200)
    print(f"notebook 05 (smoke) from an empty store: {time.perf_counter() - t0:.0f} s")
    head = compare.headline_from_notebook(out)
    assert [r["method"] for r in head["rows"]][:2] == ["base model", "full fine-tuning"] and len(head["rows"]) == 6
    kinds = {p.name.rsplit("-", 1)[0] for p in store.glob("*.json")}
    assert {"baseline", "train", "lora_dev", "rag", "rag_swap", "rag_index", "hybrid"} <= kinds
    text = out.read_text()
    assert "does not hold" in text or "holds" in text or "depends" in text
