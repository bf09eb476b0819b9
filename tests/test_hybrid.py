"""Hybrids (lorag_nb.methods.hybrid): RAFT examples, the three methods in the RAG chain, caching and errors
(notebook 04's tables and verdicts are tested in test_nb04.py)."""
from __future__ import annotations

import pytest

from lorag_nb.data.knowledge import document_for, load_knowledge
from lorag_nb.data.prompts import completion
from lorag_nb.experiments import nb02, nb04
from lorag_nb.methods import hybrid, raft, training

VARIANT = "context_then_question"


@pytest.fixture(scope="module")
def base(hybrid_base):
    return hybrid_base


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


@pytest.fixture(scope="module")
def runs(hybrid_runs):
    return hybrid_runs


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
    assert len(store.all("train")) == n_train  # nothing retrained (test_nb04's extra seed may already be stored)
    assert n_train >= 2 and {runs["main"][m].metrics["adapter"]["key"] for m in trained} <= {r.key for r in store.all("train")}
    for k, created in trained.items():
        assert store.get("train", runs["main"][k].metrics["adapter"]["key"]).created == created


def test_missing_settings_raise_naming_them(runs):
    """A method has no notebook defaults: a missing retriever, evaluation or adapter is one clear error."""
    kw = {k: v for k, v in runs["kw"].items() if k != "eval_settings"}
    with pytest.raises(ValueError, match="method='raft_hybrid' needs adapter_settings"):
        hybrid.run_hybrid("raft_hybrid", runs["rs"], None, eval_settings=runs["ev"], **kw)
    with pytest.raises(ValueError, match="rag_settings=None"):
        hybrid.run_hybrid("rag", None, None, eval_settings=runs["ev"], **kw)
    with pytest.raises(ValueError, match="eval_settings=None"):
        hybrid.run_hybrid("rag", runs["rs"], None, **kw)
