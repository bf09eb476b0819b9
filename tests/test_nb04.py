"""Notebook 04's experiment module (lorag_nb.experiments.nb04): its adapter settings (notebook 02's LoRA
with RAFT knobs), tables, top_k series with intervals, the explorer's data and the hybrid verdicts, on
the tiny hybrid runs of conftest's ``hybrid_runs`` (the methods are tested in test_hybrid.py)."""
from __future__ import annotations

import pytest

from lorag_nb.core.config import RaftSettings, TrainingSettings
from lorag_nb.experiments import nb02, nb04
from lorag_nb.methods import hybrid

VARIANT = "context_then_question"


@pytest.fixture(scope="module")
def runs(hybrid_runs):
    return hybrid_runs


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(p_oracle=1.5), r"p_oracle=1.5.*\[0, 1\]"),
        (dict(p_oracle=-0.1), r"p_oracle=-0.1"),
        (dict(k=0), r"k=0.*>= 1"),
        (dict(distractors="random"), r"distractors='random'.*near_duplicates"),
        (dict(prompt_variant="nope"), r"prompt_variant='nope'"),
    ],
)
def test_bad_raft_knobs_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        nb04.raft_settings(**kw)


def test_raft_settings_are_notebook_02_lora_with_raft_context():
    s = nb04.raft_settings(prompt_variant=VARIANT)
    lora = nb02.default_lora()
    assert s.method == "raft" and s.context == "raft"
    assert s.lora == lora.lora and s.n_entities == lora.n_entities == 10 and s.learning_rate == lora.learning_rate
    assert s.paraphrases == 2 and lora.paraphrases is None  # RAFT: 2 of the 5 wordings (examples are ~3.5× longer)
    assert s.raft == RaftSettings(p_oracle=0.8, k=3, distractors="both", cite=False, prompt_variant=VARIANT, kb_entities=80)
    # the stored form is the plain dict it always was, so results keyed before RaftSettings keep their keys
    assert s.to_dict()["raft"] == {"p_oracle": 0.8, "k": 3, "distractors": "both", "cite": False, "prompt_variant": VARIANT, "kb_entities": 80}
    assert TrainingSettings(**s.to_dict()) == s
    assert nb04.naive_settings() == lora  # notebook 04's naive adapter is notebook 02's LoRA
    assert hybrid.adapter_settings_for("naive_hybrid", lora) is lora
    assert hybrid.adapter_settings_for("rag") is None
    with pytest.raises(ValueError, match="needs adapter_settings"):  # a method has no notebook defaults
        hybrid.adapter_settings_for("naive_hybrid")


def test_findings_and_tables(runs):
    text = nb04.findings(runs["sweep"], runs["main"], runs["revised"])
    assert "Combine both" in text and "robust to distractors" in text and "Revised facts" in text and "95% CI" in text
    vs = {v.id: v for v in nb04.verdicts(runs["sweep"], runs["main"], runs["revised"])}
    assert set(vs) == {"hybrid_best", "raft_beats_rag", "raft_robust", "hybrid_update"}
    for v in vs.values():  # each verdict rests on the facts of the questions answered, with its interval
        assert v.verdict in ("holds", "does not hold", "undetermined") and v.diff.n_facts >= 1
        assert v.diff.n_questions >= v.diff.n_facts
    table = nb04.sweep_table(runs["sweep"])
    assert list(table.columns) == [1, 2] and len(table) == 3
    assert nb04.latency_table(runs["main"])["total ms"].gt(0).all()


def test_explorer_update_changes_figures(runs):
    from lorag_nb.ui.widgets import HybridExplorer

    data = nb04.explorer_data(runs["sweep"], runs["rs"], runs["ev"], client=runs["client"])
    assert data["ks"] == [1, 2] and len(data["examples"]) == 2 and len(data["examples"][0]["ranked"]) == 2
    dash = HybridExplorer(data, top_k=1)
    assert len(dash.figures["accuracy"].data) == 3 + 3  # three lines + three markers at k
    assert list(dash.figures["accuracy"].layout.xaxis.tickvals) == [1, 2]  # the measured k only, no 1.5
    assert sorted(t.textposition for t in dash.figures["accuracy"].data[3:]) == ["bottom right", "middle right", "top right"]
    before = dash.figures["example"].data[1].cells.values[0]
    dash.update(top_k=2)
    assert list(dash.figures["example"].data[1].cells.values[0]) == [1, 2] and list(before) == [1]
    dash.update(methods=("rag",))
    assert [t.name for t in dash.figures["accuracy"].data if t.showlegend is not False] == [hybrid.METHOD_LABELS["rag"]]
    assert len(dash.figures["example"].data[0].cells.values[0]) == 1
    with pytest.raises(ValueError, match="unknown control"):
        dash.update(rank=3)
    assert len(dash.static_figures()) == 2


def test_run_seeds_reuses_the_main_seed_and_trains_the_other(runs):
    store = runs["store"]
    n_train = len(store.all("train"))
    kw = {k: v for k, v in runs["kw"].items()}
    seeds = hybrid.run_seeds("raft_hybrid", [0, 1], runs["adapters"]["raft_hybrid"], rag_settings=runs["rs"], multiple_choice=True, **kw)
    assert seeds[0].cached and seeds[0].key == runs["main"]["raft_hybrid"].key  # the main run is seed 0
    assert not seeds[1].cached and seeds[1].metrics["adapter"]["key"] != seeds[0].metrics["adapter"]["key"]
    assert len(store.all("train")) == n_train + 1  # one new adapter, nothing retrained
    vs = {v.id: v for v in nb04.verdicts(runs["sweep"], runs["main"], runs["revised"], seeds={"raft_hybrid": seeds})}
    assert vs["raft_beats_rag"].measured[hybrid.METHOD_LABELS["raft_hybrid"]].seeds == (0, 1)
    assert vs["raft_robust"].measured  # the sweep's claim is unaffected by the seeds
    table = nb04.seeds_table({"raft_hybrid": seeds})
    assert len(table) == 3  # two seeds and the spread row
    with pytest.raises(ValueError, match=r"seeds=\[0, 0\]"):
        hybrid.run_seeds("raft_hybrid", [0, 0], runs["adapters"]["raft_hybrid"], rag_settings=runs["rs"], **kw)


def test_sweep_series_intervals_bracket_the_values(runs):
    plain = nb04.sweep_series(runs["sweep"], "contains")
    with_ci = nb04.sweep_series(runs["sweep"], "contains", intervals=True)
    assert set(plain) == set(with_ci)
    for label, (ks, vals, lows, highs) in with_ci.items():
        assert ks == plain[label][0] and vals == pytest.approx(plain[label][1])  # balanced wordings: fact mean = question mean
        for v, lo, hi in zip(vals, lows, highs):
            assert lo != lo or lo <= v <= hi  # NaN (one fact) or a bracketing interval
    from lorag_nb.ui import plots

    fig = plots.lines_figure(with_ci, "t", "k", "contains")
    assert all(tr.error_y.array is not None for tr in fig.data)


def test_tokens_per_example_counts_the_examples_a_run_by_steps_saw():
    """Issue 23: the RAFT adapter's row of notebook 04's cost table showed None (a run by max_steps)."""
    from lorag_nb.experiments.nb04 import examples_seen

    # 10 examples, batch 4: 3 steps per epoch (4 + 4 + 2); 7 steps = 2 epochs + 1 step of 4
    assert examples_seen({"n_examples": 10, "steps": 7, "steps_per_epoch": 3}, {"max_steps": 7, "batch_size": 4}) == 24
    assert examples_seen({"n_examples": 10, "steps": 3, "steps_per_epoch": 3}, {"max_steps": 3, "batch_size": 4}) == 10
    assert examples_seen({"n_examples": 10, "steps": 2, "steps_per_epoch": 2}, {"max_steps": 2, "batch_size": 2, "gradient_accumulation_steps": 3}) == 10
    assert examples_seen({"n_examples": 10, "steps": 6, "steps_per_epoch": 3}, {"max_steps": -1, "epochs": 2, "batch_size": 4}) == 20
