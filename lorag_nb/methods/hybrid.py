"""LoRA + RAG hybrids: a fine-tuned adapter used inside the RAG chain, and RAFT-style training.

Two hybrids, measured against each other and against their parts on the same test questions and the
same retriever (notebook 04):

- ``"naive_hybrid"``: the closed-book LoRA adapter of notebook 02 (:func:`lorag_nb.experiments.nb02.default_lora`),
  merged into the base model, answering through the RAG chain of notebook 03 (:func:`lorag_nb.methods.rag.run_rag`).
- ``"raft_hybrid"``: a LoRA adapter trained RAFT-style (Zhang et al. 2024, *RAFT: Adapting Language
  Model to Domain Specific RAG*): each training example is a question, ``k`` documents in the prompt —
  the oracle (gold) document with probability ``p_oracle``, otherwise distractors only — and the answer
  (optionally citing the sentence it comes from). The prompt is the RAG chain's own with-context prompt
  (``prompts.make_prompt(..., contexts, variant)``), so train and test prompts match.
- ``"rag"``: the base model in the same chain (the reference).

The RAFT training examples are built by :mod:`lorag_nb.methods.raft`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from lorag_nb.core import catalog
from lorag_nb.core.config import EvalSettings, RagSettings, TrainingSettings
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.methods import rag
from lorag_nb.methods.adapters import load_adapter
from lorag_nb.methods.evaluation import one_truncation_warning
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.training import (
    ADAPTER_DIR,
    default_eval,
    find_training,
    run_training,
    settings_of,
    stale_rate,
)

#: The three methods compared (contract with notebook 05): the catalog's methods that answer through the RAG chain.
METHODS = catalog.RETRIEVAL
#: Display names (the catalog's labels of the chain's methods; kept here for callers of ``hybrid.METHOD_LABELS``).
METHOD_LABELS = catalog.labels(METHODS, long=True)
#: plots.METHOD_COLORS keys per method (the catalog's).
METHOD_COLOR_KEYS = catalog.color_keys(METHODS)


# --------------------------------------------------------------------------- running the hybrids


def _required(value, name: str, valid: str):
    if value is None:
        raise ValueError(f"{name}=None: needs {valid}")
    return value


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; valid: one of {METHODS}")
    return method


def adapter_settings_for(method: str, adapter_settings: TrainingSettings | None = None, rag_settings: RagSettings | None = None) -> TrainingSettings | None:
    """The adapter a method uses: None for ``"rag"``, else ``adapter_settings`` (notebook 04's defaults:
    :func:`lorag_nb.experiments.nb04.naive_settings` / :func:`~lorag_nb.experiments.nb04.raft_settings`).

    Raises:
        ValueError: an unknown method, or a hybrid without its adapter settings.
    """
    _check_method(method)
    if not catalog.method(method).changes_weights:  # RAG: the base model, no adapter
        return None
    if adapter_settings is None:
        raise ValueError(f"method={method!r} needs adapter_settings (a TrainingSettings); notebook 04's are lorag_nb.experiments.nb04.naive_settings() and raft_settings()")
    return adapter_settings


def adapter_eval(adapter: TrainingSettings, eval_settings: EvalSettings | None = None) -> EvalSettings:
    """Evaluation of an adapter's training run: ``eval_settings`` if given, else notebook 02's
    (``training.default_eval(n_entities)``), so the naive adapter is notebook 02's stored LoRA run."""

    return eval_settings if eval_settings is not None else default_eval(adapter.n_entities, model_name=adapter.model)


def train_adapter(adapter: TrainingSettings, store=None, model=None, tokenizer=None, progress: bool = False, eval_settings: EvalSettings | None = None):
    """The adapter's training Result (``training.run_training`` with :func:`adapter_eval`; read from the
    store if trained before, without loading anything)."""

    ev = adapter_eval(adapter, eval_settings)
    hit = find_training(adapter, store, ev)
    if hit is not None:
        return hit
    if model is None:

        model, tokenizer = RUNTIME.model(adapter.model)
    return run_training(adapter, store=store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress)


def merged_model(train_result, store=None, model=None, tokenizer=None):
    """``(model, tokenizer)``: the base model with the stored adapter of ``train_result`` loaded
    (``adapters.load_adapter`` on a copy of the base) and merged (``merge_and_unload``); held by the
    session runtime (:data:`~lorag_nb.methods.runtime.RUNTIME`) as ``"merged <run key>"``, so it is merged once."""

    name = f"merged {train_result.key}"
    if RUNTIME.holds(name):
        return RUNTIME.model(name)
    store = RUNTIME.use_store(store)
    settings, _ = settings_of(train_result)
    if model is None:

        model, tokenizer = RUNTIME.model(settings.model)
    folder = store.artifact_dir("train", train_result.key) / ADAPTER_DIR
    merged = load_adapter(model, folder, copy_base=True).merge_and_unload()
    merged.eval()
    return RUNTIME.model(name, merged, tokenizer)


def hybrid_model_name(method: str, base_model: str, train_key: str | None) -> str:
    """The ``model_name`` a method's RAG runs are stored under: the base model's name for ``"rag"``,
    ``"<base>+<method>:<adapter key>"`` for a hybrid (distinct store keys per adapter)."""
    return base_model if train_key is None else f"{base_model}+{method}:{train_key}"


def adapter_summary(train_result) -> dict:
    """Cost of an adapter (from its training Result): key, method, trainable_params, total_params,
    seconds, cpu_seconds, steps, tokens_per_second, peak_memory_bytes, artifact_bytes, n_examples,
    loss_last_epoch; plus its closed-book test metrics."""
    if train_result is None:
        return {"key": None, "method": None, "trainable_params": 0, "total_params": None, "seconds": 0.0, "cpu_seconds": 0.0, "steps": 0, "tokens_per_second": None, "peak_memory_bytes": None, "artifact_bytes": 0, "n_examples": 0, "loss_last_epoch": None, "closed_book_test": None}
    tr = train_result.metrics["training"]
    return {
        "key": train_result.key,
        "method": train_result.metrics.get("method"),
        **{k: tr.get(k) for k in ("trainable_params", "total_params", "seconds", "cpu_seconds", "steps", "tokens_per_second", "peak_memory_bytes", "artifact_bytes", "n_examples", "loss_last_epoch")},
        "closed_book_test": train_result.metrics.get("test"),
    }


def _forgetting(train_result) -> dict:
    if train_result is None:
        return {"control_drop": 0.0, "perplexity_change": 0.0}
    fg = train_result.metrics.get("forgetting") or {}
    return {"control_drop": fg.get("control_drop", 0.0), "perplexity_change": fg.get("perplexity_change", 0.0)}


def _run(method, rag_settings, adapter_settings, store, eval_settings, model, tokenizer, client, multiple_choice, knowledge: str, force: bool = False, progress: bool = False, model_name: str = "embedded", adapter_eval_settings: EvalSettings | None = None):

    _check_method(method)
    store = RUNTIME.use_store(store)
    ev = _required(eval_settings, "eval_settings", "an EvalSettings (notebook 04's: lorag_nb.experiments.nb04.default_hybrid_eval())")
    settings = _required(rag_settings, "rag_settings", "a RagSettings (notebook 04's: lorag_nb.experiments.nb04.default_rag_settings())").replace(knowledge=knowledge)
    adapter = adapter_settings_for(method, adapter_settings, settings)
    base_name = adapter.model if adapter is not None else model_name
    train_result = train_adapter(adapter, store, model, tokenizer, progress=progress, eval_settings=adapter_eval_settings) if adapter is not None else None
    name = hybrid_model_name(method, base_name, train_result.key if train_result else None)
    key = {"method": method, "rag": rag.key_dict(settings), "eval": ev.to_dict(), "model": name, "adapter": train_result.key if train_result else None, "multiple_choice": multiple_choice}

    def compute(_artifacts: Path):
        m, tok = model, tokenizer
        # a run stored with multiple choice holds everything a run without it measures
        r = rag.stored_rag(store, settings, ev, name, True) if not multiple_choice else None
        if r is None and rag.stored_rag(store, settings, ev, name, multiple_choice) is None:
            if train_result is not None:
                m, tok = merged_model(train_result, store, model, tokenizer)
            elif m is None:
                m, tok = RUNTIME.model(base_name)
        r = r or rag.run_rag(settings, store, ev, model_name=name, model=m, tokenizer=tok, client=client, multiple_choice=multiple_choice)
        metrics = dict(r.metrics)
        metrics.update(method=method, rag_key=r.key, adapter=adapter_summary(train_result), forgetting=_forgetting(train_result))
        rows = r.details.get("rows", [])
        if knowledge == "revised":
            ks = load_knowledge(n_entities=ev.n_entities)
            trained = set(_trained_entities(adapter))
            by_id = {q.id: q for q in ks.revised_test_qa}
            metrics["stale_rate"] = stale_rate(rows, ks.revised_test_qa)
            mem = [x for x in rows if by_id.get(x["id"]) is not None and by_id[x["id"]].entity_id in trained]
            metrics["trained_entities"] = sorted(trained)
            metrics["answers_trained"] = _subset_metrics(mem, ks.revised_test_qa)
            rows = [dict(x, old_answer=by_id[x["id"]].old_answer if x["id"] in by_id else None, trained_entity=x in mem) for x in rows]
        return metrics, {"rows": rows}

    return store.cached("hybrid", key, compute, force=force)


def _trained_entities(adapter: TrainingSettings | None, default_n: int = 2) -> list[str]:
    """Entity ids an adapter was trained on (for "rag": those of notebook 02's adapter, for comparison)."""

    n = adapter.n_entities if adapter is not None else default_n
    return [e["id"] for e in load_knowledge(n_entities=n).entities]


def _subset_metrics(rows: Sequence[dict], revised_qas) -> dict:

    n = len(rows)
    if not n:
        return {"n": 0, "contains": None, "exact_match": None, "stale_rate": None}
    return {"n": n, "contains": sum(r["contains"] for r in rows) / n, "exact_match": sum(r["em"] for r in rows) / n, "stale_rate": stale_rate(rows, revised_qas)}


def run_hybrid(method: str, rag_settings: RagSettings | None = None, adapter_settings: TrainingSettings | None = None, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, client=None, multiple_choice: bool = True, force: bool = False, progress: bool = False, adapter_eval_settings: EvalSettings | None = None, model_name: str = "embedded"):
    """Measure one method in the RAG chain on the test questions (cached: kind ``"hybrid"``).

    Args:
        method: ``"rag"`` (base model), ``"naive_hybrid"`` (notebook 02's closed-book LoRA, merged, in
            the chain) or ``"raft_hybrid"`` (the RAFT adapter, merged, in the chain).
        rag_settings: retriever and prompt (required; notebook 04's: :func:`~lorag_nb.experiments.nb04.default_rag_settings`).
        adapter_settings: the adapter's ``TrainingSettings`` (required for the hybrids; notebook 04's:
            :func:`~lorag_nb.experiments.nb04.naive_settings` / :func:`~lorag_nb.experiments.nb04.raft_settings`
            with the chain's prompt variant). Trained (``training.run_training``, evaluation
            ``training.default_eval``) if not stored.
        eval_settings: questions and generation budget (required; notebook 04's: :func:`~lorag_nb.experiments.nb04.default_hybrid_eval`).
        model, tokenizer: the loaded base model (loaded once per process if None).
        client: a ``chromadb`` client (tests: ``EphemeralClient``).
        multiple_choice: also score the 4 options with the retrieved context (4 forward passes per question).
        force: measure again even if stored (the adapter is not retrained).
        progress: tqdm bar while training an adapter.
        adapter_eval_settings: the adapter training run's evaluation (default :func:`adapter_eval`).
        model_name: the base model of the ``"rag"`` method (hybrids use their adapter settings' ``model``).

    Returns:
        :class:`~lorag_nb.core.store.Result` (kind ``"hybrid"``) whose metrics are those of
        :func:`lorag_nb.methods.rag.run_rag` (``answers``, ``latency_ms``, ``retrieval``, ``top_k``, …) plus
        ``method``, ``rag_key``, ``adapter`` (:func:`adapter_summary`: key, trainable_params, seconds,
        tokens_per_second, peak_memory_bytes, artifact_bytes, …; zeros for ``"rag"``) and
        ``forgetting`` (the adapter's control_drop / perplexity_change; zeros for ``"rag"``).
        Details: ``rows`` (per question: prediction, scores, retrieved chunk ids, sources, latencies).

    Raises:
        ValueError: an unknown method, bad settings, or a missing ``rag_settings`` / ``eval_settings`` /
            hybrid ``adapter_settings`` (naming which).
    """
    return _run(method, rag_settings, adapter_settings, store, eval_settings, model, tokenizer, client, multiple_choice, "original", force, progress, model_name, adapter_eval_settings)


def run_seeds(method: str, seeds: Sequence[int], adapter_settings: TrainingSettings | None = None, rag_settings: RagSettings | None = None, **kw) -> dict[int, Any]:
    """:func:`run_hybrid` once per training seed of the method's adapter: ``{seed: Result}``.

    The adapter of each seed is ``adapter_settings.replace(seed=s)`` (trained if not stored), so the
    seed that notebook 04's main comparison used is a results-store hit. For ``"rag"`` (no adapter)
    every seed is the same run. ``kw`` are :func:`run_hybrid`'s other arguments.

    Raises:
        ValueError: no seeds, repeated seeds, an unknown method.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={list(seeds)!r}: need a non-empty list of distinct ints")
    base = adapter_settings_for(_check_method(method), adapter_settings, rag_settings)
    return {s: run_hybrid(method, rag_settings, base.replace(seed=s) if base is not None else None, **kw) for s in seeds}


def run_hybrid_revised(method: str, rag_settings: RagSettings | None = None, adapter_settings: TrainingSettings | None = None, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, client=None, multiple_choice: bool = True, force: bool = False, progress: bool = False, adapter_eval_settings: EvalSettings | None = None, model_name: str = "embedded"):
    """:func:`run_hybrid` on the revised-facts questions, against the revised knowledge base (the swap
    experiment: the documents say the new facts; the adapters were trained on the old ones).

    Returns:
        :class:`~lorag_nb.core.store.Result` (kind ``"hybrid"``) with run_hybrid's metrics plus
        ``stale_rate`` (share of answers stating the OLD fact: :func:`lorag_nb.methods.training.stale_rate`),
        ``trained_entities`` and ``answers_trained`` (n, contains, exact_match, stale_rate on the
        revised questions about the entities the adapters were trained on — where memory and
        knowledge base disagree). Rows carry ``old_answer`` and ``trained_entity``.
    """
    return _run(method, rag_settings, adapter_settings, store, eval_settings, model, tokenizer, client, multiple_choice, "revised", force, progress, model_name, adapter_eval_settings)


def sweep_k(methods: Sequence[str] = METHODS, ks: Sequence[int] = (1, 3, 5, 10), rag_settings: RagSettings | None = None, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, client=None, multiple_choice: bool = False, adapters: dict | None = None, progress: bool = False, adapter_eval_settings: EvalSettings | None = None, model_name: str = "embedded") -> dict[str, dict[int, Any]]:
    """:func:`run_hybrid` for every method at every test-time ``top_k``: ``{method: {k: Result}}`` (each cached).

    ``adapters`` maps a method to its adapter settings (default per :func:`adapter_settings_for`).
    """
    settings = _required(rag_settings, "rag_settings", "a RagSettings (notebook 04's: lorag_nb.experiments.nb04.default_rag_settings())")
    out: dict[str, dict[int, Any]] = {}
    with one_truncation_warning():  # one warning for the whole sweep
        for method in methods:
            out[method] = {}
            for k in ks:
                out[method][int(k)] = run_hybrid(method, settings.replace(top_k=int(k)), (adapters or {}).get(method), store, eval_settings, model, tokenizer, client, multiple_choice, progress=progress, adapter_eval_settings=adapter_eval_settings, model_name=model_name)
    return out
