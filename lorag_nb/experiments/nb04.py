"""Notebook 04 (LoRA + RAG): its defaults (notebook 03's retriever and prompt, notebook 02's LoRA), the
tables of the naive and RAFT hybrids, the top_k sweep with intervals, and the hybrid verdicts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from lorag_nb.core import catalog
from lorag_nb.core import claims as C
from lorag_nb.core.config import (
    KB_ENTITIES,
    EvalSettings,
    RagSettings,
    TrainingSettings,
    seed_everything,
)
from lorag_nb.core.fmt import cap, pct
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.experiments.method_claims import combine_claims  # noqa: F401  (notebook 04 and tests call nb04.combine_claims)
from lorag_nb.experiments.rag_studies import INTERVAL_METRICS, compare_prompt_variants, swap_skipped
from lorag_nb.experiments.recipes import (  # noqa: F401  (notebook 04's defaults and factories, re-exported: nb04.raft_settings …)
    DEV_QUESTIONS,
    NOTEBOOKS,
    RAFT_TRAINING,
    RAG_DEFAULTS,
    RAG_EVAL,
    default_hybrid_eval,
    default_lora,
    naive_settings,
    rag_settings,
    raft_settings,
)
from lorag_nb.methods import hybrid, rag, training
from lorag_nb.methods.hybrid import METHOD_LABELS
from lorag_nb.methods.runtime import RUNTIME

_DEFAULTS = NOTEBOOKS["04_hybrid"]  # this notebook's parameters cell


def chosen_prompt_variant(store=None, model_name: str = "embedded", model=None, tokenizer=None, n_entities: int = KB_ENTITIES, n_dev_questions: int = DEV_QUESTIONS, max_new_tokens: int = RAG_EVAL["max_new_tokens"], batch_size: int = RAG_EVAL["batch_size"], client=None, settings: RagSettings | None = None) -> str:
    """The with-context prompt variant notebook 03 chose on the dev split (:func:`lorag_nb.experiments.rag_studies.compare_prompt_variants`
    with retriever ``settings``, default ``RagSettings()``: top_k 3, chunks of 500 characters).

    Read from the results store when notebook 03 (or an earlier call) measured it with the same
    settings; measured and stored otherwise (about a minute on a CPU).
    """

    ev = default_hybrid_eval(n_entities=n_entities, max_questions=n_dev_questions, max_new_tokens=max_new_tokens, batch_size=batch_size)
    _, best = compare_prompt_variants(settings or RagSettings(), store, ev, model_name=model_name, model=model, tokenizer=tokenizer, client=client)
    return best


def default_rag_settings(prompt_variant: str | None = None, store=None, model=None, tokenizer=None, client=None, **overrides) -> RagSettings:
    """The retriever every hybrid and the plain RAG use: notebook 03's ``RagSettings`` (top_k 3,
    similarity search, chunks of 500 characters with 50 of overlap, distractors indexed) with the
    prompt variant it chose on the dev split (:func:`chosen_prompt_variant`, unless ``prompt_variant``
    is given), and ``overrides`` (any ``RagSettings`` field)."""
    variant = prompt_variant or chosen_prompt_variant(store, model=model, tokenizer=tokenizer, client=client)
    return RagSettings(prompt_variant=variant, **overrides)


def sweep_table(sweep: dict[str, dict[int, Any]], metric: str = "contains"):
    """``metric`` (an answers metric: contains, f1, exact_match) per method (rows) and top_k (columns)."""
    import pandas as pd

    return pd.DataFrame({k: {METHOD_LABELS.get(m, m): r.metrics["answers"][metric] for m, runs in sweep.items() for kk, r in runs.items() if kk == k} for k in sorted({k for runs in sweep.values() for k in runs})})


def sweep_series(sweep: dict[str, dict[int, Any]], metric: str = "contains", intervals: bool = False) -> dict[str, tuple]:
    """``{method label: (ks, values)}`` for :func:`lorag_nb.ui.plots.lines_figure`; with ``intervals``,
    ``(ks, values, lows, highs)``: each value is the mean over facts of the per-question ``metric``
    (``contains``/``f1``/``em`` rows) with its 95% bootstrap interval over facts
    (:func:`lorag_nb.core.claims.mean_estimate`)."""

    out = {}
    for m, runs in sweep.items():
        ks = sorted(runs)
        if not intervals:
            out[METHOD_LABELS.get(m, m)] = (ks, [runs[k].metrics["answers"][metric] for k in ks])
            continue
        row_metric = INTERVAL_METRICS.get(metric, metric)  # the per-question row field of an answers metric
        est = [C.mean_estimate(C.scores(runs[k].details["rows"], row_metric, METHOD_LABELS.get(m, m))) for k in ks]
        out[METHOD_LABELS.get(m, m)] = (ks, [e.value for e in est], [e.low for e in est], [e.high for e in est])
    return out


def comparison_table(main: dict[str, Any], closed_book: dict[str, Any] | None = None):
    """The methods at the main top_k, plus closed-book references (label → training Result or a metrics
    dict with ``test``, e.g. ``lora.metrics["baseline"]``): n, exact match, F1, contains, MC accuracy,
    answer latency (ms, p50; the whole chain for RAG methods) and the adapter's trainable parameters."""
    import pandas as pd

    rows = []
    for label, r in (closed_book or {}).items():
        m = r.metrics if hasattr(r, "metrics") else r
        t = m["test"]
        rows.append({"method": label, "n": t["n"], "exact_match": t["exact_match"], "f1": t["f1"], "contains": t["contains"], "mc_accuracy": t.get("mc_accuracy"), "latency_ms": t.get("latency_ms_p50"), "trainable_params": (m.get("training") or {}).get("trainable_params", 0)})
    for m, r in main.items():
        a = r.metrics["answers"]
        rows.append({"method": METHOD_LABELS.get(m, m) + f", top_k={r.metrics['top_k']}", "n": a["n"], "exact_match": a["exact_match"], "f1": a["f1"], "contains": a["contains"], "mc_accuracy": a.get("mc_accuracy"), "latency_ms": r.metrics["latency_ms"]["total_p50"], "trainable_params": r.metrics["adapter"]["trainable_params"]})
    return pd.DataFrame(rows).set_index("method")


def seeds_table(seeds: dict[str, dict[int, Any]]):
    """Each training seed's scores at the main top_k (method, seed → n, gold contained, MC accuracy) and,
    per method, the seed spread (largest − smallest MC accuracy): the noise floor of retraining."""
    import pandas as pd

    rows = []
    for m, runs in seeds.items():
        mc = [r.metrics["answers"].get("mc_accuracy") for r in runs.values()]
        for s, r in runs.items():
            a = r.metrics["answers"]
            rows.append({"method": METHOD_LABELS.get(m, m), "seed": s, "n": a["n"], "contains": a["contains"], "mc_accuracy": a.get("mc_accuracy")})
        ok = [v for v in mc if v is not None]
        rows.append({"method": METHOD_LABELS.get(m, m), "seed": "spread (max − min)", "n": None, "contains": None, "mc_accuracy": (max(ok) - min(ok)) if len(ok) > 1 else None})
    return pd.DataFrame(rows).set_index(["method", "seed"])


def sweep_references(closed_book_lora, metric: str = "contains") -> dict[str, float]:
    """Dashed reference lines for the accuracy-vs-k chart: the closed-book LoRA adapter and the closed-book
    base model (from the LoRA training run's measurements on the same test questions)."""
    m = closed_book_lora.metrics
    out = {f"closed-book LoRA {m['test'][metric]:.2f}": m["test"][metric]}
    if "baseline" in m:
        out[f"base model, closed book {m['baseline']['test'][metric]:.2f}"] = m["baseline"]["test"][metric]
    return out


def cost_table(runs: dict[str, Any]):
    """Training cost per adapter (label → training Result): trainable params, steps, training s, CPU s,
    tokens/s, peak memory (MiB), artifact (MiB), training examples, mean tokens per example."""
    import pandas as pd

    rows = []
    for label, r in runs.items():
        tr = r.metrics["training"]
        rows.append({
            "adapter": label,
            "trainable params": tr["trainable_params"],
            "steps": tr["steps"],
            "training s": tr["seconds"],
            "CPU s": tr.get("cpu_seconds"),
            "tokens/s": tr["tokens_per_second"],
            "peak memory MiB": tr["peak_memory_bytes"] / 2**20,
            "artifact MiB": tr["artifact_bytes"] / 2**20,
            "examples": tr["n_examples"],
            "tokens per example": tr["tokens"] / max(1, examples_seen(tr, r.settings["training"])),
        })
    return pd.DataFrame(rows).set_index("adapter")


def examples_seen(training: dict, settings: dict) -> int:
    """Training examples one run fed the model (repeats counted): ``epochs × examples`` for a run by epochs; for a
    run by ``max_steps``, whole epochs of ``steps_per_epoch`` steps plus the batches of the last, partial one
    (``batch_size × gradient_accumulation_steps`` examples per step; an epoch's last step may take fewer). ``training``: the stored
    ``metrics["training"]`` (:meth:`~lorag_nb.methods.trainer.TrainOutput.summary`); ``settings``: the run's
    ``TrainingSettings`` dict."""
    n = int(training["n_examples"])
    if settings.get("max_steps", -1) <= 0 or not training.get("steps_per_epoch"):
        return round(n * max(1.0, float(settings.get("epochs", 1))))
    full, rest = divmod(int(training["steps"]), int(training["steps_per_epoch"]))
    return full * n + min(rest * int(settings.get("batch_size", 1)) * int(settings.get("gradient_accumulation_steps", 1)), n)


def latency_table(main: dict[str, Any]):
    """Per-question latency (ms, mean) of each method's chain: embedding, search, generation, total; prompt tokens."""
    import pandas as pd

    rows = []
    for m, r in main.items():
        lat = r.metrics["latency_ms"]
        rows.append({"method": METHOD_LABELS.get(m, m), "top_k": r.metrics["top_k"], "embedding ms": lat["embedding"], "search ms": lat["search"], "generation ms": lat["generation"], "total ms": lat["total"], "total p50 ms": lat["total_p50"], "prompt tokens": r.metrics.get("prompt_tokens_mean")})
    return pd.DataFrame(rows).set_index("method")


def run_revised(adapters: Mapping[str, Any] | None = None, **kw) -> dict[str, Any]:
    """``hybrid.run_hybrid_revised`` for every method, with ``adapters[method]`` as its adapter settings
    (other keyword arguments as notebook 04 passes them), or
    ``{}`` when the active knowledge has no revised facts (a user folder without ``revised/``:
    :func:`lorag_nb.experiments.rag_studies.swap_skipped` says why); the tables and verdicts then say "not measured"."""
    if swap_skipped():
        return {}
    return {m: hybrid.run_hybrid_revised(m, adapter_settings=(adapters or {}).get(m), **kw) for m in hybrid.METHODS}


def revised_table(revised: dict[str, Any], closed_book: dict[str, Any] | None = None):
    """Revised-facts questions per method, with the revised knowledge base: contains (the NEW fact),
    says old fact (stale rate), on all revised questions and on those about the trained entities.

    ``closed_book``: label → training Result of an adapter used closed book (its ``revised`` split
    and ``revised_stale``), for reference.
    """
    import pandas as pd

    if not revised and swap_skipped():
        return pd.DataFrame([{"method": "revised facts", "note": f"not measured: {swap_skipped()}"}]).set_index("method")
    rows = []
    for label, r in (closed_book or {}).items():
        rv = r.metrics.get("revised") or {}
        rows.append({"method": label, "knowledge base": "none (closed book)", "n": rv.get("n"), "new fact (contains)": rv.get("contains"), "old fact (stale)": r.metrics.get("revised_stale"), "n trained entities": None, "new fact, trained entities": None, "old fact, trained entities": None})
    for m, r in revised.items():
        a, t = r.metrics["answers"], r.metrics["answers_trained"]
        rows.append({"method": METHOD_LABELS.get(m, m), "knowledge base": "revised", "n": a["n"], "new fact (contains)": a["contains"], "old fact (stale)": r.metrics["stale_rate"], "n trained entities": t["n"], "new fact, trained entities": t["contains"], "old fact, trained entities": t["stale_rate"]})
    return pd.DataFrame(rows).set_index("method")


def revised_examples(revised: dict[str, Any], n: int = 4):
    """The first ``n`` revised questions about trained entities: new fact, old fact, each method's answer."""
    import pandas as pd

    if not revised:
        return pd.DataFrame([{"question": None, "note": f"not measured: {swap_skipped() or 'no revised-facts runs'}"}])
    methods = list(revised)
    first = next(iter(revised.values())).details["rows"]
    picked = [r for r in first if r.get("trained_entity")][:n] or first[:n]
    by = {m: {x["id"]: x["prediction"] for x in revised[m].details["rows"]} for m in methods}
    return pd.DataFrame([{"question": r["question"], "new fact": r["gold"], "old fact": r.get("old_answer"), **{METHOD_LABELS.get(m, m): by[m].get(r["id"]) for m in methods}} for r in picked])


def closed_book_score(train_result, question_ids: Sequence[str], metric: str = "contains") -> float | None:
    """A training run's closed-book ``metric`` on exactly ``question_ids`` (from its per-question test rows;
    its whole test metric if a question is missing). None without a run."""
    if train_result is None:
        return None
    rows = {r["id"]: r for r in (train_result.details.get("rows") or {}).get("test", [])}
    vals = [rows[q].get(_ROW_KEYS.get(metric, metric)) for q in question_ids if q in rows]
    if question_ids and len(vals) == len(question_ids) and all(v is not None for v in vals):
        return sum(float(v) for v in vals) / len(vals)
    return train_result.metrics["test"].get(metric)


def robustness(sweep: dict[str, dict[int, Any]], metric: str = "contains") -> dict[str, dict]:
    """Per method: accuracy at the smallest and largest k, the best k and value, and the drop from the
    best to the largest k (≥ 0): how much extra retrieved chunks hurt."""
    out = {}
    for m, runs in sweep.items():
        ks = sorted(runs)
        vals = [runs[k].metrics["answers"][metric] for k in ks]
        best = max(vals)
        out[m] = {"ks": ks, "values": vals, "first": vals[0], "last": vals[-1], "best": best, "best_k": ks[vals.index(best)], "drop": best - vals[-1], "n": runs[ks[0]].metrics["answers"]["n"]}
    return out


def verdicts(sweep: dict[str, dict[int, Any]], main: dict[str, Any], revised: dict[str, Any], closed_book_lora=None, condition: str = "", seeds: dict[str, dict[int, Any]] | None = None) -> list:
    """Notebook 04's claims, judged by the one claims engine (:mod:`lorag_nb.core.claims`) on per-fact scores:

    - *combine both* (``hybrid_best``): the best hybrid − the best of its parts (RAG, and the
      closed-book LoRA on the same questions), multiple-choice accuracy where every side has it, else
      gold contained;
    - *RAFT reads passages better than RAG* (``raft_beats_rag``): gold contained at the main top_k;
    - *RAFT is robust to distractors* (``raft_robust``): RAFT's change from the smallest to the largest
      top_k of the sweep − RAG's change, per fact;
    - *a hybrid updates by re-indexing* (``hybrid_update``): naive hybrid − RAG on the revised facts.

    ``seeds`` (``{method: {seed: Result}}``, :func:`~lorag_nb.methods.training.run_seeds` at the main top_k) replaces a method's
    main rows by the per-fact mean over its training seeds in the first two claims.

    Returns:
        ``[lorag_nb.core.claims.Verdict]``.
    """

    out = []
    rows = {m: r.details.get("rows", []) for m, r in main.items()}
    ids = {r["id"] for r in next(iter(rows.values()), [])}
    seeded = {m: {int(s): r.details.get("rows", []) for s, r in runs.items()} for m, runs in (seeds or {}).items() if m in rows and len(runs) > 1}
    cb = [r for r in ((closed_book_lora.details.get("rows") or {}).get("test", []) if closed_book_lora is not None else []) if r["id"] in ids]
    metric = "mc_correct" if all(any(r.get("mc_correct") is not None for r in rs) for rs in [*rows.values(), *([cb] if cb else [])]) else "contains"
    S = {m: C.scores(seeded.get(m, rs), metric, METHOD_LABELS[m]) for m, rs in rows.items() if rs}
    parts = {METHOD_LABELS[m]: S[m] for m in ("rag",) if m in S}
    if cb:
        parts["closed-book LoRA"] = C.scores(cb, metric, "closed-book LoRA")
    hyb = {METHOD_LABELS[m]: S[m] for m in catalog.HYBRIDS if m in S}
    rev = tuple(C.scores(revised[m].details["rows"], "contains", METHOD_LABELS[m]) for m in ("naive_hybrid", "rag")) if "naive_hybrid" in revised and "rag" in revised else None
    combined = {v.id: v for v in combine_claims(hyb, parts, rev, metric, "the most accurate of its parts", condition)}
    if hyb and parts:
        out.append(combined["hybrid_best"])
    if "raft_hybrid" in rows and "rag" in rows:
        out.append(C.compare_scores("raft_beats_rag", C.scores(seeded.get("raft_hybrid", rows["raft_hybrid"]), "contains", METHOD_LABELS["raft_hybrid"]), C.scores(rows["rag"], "contains", METHOD_LABELS["rag"]),
                                    f"the same retrieved chunks at top_k={next(iter(main.values())).metrics['top_k']}, gold contained", condition))
    if "raft_hybrid" in sweep and "rag" in sweep and len(sweep["rag"]) >= 2:
        ks = sorted(set(sweep["raft_hybrid"]) & set(sweep["rag"]))
        if len(ks) >= 2:
            ch = {m: C.scores(sweep[m][ks[-1]].details["rows"], "contains", m).minus(C.scores(sweep[m][ks[0]].details["rows"], "contains", m), f"{METHOD_LABELS[m]}, k={ks[-1]} − k={ks[0]}") for m in ("raft_hybrid", "rag")}
            out.append(C.compare_scores("raft_robust", ch["raft_hybrid"], ch["rag"], f"change in gold contained from top_k={ks[0]} to top_k={ks[-1]}", condition))
    if rev is not None:
        out.append(combined["hybrid_update"])
    return out


def findings(sweep: dict[str, dict[int, Any]], main: dict[str, Any], revised: dict[str, Any], closed_book_lora=None, metric: str = "contains", seeds: dict[str, dict[int, Any]] | None = None) -> str:
    """Markdown: the verdicts of :func:`verdicts` (intervals, n, seeds), the revised-facts numbers and the costs."""

    lines = []
    if revised:
        parts = []
        for m, r in revised.items():
            t = r.metrics["answers_trained"]
            parts.append(f"{METHOD_LABELS[m]}: new fact {pct(r.metrics['answers']['contains'])}, old fact {pct(r.metrics['stale_rate'])}"
                         + (f" (trained entities, {t['n']} questions: new {pct(t['contains'])}, old {pct(t['stale_rate'])})" if t["n"] else ""))
        lines.append("- **Revised facts** (revised knowledge base): " + "; ".join(parts) + ".")
    # costs
    cost = [f"{METHOD_LABELS[m]}: {r.metrics['adapter']['trainable_params']:,} trainable parameters, {r.metrics['adapter']['seconds']:.0f} s of training, {r.metrics['latency_ms']['total']:.0f} ms per answer"
            + (f", control-set drop {pct(r.metrics['forgetting']['control_drop'])}" if r.metrics["adapter"]["key"] else "") for m, r in main.items()]
    lines.append("- **Costs**: " + "; ".join(cost) + ". A merged adapter adds no inference cost: latency differs only through the answers' lengths.")
    vs = verdicts(sweep, main, revised, closed_book_lora, seeds=seeds)
    return C.markdown(vs, links=False) + "\n\n" + C.summary(vs) + "\n\n" + "\n".join(lines)


def explorer_data(sweep: dict[str, dict[int, Any]], rag_settings: RagSettings, eval_settings: EvalSettings | None = None, client=None, n_examples: int | None = None, metric: str = "contains") -> dict:
    """Everything :class:`lorag_nb.ui.widgets.HybridExplorer` draws, from stored sweep results.

    Returns:
        ``{"ks", "metric", "series": {method: [value per k]}, "examples": [{"id", "question", "gold",
        "gold_doc", "ranked": [{"rank", "chunk", "doc_id", "distance", "text", "gold"}] (up to max k),
        "answers": {method: {k: answer}}, "correct": {method: {k: bool}}}]}``.
    """

    ev = eval_settings or default_hybrid_eval()
    ks_all = sorted({k for runs in sweep.values() for k in runs})
    ks = load_knowledge(n_entities=ev.n_entities)
    qas = cap(rag.questions_for(ks, rag_settings), ev.max_questions)
    if n_examples is not None:
        qas = qas[:n_examples]
    kb, _ = rag.open_knowledge_base(rag_settings, ks, ev.n_entities, client=client)
    ranked_all = kb.rank([q.question for q in qas], max(ks_all), rag_settings.search_type, rag_settings.fetch_k, rag_settings.lambda_mult)
    preds = {m: {k: {r["id"]: r for r in runs[k].details.get("rows", [])} for k in runs} for m, runs in sweep.items()}
    examples = []
    for q, ranked in zip(qas, ranked_all):
        examples.append({
            "id": q.id,
            "question": q.question,
            "gold": q.answer,
            "gold_doc": q.doc_id,
            "ranked": [{"rank": i + 1, "chunk": d.id, "doc_id": d.metadata.get("doc_id"), "distance": None, "text": d.page_content, "gold": d.metadata.get("doc_id") == q.doc_id} for i, d in enumerate(ranked)],
            "answers": {m: {k: preds[m][k].get(q.id, {}).get("prediction") for k in preds[m]} for m in preds},
            "correct": {m: {k: bool(preds[m][k].get(q.id, {}).get(metric)) for k in preds[m]} for m in preds},
        })
    return {"ks": ks_all, "metric": metric, "series": {m: [runs[k].metrics["answers"][metric] for k in sorted(runs)] for m, runs in sweep.items()}, "series_ks": {m: sorted(runs) for m, runs in sweep.items()}, "examples": examples}


_ROW_KEYS = {"exact_match": "em", "f1": "f1", "contains": "contains", "mc_accuracy": "mc_correct"}


@dataclass
class Setup:
    """Everything notebook 04's cells share: the store, the loaded model, notebook 03's retriever and prompt
    variant, the three evaluations, and the two adapters' settings (:func:`setup`)."""

    store: Any
    model: Any
    tokenizer: Any
    variant: str
    rag_settings: RagSettings
    rag_eval: EvalSettings
    adapter_eval: EvalSettings
    sweep_eval: EvalSettings
    naive_settings: TrainingSettings
    raft_settings: TrainingSettings
    n_entities: int
    chunk_size: int

    @property
    def adapters(self) -> dict[str, TrainingSettings]:
        """Method → adapter settings (``"rag"`` has none)."""
        return {"naive_hybrid": self.naive_settings, "raft_hybrid": self.raft_settings}

    @property
    def kw(self) -> dict:
        """The keyword arguments every :mod:`lorag_nb.methods.hybrid` call of the notebook takes."""
        return dict(store=self.store, model=self.model, tokenizer=self.tokenizer, model_name=self.naive_settings.model)

    def summary(self):
        """The set-up as a one-column table."""
        import pandas as pd

        ks = load_knowledge(n_entities=self.n_entities)
        if ks.source == "builtin":
            kb, trained = f"{self.n_entities} entities + near-duplicate distractors", f"{self.naive_settings.n_entities} entities"
        else:  # a reader's folder: its documents, no distractors
            kb, trained = f"the first {len(ks.documents)} documents of your folder", f"{len(load_knowledge(n_entities=self.naive_settings.n_entities).documents)} documents"
        n_test = len(cap(list(ks.test_qa), self.rag_eval.max_questions))
        return pd.Series({"prompt variant (notebook 03's dev-split choice)": self.variant, "knowledge base": f"{kb}, chunks of {self.chunk_size} characters",
                          "test questions answered": n_test, "answer budget (max_new_tokens)": self.rag_eval.max_new_tokens, "adapters trained on": trained,
                          "RAFT knobs": self.raft_settings.raft.to_dict()}).to_frame("setting")


def setup(model_name: str = _DEFAULTS["model_name"], n_entities: int = _DEFAULTS["n_entities"], n_questions: int = _DEFAULTS["n_questions"], n_dev_questions: int = _DEFAULTS["n_dev_questions"],
          top_k: int = _DEFAULTS["top_k"], chunk_size: int = _DEFAULTS["chunk_size"], chunk_overlap: int = _DEFAULTS["chunk_overlap"], train_entities: int = _DEFAULTS["train_entities"],
          reference_questions: int = _DEFAULTS["reference_questions"], lora_max_steps: int = _DEFAULTS["lora_max_steps"], raft_p_oracle: float = _DEFAULTS["raft_p_oracle"],
          raft_k: int = _DEFAULTS["raft_k"], raft_distractors: str = _DEFAULTS["raft_distractors"], raft_cite: bool = _DEFAULTS["raft_cite"], raft_epochs: float = _DEFAULTS["raft_epochs"],
          raft_max_steps: int = _DEFAULTS["raft_max_steps"], sweep_questions: int = _DEFAULTS["sweep_questions"], max_new_tokens: int = _DEFAULTS["max_new_tokens"],
          batch_size: int = _DEFAULTS["batch_size"], seed: int = _DEFAULTS["seed"], store=None, chroma_url: str = _DEFAULTS["chroma_url"]) -> Setup:
    """Notebook 04's set-up from its parameters (the notebook's ``parameters`` cell, same names): loads the
    model once, reads (or measures) notebook 03's prompt-variant choice, and builds the retriever, the
    evaluations and both adapters' settings so that every run is a results-store hit when notebooks 02
    and 03 ran with the same values.

    ``chroma_url`` (``"http://host:port"``, or ``""`` for the embedded store) puts the knowledge base on a
    Chroma server (:func:`lorag_nb.experiments.recipes.rag_settings`).

    Raises:
        ValueError: any invalid setting (named by the settings classes).
    """

    seed_everything(seed)
    store = RUNTIME.use_store(store)
    model, tokenizer = RUNTIME.model(model_name)
    base = rag_settings(top_k, chunk_size, chunk_overlap, chroma_url)  # validated; chroma_url "" → None (embedded store)
    retriever = {k: getattr(base, k) for k in ("top_k", "chunk_size", "chunk_overlap", "chroma_url")}
    max_new_tokens, _why = rag.answer_budget(max_new_tokens, n_entities, model_name, model, tokenizer, batch_size, store=store, settings=base)  # 0: notebook 03's choice, through the retriever
    variant = chosen_prompt_variant(store, model_name, model, tokenizer, n_entities, n_dev_questions, max_new_tokens, batch_size, settings=RagSettings(**retriever))
    rag_eval = default_hybrid_eval(n_entities=n_entities, max_questions=n_questions, max_new_tokens=max_new_tokens, batch_size=batch_size)
    naive = naive_settings(model=model_name, n_entities=train_entities, seed=seed, **({"max_steps": lora_max_steps} if lora_max_steps > 0 else {}))
    raft = raft_settings(raft_p_oracle, raft_k, raft_distractors, raft_cite, variant, n_entities, model=model_name, n_entities=train_entities, epochs=raft_epochs, max_steps=raft_max_steps, seed=seed)
    return Setup(store, model, tokenizer, variant, default_rag_settings(variant, **retriever), rag_eval, training.default_eval(train_entities, max_questions=reference_questions or None, model_name=model_name),
                 rag_eval.replace(max_questions=sweep_questions), naive, raft, n_entities, chunk_size)
