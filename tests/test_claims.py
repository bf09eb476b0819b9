"""The claims engine: per-fact scores, paired bootstrap intervals with known answers, the one verdict rule."""
from __future__ import annotations

import math

import pytest

from lorag_nb.core import claims
from lorag_nb.core.claims import DOES_NOT_HOLD, HOLDS, UNDETERMINED, Scores
from lorag_nb.experiments import nb02


def _scores(values, label="m", seeds=()):
    return Scores(label, {f"f{i:03d}": float(v) for i, v in enumerate(values)}, n_questions=3 * len(values), seeds=tuple(seeds))


# a per-fact pattern whose paired differences are [1, 1, 1, 1, -1, 0]: mean 0.5, sd 0.837
A6 = [1, 1, 1, 1, 0, 1]
B6 = [0, 0, 0, 0, 1, 1]


def test_difference_of_half_is_decided_on_200_facts_and_undetermined_on_6():
    a, b = _scores((A6 * 34)[:200]), _scores((B6 * 34)[:200])
    d = claims.difference(a, b)
    assert d.n_facts == 200 and abs(d.value - 0.5) < 0.01
    assert d.low > 0.3 and d.high < 0.7
    assert claims.decide(d, 0.0, "greater") == HOLDS
    small = claims.difference(_scores(A6), _scores(B6))
    assert small.value == pytest.approx(0.5)
    assert small.low < 0 < small.high
    assert claims.decide(small, 0.0, "greater") == UNDETERMINED


def test_fewer_than_six_facts_decide_nothing_even_when_the_interval_is_one_sided():
    """2 facts that both moved by +1: every bootstrap resample gives +1 (a zero-width interval above 0), yet
    an exact two-sided sign test needs 6 facts moving alike to reach 5%; 6 such facts do decide."""
    two = claims.difference(_scores([1, 1]), _scores([0, 0]))
    assert (two.low, two.value, two.high) == (1.0, 1.0, 1.0) and two.n_facts == 2
    assert claims.decide(two, 0.0, "greater") == UNDETERMINED and claims.decide(two, 0.0, "less") == UNDETERMINED
    v = claims.judge("lora_learns", two)
    assert v.verdict == UNDETERMINED and "only 2 facts" in v.why and v.facts_needed == claims.MIN_FACTS == 6
    five = claims.difference(_scores([1] * 5), _scores([0] * 5))
    assert claims.decide(five, 0.0, "greater") == UNDETERMINED
    six = claims.difference(_scores([1] * 6), _scores([0] * 6))
    assert claims.decide(six, 0.0, "greater") == HOLDS and claims.judge("lora_learns", six).verdict == HOLDS
    # ratios of repeated timings are not counted in facts: 3 interleaved repetitions still decide
    assert claims.decide(claims.ratio_estimate([0.5, 0.6, 0.55]), 1.0, "less") == HOLDS


def test_facts_needed_follows_the_normal_approximation():
    small = claims.difference(_scores(A6), _scores(B6))
    sd = math.sqrt(sum((x - 0.5) ** 2 for x in [1, 1, 1, 1, -1, 0]) / 5)
    assert small.sd == pytest.approx(sd)
    assert claims.facts_needed(small, 0.0) == math.ceil((1.959964 * sd / 0.5) ** 2)  # 11
    # no effect at all: no number of facts decides it
    zero = claims.difference(_scores([1, 0, 1, 0]), _scores([0, 1, 1, 0]))
    assert zero.value == 0 and claims.facts_needed(zero, 0.0) is None


def test_interval_width_matches_the_analytic_normal_approximation():
    p, n = 0.6, 400
    s = _scores([1] * int(p * n) + [0] * int((1 - p) * n))
    est = claims.mean_estimate(s)
    analytic = 2 * 1.959964 * math.sqrt(p * (1 - p) / n)
    assert abs((est.high - est.low) - analytic) / analytic < 0.05
    assert est.low < p < est.high
    # paired difference: independent-looking 0/1 patterns, sd of the differences known exactly
    a = _scores(([1, 1, 0, 1, 0] * 80))
    b = _scores(([0, 1, 1, 0, 0] * 80))
    d = claims.difference(a, b)
    diffs = [x - y for x, y in zip([1, 1, 0, 1, 0] * 80, [0, 1, 1, 0, 0] * 80)]
    sd = math.sqrt(sum((x - sum(diffs) / 400) ** 2 for x in diffs) / 399)
    analytic = 2 * 1.959964 * sd / math.sqrt(400)
    assert abs((d.high - d.low) - analytic) / analytic < 0.05


def test_pairing_narrows_the_interval_when_methods_agree_on_hard_facts():
    # both methods get the same hard facts wrong; b misses 10 more. Paired, the difference is clear.
    base = [1] * 50 + [0] * 50
    a = _scores(base)
    b = _scores([0] * 10 + [1] * 40 + [0] * 50)
    d = claims.difference(a, b)
    assert d.value == pytest.approx(0.1)
    assert claims.decide(d, 0.0, "greater") == HOLDS
    unpaired_half_width = 1.96 * math.sqrt(0.5 * 0.5 / 100 + 0.4 * 0.6 / 100)
    assert (d.high - d.low) / 2 < unpaired_half_width  # pairing removes the shared fact difficulty


def test_the_verdict_rule_on_both_sides():
    E = claims.Estimate
    assert claims.decide(E(0.2, 0.1, 0.3, 60), 0.0, "greater") == HOLDS
    assert claims.decide(E(-0.2, -0.3, -0.1, 60), 0.0, "greater") == DOES_NOT_HOLD
    assert claims.decide(E(0.0, 0.0, 0.0, 60), 0.0, "greater") == DOES_NOT_HOLD  # exactly 0 everywhere is not "greater"
    assert claims.decide(E(0.05, -0.02, 0.12, 60), 0.0, "greater") == UNDETERMINED
    assert claims.decide(E(0.6, 0.5, 0.7, 5, unit="ratio"), 1.0, "less") == HOLDS
    assert claims.decide(E(0.9, 0.7, 1.1, 5, unit="ratio"), 1.0, "less") == UNDETERMINED
    assert claims.decide(E(1.3, 1.1, 1.5, 5, unit="ratio"), 1.0, "less") == DOES_NOT_HOLD
    assert claims.decide(E(float("nan"), float("nan"), float("nan"), 0), 0.0) == UNDETERMINED
    with pytest.raises(ValueError, match="side must be"):
        claims.decide(E(0, 0, 0, 1), 0.0, "bigger")


def test_scores_average_questions_per_fact_then_seeds():
    rows0 = [
        {"id": "test-e001-occupation-7", "mc_correct": True},
        {"id": "test-e001-occupation-8", "mc_correct": False},
        {"id": "test-e001-occupation-9", "mc_correct": True},
        {"id": "test-e002-river-7", "mc_correct": False},
    ]
    rows1 = [dict(r, mc_correct=True) for r in rows0]
    s = claims.scores({0: rows0, 1: rows1}, "mc_correct", "LoRA")
    assert s.by_fact == {"e001/occupation": pytest.approx((2 / 3 + 1) / 2), "e002/river": pytest.approx(0.5)}
    assert s.seeds == (0, 1) and s.n_questions == 4
    assert s.by_seed[0] == pytest.approx((2 / 3 + 0) / 2) and s.by_seed[1] == 1.0
    assert s.seed_spread == pytest.approx(1 - 1 / 3)
    one = claims.scores(rows0, "mc_correct")
    assert one.seeds == () and one.seed_spread is None
    with pytest.raises(ValueError, match="no row carries the metric 'em'"):
        claims.scores(rows0, "em")


def test_fact_of_reads_rows_and_ids():
    assert claims.fact_of({"id": "x", "fact": "e003/diet"}) == "e003/diet"
    assert claims.fact_of("test-e010-favorite_color-9") == "e010/favorite_color"
    assert claims.fact_of("revised-e004-river") == "e004/river"
    assert claims.fact_of("c017") == "c017"  # a control question is its own unit


def test_ratio_estimate_and_judge_speed():
    est = claims.ratio_estimate([0.52, 0.55, 0.49, 0.61, 0.50])
    assert est.value == 0.52 and (est.low, est.high) == (0.49, 0.61) and est.unit == "ratio"
    v = claims.judge("lora_faster", est)
    assert v.verdict == HOLDS and "0.52×" in v.row()["difference (95% CI)"]
    crossing = claims.judge("lora_faster", claims.ratio_estimate([0.8, 1.2, 0.95]))
    assert crossing.verdict == UNDETERMINED and crossing.facts_needed is None
    with pytest.raises(ValueError, match="at least 2 repetitions"):
        claims.ratio_estimate([0.5])


def test_judge_rows_carry_interval_n_and_seeds():
    a = Scores("LoRA", {f"f{i}": float(i % 2) for i in range(10)}, 30, seeds=(0, 1), by_seed={0: 0.4, 1: 0.6})
    b = Scores("full", {f"f{i}": float(i % 3 == 0) for i in range(10)}, 30, seeds=(0, 1), by_seed={0: 0.3, 1: 0.5})
    v = claims.judge("lora_matches", claims.difference(a, b), {"LoRA": claims.mean_estimate(a), "full": claims.mean_estimate(b)})
    row = v.row()
    assert row["n facts"] == 10 and row["n questions"] == 30 and row["seeds"] == "0, 1"
    assert row["seed spread"] == "20.0 pts"
    assert row["threshold"] == "> -5 pts"
    assert v.verdict in claims.VERDICTS
    md = claims.markdown([v], links=False)
    assert v.verdict_text() in md and v.diff.text(signed=True) in md
    one = claims.mean_estimate(Scores("x", {"f": 1.0}, 3))
    assert one.text() == "100.0% (no interval: 1 unit)" and claims.decide(one) == UNDETERMINED
    with pytest.raises(KeyError, match="unknown claim"):
        claims.judge("lora_is_magic", v.diff)
    nos = claims.no_sample("rag_swap", "no revised facts in this run")
    assert nos.verdict == UNDETERMINED and claims.counts([v, nos])[UNDETERMINED] >= 1


def test_every_claim_has_one_rule():
    for cid, (text, side, threshold, what) in claims.CLAIMS.items():
        assert side in ("greater", "less") and isinstance(threshold, float) and text and what, cid


def _curve(learned, control_right, n_control=40):
    """A fake frontier_run Result: learned per checkpoint, and how many of n_control control questions are right."""
    from lorag_nb.core.store import Result

    points = [{"step": 10 * i, "learned": a, "control_mc": c / n_control, "control_gen": c / n_control, "perplexity": 10.0} for i, (a, c) in enumerate(zip(learned, control_right))]
    rows = [{"test": [], "control": [{"id": f"c{j:03d}", "mc_correct": j < c, "contains": float(j < c)} for j in range(n_control)]} for c in control_right]
    return Result("frontier", "k", {}, {"points": points}, {"rows": rows})


def test_frontier_compares_forgetting_at_matched_learning():

    # full fine-tuning learns fast and forgets a lot; LoRA learns slower and forgets little on the way
    full = _curve([0.25, 0.6, 0.9, 0.95], [40, 30, 20, 15])
    lora = _curve([0.25, 0.4, 0.6, 0.7], [40, 39, 38, 37])
    level, at = nb02.matched_forgetting(lora, full, None, "LoRA", "full")
    assert level == 0.7  # the highest learning both curves reach
    assert at["LoRA"][0] == 30 and at["full"][0] == 20  # first checkpoint of each reaching 0.7
    assert at["LoRA"][1].mean == pytest.approx(3 / 40) and at["full"][1].mean == pytest.approx(20 / 40)
    v = nb02.frontier_verdict({5e-5: full}, {1e-3: lora})
    assert v.id == "lora_forgets_less" and v.verdict == HOLDS and "MATCHED" in v.why
    assert v.diff.value == pytest.approx(3 / 40 - 20 / 40) and v.diff.n_facts == 40
    # at matched learning the same forgetting: no verdict either way on 40 questions with equal drops
    same = nb02.frontier_verdict({5e-5: full}, {1e-3: _curve([0.25, 0.6, 0.9, 0.95], [40, 30, 20, 15])})
    assert same.verdict == DOES_NOT_HOLD  # identical curves: the difference is exactly 0, not "less"
    flat = nb02.frontier_verdict({5e-5: _curve([0.25, 0.25], [40, 40])}, {1e-3: _curve([0.25, 0.25], [40, 40])})
    assert flat.verdict == UNDETERMINED and "nothing to match" in flat.why
    with pytest.raises(ValueError, match="never reaches"):
        nb02.matched_forgetting(lora, full, 0.99)


def test_no_verdict_vocabulary_outside_the_claims_engine():
    """Every verdict comes from lorag_nb.core.claims: no other module words its own (no "tie", no
    "supported", no "depends", no hand-made "holds")."""
    import re
    from pathlib import Path

    import lorag_nb

    banned = re.compile(r"""["'](holds|does not hold|depends|supported|partly supported|not shown|confirmed|not confirmed)["']|_tie\(|within one question""")
    offenders = []
    for path in Path(lorag_nb.__file__).parent.glob("*.py"):
        if path.name in ("claims.py", "plots.py"):  # plots only colours claims.VERDICTS
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if banned.search(line):
                offenders.append(f"{path.name}:{i}: {line.strip()[:80]}")
    assert offenders == []


def test_frontier_judges_forgetting_by_generation_too():

    full = _curve([0.25, 0.6, 0.9, 0.95], [40, 30, 20, 15])
    lora = _curve([0.25, 0.4, 0.6, 0.7], [40, 39, 38, 37])
    # generated answers forget differently from MC log-likelihood: make LoRA's generation drop the larger one
    for rows in lora.details["rows"][1:]:
        for x in rows["control"]:
            x["contains"] = 0.0
    mc = nb02.frontier_verdict({5e-5: full}, {1e-3: lora})
    gen = nb02.frontier_verdict({5e-5: full}, {1e-3: lora}, control="gen")
    assert mc.id == "lora_forgets_less" and gen.id == "lora_forgets_less_gen" and "generated" in gen.why
    assert mc.verdict == HOLDS and gen.verdict == DOES_NOT_HOLD
    assert gen.diff.value == pytest.approx(40 / 40 - 20 / 40)
    with pytest.raises(ValueError, match="control='logits'"):
        nb02.frontier_verdict({5e-5: full}, {1e-3: lora}, control="logits")


# --------------------------------------------------------------------------- p-values and Holm–Bonferroni


def test_p_value_of_a_clear_effect_a_null_effect_a_ratio_and_an_exact_quantity():
    clear = claims.difference(_scores((A6 * 34)[:200]), _scores((B6 * 34)[:200]))
    assert claims.p_value(clear, 0.0) == pytest.approx(2 / (len(clear.null) + 1))  # no resample at or below 0
    assert claims.p_value(clear, 0.5) > 0.5  # the threshold at the estimate: nothing to reject
    null = claims.difference(_scores([1, 0] * 50), _scores([0, 1] * 50))
    assert null.value == pytest.approx(0.0) and claims.p_value(null, 0.0) > 0.5
    five_below = claims.ratio_estimate([0.6, 0.61, 0.62, 0.63, 0.64])
    assert claims.p_value(five_below, 1.0) == pytest.approx(2 * 0.5 ** 5)  # exact sign test: 0.0625, not < 0.05
    assert claims.p_value(claims.exact(0.01), 0.05) is None
    assert claims.p_value(claims.difference(_scores([1, 1]), _scores([0, 0])), 0.0) is None  # < MIN_FACTS


def _verdict(claim_id, p, verdict=HOLDS):
    est = claims.Estimate(0.1, 0.05, 0.15, 60, null=(0.1,))
    return claims.Verdict(claim_id, claim_id, {}, est, 0.0, "greater", verdict, "x", p_value=p)


def test_holm_adjusts_known_p_values_and_keeps_the_order():
    vs = [_verdict("a", 0.03), _verdict("b", 0.01), _verdict("c", 0.5, UNDETERMINED), _verdict("d", 0.02), _verdict("e", None)]
    out = claims.holm(vs)
    adj = {v.id: v.p_holm for v in out}
    # sorted 0.01, 0.02, 0.03, 0.5 (m = 4): 4·0.01 = 0.04, 3·0.02 = 0.06, max(0.06, 2·0.03) = 0.06, 0.5
    assert adj["e"] is None and {k: adj[k] for k in "abcd"} == pytest.approx({"b": 0.04, "d": 0.06, "a": 0.06, "c": 0.5})
    assert [v.id for v in out] == ["a", "b", "c", "d", "e"] and all(v.family == 4 for v in out)
    texts = {v.id: v.holm_text() for v in out}
    assert texts["b"].startswith("keeps its word") and texts["a"].startswith("not at family-wise 5%")
    assert texts["c"].startswith("– (undetermined") and texts["e"].startswith("– (")
    summary = claims.holm_summary(out)
    assert "**1 of 3**" in summary and "not at family-wise 5%: a, d;" in summary and "1 more decided on exact quantities" in summary
    md = claims.markdown(out)
    assert "Holm–Bonferroni (family-wise 5%)" in md and md.split("\n")[0].count("|") == md.split("\n")[2].count("|")


def test_judge_gives_no_p_value_to_a_blocked_comparison():
    d = claims.difference(_scores((A6 * 34)[:200]), _scores((B6 * 34)[:200]))
    assert claims.judge("lora_learns", d).p_value < 0.01
    assert claims.judge("lora_learns", d, blocked="cut answers").p_value is None
