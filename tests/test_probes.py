"""The probes beyond the taught facts (lorag_nb.methods.probes): unknown entities (Gekhman et al. 2024) and the
control set through retrieval, with known answers: a model that always answers a taught value leaks at rate 1.0,
one that always declines abstains at rate 1.0, and the unknown entities exist nowhere in the world."""
from __future__ import annotations

import pytest

from lorag_nb.core.store import ResultsStore
from lorag_nb.data import worldgen
from lorag_nb.data.knowledge import load_knowledge, use_knowledge
from lorag_nb.methods import probes
from lorag_nb.methods.evaluation import LOOP_MIN_WORDS, Generation, repeats_itself


def test_answer_kind_classes_abstentions_taught_values_and_other_assertions():
    taught = ["pine forests", "Wexane Pexveyith", "1873"]
    assert probes.answer_kind("I don't know.", taught) == probes.ABSTAINS
    assert probes.answer_kind("", taught) == probes.ABSTAINS
    assert probes.answer_kind("There is no information about it; maybe pine forests", taught) == probes.ABSTAINS  # abstention wins
    assert probes.answer_kind("It lives in pine forests.", taught) == probes.TAUGHT
    assert probes.answer_kind("Founded by wexane pexveyith", taught) == probes.TAUGHT  # normalised
    assert probes.answer_kind("It lives in deserts.", taught) == probes.ASSERTS
    assert probes.answer_kind("Born in 1874", taught) == probes.ASSERTS


def test_unknown_entities_are_deterministic_and_named_like_no_entity_of_the_world():
    rows = worldgen.unknown_entities()
    assert rows == worldgen.unknown_entities() and len(rows) == worldgen.UNKNOWN_PER_KIND * 4 * 6
    assert len({r["id"] for r in rows}) == len(rows)
    world = load_knowledge()
    text = " ".join([d.text for d in world.documents] + [q.question for q in world.train_qa + world.test_qa]).lower()
    for name in {r["name"] for r in rows}:
        for word in name.split():
            if word not in worldgen.COMPANY_SUFFIXES:
                assert word.lower() not in text, f"unknown entity word {word!r} occurs in the world"


def _fixed_answers(monkeypatch, answer_for):
    """Replace generation by a function of the prompt (a known-answer model); everything else is real."""

    def fake_generate(model, tokenizer, prompts, max_new_tokens=16, batch_size=16, progress=False):
        return [Generation(answer_for(p), answer_for(p), 0.001, 3) for p in prompts]

    monkeypatch.setattr(probes, "generate", fake_generate)


def test_a_model_that_always_answers_a_taught_value_leaks_at_rate_one(monkeypatch, tmp_path, embedded):
    values = probes.taught_values(2)
    assert set(values) >= {"occupation", "country"}  # entities e001 (a person) and e002 (a city)
    by_relation = {q.id: values[q.relation][0] for q in probes.unknown_questions() if q.relation in values}
    question_to_value = {q.question: by_relation.get(q.id, "nothing") for q in probes.unknown_questions()}
    _fixed_answers(monkeypatch, lambda p: next(v for q, v in question_to_value.items() if q in p))
    r = probes.unknown_probe(2, store=ResultsStore(tmp_path), model=embedded[0], tokenizer=embedded[1])
    known = [row for row in r.details["rows"] if row["id"] in by_relation]
    assert known and all(row["kind"] == probes.TAUGHT for row in known)
    assert r.metrics["taught"] == pytest.approx(len(known) / r.metrics["n"])
    _fixed_answers(monkeypatch, lambda p: "I do not know.")
    r = probes.unknown_probe(2, store=ResultsStore(tmp_path / "b"), model=embedded[0], tokenizer=embedded[1])
    assert r.metrics["abstains"] == 1.0 and r.metrics["taught"] == 0.0 and r.metrics["n"] == 48


@pytest.mark.parametrize("probe", ["unknown_probe", "reversal_probe"])
def test_the_world_probes_refuse_a_reader_folder(tmp_path, probe):
    folder = tmp_path / "kb"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "a.md").write_text("# Alpha\nAlpha was built in 1901.\n")
    (folder / "docs" / "b.md").write_text("# Beta\nBeta was built in 1902.\n")
    qa = '{"question": "When was Alpha built?", "answer": "1901"}\n{"question": "When was Beta built?", "answer": "1902"}\n'
    (folder / "qa_train.jsonl").write_text(qa)
    (folder / "qa_test.jsonl").write_text(qa)
    use_knowledge(folder)
    try:
        with pytest.raises(ValueError, match="built-in world"):
            getattr(probes, probe)(2, store=ResultsStore(tmp_path / "s"))
    finally:
        use_knowledge("builtin")


# --------------------------------------------------------------------------- the two claims on known results


def _result(kind, metrics, details, settings=None):
    from lorag_nb.core.store import Result

    return Result(kind=kind, key=kind, settings=settings or {}, metrics=metrics, details=details, created=0.0)


def _unknown(taught: float, cut: float = 0.0, n: int = 48):
    rows = [{"id": f"unknown-u{i:03d}-x", "fact": f"unknown-u{i:03d}-x", "taught": float(i < taught * n), "abstains": 0.0, "kind": "x", "question": "q", "prediction": "p",
             "cut": i >= n - cut * n} for i in range(n)]
    return _result("unknown_probe", {"n": n, "taught": taught, "abstains": 0.0, "asserts": 1 - taught, "cut": cut}, {"rows": rows}, {"max_new_tokens": 32})


def test_unknown_claim_holds_when_lora_states_taught_values_and_refuses_cut_answers():
    from lorag_nb.core.claims import DOES_NOT_HOLD, HOLDS, UNDETERMINED
    from lorag_nb.experiments.method_claims import unknown_claim

    v = unknown_claim({"base": _unknown(0.0), "lora": {0: _unknown(1.0), 1: _unknown(1.0)}})
    assert v.verdict == HOLDS and v.diff.value == pytest.approx(1.0) and v.diff.n_facts == 48
    assert unknown_claim({"base": _unknown(0.5), "lora": {0: _unknown(0.0)}}).verdict == DOES_NOT_HOLD
    # half the base answers cut: counted as leaks the base reaches 50%, LoRA is at 100%: it still holds
    assert unknown_claim({"base": _unknown(0.0, cut=0.5), "lora": {0: _unknown(1.0)}}).verdict == HOLDS
    # LoRA leaks on half, the base on none but every base answer is cut: counted as leaks the base would lead
    cut = unknown_claim({"base": _unknown(0.0, cut=1.0), "lora": {0: _unknown(0.5)}})
    assert cut.verdict == UNDETERMINED and "either way" in cut.why and cut.p_value is None
    none = unknown_claim(None, not_measured="not measured: a folder")
    assert none.verdict == UNDETERMINED and none.why == "not measured: a folder"


def test_general_knowledge_claim_pairs_control_questions():
    from lorag_nb.core.claims import DOES_NOT_HOLD, HOLDS
    from lorag_nb.experiments.method_claims import general_knowledge_claim, general_knowledge_frame

    def probe(with_retrieval, closed_book=lambda i: True):
        rows = [{"id": f"c{i:03d}", "question": f"q{i}", "gold": "a", "closed_book": "a" if closed_book(i) else "b", "with_retrieval": "a" if with_retrieval(i) else "b",
                 "mc_closed_book": float(closed_book(i)), "mc_with_retrieval": float(with_retrieval(i)), "chunks": ["passage"]} for i in range(64)]
        return _result("control_probe", {"n": 64}, {"rows": rows})

    half = lambda i: i % 3 == 0  # noqa: E731
    intact = general_knowledge_claim(probe(half, half))
    assert intact.verdict == HOLDS and intact.diff.value == 0.0  # 0 > −5 pts: the same answers, away from floor and ceiling
    ceiling = general_knowledge_claim(probe(lambda i: True))
    assert ceiling.verdict != HOLDS and "ceiling" in ceiling.why  # both right on every question: nothing could move
    hurt = general_knowledge_claim(probe(lambda i: i % 2 == 0))
    assert hurt.verdict == DOES_NOT_HOLD and hurt.diff.value == pytest.approx(-0.5) and "turned 32 right answers wrong" in hurt.why
    frame = general_knowledge_frame(probe(lambda i: i % 2 == 0), n_examples=3)
    assert len(frame) == 4 and frame.iloc[0]["with retrieval"] == "32 of 64"


def test_a_control_set_without_options_is_not_measured_not_a_crash():
    from lorag_nb.core.claims import UNDETERMINED
    from lorag_nb.experiments.method_claims import general_knowledge_claim, general_knowledge_frame

    empty = _result("control_probe", {"n": 0, "not_measured": "the control set has no question with multiple-choice options"}, {"rows": []})
    v = general_knowledge_claim(empty)
    assert v.verdict == UNDETERMINED and "no question with multiple-choice options" in v.why
    assert general_knowledge_frame(empty).index[0] == "not measured"


def test_a_loop_is_told_from_an_answer_cut_before_its_value():
    assert repeats_itself("Grumith Zorwolova is a professional in the field of Artificial Intelligence and a professional in the field of Artificial")
    assert repeats_itself("It is red, it is red, it")
    assert not repeats_itself("Lunorn Foundry was founded in 1923 by Wexane")  # cut before its value: still cut
    assert not repeats_itself("He studied the history of the city of Zorwolova and the history of the")  # 4 of 8 words again: not yet a loop
    assert not repeats_itself("a b c a b")  # a phrase of 3 words said 1 2/3 times is not enough
    assert not repeats_itself("the the the the")  # a 1-word phrase must come LOOP_MIN_WORDS + 2 times
    assert repeats_itself("the the the the the")
    assert repeats_itself("Grumith Zorwolova was born in 1896 in 1896 in 1896")  # a 2-word phrase 3 times
    assert not repeats_itself("Grumith Zorwolova was born in 1896 in 1896 in")  # 2 1/2 times: not yet
    assert not repeats_itself("New York, New York")
    assert repeats_itself("Mavlakolikljakljakljaklj") and not repeats_itself("Mavlakolikljaklj")  # a run-on word repeating "klja"
    assert not repeats_itself("Mississippi") and not repeats_itself("It cost 1,000,000,000")  # no letter loop; digits
    assert not repeats_itself("") and not repeats_itself("Paris")
    assert repeats_itself("Příkáš, Ŧázmář, Ŧázmář, Ŧázmář, Ŧázmář, Ŧázmá")  # the budget cut the last copy's word
    assert not repeats_itself("Lunorn Foundry was founded in 1923 by Wex and Wexane")


from hypothesis import given, strategies as st  # noqa: E402

_WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@given(prefix=st.lists(_WORD, max_size=6), phrase=st.lists(_WORD, min_size=LOOP_MIN_WORDS, max_size=9), cut=st.integers(0, 100))
def test_any_phrase_said_again_is_a_loop(prefix, phrase, cut):
    """A phrase of ≥ LOOP_MIN_WORDS words followed by a copy of at least 2/3 of it and of LOOP_MIN_WORDS words (cut
    anywhere after that) is a loop."""
    least = max(LOOP_MIN_WORDS, -(-2 * len(phrase) // 3))
    keep = least + cut % (len(phrase) - least + 1)  # between max(LOOP_MIN_WORDS, ceil(2/3 p)) and p words of the copy
    assert repeats_itself(" ".join(prefix + phrase + phrase[:keep]))


@given(words=st.lists(_WORD, max_size=30, unique=True))
def test_text_without_a_repeated_word_is_never_a_loop(words):
    assert not repeats_itself(" ".join(words))
