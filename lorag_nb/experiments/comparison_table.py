"""Notebook 05's table: from :func:`~lorag_nb.experiments.comparison.gather`'s stored results to one row
per method (:class:`Comparison`), its columns, and the Pareto front of accuracy against cost. Runs nothing
(tests feed it synthetic records).

Methods (rows) are the catalog's (:mod:`lorag_nb.core.catalog`): the base model (closed book), full
fine-tuning, LoRA (the rank with the best multiple-choice accuracy on the **dev** questions:
:func:`lorag_nb.methods.rank_choice.best_lora_rank`), RAG, the naive hybrid (notebook 02's closed-book
adapter inside the RAG chain) and the RAFT hybrid (an adapter trained to answer from retrieved passages
with distractors; Zhang et al. 2024, *RAFT*). Every method is scored on the same test questions
(:func:`check_same_questions` raises otherwise). Where a method's numbers sit in its stored result
(``metrics["test"]`` or ``metrics["answers"]``, which latency field) is the catalog's to say.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from lorag_nb.core import catalog
from lorag_nb.core import claims as C
from lorag_nb.core.fmt import mib, pct
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.experiments.comparison import CompareSettings
from lorag_nb.experiments.forgetting import frontier_series, frontier_verdict
from lorag_nb.methods.evaluation import gold_contained


#: Row order of the comparison (:data:`lorag_nb.core.catalog.TABLE_METHODS`); each is a key of :data:`LABELS` and :data:`COLORS`.
METHODS = catalog.TABLE_METHODS
#: Method → display label (the catalog's).
LABELS = catalog.labels(METHODS)
#: Method → colour key of :data:`lorag_nb.ui.plots.METHOD_COLORS` (the catalog's).
COLORS = catalog.color_keys(METHODS)

#: Columns of :meth:`Comparison.table` (units in the names; fractions are in [0, 1]).
COLUMNS = (
    "test EM",
    "test F1",
    "test MC acc",
    "revised acc",
    "revised stale",
    "control drop",
    "perplexity change",
    "trainable params",
    "train s",
    "tokens/s",
    "peak memory MiB",
    "artifact MiB",
    "p50 latency ms",
    "setup s",
    "update s",
)
#: What each column means (shown under the table and as the widget's hover help).
COLUMN_HELP = {
    "test EM": "exact match on the held-out test wordings (fraction)",
    "test F1": "token F1 on the held-out test wordings (fraction)",
    "test MC acc": "4-option multiple-choice accuracy, length-normalized log-likelihood (fraction; chance 0.25)",
    "revised acc": "revised-facts questions answered with the NEW value (gold contained), after each method's cheapest update: none for the fine-tuned models (their weights still hold the old facts), the swapped knowledge base for RAG and the hybrids",
    "revised stale": "share of revised-facts answers that state the OLD value",
    "control drop": "control-set accuracy before minus after (positive = forgot general knowledge)",
    "perplexity change": "relative perplexity change on Python's docs (positive = worse on real text)",
    "trainable params": "parameters updated by training (0 for no training)",
    "train s": "wall time of training (s); 0 for no training",
    "tokens/s": "training throughput, non-padding tokens per second",
    "peak memory MiB": "peak memory during training (process RSS on CPU, allocated tensors on CUDA)",
    "artifact MiB": "what the method stores: full checkpoint, LoRA adapter, Chroma index (RAG), adapter + index (hybrids)",
    "p50 latency ms": "median answer time per question (retrieval + generation for RAG and hybrids)",
    "setup s": "one-time cost before answering: training seconds plus indexing seconds",
    "update s": "cost of a knowledge update: retraining time for fine-tuned models, re-ingestion of the revised documents for RAG and hybrids",
}
#: Columns where larger is better (used by the widget and the Pareto chart); the rest are costs.
HIGHER_IS_BETTER = {"test EM", "test F1", "test MC acc", "revised acc", "tokens/s"}

#: The hybrids (a trained adapter inside the RAG chain), from the catalog.
HYBRID_METHODS = catalog.HYBRIDS
#: The arms of Ovadia et al. (2023), *Fine-Tuning or Retrieval?*: LoRA trained on the documents, and on
#: the documents plus paraphrased questions (the LoRA row itself is trained on the questions only): id → label.
OVADIA_ARMS = catalog.labels(catalog.OVADIA)


# --------------------------------------------------------------------------- small helpers


def _get(d: Mapping | None, *path, default=None):
    for p in path:
        if not isinstance(d, Mapping) or p not in d:
            return default
        d = d[p]
    return d


def _mean(values: Sequence[float]) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


# --------------------------------------------------------------------------- question ids


def scored_question_ids(method: str, result) -> list[str]:
    """The ids of the test questions ``result`` was scored on (from its per-question rows).

    Base model: ``details["test"]``; training runs: ``details["rows"]["test"]``; RAG and hybrids:
    ``details["rows"]``.
    """
    return [r["id"] for r in test_rows(method, result)]


def test_rows(method: str, result, split: str = "test") -> list[dict]:
    """A result's per-question rows of ``split`` (``"test"`` or ``"control"``; see :func:`scored_question_ids`)."""
    return catalog.method(method).rows(result.details, split)


def _seed_rows(results: Mapping[str, Any], method: str, split: str = "test", key: str | None = None):
    """``{seed: rows}`` for a method trained with several seeds (``results[method + "_seeds"]``), else its rows."""
    seeds = results.get(f"{method}_seeds")
    if seeds:
        return {int(s): test_rows(method, r, split) for s, r in seeds.items()}
    return test_rows(method, results[key or method], split)


def method_samples(results: Mapping[str, Any], methods: Sequence[str], labels: Mapping[str, str] | None = None) -> dict:
    """Per-fact scores (:class:`lorag_nb.core.claims.Scores`) of every method from :func:`gather`'s results:
    ``{method: {"mc", "contains", "control"?, "revised"?}}`` plus ``"rag_swap": {"before", "after"}``.

    ``mc`` is multiple-choice correctness and ``contains`` gold-contained on the test questions (means
    over each fact's wordings, then over seeds); ``control`` is gold-contained on the control questions
    (each its own unit) for methods that change weights; ``revised`` is gold-contained on the revised
    facts after the knowledge-base swap (hybrids).
    """
    labels = labels or {}
    out: dict[str, dict] = {}
    for m in methods:
        rows = _seed_rows(results, m)
        lab = labels.get(m, m)
        out[m] = {"mc": C.scores(rows, "mc_correct", lab), "contains": C.scores(rows, "contains", lab)}
        meth = catalog.method(m)
        if meth.closed_book:
            ctrl = _seed_rows(results, m, "control")
            if (any(ctrl.values()) if isinstance(ctrl, Mapping) else ctrl):
                out[m]["control"] = C.scores(ctrl, "contains", lab)
        if meth.hybrid and results.get(meth.revised_key()) is not None:
            rv = test_rows(m, results[meth.revised_key()])
            if rv:
                out[m]["revised"] = C.scores(rv, "contains", lab)
    swap = results.get("rag_swap")
    if swap is not None and swap.details.get("after") and swap.details.get("before"):
        out["rag_swap"] = {k: C.scores(swap.details[k], "contains", f"RAG {k} the swap") for k in ("before", "after")}
    return out


def check_same_questions(ids: Mapping[str, Sequence[str]]) -> list[str]:
    """Assert that every method was scored on the same test questions; returns their ids (sorted).

    Raises:
        ValueError: a method has no per-question rows, or two methods answered different questions
            (the message names the methods and a few differing ids, and says which settings to align).
    """
    if not ids:
        raise ValueError("no methods to compare")
    empty = [m for m, v in ids.items() if not v]
    if empty:
        raise ValueError(f"no per-question test rows for {empty}: cannot check that every method answered the same questions")
    ref_method = next(iter(ids))
    ref = set(ids[ref_method])
    bad = {}
    for m, v in ids.items():
        if set(v) != ref:
            bad[m] = (sorted(set(v) - ref)[:3], sorted(ref - set(v))[:3], len(set(v)))
    if bad:
        parts = [f"{m} ({n} questions; extra {extra}, missing {missing})" for m, (extra, missing, n) in bad.items()]
        raise ValueError(
            f"methods were scored on different test questions: {ref_method} has {len(ref)}, but " + "; ".join(parts)
            + ". Align max_questions / rag_questions and the entity counts so every method answers the same first test questions."
        )
    return sorted(ref)


# --------------------------------------------------------------------------- from results to rows


def _revised_rows(method: str, result, old: Mapping[str, str | None]) -> list[dict]:
    """``[{"id", "contains", "stale"}]`` on revised-facts questions, from a method's per-question rows."""

    rows = catalog.method(method).revised_rows(result.details)  # RAG: the rag_swap result, answers after the swap
    out = []
    for r in rows:
        o = old.get(r.get("id"))
        if r.get("contains") is None or not o:
            continue
        stale = r.get("says_old")
        if stale is None:
            stale = gold_contained(r.get("prediction", ""), o)
        out.append({"id": r["id"], "contains": float(r["contains"]), "stale": float(stale)})
    return out


def _training_numbers(m: Mapping) -> dict:
    tr = m.get("training") or {}
    return {
        "trainable params": tr.get("trainable_params"),
        "train s": tr.get("seconds"),
        "tokens/s": tr.get("tokens_per_second"),
        "peak memory MiB": mib(tr.get("peak_memory_bytes")),
        "artifact MiB": mib(tr.get("artifact_bytes")),
        "steps": tr.get("steps"),
        "seconds per step": tr.get("seconds_per_step"),
        "total params": tr.get("total_params"),
        "device": tr.get("device"),
        "threads": tr.get("threads"),
    }


def _hybrid_adapter(m: Mapping) -> dict:
    a = m.get("adapter") or {}
    return a.get("summary", a) if isinstance(a, Mapping) else {}


@dataclass
class Comparison:
    """The gathered numbers: one row per method, plus what they were measured on.

    Attributes:
        rows: method → ``{column: value}`` (:data:`COLUMNS` plus bookkeeping keys).
        test_ids: the test question ids every method answered.
        revised_ids: the revised-facts question ids the ``revised`` columns use (those every method answered).
        context: model, world size, steps, device … (for the verdicts' conditions).
        extra: numbers the claims need beyond the table (swap before/after, retrieval hit rate, …).
        best_rank, dev_accuracy: the LoRA rank chosen and every candidate's dev MC accuracy.
        samples: method → metric → :class:`lorag_nb.core.claims.Scores` (per-fact values over wordings and
            seeds: what every interval and verdict is computed from; :func:`method_samples`).
    """

    rows: dict[str, dict]
    test_ids: list[str]
    revised_ids: list[str]
    context: dict
    extra: dict = field(default_factory=dict)
    best_rank: int | None = None
    dev_accuracy: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)

    @classmethod
    def from_results(cls, results: Mapping[str, Any], settings: CompareSettings | None = None) -> "Comparison":
        """Turn :func:`gather`'s results into rows (runs nothing).

        Needs keys ``base``, ``full``, ``lora``, ``rag``, ``rag_swap``; optional ``rag_index``,
        ``naive_hybrid`` / ``raft_hybrid`` (+ ``_revised``), ``lora_dev``, ``best_rank``, ``prompt_variant``.

        Raises:
            ValueError: a required result is missing, or methods answered different test questions.
        """

        missing = [k for k in ("base", "full", "lora", "rag", "rag_swap") if results.get(k) is None]
        if missing:
            raise ValueError(f"results lack {missing}; gather() provides them")
        settings = settings or CompareSettings()
        methods = [m for m in METHODS if results.get(m) is not None]
        test_ids = check_same_questions({m: scored_question_ids(m, results[m]) for m in methods})

        old = {q.id: q.old_answer for q in load_knowledge().revised_test_qa}
        revised = {m: _revised_rows(m, results.get(catalog.method(m).revised_key(), results[m]), old) for m in methods}
        with_rows = [m for m in methods if revised[m]]
        common = set.intersection(*[{r["id"] for r in revised[m]} for m in with_rows]) if with_rows else set()

        # the runs notebook 03's claim rules read (nb03.article_claims), as notebook 03 passes them
        rag_runs = {"rag": results["rag"], "baseline": results["base"], "swap": results["rag_swap"],
                    "trained": {m: (results.get(f"{m}_seeds") or results[m]) for m in catalog.FINE_TUNED}}
        index = results.get("rag_index")
        index_s = _get(index.metrics, "seconds") if index is not None else None
        index_mib = mib(_get(index.metrics, "bytes")) if index is not None else None
        swap = results["rag_swap"].metrics

        rows: dict[str, dict] = {}
        for m in methods:
            res = results[m]
            met = res.metrics
            meth = catalog.method(m)
            test = meth.answers(met)  # metrics["test"] (base, fine-tuned) or metrics["answers"] (RAG, hybrids)
            latency = meth.latency_p50(met)
            row = {"test EM": test.get("exact_match"), "test F1": test.get("f1"), "test MC acc": test.get("mc_accuracy"), "n test": test.get("n"), "p50 latency ms": latency}
            if not meth.changes_weights and not meth.retrieves:  # the base model: nothing trained, nothing indexed
                row.update({"control drop": 0.0, "perplexity change": 0.0, "trainable params": 0, "train s": 0.0, "setup s": 0.0, "update s": None, "weights unchanged": True})
            elif meth.changes_weights and meth.closed_book:  # fine-tuned: the training run's costs
                nums = _training_numbers(met)
                fg = met.get("forgetting") or {}
                row.update(nums)
                row.update({"control drop": fg.get("control_drop"), "perplexity change": fg.get("perplexity_change"), "setup s": nums["train s"], "update s": nums["train s"]})
                row["learning_rate"] = _get(res.settings, "training", "learning_rate")
                if meth.rank_label:
                    row["r"] = _get(res.settings, "training", "lora", "r")
            elif not meth.changes_weights:  # RAG: the index's costs
                row.update({"control drop": 0.0, "perplexity change": 0.0, "trainable params": 0, "train s": 0.0, "artifact MiB": index_mib, "setup s": index_s, "update s": swap.get("swap_seconds"), "weights unchanged": True})
            else:  # a hybrid: its adapter's training plus the index
                a = _hybrid_adapter(met)
                fg = met.get("forgetting") or {}
                train_s = a.get("seconds")
                row.update(
                    {
                        "control drop": fg.get("control_drop"),
                        "perplexity change": fg.get("perplexity_change"),
                        "trainable params": a.get("trainable_params"),
                        "train s": train_s,
                        "tokens/s": a.get("tokens_per_second"),
                        "peak memory MiB": mib(a.get("peak_memory_bytes")),
                        "artifact MiB": None if a.get("artifact_bytes") is None else mib(a.get("artifact_bytes")) + (index_mib or 0.0),
                        "setup s": None if train_s is None else train_s + (index_s or 0.0),
                        "update s": swap.get("swap_seconds"),
                    }
                )
            if meth.hybrid and meth.rank_label and results.get("naive_rank"):  # the naive hybrid's adapter rank
                row["r"] = int(results["naive_rank"])
            mine = [r for r in revised[m] if r["id"] in common]
            row["revised acc"] = _mean([r["contains"] for r in mine])
            row["revised stale"] = _mean([r["stale"] for r in mine])
            row["revised n"] = len(mine)
            rows[m] = row

        full_tr = results["full"].metrics.get("training") or {}
        ks_taught = load_knowledge(n_entities=settings.n_entities)
        rag_m = results["rag"].metrics
        context = {
            "model": settings.model,
            "total_params": full_tr.get("total_params"),
            "n_entities": settings.n_entities if ks_taught.source == "builtin" else len(ks_taught.documents),
            "unit": "entities" if ks_taught.source == "builtin" else "documents",
            "knowledge": ks_taught.root,
            "n_facts": len({q.fact for q in ks_taught.test_qa}),
            "steps": full_tr.get("steps"),
            "lora_steps": _get(results["lora"].metrics, "training", "steps"),
            "n_test": len(test_ids),
            "n_revised": len(common),
            "n_control": _get(results["full"].metrics, "control", "n"),
            "device": full_tr.get("device", "cpu"),
            "threads": full_tr.get("threads"),
            "rag_entities": settings.rag_entities,
            "rag_chunks": _get(index.metrics, "chunks") if index is not None else _get(rag_m, "chunks", "chunks"),
            "top_k": rag_m.get("top_k"),
            "prompt_variant": results.get("prompt_variant"),
        }
        refs_oracle = _get(results["base"].metrics, "oracle", "mc_accuracy")
        extra = {
            "swap_before": swap.get("before"),
            "swap_after": swap.get("after"),
            "swap_seconds": swap.get("swap_seconds"),
            "swap_n": swap.get("n_questions"),
            "answered_hit_rate": rag_m.get("answered_hit_rate"),
            "rag_contains": _get(rag_m, "answers", "contains"),
            "base_contains": _get(results["base"].metrics, "test", "contains"),
            "oracle_mc": refs_oracle,
            "retrieval_ms_p50": (_get(rag_m, "latency_ms", "embedding_p50") or 0.0) + (_get(rag_m, "latency_ms", "search_p50") or 0.0),
            "lora_memory_added_MiB": mib((_get(results["lora"].metrics, "training", "peak_memory_bytes") or 0) - (_get(results["lora"].metrics, "training", "memory_before_bytes") or 0)),
            "full_memory_added_MiB": mib((full_tr.get("peak_memory_bytes") or 0) - (full_tr.get("memory_before_bytes") or 0)),
        }
        kb_methods = [m for m in catalog.RETRIEVAL if revised.get(m)]
        kb_common = set.intersection(*[{r["id"] for r in revised[m]} for m in kb_methods]) if kb_methods else set()
        extra["rag_runs"] = rag_runs
        extra["revised_kb"] = {
            m: {"acc": _mean([r["contains"] for r in revised[m] if r["id"] in kb_common]), "stale": _mean([r["stale"] for r in revised[m] if r["id"] in kb_common]), "n": len(kb_common)}
            for m in kb_methods
        }
        dev = {int(r): (v.metrics if hasattr(v, "metrics") else v).get("mc_accuracy") for r, v in (results.get("lora_dev") or {}).items()}
        comp = cls(rows=rows, test_ids=test_ids, revised_ids=sorted(common), context=context, extra=extra, best_rank=results.get("best_rank"), dev_accuracy=dev)
        comp.samples = method_samples(results, methods, {m: comp.label(m) for m in methods})
        for m in methods:  # accuracies: means over facts (and seeds), the numbers the intervals are about
            smp = comp.samples[m]
            rows[m]["test MC acc"] = smp["mc"].mean
            rows[m]["test gold contained"] = smp["contains"].mean
            rows[m]["test MC 95% CI"] = C.mean_estimate(smp["mc"])
            rows[m]["seeds"] = smp["mc"].seeds
            rows[m]["n facts"] = smp["mc"].n_facts
        context["n_facts_scored"] = comp.samples["base"]["mc"].n_facts if "base" in comp.samples else None
        context["seeds"] = tuple(sorted({s for smp in comp.samples.values() for sc in smp.values() for s in sc.seeds}))
        for k in ("speed", "latency"):
            if results.get(k) is not None:
                extra[k] = results[k].metrics
        extra["control_probe"], extra["unknown"], extra["reversal"] = results.get("control_probe"), results.get("unknown"), results.get("reversal")
        for k, lab in OVADIA_ARMS.items():
            if results.get(k) is not None:
                comp.samples[k] = {"mc": C.scores(test_rows(k, results[k]), "mc_correct", lab)}
                extra[k] = {"train s": _get(results[k].metrics, "training", "seconds"), "steps": _get(results[k].metrics, "training", "steps"), "n_examples": _get(results[k].metrics, "training", "n_examples")}
        if results.get("frontier_full") and results.get("frontier_lora"):

            extra["frontier_verdict"] = frontier_verdict(results["frontier_full"], results["frontier_lora"])
            extra["frontier_verdict_gen"] = frontier_verdict(results["frontier_full"], results["frontier_lora"], control="gen")
            extra["frontier_series"] = frontier_series({**{f"full fine-tuning, lr {lr:g}": r for lr, r in results["frontier_full"].items()}, **{f"LoRA, lr {lr:g}": r for lr, r in results["frontier_lora"].items()}})
        return comp

    # ---- views

    def label(self, method: str) -> str:
        """Display name of a method (LoRA carries its rank)."""
        meth = catalog.method(method)
        r = self.rows.get(method, {}).get("r")
        if meth.rank_label and r:
            return meth.rank_label.format(r=r)
        return meth.label

    @property
    def methods(self) -> list[str]:
        return list(self.rows)

    def table(self, pretty: bool = False, columns: Sequence[str] = COLUMNS, methods: Sequence[str] | None = None):
        """One row per method, the :data:`COLUMNS` (numbers; None where a method has no such cost).

        ``pretty=True`` returns strings: fractions as percentages with one decimal, seconds and MiB
        with sensible precision, parameters with thousands separators, blanks for n/a ("n/a (no options)" for a
        test MC accuracy that has no multiple-choice options to score).
        """
        import pandas as pd

        methods = [m for m in (methods or self.methods) if m in self.rows]
        df = pd.DataFrame([{c: self.rows[m].get(c) for c in columns} for m in methods], index=[self.label(m) for m in methods])
        df.index.name = "method"
        if not pretty:
            return df

        def fmt(col, v):
            if v is None and col == "test MC acc":  # a knowledge folder whose questions got no options (< 4 distinct answers)
                return "n/a (no options)"
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return ""
            if col in ("test EM", "test F1", "test MC acc", "revised acc", "revised stale", "control drop"):
                return f"{100 * v:.1f}%"
            if col == "perplexity change":
                return f"{100 * v:+.1f}%"
            if col == "trainable params":
                return f"{int(v):,}"
            if col in ("train s", "setup s", "update s"):
                return f"{v:.2f}" if v < 10 else f"{v:,.0f}"
            if col in ("artifact MiB", "peak memory MiB"):
                return f"{v:.2f}" if v < 10 else f"{v:,.0f}"
            return f"{v:,.0f}"

        out = df.apply(lambda s: s.map(lambda v: fmt(s.name, v)))
        for m in methods:  # 0 by construction (no weight changes), not a measured 0
            if self.rows[m].get("weights unchanged"):
                for col in ("control drop", "perplexity change"):
                    if col in out.columns:
                        out.loc[self.label(m), col] = NO_WEIGHT_CHANGE
        if "test MC acc" in out.columns:  # the accuracy with its 95% interval over facts (and the seeds it averages)
            out["test MC acc"] = [
                (self.rows[m]["test MC 95% CI"].text() + (f" ({len(self.rows[m]['seeds'])} seeds)" if len(self.rows[m].get("seeds") or ()) > 1 else ""))
                if self.rows[m].get("test MC 95% CI") is not None and self.rows[m]["test MC 95% CI"].has_interval else out.loc[self.label(m), "test MC acc"]
                for m in methods
            ]
            out = out.rename(columns={"test MC acc": "test MC acc [95% CI]"})
        return out

    def values(self, column: str, methods: Sequence[str] | None = None) -> dict[str, float | None]:
        """``label → value`` of one column."""
        return {self.label(m): self.rows[m].get(column) for m in (methods or self.methods) if m in self.rows}

    def headline(self) -> list[dict]:
        """One short dict per method with the key numbers (for ``index.html``): label, test MC acc,
        test EM, revised acc, control drop, setup s, update s, p50 latency ms."""
        keys = ("test MC acc", "test EM", "revised acc", "control drop", "setup s", "update s", "p50 latency ms")
        return [{"method": self.label(m), **{k: self.rows[m].get(k) for k in keys}} for m in self.methods]

    def condition(self) -> str:
        """Where the numbers were measured, in one phrase (the verdicts' condition)."""
        c = self.context
        params = f"{c['total_params'] / 1e6:.0f}M-parameter" if c.get("total_params") else ""
        return (
            f"{params} {c['model']} model, {c['n_entities']} {c.get('unit', 'entities')} ({c['n_facts']} facts) taught in {c['steps']} steps, "
            f"{c['n_test']} test questions" + (f" about {c['n_facts_scored']} facts" if c.get("n_facts_scored") else "")
            + (f", training seeds {', '.join(map(str, c['seeds']))}" if c.get("seeds") else "") + f", {c.get('device', 'cpu')}"
            + (f" ({c['threads']} thread{'s' if c['threads'] != 1 else ''})" if c.get("threads") else "")
            + (f", your knowledge folder {c['knowledge']}" if c.get("knowledge") else "")
        ).strip()

    def rank_sentence(self) -> str:
        """Markdown: which LoRA rank won on the dev split, and the candidates' dev accuracies."""
        if not self.dev_accuracy:
            return f"LoRA row: r={self.rows.get('lora', {}).get('r')}."
        parts = ", ".join(f"r={r}: {pct(a)}" for r, a in sorted(self.dev_accuracy.items()))
        return f"LoRA rank chosen on the **dev** questions (multiple-choice accuracy; ties: higher dev F1, then the smaller rank): {parts} → **r={self.best_rank}**."


# --------------------------------------------------------------------------- Pareto front


#: What the table and the charts say where forgetting is 0 by construction (the base model, RAG).
NO_WEIGHT_CHANGE = "0 (no weights change)"


def pareto_front(points: Mapping[str, tuple[float | None, float | None]]) -> list[str]:
    """Labels of the points no other point beats on both cost (lower) and accuracy (higher).

    A point is dominated when another has cost ≤ and accuracy ≥ with at least one strictly better.
    Points with a missing coordinate are left out. Returned in order of increasing cost.

    Args:
        points: label → ``(cost, accuracy)``.
    """
    valid = {k: (float(c), float(a)) for k, (c, a) in points.items() if c is not None and a is not None and not (math.isnan(c) or math.isnan(a))}
    front = []
    for k, (c, a) in valid.items():
        dominated = any((c2 <= c and a2 >= a) and (c2 < c or a2 > a) for k2, (c2, a2) in valid.items() if k2 != k)
        if not dominated:
            front.append(k)
    return sorted(front, key=lambda k: (valid[k][0], -valid[k][1]))
