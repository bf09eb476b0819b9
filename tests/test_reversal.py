"""The reversal curse (Berglund et al. 2023; lorag_nb.methods.probes.reversal_probe, the claims weights_one_direction and
rag_both_directions) with known answers: the reversed questions are deterministic, unique-valued, reference existing
facts and change no file; a model that answers every forward question right and every reversed one wrong beside a
base model equal both ways gives a gap of 1.0 and the claim holds."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from lorag_nb.core import claims as C
from lorag_nb.core.store import ResultsStore, Result, data_fingerprint
from lorag_nb.data import worldgen
from lorag_nb.data.knowledge import DATA_DIR, load_knowledge
from lorag_nb.experiments.method_claims import reversal_claims, reversal_examples, reversal_table
from lorag_nb.methods import probes

# ----------------------------------------------------------------------------------------------- the questions


def _holders():
    entities, lookalikes, _r, _p = worldgen._build_world(worldgen.SEED)
    out: dict[tuple[str, str], int] = {}
    for e in [*entities, *lookalikes]:
        for rel, v in e["attributes"].items():
            out[(rel, v)] = out.get((rel, v), 0) + 1
    return entities, out


def test_reversed_questions_are_deterministic_unique_valued_and_name_existing_facts():
    rows = worldgen.reversed_questions(10)
    assert rows == worldgen.reversed_questions(10)
    assert len(rows) == 34 and len({r["fact"] for r in rows}) == 17  # the CPU defaults' taught world
    assert len({r["id"] for r in rows}) == len(rows)
    entities, holders = _holders()
    by_id = {e["id"]: e for e in entities}
    test_ids = {json.loads(line)["id"] for line in (DATA_DIR / "qa_test.jsonl").read_text(encoding="utf-8").splitlines()}
    for r in rows:
        e = by_id[r["entity_id"]]
        assert r["value"] == e["attributes"][r["relation"]] and holders[(r["relation"], r["value"])] == 1  # the value identifies the entity
        assert r["answer"] == e["name"] and r["options"][r["answer_index"]] == e["name"]
        assert len(set(r["options"])) == 4 and all(by_id_name(entities, o)["kind"] == e["kind"] for o in r["options"])
        assert r["value"] in r["question"] and e["name"] not in r["question"]
        assert r["fact"] == f"{e['id']}/{r['relation']}" and set(r["forward_ids"]) <= test_ids and len(r["forward_ids"]) == 3
    # the example of the issue, where it is reversible: each reversed question's forward twin asks the entity
    ks = load_knowledge(n_entities=10)
    facts = {q.fact for q in ks.test_qa}
    assert {r["fact"] for r in rows} <= facts


def by_id_name(entities, name):
    return next(e for e in entities if e["name"] == name)


def test_reversed_questions_change_no_file_and_no_stored_key():
    before = {p.name: p.read_bytes() for p in DATA_DIR.glob("*.jsonl")}
    fingerprint = data_fingerprint()
    worldgen.reversed_questions()
    assert {p.name: p.read_bytes() for p in DATA_DIR.glob("*.jsonl")} == before and data_fingerprint() == fingerprint
    assert set(worldgen.build()) == set(worldgen.OUTPUT_FILES)  # no new output file: the world's files are the same list
    assert not any(r["id"].startswith("reversed-") for rows in worldgen.build().values() for r in rows if isinstance(r, dict) and "id" in r)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 80))
def test_every_taught_world_reverses_exactly_its_unique_valued_facts(n):
    entities, holders = _holders()
    rows = worldgen.reversed_questions(n)
    expected = {f"{e['id']}/{rel}" for e in entities[:n] for rel, v in e["attributes"].items() if holders[(rel, v)] == 1}
    assert {r["fact"] for r in rows} == expected
    assert all(len(set(r["options"])) == 4 and r["options"][r["answer_index"]] == r["answer"] for r in rows)
    assert len(rows) == 2 * len(expected)


def test_distractors_prefer_the_taught_names():
    """A fine-tuned model knows the taught names: distractors come from them first, so familiarity alone gives nothing away."""
    entities = worldgen._build_world(worldgen.SEED)[0]
    taught = {e["name"] for e in entities[:10]}
    for r in worldgen.reversed_questions(10):
        kind = by_id_name(entities, r["answer"])["kind"]
        n_taught_same_kind = sum(1 for e in entities[:10] if e["kind"] == kind) - 1
        assert sum(o in taught for o in r["options"] if o != r["answer"]) == min(3, n_taught_same_kind)


def test_the_cap_keeps_whole_facts():
    qs = probes.reversed_qas(None, 10)
    assert len(qs) == 10 and len({q.fact for q in qs}) == 5
    assert len(probes.reversed_qas(None)) == probes.REVERSAL_MAX_QUESTIONS
    assert len(probes.reversed_qas(10)) == 34  # under the cap at the defaults: every reversible fact


# ----------------------------------------------------------------------------------------------- the probe, with a fake scorer


def _fake_scorer(monkeypatch, forward_right: bool, reversed_right: bool):
    """Multiple choice by a known-answer model: the gold option forward / reversed when told so, else another option."""
    world = load_knowledge()
    golds = {q.question: (q.answer, "forward") for q in world.test_qa} | {r["question"]: (r["answer"], "reversed") for r in worldgen.reversed_questions()}

    def scores(model, tokenizer, prompts, options, batch_size=16, share_prompt=True):
        out = []
        for p, opts in zip(prompts, options):
            gold, direction = next(v for q, v in golds.items() if q in p)
            right = forward_right if direction == "forward" else reversed_right
            pick = opts.index(gold) if right else next(i for i, o in enumerate(opts) if o != gold)
            out.append([1.0 if i == pick else 0.0 for i in range(len(opts))])
        return out

    monkeypatch.setattr(probes, "multiple_choice_scores", scores)


def test_a_model_right_forward_and_wrong_reversed_has_gap_one_and_the_claim_holds(monkeypatch, tmp_path, embedded):
    store = ResultsStore(tmp_path)
    kw = dict(store=store, model=embedded[0], tokenizer=embedded[1])
    _fake_scorer(monkeypatch, True, False)
    tuned = probes.reversal_probe(10, **kw, forward_key="tuned")
    assert tuned.metrics["forward"] == 1.0 and tuned.metrics["reversed"] == 0.0
    assert tuned.metrics["n_facts"] == 17 and tuned.metrics["n_reversed"] == 34 and tuned.metrics["n_forward"] == 51
    _fake_scorer(monkeypatch, False, False)
    base = probes.reversal_probe(10, **kw, forward_key="base")  # a base model that knows none of the facts, either way
    assert base.metrics["forward"] == base.metrics["reversed"] == 0.0
    _fake_scorer(monkeypatch, True, True)
    both = probes.reversal_probe(10, **kw, forward_key="both")
    w, rag = reversal_claims({"base": {None: base}, "lora": {0: tuned}, "rag": {None: both}})
    assert w.id == "weights_one_direction" and w.verdict == C.HOLDS and w.diff.value == pytest.approx(1.0) and w.diff.n_facts == 17
    assert w.p_value is not None and "17 taught facts" in w.why
    assert rag.id == "rag_both_directions" and rag.verdict == C.UNDETERMINED and "ceiling" in rag.why  # both directions all right: nothing could move
    # the stored forward rows are reused, not asked again: a wrong stored answer stays wrong
    _fake_scorer(monkeypatch, True, False)
    stored = [{"id": f"test-e001-birth_year-{t}", "mc_correct": False} for t in worldgen.SPLIT_TEMPLATES["test"]]
    reused = probes.reversal_probe(10, **kw, forward_rows=stored, forward_key="stored")
    rows = {r["id"]: r for r in reused.details["rows"]}
    assert reused.metrics["forward_reused"] == 3 and all(rows[s["id"]]["reused"] and rows[s["id"]]["mc_correct"] == 0.0 for s in stored)
    assert reused.metrics["forward"] == pytest.approx(48 / 51)


# ----------------------------------------------------------------------------------------------- the claims on known results


def _probe(forward, reversed_, n_facts=20, wordings=(3, 2)):
    """A fake reversal_probe Result: ``forward(i)`` / ``reversed_(i)`` say whether fact i is answered right."""
    rows = []
    for i in range(n_facts):
        fact = f"e{i:03d}/birth_year"
        rows += [{"id": f"test-e{i:03d}-birth_year-{t}", "fact": fact, "direction": "forward", "question": f"When was E{i} born?", "gold": "1800",
                  "choice": "1800" if forward(i) else "1801", "mc_correct": float(forward(i)), "reused": True} for t in range(wordings[0])]
        rows += [{"id": f"reversed-e{i:03d}-birth_year-{t}", "fact": fact, "direction": "reversed", "question": f"Who was born in 18{i:02d}?", "gold": f"E{i}",
                  "choice": f"E{i}" if reversed_(i) else "X", "mc_correct": float(reversed_(i)), "reused": False} for t in range(wordings[1])]
    n_f, n_r = n_facts * wordings[0], n_facts * wordings[1]
    metrics = {"n_facts": n_facts, "n_forward": n_f, "n_reversed": n_r, "forward_reused": n_f,
               "forward": sum(r["mc_correct"] for r in rows if r["direction"] == "forward") / n_f, "reversed": sum(r["mc_correct"] for r in rows if r["direction"] == "reversed") / n_r}
    return Result("reversal_probe", "k", {}, metrics, {"rows": rows})


def test_reversal_claims_on_known_results():
    half = lambda i: i % 2 == 0  # noqa: E731
    every, none = (lambda i: True), (lambda i: False)
    base = _probe(half, half)  # the base model at 50% both ways: no gap of its own
    v = {x.id: x for x in reversal_claims({"base": {None: base}, "lora": {0: _probe(every, none), 1: _probe(every, none)}, "rag": {None: _probe(half, half)}})}
    w = v["weights_one_direction"]
    assert w.verdict == C.HOLDS and w.diff.value == pytest.approx(1.0) and w.diff.seeds == (0, 1)
    assert v["rag_both_directions"].verdict == C.HOLDS and v["rag_both_directions"].diff.value == 0.0  # the same answers both ways, away from floor and ceiling
    # LoRA that learned both directions equally: its gap equals the base model's, the curse does not hold
    both = {x.id: x for x in reversal_claims({"base": {None: base}, "lora": {0: _probe(every, every)}, "rag": {None: _probe(every, none)}})}
    assert both["weights_one_direction"].verdict == C.DOES_NOT_HOLD and both["weights_one_direction"].diff.value == pytest.approx(0.0)
    assert both["rag_both_directions"].verdict == C.DOES_NOT_HOLD and both["rag_both_directions"].diff.value == pytest.approx(-1.0)
    # LoRA that learned nothing (the base model's answers, at the floor): nothing to reverse, nothing decided
    floor = {x.id: x for x in reversal_claims({"base": {None: _probe(none, none)}, "lora": {0: _probe(none, none)}})}
    assert floor["weights_one_direction"].verdict == C.UNDETERMINED and "floor" in floor["weights_one_direction"].why
    assert floor["rag_both_directions"].verdict == C.UNDETERMINED and "not measured for RAG" in floor["rag_both_directions"].why
    # 5 reversible facts (a smoke run): whatever the interval, too few to decide
    few = {x.id: x for x in reversal_claims({"base": {None: _probe(half, half, 5)}, "lora": {0: _probe(every, none, 5)}})}
    assert few["weights_one_direction"].verdict == C.UNDETERMINED and "only 5 facts" in few["weights_one_direction"].why


def test_not_measured_reads_its_reason():
    for v in reversal_claims(None, not_measured="not measured: the reversal probe needs the built-in world's entities (active: your folder /x)"):
        assert v.verdict == C.UNDETERMINED and v.why.startswith("not measured: the reversal probe needs")
    skipped = reversal_claims({"base": {None: _probe(lambda i: True, lambda i: True)}, "not_measured": {"lora": "its weights were not kept"}})
    assert "not measured for LoRA: its weights were not kept" in skipped[0].why
    assert reversal_table(None).index[0] == "not measured" and reversal_examples(None).empty


def test_reversal_table_and_examples_show_each_method():
    half = lambda i: i % 2 == 0  # noqa: E731
    rev = {"base": {None: _probe(half, half)}, "lora": {0: _probe(lambda i: True, lambda i: False)}, "not_measured": {"full": "no checkpoint"}}
    table = reversal_table(rev)
    assert list(table.index) == ["base model", "full fine-tuning", "LoRA"]
    assert table.loc["LoRA", "forward"].startswith("100.0%") and table.loc["LoRA", "reversed − forward"].startswith("-100.0")
    assert "no checkpoint" in table.loc["full fine-tuning", "forward"]
    assert table.loc["full fine-tuning", "reversed"] == "–" and table.loc["LoRA", "n facts"] == 20 and isinstance(table.loc["LoRA", "n facts"], int)  # never NaN, never 12.0
    ex = reversal_examples(rev, n=3)
    assert len(ex) == 3 and ex.iloc[0]["LoRA"].endswith("(wrong)") and "→ 1800" in ex.iloc[0]["taught as"]
