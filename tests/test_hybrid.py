"""Hybrids (lorag_nb.methods.hybrid): RAFT examples, validation, the three methods in the RAG chain, the explorer."""
from __future__ import annotations

import pytest

from lorag_nb.core.config import EvalSettings, RaftSettings, RagSettings, TrainingSettings
from lorag_nb.data.knowledge import document_for, load_knowledge
from lorag_nb.data.prompts import completion
from lorag_nb.experiments import nb02, nb04
from lorag_nb.methods import hybrid, raft, training

VARIANT = "context_then_question"


@pytest.fixture(scope="module")
def base():
    from lorag_nb.methods.models import load_model

    return load_model("embedded", dtype="float32")


@pytest.fixture(scope="module")
def tok(base):
    return base[1]


@pytest.fixture(scope="module")
def ks10():
    return load_knowledge(n_entities=10)


def near(**kw):
    return nb04.raft_settings(distractors="near_duplicates", prompt_variant=VARIANT, **kw)


def test_oracle_rate_follows_p_oracle(tok, ks10):
    recs = raft.raft_records(tok, ks10, near(p_oracle=0.5, n_entities=10))
    # RAFT keeps 2 of the 5 training wordings per fact (hybrid.RAFT_TRAINING)
    assert len(recs) == 2 * ks10.n_facts == 2 * len(ks10.train_qa) // 5 == 120
    assert abs(raft.oracle_rate(recs) - 0.5) < 0.1  # 120 draws: sd 0.046
    for r in recs:
        assert (r["gold_doc"] in r["context_ids"]) == r["oracle"]
    # same seed → same examples; another seed → another draw
    again = raft.raft_records(tok, ks10, near(p_oracle=0.5, n_entities=10))
    assert [r["context_ids"] for r in again] == [r["context_ids"] for r in recs]
    other = raft.raft_records(tok, ks10, near(p_oracle=0.5, n_entities=10, seed=1))
    assert [r["oracle"] for r in other] != [r["oracle"] for r in recs]


def test_p_oracle_zero_never_shows_the_gold_document(tok, ks10):
    recs = raft.raft_records(tok, ks10, near(p_oracle=0.0, n_entities=10, k=4))
    by_id = {q.id: q for q in ks10.train_qa}
    for r in recs:
        gold = document_for(ks10, by_id[r["id"]]).text
        assert not r["oracle"] and r["gold_doc"] not in r["context_ids"]
        assert all(c.strip() != gold.strip() for c in r["contexts"])
        assert len(r["contexts"]) == 4 and len(set(r["context_ids"])) == 4
    assert all(r["oracle"] for r in raft.raft_records(tok, ks10, near(p_oracle=1.0, n_entities=10)))


def test_labels_cover_exactly_the_whole_answer(tok):
    ks = load_knowledge(n_entities=2)
    settings = near(n_entities=2, k=3, cite=True)
    recs = raft.raft_records(tok, ks, settings)
    assert len(recs) == 24  # 12 facts × the 2 RAFT training wordings
    for r in recs:
        ex = r["example"]
        assert len(ex["input_ids"]) == len(ex["labels"]) == len(ex["attention_mask"]) <= settings.max_length
        labelled = [i for i, lab in enumerate(ex["labels"]) if lab != training.IGNORE_INDEX]
        # one contiguous block at the end, equal to the whole tokenized completion (nothing cut)
        assert labelled == list(range(len(ex["labels"]) - len(labelled), len(ex["labels"])))
        target_ids = tok(completion(tok, r["target"]), add_special_tokens=False)["input_ids"]
        assert [ex["input_ids"][i] for i in labelled] == target_ids
        assert r["target"].startswith(r["answer"])
        if r["oracle"]:
            assert "(from: " in r["target"]  # cite quotes the oracle sentence
    # the build_examples hook returns the same examples
    assert training.build_examples(tok, ks, settings) == [r["example"] for r in recs]


def test_too_short_max_length_raises_instead_of_cutting(tok):
    with pytest.raises(ValueError, match="max_length=64"):
        raft.raft_records(tok, load_knowledge(n_entities=2), near(n_entities=2, max_length=64))


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


def test_unknown_raft_key_and_method_raise(tok):
    with pytest.raises(ValueError, match=r"\['colour'\].*fields of RaftSettings"):
        nb02.default_lora(n_entities=2).replace(context="raft", raft={"colour": 1})
    # a bad knob is refused when the settings are built, before any training data is made
    with pytest.raises(ValueError, match="p_oracle=2"):
        nb02.default_lora(n_entities=2).replace(context="raft", raft={"p_oracle": 2})
    with pytest.raises(ValueError, match="None unless context='raft'"):
        nb02.default_lora(n_entities=2).replace(raft={"k": 2})
    with pytest.raises(ValueError, match="method='lora'"):
        hybrid.run_hybrid("lora")


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


@pytest.fixture(scope="module")
def runs(base, tmp_path_factory):
    """Every method once, tiny: 2 questions, 2 optimizer steps per adapter, an in-memory Chroma."""
    import chromadb

    from lorag_nb.core.store import ResultsStore
    from lorag_nb.methods.retrieval import chroma_settings

    model, tokenizer = base
    store = ResultsStore(tmp_path_factory.mktemp("hybrid-store"))
    client = chromadb.EphemeralClient(settings=chroma_settings())
    ev = EvalSettings(n_entities=4, max_questions=2, max_new_tokens=6, batch_size=4)
    adapter_ev = EvalSettings(n_entities=2, max_questions=2, max_new_tokens=4, batch_size=4, perplexity_texts=1, perplexity_tokens=32)
    rs = RagSettings(top_k=2, prompt_variant=VARIANT)
    adapters = {
        "naive_hybrid": nb04.naive_settings(n_entities=2, max_steps=2),
        "raft_hybrid": nb04.raft_settings(n_entities=2, max_steps=2, k=2, kb_entities=4, prompt_variant=VARIANT),
    }
    kw = dict(store=store, eval_settings=ev, model=model, tokenizer=tokenizer, client=client, adapter_eval_settings=adapter_ev)
    main = {m: hybrid.run_hybrid(m, rs, adapters.get(m), multiple_choice=True, **kw) for m in hybrid.METHODS}
    sweep = hybrid.sweep_k(hybrid.METHODS, (1, 2), rs, adapters=adapters, multiple_choice=False, **kw)  # k=2 reuses main's runs
    revised = {m: hybrid.run_hybrid_revised(m, rs, adapters.get(m), multiple_choice=False, **kw) for m in hybrid.METHODS}
    return dict(store=store, client=client, ev=ev, rs=rs, adapters=adapters, kw=kw, sweep=sweep, main=main, revised=revised)


def test_run_hybrid_schema(runs):
    for m, r in runs["main"].items():
        a = r.metrics["answers"]
        assert r.kind == "hybrid" and r.metrics["method"] == m
        assert a["n"] == 2 and 0 <= a["contains"] <= 1 and a["mc_accuracy"] is not None
        assert r.metrics["top_k"] == 2 and "hit@k" in r.metrics["retrieval"]
        assert r.metrics["latency_ms"]["total"] > 0
        assert set(r.metrics["forgetting"]) == {"control_drop", "perplexity_change"}
        assert len(r.details["rows"]) == 2 and len(r.details["rows"][0]["chunks"]) == 2
        ad = r.metrics["adapter"]
        if m == "rag":
            assert ad["trainable_params"] == 0 and ad["key"] is None and r.metrics["forgetting"]["control_drop"] == 0.0
        else:
            assert ad["trainable_params"] > 0 and ad["steps"] == 2 and ad["artifact_bytes"] > 0
            assert runs["store"].get("train", ad["key"]).metrics["method"] == ("raft" if m == "raft_hybrid" else "lora")
    # distinct store keys per method (the adapter key is in the model name)
    assert len({r.metrics["rag_key"] for r in runs["main"].values()}) == 3
    assert runs["main"]["naive_hybrid"].metrics["adapter"]["key"] != runs["main"]["raft_hybrid"].metrics["adapter"]["key"]
    for m in hybrid.METHODS:
        assert sorted(runs["sweep"][m]) == [1, 2]
        assert runs["sweep"][m][2].metrics["rag_key"] == runs["main"][m].metrics["rag_key"]  # stored with MC: reused
        assert [len(runs["sweep"][m][k].details["rows"][0]["chunks"]) for k in (1, 2)] == [1, 2]


def test_revised_reports_stale_and_trained_subset(runs):
    for m, r in runs["revised"].items():
        assert r.metrics["stale_rate"] is not None and 0 <= r.metrics["stale_rate"] <= 1
        assert r.metrics["trained_entities"] == ["e001", "e002"]
        t = r.metrics["answers_trained"]
        assert t["n"] == sum(1 for x in r.details["rows"] if x["trained_entity"]) and t["n"] >= 1
        assert all(x["sources"] and not any(s.startswith("doc-") for s in x["sources"]) for x in r.details["rows"])  # the revised KB only
    table = nb04.revised_table(runs["revised"])
    assert list(table["n"]) == [2, 2, 2]


def test_cache_hits_do_not_retrain(runs):
    store = runs["store"]
    n_train = len(store.all("train"))
    trained = {k: store.get("train", r.metrics["adapter"]["key"]).created for k, r in runs["main"].items() if k != "rag"}
    again = hybrid.run_hybrid("raft_hybrid", runs["rs"], runs["adapters"]["raft_hybrid"], multiple_choice=True, **runs["kw"])
    assert again.cached and again.key == runs["main"]["raft_hybrid"].key
    assert len(store.all("train")) == n_train == 2
    for k, created in trained.items():
        assert store.get("train", runs["main"][k].metrics["adapter"]["key"]).created == created


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


def test_missing_settings_raise_naming_them(runs):
    """A method has no notebook defaults: a missing retriever, evaluation or adapter is one clear error."""
    kw = {k: v for k, v in runs["kw"].items() if k != "eval_settings"}
    with pytest.raises(ValueError, match="method='raft_hybrid' needs adapter_settings"):
        hybrid.run_hybrid("raft_hybrid", runs["rs"], None, eval_settings=runs["ev"], **kw)
    with pytest.raises(ValueError, match="rag_settings=None"):
        hybrid.run_hybrid("rag", None, None, eval_settings=runs["ev"], **kw)
    with pytest.raises(ValueError, match="eval_settings=None"):
        hybrid.run_hybrid("rag", runs["rs"], None, **kw)
