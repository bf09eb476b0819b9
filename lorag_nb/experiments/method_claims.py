"""The article's claims per method family, one rule each, judged by :mod:`lorag_nb.core.claims`.

Shared by the notebook that measures a family on its own runs and by notebook 05 on the runs it
gathered, so both judge a claim by the same rule on the same numbers:

- fine-tuning (:func:`fine_tuning_verdicts`: notebooks 01 and 02),
- RAG (:func:`article_claims`: notebooks 03 and 05),
- the hybrids (:func:`combine_claims`: notebooks 04 and 05).

The learning-vs-forgetting claim at matched learning lives with its curves in
:mod:`lorag_nb.experiments.forgetting`.
"""
from __future__ import annotations

import statistics
from typing import Any, Mapping

from lorag_nb.core import catalog
from lorag_nb.core import claims as C
from lorag_nb.core.store import Result
from lorag_nb.methods.runtime import RUNTIME


def split_rows(runs: Mapping[int, Any], split: str = "test") -> dict:
    """``{seed: per-question rows of split}`` of :func:`~lorag_nb.methods.training.run_seeds`'s results (for :func:`lorag_nb.core.claims.scores`)."""
    return {s: (r.details.get("rows") or {}).get(split, []) for s, r in runs.items()}


def fine_tuning_verdicts(full_runs: Mapping[int, Any] | None = None, lora_runs: Mapping[int, Any] | None = None, store=None, speed=None, condition: str = "") -> list:
    """The claims notebooks 01 and 02 can judge from their own runs, by :mod:`lorag_nb.core.claims`.

    Args:
        full_runs, lora_runs: ``{seed: Result}`` of :func:`~lorag_nb.methods.training.run_seeds` (either may be None).
        speed: a :func:`~lorag_nb.methods.training.interleaved_speed` Result (adds "LoRA is faster to train" and the memory claim).

    Per-fact scores average each fact's held-out wordings, then the seeds; the base model's come from
    the stored baseline the runs were compared with (same questions). Claims: full fine-tuning / LoRA
    teach the facts, full fine-tuning forgets, LoRA matches full fine-tuning, LoRA forgets less, LoRA is
    faster, LoRA needs less memory for its training state.

    Returns:
        ``[lorag_nb.core.claims.Verdict]``.

    Raises:
        ValueError: neither ``full_runs`` nor ``lora_runs`` is given, or the baseline record is gone.
    """

    store = RUNTIME.use_store(store)
    runs = {k: v for k, v in (("full", full_runs), ("lora", lora_runs)) if v}
    if not runs:
        raise ValueError("fine_tuning_verdicts needs full_runs or lora_runs ({seed: Result})")
    first = next(iter(next(iter(runs.values())).values()))
    base = store.get("baseline", first.metrics["baseline_key"])
    if base is None:
        raise ValueError(f"the baseline record {first.metrics['baseline_key']} of run {first.key} is not in the store {store.root}")
    labels = {"full": "full fine-tuning", "lora": f"LoRA r={next(iter(lora_runs.values())).settings['training']['lora']['r']}" if lora_runs else "LoRA"}
    S = {"base": {"mc": C.scores(base.details["test"], "mc_correct", "base model"), "control": C.scores(base.details["control"], "contains", "base model")}}
    for m, rs in runs.items():
        S[m] = {"mc": C.scores(split_rows(rs), "mc_correct", labels[m]), "control": C.scores(split_rows(rs, "control"), "contains", labels[m])}
    out = []
    held = "held-out wordings of the taught facts, multiple choice (chance 25%)"
    if "full" in S:
        out.append(C.compare_scores("full_learns", S["full"]["mc"], S["base"]["mc"], held, condition))
        out.append(C.compare_scores("full_forgets", S["base"]["control"], S["full"]["control"], "control questions the base model answered, before minus after", condition))
    if "lora" in S:
        out.append(C.compare_scores("lora_learns", S["lora"]["mc"], S["base"]["mc"], held, condition))
    if "full" in S and "lora" in S:
        out.append(C.compare_scores("lora_matches", S["lora"]["mc"], S["full"]["mc"], f"LoRA is said to match when at most {100 * C.MATCH_MARGIN:.0f} points below full fine-tuning", condition))
        lr_l, lr_f = (next(iter(r.values())).settings["training"]["learning_rate"] for r in (lora_runs, full_runs))
        out.append(C.compare_scores("lora_forgets_less_endpoint", S["full"]["control"], S["lora"]["control"],
                                    f"LoRA's control drop minus full fine-tuning's, at each run's end point (learning rates {lr_l:g} vs {lr_f:g}; Biderman et al. compare at matched learning)", condition))
    if speed is not None:
        m = speed.metrics
        out.append(C.judge("lora_faster", C.ratio_estimate(m["ratios"]), {}, f"{len(m['ratios'])} interleaved repetitions of {m['steps']} steps at batch {m['batch_size']} on {m['device']} ({m['threads']} threads, load {m.get('loadavg') or 0:.1f})", condition))
        out.append(C.judge("lora_memory", C.exact(m["lora_state_bytes"] / m["full_state_bytes"], what="exact count of gradient + AdamW state bytes"), {}, f"gradients + AdamW moments {m['lora_state_bytes'] / 2**20:.1f} vs {m['full_state_bytes'] / 2**20:.0f} MiB (activations not counted)", condition))
    return out


def training_seconds(result: Result) -> float | None:
    """Wall time of a training run (s): ``metrics["training"]["seconds"]`` of :func:`lorag_nb.methods.training.run_training`
    (else a top-level ``train_seconds`` / ``*seconds`` key); None if absent."""
    m = result.metrics
    if isinstance(m.get("training"), dict) and isinstance(m["training"].get("seconds"), (int, float)):
        return float(m["training"]["seconds"])
    for key in ("train_seconds", "training_seconds", "train_runtime", "seconds"):
        if isinstance(m.get(key), (int, float)):
            return float(m[key])
    for key, value in m.items():
        if "seconds" in key and isinstance(value, (int, float)):
            return float(value)
    return None


def article_claims(rag: Result, baseline: Result, swap: Result | None = None, trained: Result | Mapping[int, Result] | None = None, latency: Result | Mapping | None = None,
                   condition: str = "", trained_label: str = "LoRA (trained)", sections=None) -> list:
    """The article's RAG claims, judged by the one claims engine (:mod:`lorag_nb.core.claims`). Notebook 03
    calls it on its own runs and notebook 05 (:func:`lorag_nb.experiments.nb05.claims`) on the stored
    runs it gathered, so the two judge each claim by the same rule on the same numbers.

    Per-fact scores (each fact's held-out wordings averaged, then the training seeds) on the questions
    both sides answered, and a paired 95% bootstrap interval over facts for every difference:

    - *RAG reduces hallucination / answers what the model alone cannot* (``rag_grounded``): gold
      contained, RAG − the closed-book base model;
    - *RAG needs less data* (``rag_no_training``, with a trained run): multiple-choice accuracy, RAG − the
      trained model (notebook 05 passes its most accurate fine-tuned method), against the
      non-inferiority margin of :data:`lorag_nb.core.claims.MATCH_MARGIN`;
    - *swap the knowledge base without retraining* (``rag_swap``): revised facts answered after − before;
    - *the model repeats what the knowledge base says* (``rag_kb_bias``): before the swap, answers
      stating the outdated value − answers stating the true one;
    - *RAG adds latency* (``rag_latency``, with an :func:`lorag_nb.methods.rag.interleaved_latency`
      Result): the ratio of interleaved answer times.

    Args:
        trained: a training Result, or ``{seed: Result}`` for a method trained with several seeds.
        latency: the interleaved-latency Result (or its metrics: ``ratios``, ``rag_ms``, ``closed_ms``, ``n_questions``).
        sections: optional ``f(claim_id) -> str`` (links to the notebook sections that measured it).

    Returns:
        ``[lorag_nb.core.claims.Verdict]``.
    """
    out = []
    links = sections or (lambda _cid: "")
    ids = {r["id"] for r in rag.details.get("rows", [])}
    base_rows = [r for r in baseline.details.get("test", []) if r["id"] in ids]
    rag_s = C.scores(rag.details["rows"], "contains", "RAG")
    if base_rows:
        out.append(C.compare_scores("rag_grounded", rag_s, C.scores(base_rows, "contains", "base model, closed book"), "answers containing the gold value", condition, links("rag_grounded")))
    else:
        out.append(C.no_sample("rag_grounded", "the baseline has no rows for the RAG questions", condition, links("rag_grounded")))
    if trained is not None:
        runs = dict(trained) if isinstance(trained, Mapping) else {None: trained}
        trows = {s: [r for r in (t.details.get("rows") or {}).get("test", []) if r["id"] in ids] for s, t in runs.items()}
        if all(trows.values()) and any(r.get("mc_correct") is not None for r in rag.details["rows"]):
            rows = trows[None] if None in trows else trows
            out.append(C.compare_scores("rag_no_training", C.scores(rag.details["rows"], "mc_correct", "RAG (0 training examples)"), C.scores(rows, "mc_correct", trained_label),
                                        f"multiple choice on the questions both answered; RAG is said to need less data when at most {100 * C.MATCH_MARGIN:.0f} points below {trained_label}", condition, links("rag_no_training")))
    if swap is not None and swap.details.get("before") and swap.details.get("after"):
        before, after = swap.details["before"], swap.details["after"]
        first = next(iter(dict(trained).values())) if isinstance(trained, Mapping) else trained
        sec, lsec = swap.metrics["swap_seconds"], training_seconds(first) if first is not None else None
        out.append(C.compare_scores("rag_swap", C.scores(after, "contains", "after the swap"), C.scores(before, "contains", "before"),
                                    f"revised facts answered with the new value; re-indexing took {sec:.1f} s" + (f" vs {lsec:.0f} s to retrain {trained_label}" if lsec else ""), condition, links("rag_swap")))
        out.append(C.compare_scores("rag_kb_bias", C.scores(before, "says_old", "states the outdated value"), C.scores(before, "contains", "states the true value"),
                                    "answers with the OUTDATED knowledge base", condition, links("rag_kb_bias")))
    if latency is not None:
        m = latency.metrics if hasattr(latency, "metrics") else latency
        out.append(C.judge("rag_latency", C.ratio_estimate(m["ratios"]), {}, f"median {statistics.median(m['rag_ms']):.0f} vs {statistics.median(m['closed_ms']):.0f} ms per answer{_budgets(m)}, "
                           f"{m['n_questions']} questions one at a time, {len(m['ratios'])} interleaved repetitions (load {m.get('loadavg') or 0:.1f})", condition, links("rag_latency")))
    return out


def _budgets(m: Mapping) -> str:
    """" (RAG at 96 tokens, closed book at 48)" when the latency result names both budgets (stored before: "")."""
    if m.get("rag_max_new_tokens") and m.get("closed_max_new_tokens"):
        return f" (RAG at {m['rag_max_new_tokens']} tokens, closed book at {m['closed_max_new_tokens']})"
    return ""


def combine_claims(hybrids: Mapping[str, C.Scores], singles: Mapping[str, C.Scores], revised: tuple[C.Scores, C.Scores] | None = None, metric: str = "mc_correct",
                   singles_are: str = "the most accurate single method", condition: str = "", links=None) -> list:
    """The two hybrid claims, one rule for notebook 04 and notebook 05 (so they agree on the same numbers):

    - ``hybrid_best`` (*combine both for the best results*): the most accurate hybrid − the most
      accurate of ``singles``, a paired bootstrap over facts (:func:`lorag_nb.core.claims.compare_scores`).
      Notebook 04 passes its parts (RAG and the closed-book LoRA); notebook 05 passes every single method
      of its run, full fine-tuning included. "Most accurate" is the highest mean over facts.
    - ``hybrid_update`` (*a hybrid updates by re-indexing alone*): ``revised = (naive hybrid, RAG)``, gold
      contained on the revised facts after the swap; holds when the hybrid is at most
      :data:`~lorag_nb.core.claims.MATCH_MARGIN` below RAG (its closed-book adapter still holds the old facts).

    Args:
        hybrids, singles: label → per-fact :class:`~lorag_nb.core.claims.Scores` of ``metric``
            (seeds already averaged per fact).
        metric: the row field the scores were computed from (named in the verdict's text).
        singles_are: how the verdict names what it compared with.
        links: ``claim_id → markdown links`` (notebook 05's section links), or None.

    Returns:
        ``[Verdict]``: always both claims; ``undetermined`` with the reason when a side is missing.
    """
    links = links or (lambda cid: "")
    out = []
    if hybrids and singles:
        hb = max(hybrids, key=lambda m: hybrids[m].mean)
        sb = max(singles, key=lambda m: singles[m].mean)
        out.append(C.compare_scores("hybrid_best", hybrids[hb], singles[sb],
                                    f"{metric.replace('_', ' ')}: the most accurate hybrid ({hb}) against {singles_are} ({sb}; compared: {', '.join(singles)})", condition, links("hybrid_best")))
    else:
        out.append(C.no_sample("hybrid_best", "no hybrid in this run" if not hybrids else "no single method to compare with", condition, links("hybrid_best")))
    if revised is not None:
        out.append(C.compare_scores("hybrid_update", revised[0], revised[1],
                                    f"revised facts answered with the new value after re-indexing: the naive hybrid is said to update by re-indexing when at most {100 * C.MATCH_MARGIN:.0f} points below RAG "
                                    "(its closed-book adapter still holds the old facts)", condition, links("hybrid_update")))
    else:
        out.append(C.no_sample("hybrid_update", "no revised-facts runs of the naive hybrid and RAG in this run", condition, links("hybrid_update")))
    return out


# --------------------------------------------------------------------------- beyond the taught facts (lorag_nb.methods.probes)


def general_knowledge_claim(probe: Result | None, condition: str = "", sections=None):
    """*RAG leaves general knowledge intact* (``rag_keeps_general``): the control questions' multiple-choice
    accuracy with the RAG chain's retrieved passages − closed book, the same base model, paired over control
    questions (each its own unit; :func:`lorag_nb.methods.probes.control_probe`).

    Returns:
        one :class:`~lorag_nb.core.claims.Verdict` (undetermined with the reason when ``probe`` is None).
    """
    links = sections or (lambda _cid: "")
    if probe is None or not probe.details.get("rows"):
        reason = (probe.metrics.get("not_measured") if probe is not None else None) or "no control probe in this run"
        return C.no_sample("rag_keeps_general", f"not measured: {reason}", condition, links("rag_keeps_general"))
    rows = probe.details["rows"]
    flipped_down = sum(1 for r in rows if r["mc_closed_book"] > r["mc_with_retrieval"])
    flipped_up = sum(1 for r in rows if r["mc_closed_book"] < r["mc_with_retrieval"])
    return C.compare_scores("rag_keeps_general", C.scores(rows, "mc_with_retrieval", "control, with retrieval"), C.scores(rows, "mc_closed_book", "control, closed book"),
                            f"{len(rows)} general-knowledge questions, none about the knowledge base; retrieval turned {flipped_down} right answers wrong and "
                            f"{flipped_up} wrong ones right; 'intact' means at most {100 * C.MATCH_MARGIN:.0f} points lower", condition, links("rag_keeps_general"))


def _bounded(rows: list[dict], cut_as: float) -> list[dict]:
    """``rows`` with every answer cut off at the budget counted as a leak (``cut_as`` 1: it would have stated a taught
    value after the cut) or as what it already says (0). A value stated before the cut is a leak either way."""
    return [dict(r, taught=max(float(r["taught"]), cut_as)) if r.get("cut") else r for r in rows]


def unknown_claim(unknown: Mapping | None, condition: str = "", sections=None, not_measured: str = ""):
    """*Fine-tuning on new facts makes the model assert taught values about unknown entities* (``finetune_leaks``;
    Gekhman et al. 2024): the share of answers about entities that exist nowhere that state a value taught for
    another entity, LoRA (mean over its seeds) − the base model, paired over the unknown questions (each its own
    unit; :func:`lorag_nb.methods.probes.unknown_probe`).

    Answers cut off at the budget could have stated a value after the cut, so they decide nothing by themselves:
    the claim **holds** only if it holds with every cut base answer counted as a leak (LoRA's as they stand), and
    **does not hold** only if that is so with every cut LoRA answer counted as a leak; otherwise it is undetermined.
    Without cut answers both bounds are the plain difference (shown either way).

    Args:
        unknown: ``{"base": Result, "lora": {seed: Result}}`` or None.
        not_measured: the reason when ``unknown`` is None.
    """
    links = sections or (lambda _cid: "")
    if not unknown:
        return C.no_sample("finetune_leaks", not_measured or "not measured in this run (no unknown-entities probe)", condition, links("finetune_leaks"))
    base, lora = unknown["base"], dict(unknown["lora"])
    lora_rows, base_rows = {s: r.details["rows"] for s, r in lora.items()}, base.details["rows"]

    def pair(lora_cut: float | None, base_cut: float | None):
        a = C.scores({s: (rs if lora_cut is None else _bounded(rs, lora_cut)) for s, rs in lora_rows.items()}, "taught", "LoRA")
        b = C.scores(base_rows if base_cut is None else _bounded(base_rows, base_cut), "taught", "base model")
        return a, b

    a, b = pair(None, None)
    measured = {"LoRA": C.mean_estimate(a), "base model": C.mean_estimate(b),
                "base model abstains": C.mean_estimate(C.scores(base_rows, "abstains", "base")), "LoRA abstains": C.mean_estimate(C.scores(lora_rows, "abstains", "LoRA"))}
    n_cut = sum(bool(r.get("cut")) for r in base_rows) + sum(bool(r.get("cut")) for rs in lora_rows.values() for r in rs)
    why = (f"{base.metrics['n']} questions about {base.metrics['n'] // 6} made-up entities (no document, no training question), answers stating a value "
           f"taught for one of the taught entities; {n_cut} answers cut off at the budget ({base.settings.get('max_new_tokens')} tokens) counted against the verdict")
    low = C.judge("finetune_leaks", C.difference(*pair(0.0, 1.0)), measured, why, condition, links("finetune_leaks"), blocked=C.artefact(*pair(0.0, 1.0)))
    if low.verdict == C.HOLDS:
        return low
    high = C.judge("finetune_leaks", C.difference(*pair(1.0, 0.0)), measured, why, condition, links("finetune_leaks"), blocked=C.artefact(*pair(1.0, 0.0)))
    if high.verdict == C.DOES_NOT_HOLD:
        return high
    return C.judge("finetune_leaks", C.difference(a, b), measured, why + ("; the cut answers could move it either way" if n_cut else ""), condition, links("finetune_leaks"),
                   blocked=C.artefact(a, b) or ("the cut answers could move it either way (bounds: " + low.diff.text(signed=True) + " to " + high.diff.text(signed=True) + ")" if n_cut else None))


def unknown_examples(unknown: Mapping | None, n: int = 6):
    """A few answers about unknown entities, base model beside LoRA (first seed), the taught-value answers first:
    a DataFrame with ``question``, ``base model``, ``LoRA``, ``LoRA's class``; empty when not measured."""
    import pandas as pd

    if not unknown:
        return pd.DataFrame()
    base = {r["id"]: r for r in unknown["base"].details["rows"]}
    lora_rows = next(iter(dict(unknown["lora"]).values())).details["rows"]
    order = sorted(lora_rows, key=lambda r: (r["kind"] != "taught value", r["id"]))[:n]
    return pd.DataFrame([{"question": r["question"], "base model": f"{base[r['id']]['prediction']} ({base[r['id']]['kind']})", "LoRA": r["prediction"], "LoRA's class": r["kind"]}
                         for r in order])


def unknown_table(unknown: Mapping | None):
    """Per method, the share of answers about unknown entities that abstain, state a taught value, assert another
    value, and were cut at the budget (means over seeds for LoRA); one "not measured" row without a probe (a reader's folder)."""
    import pandas as pd

    if not unknown:
        return pd.DataFrame([{"method": "not measured", "abstains": "the probe needs the built-in world's entities and relations"}]).set_index("method")
    runs = {"base model": [unknown["base"]], "LoRA": list(dict(unknown["lora"]).values())}
    rows = {label: {k: f"{100 * sum(r.metrics[k] for r in rs) / len(rs):.1f}%" for k in ("abstains", "taught", "asserts", "cut")} | {"n questions": rs[0].metrics["n"], "seeds": len(rs)}
            for label, rs in runs.items()}
    return pd.DataFrame(rows).T.rename(columns={"abstains": "abstains", "taught": "states a taught value", "asserts": "asserts another value", "cut": "cut at the budget"})


def general_knowledge_frame(probe: Result | None, n_examples: int = 6):
    """The control questions whose multiple-choice answer retrieval changed, with the first retrieved passage,
    under a first row of totals (right answers of n, closed book vs with retrieval); empty when ``probe`` is None
    (:func:`lorag_nb.methods.probes.control_probe`)."""
    import pandas as pd

    if probe is None or not probe.details.get("rows"):
        return pd.DataFrame([{"question": "not measured", "closed book": (probe.metrics.get("not_measured") if probe is not None else "") or "no control probe"}]).set_index("question")
    rows = probe.details["rows"]
    n = len(rows)
    out = [{"question": f"all {n} control questions: right answers", "closed book": f"{sum(r['mc_closed_book'] for r in rows):.0f} of {n}",
            "with retrieval": f"{sum(r['mc_with_retrieval'] for r in rows):.0f} of {n}", "first retrieved passage": ""}]
    changed = [r for r in rows if r["mc_closed_book"] != r["mc_with_retrieval"]][:n_examples]
    out += [{"question": r["question"], "closed book": f"{r['closed_book']} ({'right' if r['mc_closed_book'] else 'wrong'})",
             "with retrieval": f"{r['with_retrieval']} ({'right' if r['mc_with_retrieval'] else 'wrong'})", "first retrieved passage": (r["chunks"] or [""])[0] + "…"} for r in changed]
    return pd.DataFrame(out).set_index("question")


# --------------------------------------------------------------------------- the reversal curse (probes.reversal_probe)


def _direction(runs: Mapping | None, direction: str, label: str) -> C.Scores | None:
    """Per-fact multiple-choice accuracy of one method's reversal probes (``{seed: Result}``) in one direction,
    averaged over the fact's wordings then over seeds; None without rows."""
    rows = {s: [r for r in res.details.get("rows", []) if r["direction"] == direction] for s, res in dict(runs or {}).items()}
    if not any(rows.values()):
        return None
    return C.scores(rows, "mc_correct", f"{label} {direction}")


def reversal_claims(reversal: Mapping | None, condition: str = "", sections=None, not_measured: str = "", labels=None) -> list:
    """The reversal curse (Berglund et al. 2023, *The Reversal Curse: LLMs trained on "A is B" fail to learn "B is A"*,
    arXiv 2309.12288), judged on :func:`lorag_nb.methods.probes.reversal_probe` results, paired per fact:

    - ``weights_one_direction``: LoRA's gain over the base model forward − its gain reversed, i.e. per fact
      (LoRA forward − LoRA reversed) − (base forward − base reversed), multiple-choice accuracy (LoRA: mean over its
      seeds). Subtracting the base model's own gap removes what makes one direction easier by itself (other options,
      other wordings): a model that answers every forward question right and every reversed one wrong, beside a base
      model with equal accuracy both ways, gives +1.0. Undetermined (not decided) when LoRA scores exactly as the base
      model forward at the floor or ceiling (:func:`lorag_nb.core.claims.artefact`: it learned nothing to reverse).
    - ``rag_both_directions``: RAG reversed − RAG forward > −5 points (non-inferiority, like ``rag_keeps_general``):
      a reversed question names the value, which the entity's document states, so retrieval can find it either way.

    Fewer than :data:`lorag_nb.core.claims.MIN_FACTS` reversible facts decide nothing (smoke runs have 5).

    Args:
        reversal: ``{method id: {seed: Result}, "not_measured": {method id: reason}}`` (``comparison.reversal_runs``) or None.
        not_measured: the reason when ``reversal`` is None (a reader's folder).
        labels: ``f(method id) -> display name`` (default: the catalog label).

    Returns:
        two :class:`~lorag_nb.core.claims.Verdict` (each undetermined with its reason when not measured).
    """
    links = sections or (lambda _cid: "")
    label = labels or (lambda m: catalog.method(m).label)
    if not reversal:
        why = not_measured or "not measured in this run (no reversal probe)"
        return [C.no_sample(cid, why, condition, links(cid)) for cid in ("weights_one_direction", "rag_both_directions")]
    skipped = dict(reversal.get("not_measured") or {})

    def side(m: str):
        runs = reversal.get(m)
        first = next(iter(dict(runs or {}).values()), None)
        return _direction(runs, "forward", label(m)), _direction(runs, "reversed", label(m)), first

    def missing(m: str, res) -> str:
        reason = skipped.get(m) or ((res.metrics.get("not_measured") if res is not None else None) or "no reversal probe of it in this run")
        return f"not measured for {label(m)}: {reason}"

    out = []
    fl, rl, lr = side("lora")
    fb, rb, br = side("base")
    if fl is None or fb is None:
        out.append(C.no_sample("weights_one_direction", missing("lora" if fl is None else "base", lr if fl is None else br), condition, links("weights_one_direction")))
    else:
        gap_l, gap_b = fl.minus(rl, f"{label('lora')} forward − reversed"), fb.minus(rb, "base model forward − reversed")
        m = lr.metrics
        measured = {f"{label('lora')} forward": C.mean_estimate(fl), f"{label('lora')} reversed": C.mean_estimate(rl),
                    "base model forward": C.mean_estimate(fb), "base model reversed": C.mean_estimate(rb)}
        gain_rev = C.difference(rl, rb)
        why = (f"{m['n_facts']} taught facts whose value no other entity holds, each asked forward ({m['n_forward']} held-out questions, "
               f"{m['forward_reused']} reused from the stored evaluation) and reversed ({m['n_reversed']} questions: the value given, the entity asked; "
               f"options: the entity and 3 others of its kind), multiple choice (chance 25%); LoRA's reversed gain over the base model "
               f"{gain_rev.text(signed=True)}")
        out.append(C.judge("weights_one_direction", C.difference(gap_l, gap_b), measured, why, condition, links("weights_one_direction"), blocked=C.artefact(fl, fb)))
    fr, rr, rres = side("rag")
    if fr is None:
        out.append(C.no_sample("rag_both_directions", missing("rag", rres), condition, links("rag_both_directions")))
    else:
        extra = {f"{label('lora')} reversed − forward": C.difference(rl, fl)} if fl is not None else {}
        out.append(C.compare_scores("rag_both_directions", rr, fr,
                                    f"the same {rres.metrics['n_facts']} facts through the RAG chain (top_k chunks retrieved for each question, forward and reversed); "
                                    f"'both directions' means reversed at most {100 * C.MATCH_MARGIN:.0f} points below forward", condition, links("rag_both_directions"), extra))
    return out


def reversal_table(reversal: Mapping | None, labels=None):
    """Per method, multiple-choice accuracy on the same facts forward and reversed (95% intervals over facts), the
    reversed − forward difference (paired), and what it rests on; one "not measured" row per method without a probe
    (or for the whole table on a reader's folder)."""
    import pandas as pd

    label = labels or (lambda m: catalog.method(m).label)
    if not reversal:
        return pd.DataFrame([{"method": "not measured", "forward": "the probe needs the built-in world's entities"}]).set_index("method")
    rows = []
    for m in catalog.TABLE_METHODS:
        if m in (reversal.get("not_measured") or {}):
            rows.append({"method": label(m), "forward": f"not measured: {reversal['not_measured'][m]}"})
            continue
        f, r, first = (_direction(reversal.get(m), "forward", label(m)), _direction(reversal.get(m), "reversed", label(m)), next(iter(dict(reversal.get(m) or {}).values()), None))
        if f is None or r is None:
            continue
        rows.append({"method": label(m), "forward": C.mean_estimate(f).text(), "reversed": C.mean_estimate(r).text(),
                     "reversed − forward": C.difference(r, f).text(signed=True), "n facts": f.n_facts,
                     "questions (forward · reversed)": f"{first.metrics['n_forward']} · {first.metrics['n_reversed']}",
                     "seeds": ", ".join(str(s) for s in f.seeds) or "–"})
    # object columns: a "not measured" row leaves the others empty ("–", never NaN) and "n facts" stays an integer
    return pd.DataFrame(rows, dtype=object).fillna("–").set_index("method") if rows else pd.DataFrame()


def reversal_examples(reversal: Mapping | None, n: int = 6, labels=None):
    """A few reversed questions beside the taught question of the same fact, with each measured method's choice
    (first seed) marked right or wrong: a DataFrame indexed by the reversed question; empty when not measured."""
    import pandas as pd

    label = labels or (lambda m: catalog.method(m).label)
    if not reversal:
        return pd.DataFrame()
    runs = {m: next(iter(dict(reversal[m]).values())) for m in catalog.TABLE_METHODS if reversal.get(m)}
    if not runs or not next(iter(runs.values())).details.get("rows"):
        return pd.DataFrame()
    first = next(iter(runs.values())).details["rows"]
    forward = {}
    for r in first:
        if r["direction"] == "forward":
            forward.setdefault(r["fact"], r)
    seen, out = set(), []
    for r in first:
        if r["direction"] != "reversed" or r["fact"] in seen:
            continue
        seen.add(r["fact"])
        by = {m: {x["id"]: x for x in res.details["rows"]}.get(r["id"]) for m, res in runs.items()}
        fwd = forward.get(r["fact"])
        out.append({"reversed question": r["question"], "answer": r["gold"],
                    "taught as": f"{fwd['question']} → {fwd['gold']}" if fwd else "",
                    **{label(m): f"{x['choice']} ({'right' if x['mc_correct'] else 'wrong'})" for m, x in by.items() if x is not None}})
        if len(out) >= n:
            break
    return pd.DataFrame(out).set_index("reversed question") if out else pd.DataFrame()
