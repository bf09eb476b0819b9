"""Metrics against hand-computed values, and the model-based scorers on the real embedded model."""
from __future__ import annotations

import math

import pytest

from lorag_nb.data.knowledge import QA
from lorag_nb.data.prompts import closed_book_prompt, context_prompt
from lorag_nb.methods.evaluation import (
    choose_budget,
    clean_answer,
    continuation_logprobs,
    evaluate_qa,
    exact_match,
    forgetting,
    generate,
    gold_contained,
    multiple_choice_scores,
    normalize_answer,
    perplexity,
    token_f1,
)


def test_normalize_answer_squad_rules():
    assert normalize_answer("The  Blue-Glass, Inc.!") == "blueglass inc"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match_uses_normalization_and_aliases():
    assert exact_match("the Paris.", "Paris") == 1.0
    assert exact_match("Paris, France", "Paris") == 0.0
    assert exact_match("8", ["eight", "8"]) == 1.0


def test_token_f1_hand_computed():
    # pred tokens: [tarun, osk, founded]; gold: [tarun, osk] -> P=2/3, R=1, F1=0.8
    assert token_f1("Tarun Osk founded", "Tarun Osk") == pytest.approx(0.8)
    # one overlapping token of 2 vs 4: P=1/2, R=1/4 -> F1 = 2*(1/8)/(3/4) = 1/3
    assert token_f1("red house", "a red brick small cottage") == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert token_f1("nothing here", "Paris") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("x", ["nope", "x"]) == 1.0


def test_gold_contained_whole_words_only():
    assert gold_contained("The capital of France is Paris.", "paris") == 1.0
    assert gold_contained("Parisian food", "Paris") == 0.0
    assert gold_contained("A spider has 8 legs", ["eight", "8"]) == 1.0


def test_clean_answer_cuts_at_stop_and_line():
    assert clean_answer("  Blue glass<|im_end|>\nmore") == "Blue glass"
    assert clean_answer("\n\nfirst line\nsecond") == "first line"


def test_forgetting_signs():
    f = forgetting({"control_accuracy": 0.9, "perplexity": 10.0}, {"control_accuracy": 0.6, "perplexity": 12.0})
    assert f["control_drop"] == pytest.approx(0.3)
    assert f["perplexity_change"] == pytest.approx(0.2)


def test_generate_batched_equals_one_at_a_time(embedded):
    model, tok = embedded
    qs = ["What is the capital of France?", "How many legs does a spider have?", "What color is grass?"]
    prompts = [closed_book_prompt(tok, q) for q in qs]
    batched = [g.text for g in generate(model, tok, prompts, max_new_tokens=12, batch_size=3)]
    single = [generate(model, tok, [p], max_new_tokens=12, batch_size=1)[0].text for p in prompts]
    assert batched == single
    assert "paris" in batched[0].lower()


def test_continuation_logprobs_match_manual_forward(embedded, fp32):
    import torch

    model, tok = embedded
    ctx, cont = closed_book_prompt(tok, "What is the capital of France?"), "Paris"
    (lp, n), = continuation_logprobs(model, tok, [(ctx, cont)])
    c = tok(ctx, add_special_tokens=False)["input_ids"]
    x = tok(cont, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([c + x])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    manual = sum(float(logp[len(c) - 1 + i, t]) for i, t in enumerate(x))
    assert n == len(x)
    assert lp == pytest.approx(manual, abs=1e-3)


def test_multiple_choice_prefers_right_answer_with_context(embedded):
    model, tok = embedded
    ctx = ["Velmora is a river town. It was founded by the weaver Tarun Osk."]
    prompt = context_prompt(tok, "Who founded Velmora?", ctx)
    scores = multiple_choice_scores(model, tok, [prompt], [["Bel Ivo", "Tarun Osk", "Mira Dane", "Kol Ferr"]])
    assert len(scores[0]) == 4
    assert max(range(4), key=scores[0].__getitem__) == 1


def test_perplexity_lower_on_natural_text(embedded):
    model, tok = embedded
    natural = ["The quick brown fox jumps over the lazy dog. It was a sunny day in the park, and children were playing."]
    shuffled = [" ".join(sorted(natural[0].split()))]
    p_nat, p_shuf = perplexity(model, tok, natural), perplexity(model, tok, shuffled)
    assert 1.0 < p_nat < p_shuf
    with pytest.raises(ValueError, match="at least one text"):
        perplexity(model, tok, [])


def test_evaluate_qa_metrics_and_errors(embedded):
    model, tok = embedded
    qas = [
        QA("q1", "What is the capital of France?", "Paris", options=("Rome", "Paris", "Oslo", "Lima"), answer_index=1),
        QA("q2", "Who founded Velmora?", "Tarun Osk", options=("Tarun Osk", "Bel Ivo", "Mira Dane", "Kol Ferr"), answer_index=0),
    ]
    r = evaluate_qa(model, tok, qas, contexts=[["Paris is the capital of France."], ["Velmora was founded by Tarun Osk."]], max_new_tokens=16)
    m = r.metrics
    assert m["n"] == 2
    assert m["contains"] == pytest.approx(sum(row["contains"] for row in r.rows) / 2)
    assert m["mc_accuracy"] == 1.0
    assert m["latency_ms_p50"] > 0 and not math.isnan(m["latency_ms_p50"])
    with pytest.raises(ValueError, match="at least one question"):
        evaluate_qa(model, tok, [])
    with pytest.raises(ValueError, match="contexts has 1 entries for 2 questions"):
        evaluate_qa(model, tok, qas, contexts=[["x"]])


@pytest.mark.parametrize(
    "prompts, options, batch_size, message",
    [
        (["Q1?"], [["a", "b"], ["c", "d"]], 16, "1 prompts but 2 option lists"),
        (["Q1?", "Q2?"], [["a", "b"]], 16, "2 prompts but 1 option lists"),
        ("Q1?", [["a"]], 16, "not a single string"),
        (["Q1?"], ["ab"], 16, "options\\[0\\]='ab' is invalid"),
        (["Q1?"], [["", "b"]], 16, "non-empty option strings"),
        (["Q1?"], [["a", "b"]], 0, "batch_size=0 is invalid"),
    ],
)
def test_multiple_choice_scores_rejects_bad_input_before_running_the_model(prompts, options, batch_size, message):
    from lorag_nb.methods.evaluation import multiple_choice_scores

    with pytest.raises(ValueError, match=message):
        multiple_choice_scores(None, None, prompts, options, batch_size=batch_size)  # no model needed: checked first


def test_generation_stops_at_the_end_of_the_answer_line_and_keeps_every_answer(embedded):
    """An answer is its first non-empty line (``clean_answer``): stopping a row once that line has ended changes no
    answer and no cut flag, saves the tokens after it, and an answer whose line ended is not counted as truncated."""
    model, tok = embedded
    qs = ["Give the steps to make tea as a numbered list.", "Write a haiku about autumn.", "What is the capital of France?",
          "What are the first three steps to bake bread? Use a numbered list."]
    prompts = [closed_book_prompt(tok, q) for q in qs]
    on = generate(model, tok, prompts, max_new_tokens=24, batch_size=4)
    off = generate(model, tok, prompts, max_new_tokens=24, batch_size=4, stop_at_line_end=False)
    assert [g.text for g in on] == [g.text for g in off] and [g.cut_mid_answer for g in on] == [g.cut_mid_answer for g in off]
    assert all(a.new_tokens <= b.new_tokens for a, b in zip(on, off))
    ran_on = [i for i, b in enumerate(off) if b.truncated and "\n" in b.raw.lstrip()]  # answer line ended, the model went on
    assert ran_on, [g.raw for g in off]  # these prompts make the model write further lines
    assert all(not on[i].truncated and on[i].new_tokens < off[i].new_tokens and on[i].raw.rstrip(" ").endswith("\n") for i in ran_on)


def test_choose_budget_asks_again_at_the_cap_only_for_long_answers(embedded, fp32):
    """Every prompt is generated at the step below the cap and only the answers cut there again at the cap: the needs
    are those of one generation at the cap for every prompt (greedy decoding; fp32 so both batchings round alike)."""
    model, tok = embedded
    qs = ["What is the capital of France?", "Describe the history of Rome in detail.", "What color is grass?", "Explain how a steam engine works."]
    prompts = [closed_book_prompt(tok, q) for q in qs]
    chosen = choose_budget(model, tok, prompts, cap=16)  # steps 8, 12, 16: all at 12, those cut at 12 again at 16
    full = generate(model, tok, prompts, max_new_tokens=16)
    needs = [17 if g.cut_mid_answer else min(g.new_tokens, len(tok(g.text, add_special_tokens=False)["input_ids"]) + 1) for g in full]
    assert chosen["needs"] == needs and chosen["cap"] == 16 and any(n > 12 for n in needs)
    assert chosen["max_new_tokens"] == next((s for s in (8, 12, 16) if sum(n > s for n in needs) <= 0.05 * len(needs)), 16)


def test_an_answer_ending_in_a_loop_needs_only_the_tokens_until_its_loop_shows(embedded, monkeypatch):
    """A greedy loop cut off at the budget is complete (``Generation.loop``), not cut: ``choose_budget`` gives it the
    tokens up to where the loop shows, so 3 loops in 20 answers do not push the budget to the cap (they would as
    cut answers: 15% > 5%)."""
    from lorag_nb.methods import evaluation

    _model, tok = embedded
    looping = "Grumith Zorwolova was born in 1896 in 1896 in 1896 in 1896 in 1896 in 1896 in 1896 in 1896"
    onset = evaluation._loop_onset(tok, looping)
    assert evaluation.repeats_itself(tok.decode(tok(looping, add_special_tokens=False)["input_ids"][:onset]))
    assert not evaluation.repeats_itself(tok.decode(tok(looping, add_special_tokens=False)["input_ids"][: onset - 1]))

    def fake_generate(model, tokenizer, prompts, max_new_tokens, batch_size=16, **kw):
        return [evaluation.Generation(looping, looping, 0.0, max_new_tokens, truncated=True, loop=True) if p.startswith("loop")
                else evaluation.Generation("1896", "1896<|im_end|>", 0.0, 3) for p in prompts]

    monkeypatch.setattr(evaluation, "generate", fake_generate)
    chosen = choose_budget(None, tok, ["loop"] * 3 + ["short"] * 17, cap=96)
    assert chosen["needs"][:3] == [onset] * 3 and chosen["needs"][3:] == [3] * 17
    assert chosen["max_new_tokens"] == next(s for s in evaluation.BUDGET_STEPS if s >= onset) < 96


def test_the_oracle_arm_answers_at_its_own_budget(embedded):
    """``EvalSettings.oracle_max_new_tokens``: answers given the gold document get their own budget, the other arms keep
    ``max_new_tokens``."""
    from lorag_nb.core.config import EvalSettings
    from lorag_nb.data.knowledge import load_knowledge
    from lorag_nb.methods.measure import measure_model

    model, tok = embedded
    ev = EvalSettings(n_entities=1, max_questions=2, max_new_tokens=3, oracle_max_new_tokens=5, batch_size=2, perplexity_texts=1, perplexity_tokens=16)
    metrics, _details = measure_model(model, tok, load_knowledge(n_entities=1), ev)
    assert metrics["oracle"]["max_new_tokens"] == 5 and metrics["test"]["max_new_tokens"] == 3 and metrics["control"]["max_new_tokens"] == 3
    with pytest.raises(ValueError, match="oracle_max_new_tokens"):
        EvalSettings(oracle_max_new_tokens=0)


def test_truncated_answers_are_counted_and_warned_once(embedded):
    """On the real model: with a 2-token budget every answer to a capital question runs out of budget (counted,
    one warning naming the count); with 48 tokens the same questions mostly stop on their own."""
    import warnings

    from lorag_nb.data.knowledge import load_knowledge
    from lorag_nb.methods.evaluation import AnswersTruncatedWarning

    model, tok = embedded
    qas = load_knowledge(n_entities=1).control_qa[:4]  # "What is the capital of France?" …
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny = evaluate_qa(model, tok, qas, max_new_tokens=2, batch_size=4, multiple_choice=False)
    mine = [w for w in caught if issubclass(w.category, AnswersTruncatedWarning)]
    assert tiny.metrics["truncated"] == 4 and tiny.metrics["truncated_fraction"] == 1.0 and tiny.metrics["max_new_tokens"] == 2
    assert [r["truncated"] for r in tiny.rows] == [True] * 4
    assert len(mine) == 1 and "4 of 4 answers used all max_new_tokens=2" in str(mine[0].message) and "to 4" in str(mine[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roomy = evaluate_qa(model, tok, qas, max_new_tokens=48, batch_size=4, multiple_choice=False)
    assert roomy.metrics["truncated"] < tiny.metrics["truncated"]
    assert sum(issubclass(w.category, AnswersTruncatedWarning) for w in caught) == (1 if roomy.metrics["truncated"] else 0)


def test_cut_mid_answer_is_told_apart_from_a_complete_line():
    """``cut_mid_answer`` marks a budget-limited answer whose line was still running, not one whose line ended
    before the budget ran out (``warn_truncated`` reports both counts)."""
    import warnings

    from lorag_nb.methods.evaluation import AnswersTruncatedWarning, Generation, warn_truncated

    gens = [Generation("charted in the year 23", "charted in the year 23", 0.0, 16, truncated=True, cut_mid_answer=True),
            Generation("2384", "2384\nThe river", 0.0, 16, truncated=True, cut_mid_answer=False),
            Generation("Paris", "Paris<|im_end|>", 0.0, 3)]
    with pytest.warns(AnswersTruncatedWarning, match=r'2 of 3 answers used all max_new_tokens=16 .*\(1 cut mid-answer, e.g. "charted in the year 23"\)'):
        assert warn_truncated(gens, 16) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_truncated(gens[2:], 16) == 0
