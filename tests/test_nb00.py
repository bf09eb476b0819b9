"""Notebook 00's experiment module (lorag_nb.experiments.nb00): the baseline tables and findings, on
known numbers (the measurements themselves are tested in test_experiments.py and by the notebook run)."""
from __future__ import annotations

from lorag_nb.core.store import Result
from lorag_nb.experiments import nb00


def _metrics(mc, oracle_mc=0.9):
    split = lambda acc: {"exact_match": acc / 2, "f1": acc / 2, "contains": acc, "mc_accuracy": acc, "n": 12}  # noqa: E731
    return {"test": split(mc), "oracle": split(oracle_mc), "revised": split(0.0), "control": {"n": 20}, "control_accuracy": 0.85, "perplexity": 12.5}


def test_metrics_table_has_one_row_per_model_and_the_numbers():
    t = nb00.metrics_table({"base": _metrics(0.25), "trained": _metrics(0.75)})
    assert list(t.index) == ["base", "trained"]
    assert t.loc["trained", "test mc_accuracy"] == 0.75 and t.loc["base", "oracle contains"] == 0.9
    assert t.loc["base", "control accuracy"] == 0.85 and t.loc["base", "perplexity"] == 12.5


def test_findings_follow_the_numbers():
    near_chance = nb00.baseline_findings(_metrics(0.27))
    guessing = nb00.baseline_findings(_metrics(0.6))
    assert "does not know" in near_chance and "does not know" not in guessing and "partly guess" in guessing
    assert "27.0%" in near_chance and "90.0%" in near_chance  # closed book and with the oracle document
    assert "85.0%" in near_chance and "12.50" in near_chance  # control accuracy and perplexity
    no_oracle = {k: v for k, v in _metrics(0.27).items() if k != "oracle"}
    assert "oracle document" not in nb00.baseline_findings(no_oracle)


def test_examples_table_lines_up_predictions_by_question_id():
    rows = [{"id": f"q{i}", "question": f"Q{i}?", "gold": f"g{i}", "prediction": f"p{i}"} for i in range(3)]
    oracle = [dict(r, prediction=f"o{r['id']}") for r in reversed(rows)]  # another order: matched by id
    t = nb00.examples_table(Result("baseline", "k", {}, {}, {"test": rows, "oracle": oracle}), n=2)
    assert list(t["question"]) == ["Q0?", "Q1?"]
    assert list(t["oracle prediction"]) == ["oq0", "oq1"] and list(t["test prediction"]) == ["p0", "p1"]
