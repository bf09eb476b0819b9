"""Notebook 05's conclusions: the article's claims judged on the comparison (:func:`claims`), the verdict
tables, the decision guide written from the measured numbers, and the links from each claim to the
notebook sections that measured it.

Claims and verdicts come from the one claims engine (:mod:`lorag_nb.core.claims`): per-fact scores, a
paired 95% bootstrap interval for each difference, one rule per claim; the RAG claims are judged by
notebook 03's own rules (:func:`lorag_nb.experiments.method_claims.article_claims`) and the hybrid claims
by notebook 04's (:func:`~lorag_nb.experiments.method_claims.combine_claims`), so the notebooks agree on the
same numbers. Each verdict carries the condition it was measured under (model size, facts, steps,
questions, device).
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Sequence

from lorag_nb.core import catalog
from lorag_nb.core import claims as C
from lorag_nb.core.fmt import mib, pct, seconds
from lorag_nb.core.paths import NOTEBOOKS_DIR
from lorag_nb.data.knowledge import active_knowledge
from lorag_nb.experiments.comparison_table import OVADIA_ARMS, Comparison, pareto_front
from lorag_nb.experiments.method_claims import article_claims, combine_claims, general_knowledge_claim, reversal_claims, unknown_claim
from lorag_nb.experiments.rag_studies import swap_skipped


# --------------------------------------------------------------------------- claims and verdicts

#: Notebook sections that measured each claim: claim id → [(notebook file stem, heading text)].
SECTIONS: dict[str, list[tuple[str, str]]] = {
    "full_quality": [("01_full_finetuning", "Before and after"), ("05_comparison", "The comparison table")],
    "full_forgets": [("01_full_finetuning", "Before and after"), ("05_comparison", "Learning vs forgetting")],
    "full_learns": [("01_full_finetuning", "Before and after"), ("05_comparison", "The comparison table")],
    "lora_learns": [("02_lora", "LoRA vs full fine-tuning"), ("05_comparison", "The comparison table")],
    "lora_faster": [("02_lora", "LoRA vs full fine-tuning"), ("05_comparison", "Accuracy vs training cost")],
    "lora_memory": [("02_lora", "LoRA vs full fine-tuning")],
    "lora_tiny": [("02_lora", "LoRA vs full fine-tuning")],
    "lora_matches": [("02_lora", "LoRA vs full fine-tuning"), ("05_comparison", "The comparison table")],
    "lora_forgets_less": [("02_lora", "Learning vs forgetting along training"), ("05_comparison", "Learning vs forgetting")],
    "lora_forgets_less_gen": [("02_lora", "Learning vs forgetting along training"), ("05_comparison", "Learning vs forgetting")],
    "lora_forgets_less_endpoint": [("02_lora", "LoRA vs full fine-tuning"), ("05_comparison", "Learning vs forgetting")],
    "rag_no_training": [("03_rag", "Answers vs top_k, against the oracle-document ceiling"), ("05_comparison", "Accuracy vs training cost")],
    "rag_swap": [("03_rag", "Swapping the knowledge base"), ("05_comparison", "The comparison table")],
    "rag_kb_bias": [("03_rag", "Swapping the knowledge base"), ("05_comparison", "The comparison table")],
    "rag_grounded": [("03_rag", "Answers vs top_k, against the oracle-document ceiling")],
    "rag_latency": [("03_rag", "Latency per question")],
    "rag_keeps_general": [("03_rag", "General knowledge through the retriever"), ("05_comparison", "Beyond the taught facts")],
    "finetune_leaks": [("05_comparison", "Beyond the taught facts")],
    "weights_one_direction": [("05_comparison", "Beyond the taught facts")],
    "rag_both_directions": [("05_comparison", "Beyond the taught facts")],
    "hybrid_best": [("04_hybrid", None), ("05_comparison", "The comparison table")],
    "hybrid_update": [("04_hybrid", None), ("05_comparison", "The comparison table")],
    "raft_beats_rag": [("04_hybrid", None), ("05_comparison", "The comparison table")],
    "ovadia_rag_beats_docs": [("05_comparison", "Fine-tuning on the documents or retrieval?"), ("03_rag", "Answers vs top_k, against the oracle-document ceiling")],
    "ovadia_paraphrases_help": [("05_comparison", "Fine-tuning on the documents or retrieval?"), ("02_lora", None)],
    "raft_robust": [("04_hybrid", None), ("04_hybrid", None)],
    "paraphrase_helps": [("02_lora", None), ("02_lora", None)],
    "paraphrase_helps_same_steps": [("02_lora", None), ("02_lora", None)],
}

#: Notebook file name prefix → file stem, for sections whose notebook name is only known by its number.


def anchor(heading: str) -> str:
    """The anchor JupyterLab and nbconvert give a Markdown heading (spaces → '-', URL-quoted like nbconvert)."""
    from urllib.parse import quote

    return quote(heading.strip().replace(" ", "-"), safe="?/:@!$&'()*+,;=")


def _notebook_file(stem: str, folder: Path = NOTEBOOKS_DIR) -> str:
    """The notebook's real file stem (``04_hybrid`` → ``04_lora_rag_hybrid`` if that is what exists)."""
    exact = folder / f"{stem}.ipynb"
    if exact.exists():
        return stem
    found = sorted(folder.glob(f"{stem[:2]}_*.ipynb"))
    return found[0].stem if found else stem


def notebook_headings(stem: str, folder: Path = NOTEBOOKS_DIR) -> list[str]:
    """The Markdown headings (``#`` … ``######``) of a notebook, in order; [] if it does not exist."""
    import json

    path = folder / f"{_notebook_file(stem, folder)}.ipynb"
    if not path.exists():
        return []
    out = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            if line.startswith("#"):
                out.append(line.lstrip("#").strip())
    return out


def section_links(claim_id: str, folder: Path = NOTEBOOKS_DIR) -> str:
    """Markdown links to the notebook sections that measured ``claim_id``: ``[03 · heading](03_rag.ipynb#anchor) ([html](03_rag.html#anchor))``.

    A section given without a heading (None) links to the first ``##`` heading of that notebook that
    mentions the claim's subject, or to the notebook itself.
    """
    links = []
    for stem, heading in SECTIONS.get(claim_id, []):
        name = _notebook_file(stem, folder)
        if heading is None:
            heads = [h for h in notebook_headings(stem, folder)[1:]]
            want = ("claim", "measure", "compar", "swap") if claim_id != "hybrid_best" else ("compar", "claim", "measure")
            heading = next((h for h in heads for w in want if w in h.lower()), None)
        frag = f"#{anchor(heading)}" if heading else ""
        text = f"{name[:2]} · {heading}" if heading else name
        links.append(f"[{text}]({name}.ipynb{frag}) ([html]({name}.html{frag}))")
    return "; ".join(links)


def closed_book_latency(comp: Comparison) -> float | None:
    """Median p50 answer latency (ms) of the closed-book models (base, full fine-tuning, LoRA: the same
    architecture once merged); None if none has one."""
    vals = sorted(comp.rows[m]["p50 latency ms"] for m in catalog.CLOSED_BOOK if m in comp.rows and comp.rows[m].get("p50 latency ms") is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def _est(comp: "Comparison", method: str, metric: str = "mc"):
    s = (comp.samples.get(method) or {}).get(metric)
    return None if s is None else C.mean_estimate(s)


def _diff(comp: "Comparison", a: str, b: str, metric: str = "mc"):
    sa, sb = (comp.samples.get(a) or {}).get(metric), (comp.samples.get(b) or {}).get(metric)
    if sa is None or sb is None:
        return None
    return C.difference(sa, sb)


def best_by(comp: "Comparison", methods: Sequence[str], metric: str = "mc") -> str | None:
    """The method with the highest mean over facts of ``metric`` among ``methods`` (None if none measured)."""
    have = [m for m in methods if (comp.samples.get(m) or {}).get(metric) is not None]
    return max(have, key=lambda m: comp.samples[m][metric].mean) if have else None


def claims(comp: Comparison) -> list:
    """The article's claims about full fine-tuning, LoRA, RAG and the hybrid, judged by :mod:`lorag_nb.core.claims`.

    Each claim has one rule (:data:`lorag_nb.core.claims.CLAIMS`: what difference, which side of which
    threshold) and the one verdict rule of :func:`lorag_nb.core.claims.decide` on its 95% interval:
    accuracy differences are paired bootstrap intervals over facts (per-fact means over wordings and
    seeds), control-set differences resample control questions, speed and latency are ratios from
    interleaved repetitions (their spread is the interval), sizes are exact. A claim this run could not
    measure is ``undetermined`` with the reason.

    The whole list then goes through :func:`lorag_nb.core.claims.holm` (Holm 1979): each verdict also says whether
    it keeps its word at a family-wise error rate of 5% over every verdict with a test.

    Returns:
        ``[lorag_nb.core.claims.Verdict]`` (``.row()`` for a flat dict; ``.verdict`` ∈ holds / does not hold / undetermined;
        ``.p_value``, ``.p_holm``, ``.holm_text()``).
    """
    R = comp.rows
    cond = comp.condition()
    out = []

    def add(cid, diff, measured, why, condition=cond):
        if diff is None:
            out.append(C.no_sample(cid, why or "not measured in this run", condition, section_links(cid)))
        else:
            out.append(C.judge(cid, diff, measured, why, condition, section_links(cid)))

    lab = comp.label
    mc = lambda m: _est(comp, m, "mc")  # noqa: E731

    # --- full fine-tuning
    others = [m for m in comp.methods if catalog.method(m).learns_facts]  # every method that learned the facts …
    others.remove("full")  # … but the claim's subject
    best_other = best_by(comp, others)
    if best_other:
        add("full_quality", _diff(comp, "full", best_other), {lab("full"): mc("full"), lab(best_other): mc(best_other)},
            f"compared with the most accurate other method, {lab(best_other)}; at most {100 * C.MATCH_MARGIN:.0f} points below it still counts as the best quality")
    held = "held-out wordings of the taught facts, multiple choice (chance 25%)"  # as notebooks 01 and 02 judge them
    add("full_learns", _diff(comp, "full", "base"), {lab("full"): mc("full"), "base model": mc("base")}, held)
    add("lora_learns", _diff(comp, "lora", "base"), {lab("lora"): mc("lora"), "base model": mc("base")}, held)
    add("full_forgets", _diff(comp, "base", "full", "control"), {"base model": _est(comp, "base", "control"), lab("full"): _est(comp, "full", "control")},
        f"control questions the base model answered, before vs after; perplexity change {100 * (R['full'].get('perplexity change') or 0):+.1f}%")

    # --- LoRA
    speed = comp.extra.get("speed") or {}
    if len(speed.get("ratios") or []) >= 2:
        est = C.ratio_estimate(speed["ratios"])
        fs, ls = statistics.median(speed["full_s_per_step"]), statistics.median(speed["lora_s_per_step"])
        add("lora_faster", est, {}, f"median {ls:.2f} vs {fs:.2f} s/step over {len(speed['ratios'])} interleaved repetitions of {speed.get('steps')} steps (batch {speed.get('batch_size')}, {speed.get('device')}, {speed.get('threads')} threads, load {speed.get('loadavg') or 0:.1f}); "
            "the gain depends on hardware and model size (benchmarks/README.md: why LoRA can be slower per step than full fine-tuning on a GPU at 135M parameters)")
    else:
        add("lora_faster", None, {}, "no interleaved speed measurement in this run")
    if speed.get("full_state_bytes") and speed.get("lora_state_bytes"):
        lp, fp = R["lora"].get("peak memory MiB"), R["full"].get("peak memory MiB")
        add("lora_memory", C.exact(speed["lora_state_bytes"] / speed["full_state_bytes"], what="exact count of gradient + AdamW state bytes"), {},
            f"gradients + AdamW moments {mib(speed['lora_state_bytes']):.1f} vs {mib(speed['full_state_bytes']):.0f} MiB (activations not counted)"
            + (f"; whole-process peak RSS of the two runs {lp:.0f} vs {fp:.0f} MiB, dominated by the frozen model" if lp and fp else ""))
    else:
        add("lora_memory", None, {}, "no training-state measurement in this run")
    la, fa = R["lora"].get("artifact MiB"), R["full"].get("artifact MiB")
    add("lora_tiny", C.exact(la / fa, what="exact file sizes") if la and fa else None, {},
        f"adapter {la or 0:.2f} MiB vs full checkpoint {fa or 0:.0f} MiB; {R['lora'].get('trainable params') or 0:,} vs {R['full'].get('trainable params') or 0:,} trainable parameters")
    add("lora_matches", _diff(comp, "lora", "full"), {lab("lora"): mc("lora"), lab("full"): mc("full")},
        f"LoRA is said to match when it is at most {100 * C.MATCH_MARGIN:.0f} points below full fine-tuning (non-inferiority margin)")
    lr_l, lr_f = R["lora"].get("learning_rate"), R["full"].get("learning_rate")
    if comp.extra.get("frontier_verdict") is not None:  # matched learning, from notebook 02's curves
        for cid, fv in (("lora_forgets_less", comp.extra["frontier_verdict"]), ("lora_forgets_less_gen", comp.extra.get("frontier_verdict_gen"))):
            if fv is not None:
                out.append(C.judge(cid, fv.diff, fv.measured, fv.why.split("; the whole")[0].split("; the 95%")[0], cond, section_links("lora_forgets_less")))
    else:
        add("lora_forgets_less", None, {}, "no learning-vs-forgetting curves in this run")
    add("lora_forgets_less_endpoint", _diff(comp, "full", "lora", "control"), {f"{lab('lora')} control": _est(comp, "lora", "control"), f"{lab('full')} control": _est(comp, "full", "control")},
        "drop in control accuracy of LoRA minus that of full fine-tuning, at the END POINTS of each method's own training"
        + (f" (learning rates {lr_l:g} vs {lr_f:g}; Biderman et al. compare at matched learning)" if lr_l and lr_f else "")
        + f"; perplexity change {100 * (R['lora'].get('perplexity change') or 0):+.1f}% vs {100 * (R['full'].get('perplexity change') or 0):+.1f}%")

    # --- RAG: notebook 03's rules (method_claims.article_claims) on the runs gathered here, so 03 and 05 agree
    ft_best = best_by(comp, catalog.FINE_TUNED)
    rr = comp.extra.get("rag_runs") or {}
    if rr.get("rag") is not None and rr.get("baseline") is not None:
        trained = (rr.get("trained") or {}).get(ft_best) if ft_best else None
        rag_cond = cond + f"; knowledge base of {comp.context.get('rag_entities') or 'all'} entities"
        lat = comp.extra.get("latency") if len((comp.extra.get("latency") or {}).get("ratios") or []) >= 2 else None
        vs = {v.id: v for v in article_claims(rr["rag"], rr["baseline"], rr.get("swap"), trained, lat, rag_cond, lab(ft_best) if ft_best else "the fine-tuned model", section_links)}
    else:
        vs = {}
    skipped = ((rr.get("swap").metrics if rr.get("swap") is not None else {}) or {}).get("skipped")
    for cid in ("rag_no_training", "rag_swap", "rag_grounded", "rag_kb_bias", "rag_latency"):
        if cid in vs:
            out.append(vs[cid])
        elif skipped and cid in ("rag_swap", "rag_kb_bias"):
            add(cid, None, {}, f"not measured: {skipped}")
        else:
            add(cid, None, {}, "not measured in this run (no RAG runs, no fine-tuned run or no interleaved latency measurement)")
    after = (comp.samples.get("rag_swap") or {}).get("after")

    # --- hybrid: notebook 04's rule (method_claims.combine_claims), against every single method of this run
    hyb = {lab(m): comp.samples[m]["mc"] for m in catalog.HYBRIDS if m in comp.methods and (comp.samples.get(m) or {}).get("mc") is not None}
    singles = {lab(m): comp.samples[m]["mc"] for m in catalog.SINGLES if (comp.samples.get(m) or {}).get("mc") is not None}
    nr = (comp.samples.get("naive_hybrid") or {}).get("revised")
    out.extend(combine_claims(hyb, singles, (nr, after) if nr and after else None, "mc_correct", "the most accurate single method", cond, section_links))
    if "docs_ft" in comp.samples:
        add("ovadia_rag_beats_docs", _diff(comp, "rag", "docs_ft"), {lab("rag"): mc("rag"), OVADIA_ARMS["docs_ft"]: mc("docs_ft")},
            f"continued pretraining on the {comp.context.get('n_entities')} taught entities' documents ({(comp.extra.get('docs_ft') or {}).get('steps')} steps) against retrieval from the knowledge base")
    if "docs_ft" in comp.samples and "docs_qa_ft" in comp.samples:
        add("ovadia_paraphrases_help", _diff(comp, "docs_qa_ft", "docs_ft"), {OVADIA_ARMS["docs_qa_ft"]: mc("docs_qa_ft"), OVADIA_ARMS["docs_ft"]: mc("docs_ft")},
            "the same documents, with and without the paraphrased training questions")
    if "raft_hybrid" in comp.samples:
        add("raft_beats_rag", _diff(comp, "raft_hybrid", "rag", "contains"), {lab("raft_hybrid"): _est(comp, "raft_hybrid", "contains"), lab("rag"): _est(comp, "rag", "contains")},
            f"the same retrieved chunks at top_k={comp.context.get('top_k')}, gold contained in the answer")

    # --- beyond the taught facts: general knowledge through the retriever, and unknown entities
    out.append(general_knowledge_claim(comp.extra.get("control_probe"), cond, section_links))
    folder = active_knowledge()
    out.append(unknown_claim(comp.extra.get("unknown"), cond, section_links,
                             f"not measured: the unknown-entities probe needs the built-in world's entities and relations (active: your folder {folder})" if folder else ""))
    # --- the reversal curse: the same taught facts asked forward and reversed (Berglund et al. 2023)
    out.extend(reversal_claims(comp.extra.get("reversal"), cond, section_links,
                               f"not measured: the reversal probe needs the built-in world's entities, whose names are the reversed answers (active: your folder {folder})" if folder else "",
                               comp.label))
    return C.holm(out)


def claims_frame(verdicts: Sequence):
    """The verdicts as a DataFrame (:func:`lorag_nb.core.claims.frame`)."""
    return C.frame(verdicts)


def claims_markdown(verdicts: Sequence) -> str:
    """The verdicts as a Markdown table with their intervals, n and seeds (:func:`lorag_nb.core.claims.markdown`)."""
    return C.markdown(verdicts)


def verdict_counts(verdicts: Sequence) -> dict[str, int]:
    """How many claims hold, do not hold, are undetermined (:func:`lorag_nb.core.claims.counts`)."""
    return C.counts(verdicts)


# --------------------------------------------------------------------------- decision guide

SCALE_PARAGRAPH = (
    "**Scale.** Everything above was measured on a 135M-parameter model, tens of invented facts and tens of "
    "optimizer steps on a CPU; the intervals above say what this sample can and cannot decide. "
    "At larger scale expect: fine-tuning to learn facts more reliably (bigger models memorize from "
    "fewer examples, Ovadia et al. 2023 still found RAG ahead for new knowledge on 7B models); LoRA's "
    "memory and storage advantage to grow with the model (optimizer state and checkpoints scale with the "
    "parameter count, the adapter with the rank), while its speed advantage depends on hardware — on a "
    "GPU at 135M it was slower than full fine-tuning; retrieval latency to matter less next to the "
    "generation of a larger model, and a stronger reader to turn retrieved passages into right answers "
    "more often; forgetting to follow the learning rate and number of steps more than the method "
    "(Biderman et al. 2024 measured it over billions of tokens)."
)


def decision_guide(comp: Comparison, claim_rows: Sequence[dict] | None = None) -> str:
    """A Markdown decision guide written from the measured numbers, plus a fixed paragraph on scale."""
    R = comp.rows
    acc = "test MC acc"
    claim_rows = claim_rows if claim_rows is not None else claims(comp)
    verdicts = {v.id: v.verdict_text() for v in claim_rows}
    best = best_by(comp, comp.methods) or max((m for m in R if R[m].get(acc) is not None), key=lambda m: R[m][acc])
    # methods whose difference from the best has a 95% interval reaching 0: not distinguishable at this sample
    tied = [comp.label(m) for m in comp.methods if m == best or ((d := _diff(comp, best, m)) is not None and C.decide(d, 0.0, "greater") != C.HOLDS)]
    cheapest_good = pareto_front({comp.label(m): (R[m].get("setup s"), R[m].get(acc)) for m in R})
    lines = [
        f"*Measured at: {comp.condition()}; RAG over a knowledge base of {comp.context.get('rag_entities') or 'all'} {'entities' if active_knowledge() is None else 'documents'}, top_k={comp.context.get('top_k')}.*",
        "",
        f"- **Most accurate here: {', '.join(tied)}** ({pct(R[best][acc])} best multiple-choice accuracy on the held-out questions, mean over facts and seeds; "
        f"listed: every method whose paired 95% interval against the best reaches 0, so this sample cannot separate them; base model {pct(R['base'][acc])}).",
        f"- **Best accuracy for the set-up cost** (Pareto front, cheapest first): {', '.join(cheapest_good)}.",
    ]
    rag, lora, full = R["rag"], R["lora"], R["full"]
    skipped = swap_skipped()
    swap = (f"The swap itself was not measured ({skipped.split(': ', 1)[-1]})." if skipped else
            f"After the swap RAG answered {pct((comp.extra.get('swap_after') or {}).get('contains'))} of the revised facts (before: {pct((comp.extra.get('swap_before') or {}).get('contains'))}, n={comp.extra.get('swap_n')}); "
            f"without retraining, the fine-tuned models still state the old value in {pct(lora.get('revised stale'))} (LoRA) and {pct(full.get('revised stale'))} (full) of their answers (n={comp.context.get('n_revised')}).")
    lines.append(
        f"- **Facts that change → RAG (or a hybrid).** Updating RAG "
        + (f"took {seconds(rag.get('update s'))} of re-indexing" if rag.get("update s") is not None else "means re-indexing the changed documents (its time not measured here)")
        + "; updating a fine-tuned model means "
        f"retraining ({seconds(lora.get('update s'))} for {comp.label('lora')}, {seconds(full.get('update s'))} for full fine-tuning). {swap}"
    )
    lines.append(
        f"- **Answers that must cite sources → RAG.** The gold document was among the cited sources for {pct(comp.extra.get('answered_hit_rate'))} of questions; "
        f"the cost is latency: p50 {rag.get('p50 latency ms') or 0:.0f} ms vs {closed_book_latency(comp) or 0:.0f} ms closed book."
    )
    lines.append(
        f"- **Teaching a behaviour or format on a budget → LoRA over full fine-tuning.** It trained {lora.get('trainable params') or 0:,} instead of "
        f"{full.get('trainable params') or 0:,} parameters and stores {lora.get('artifact MiB') or 0:.1f} MiB instead of {full.get('artifact MiB') or 0:.0f} MiB; "
        f"quality verdict: *{verdicts.get('lora_matches', 'n/a')}*, forgetting verdict: *{verdicts.get('lora_forgets_less', 'n/a')}*, speed verdict: *{verdicts.get('lora_faster', 'n/a')}*."
    )
    if any(m in R for m in catalog.HYBRIDS):
        h = {m: R[m] for m in catalog.HYBRIDS if m in R}
        kb = comp.extra.get("revised_kb") or {}
        parts = ", ".join(f"{comp.label(m)} {pct(v.get(acc))}" + ("" if skipped else f" (after a knowledge-base update: revised facts {pct((kb.get(m) or {}).get('acc'))}, old value {pct((kb.get(m) or {}).get('stale'))})")
                          for m, v in h.items())
        note = ""
        nrev, rrev = (comp.samples.get("naive_hybrid") or {}).get("revised"), (comp.samples.get("raft_hybrid") or {}).get("revised")
        if nrev and rrev:
            d = C.difference(rrev, nrev)
            v = C.decide(d, 0.0, "greater")
            note = (f" After the knowledge-base update, RAFT − naive hybrid on the revised facts: {d.text(signed=True)} (n={d.n_facts} facts): "
                    + ("the RAFT adapter, trained to *read* the passages, follows the new documents more often." if v == C.HOLDS else
                       "the closed-book adapter follows them more often." if C.decide(d, 0.0, "less") == C.HOLDS else "this sample cannot tell the two adapters apart."))
        lines.append(f"- **Hybrid.** {parts}; combining verdict: *{verdicts.get('hybrid_best', 'n/a')}*.{note}")
    lines.append(f"- **Full fine-tuning** only when the whole model must change and a {full.get('artifact MiB') or 0:.0f} MiB copy per version is acceptable; forgetting verdict: *{verdicts.get('full_forgets', 'n/a')}*.")
    lines += ["", SCALE_PARAGRAPH]
    return "\n".join(lines)
