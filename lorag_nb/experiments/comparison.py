"""What notebook 05 runs: its settings (:class:`CompareSettings`) and :func:`gather`, one call per method's runner.

:func:`gather` asks each method's own runner for its result — the same functions and the same default
settings notebooks 00–04 use (``measure.run_baseline``, ``training.run_training`` with ``default_full_ft`` /
``default_lora``, ``rag.run_rag`` / :func:`~lorag_nb.experiments.rag_studies.swap_experiment`,
``hybrid.run_hybrid`` / ``hybrid.run_hybrid_revised``) — so after ``make demo`` every call is a
results-store hit, and run alone it trains and measures whatever is missing. Turning the results into
the table is :mod:`lorag_nb.experiments.comparison_table` (runs nothing).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lorag_nb.core import catalog
from lorag_nb.core.config import (
    BaselineSettings,
    EvalSettings,
    RagSettings,
    Settings,
    check,
)
from lorag_nb.experiments.recipes import (
    compare_default as _d,
    default_full_ft,
    default_hybrid_eval,
    default_lora,
    rag_settings,
    raft_settings,
)
from lorag_nb.experiments.rag_studies import compare_prompt_variants, swap_experiment
from lorag_nb.data.knowledge import active_knowledge
from lorag_nb.methods import hybrid, measure, probes, rag, rank_choice, training
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.training import (
    DEFAULT_MAX_QUESTIONS,
    DEFAULT_SEEDS,
    default_eval,
)


# --------------------------------------------------------------------------- settings

#: Notebook 05 parameters that are not run settings: a view (``accuracy_metric``) and the run profile
#: (``profile``: resolved by :func:`lorag_nb.experiments.profiles.apply` before the settings are built).
NOT_SETTINGS = ("accuracy_metric", "profile", "knowledge")  # knowledge: the process-wide source (knowledge.use_knowledge), not a comparison knob


@dataclass(frozen=True)
class CompareSettings(Settings):
    """The settings of every run notebook 05 compares; each default is notebook 05's in the one table of
    defaults (:data:`lorag_nb.experiments.recipes.NOTEBOOKS`), where it names the value of the notebook that
    runs that knob (01–04), so a default changed there changes here (``tests/test_recipes.py`` checks every
    parameters cell against the table).

    Attributes:
        model: ``"embedded"`` or a Hugging Face id / folder.
        n_entities: entities taught to the fine-tuned methods (notebooks 01–02: 10 → 60 facts).
        max_questions: questions per split for the fine-tuned evaluation (``training.default_eval``;
            None = every test question of the taught entities: 3 wordings per fact, 180).
        batch_size: training batch size (notebooks 01–02: 4).
        max_steps: if positive, cap on optimizer steps (smoke runs); -1 keeps the epochs.
        lora_ranks: candidate LoRA ranks; the best by dev multiple-choice accuracy is the LoRA row
            (default: notebook 02's r=8 alone, so no extra training runs).
        seeds: training seeds of the headline runs (full fine-tuning, LoRA at the chosen rank, RAFT).
        frontier_entities, frontier_epochs, frontier_full_lrs, frontier_lora_lrs, frontier_checkpoints:
            notebook 02's learning-vs-forgetting curves (its sweep world; 0 checkpoints = no curves).
        ovadia, docs_epochs: the arm of Ovadia et al. (2023): LoRA (notebook 02's settings) fine-tuned on
            the documents (``train_on="documents"``, ``docs_epochs`` passes) and on documents +
            paraphrased QA (``"both"``), scored on the same test questions as every method.
        speed_reps, latency_reps: interleaved repetitions of the training-speed and answer-latency
            measurements (each repetition gives one ratio; their range is the ratio's interval).
        latency_questions: questions answered one at a time in each latency repetition.
        naive_rank: rank of the naive hybrid's closed-book adapter (notebook 04 uses notebook 02's r;
            0 = the best rank).
        rag_entities: entities in the RAG knowledge base (notebook 03: 80, all).
        rag_questions: test questions RAG and the hybrids answer (notebook 03: 180 — the same first
            questions the fine-tuned methods are scored on).
        n_dev_questions: dev questions for notebook 03's prompt-variant choice.
        top_k, chunk_size, chunk_overlap: retrieval (notebook 03).
        max_new_tokens, rag_batch_size: RAG generation budget and batch (notebook 03).
        seed: random seed of everything that is not a seeded training run.
        chroma_url: ``"http://host:port"`` of a Chroma server holding the RAG knowledge base, or None (the
            embedded store); not part of any result's key (:func:`lorag_nb.methods.rag.key_dict`).
    """

    model: str = _d("model_name")
    n_entities: int = _d("n_entities")
    max_questions: int | None = _d("max_questions")
    batch_size: int = _d("batch_size")
    max_steps: int = _d("max_steps")
    lora_ranks: tuple = _d("lora_ranks")
    naive_rank: int = _d("naive_rank")
    rag_entities: int | None = _d("rag_entities")
    rag_questions: int = _d("rag_questions")
    n_dev_questions: int = _d("n_dev_questions")
    top_k: int = _d("top_k")
    chunk_size: int = _d("chunk_size")
    chunk_overlap: int = _d("chunk_overlap")
    max_new_tokens: int = _d("max_new_tokens")
    rag_batch_size: int = _d("rag_batch_size")
    seeds: tuple = _d("seeds")
    speed_reps: int = _d("speed_reps")
    latency_reps: int = _d("latency_reps")
    latency_questions: int = _d("latency_questions")
    frontier_entities: int = _d("frontier_entities")
    frontier_epochs: float = _d("frontier_epochs")
    frontier_full_lrs: tuple = _d("frontier_full_lrs")
    frontier_lora_lrs: tuple = _d("frontier_lora_lrs")
    frontier_checkpoints: int = _d("frontier_checkpoints")
    docs_epochs: float = _d("docs_epochs")
    ovadia: bool = _d("ovadia")
    seed: int = _d("seed")
    chroma_url: str | None = _d("chroma_url")

    def __post_init__(self):
        seeds = tuple(self.seeds)
        check(len(seeds) >= 1 and len(set(seeds)) == len(seeds) and all(isinstance(x, int) and not isinstance(x, bool) for x in seeds), "seeds", self.seeds, "a non-empty list of distinct ints")
        object.__setattr__(self, "seeds", seeds)
        check(isinstance(self.speed_reps, int) and self.speed_reps >= 2, "speed_reps", self.speed_reps, "an int ≥ 2")
        check(isinstance(self.frontier_checkpoints, int) and self.frontier_checkpoints >= 0, "frontier_checkpoints", self.frontier_checkpoints, "an int ≥ 0 (0 = no curves)")
        object.__setattr__(self, "frontier_full_lrs", tuple(float(x) for x in self.frontier_full_lrs))
        object.__setattr__(self, "frontier_lora_lrs", tuple(float(x) for x in self.frontier_lora_lrs))
        check(isinstance(self.latency_reps, int) and self.latency_reps >= 2, "latency_reps", self.latency_reps, "an int ≥ 2")
        check(isinstance(self.latency_questions, int) and self.latency_questions >= 1, "latency_questions", self.latency_questions, "an int ≥ 1")
        check(isinstance(self.n_entities, int) and self.n_entities >= 1, "n_entities", self.n_entities, "an int ≥ 1")
        check(self.max_questions is None or (isinstance(self.max_questions, int) and self.max_questions >= 1), "max_questions", self.max_questions, "None or an int ≥ 1")
        check(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size", self.batch_size, "an int ≥ 1")
        check(isinstance(self.max_steps, int) and (self.max_steps == -1 or self.max_steps >= 1), "max_steps", self.max_steps, "-1 or an int ≥ 1")
        ranks = tuple(self.lora_ranks)
        check(len(ranks) >= 1 and all(isinstance(r, int) and r >= 1 for r in ranks), "lora_ranks", self.lora_ranks, "a non-empty list of ints ≥ 1")
        object.__setattr__(self, "lora_ranks", tuple(sorted(set(ranks))))
        check(isinstance(self.naive_rank, int) and self.naive_rank >= 0, "naive_rank", self.naive_rank, "0 (the best rank) or an int ≥ 1")
        check(self.rag_entities is None or (isinstance(self.rag_entities, int) and self.rag_entities >= 1), "rag_entities", self.rag_entities, "None or an int ≥ 1")
        check(isinstance(self.rag_questions, int) and self.rag_questions >= 1, "rag_questions", self.rag_questions, "an int ≥ 1")
        check(isinstance(self.n_dev_questions, int) and self.n_dev_questions >= 1, "n_dev_questions", self.n_dev_questions, "an int ≥ 1")
        check(isinstance(self.top_k, int) and self.top_k >= 1, "top_k", self.top_k, "an int ≥ 1")
        check(isinstance(self.max_new_tokens, int) and not isinstance(self.max_new_tokens, bool) and self.max_new_tokens >= 0, "max_new_tokens", self.max_new_tokens,
              "an int ≥ 1, or 0 (chosen on the dev split)")
        check(isinstance(self.rag_batch_size, int) and self.rag_batch_size >= 1, "rag_batch_size", self.rag_batch_size, "an int ≥ 1")

    # ---- the runs of notebooks 01-04, with these values

    @classmethod
    def from_parameters(cls, model_name: str = "embedded", max_questions: int = 0, **params) -> "CompareSettings":
        """The settings from notebook 05's parameters (same names): ``model_name`` → ``model``,
        ``max_questions`` 0 → None (all), ``chroma_url`` "" → None (embedded store), lists → tuples; parameters that are not settings
        (``accuracy_metric``) are ignored.

        Raises:
            ValueError: an unknown parameter, or an invalid value (named by the settings' checks).
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in params if k not in names and k not in NOT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown notebook 05 parameter(s) {unknown}; valid: {sorted(names - {'model'} | {'model_name', *NOT_SETTINGS})}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k in names}
        if "chroma_url" in kw:
            kw["chroma_url"] = kw["chroma_url"] or None
        return cls(model=model_name, max_questions=max_questions or None, **kw)

    def _training_common(self) -> dict:
        return dict(model=self.model, n_entities=self.n_entities, batch_size=self.batch_size, max_steps=self.max_steps, seed=self.seed)

    def full_settings(self):
        """Notebook 01's full fine-tuning run (``training.default_full_ft``)."""

        return default_full_ft(**self._training_common())

    def lora_settings(self, r: int):
        """Notebook 02's LoRA run at rank ``r`` (``training.default_lora``: lora_alpha 16, all linear layers, lr 1e-3)."""

        return default_lora(r=int(r), **self._training_common())

    def raft_settings(self, prompt_variant: str | None = None):
        """Notebook 04's RAFT adapter (``hybrid.raft_settings``) with this world, step budget, the RAG
        chain's prompt variant and knowledge base (its distractors come from it)."""

        return raft_settings(prompt_variant=prompt_variant, kb_entities=self.rag_entities, **self._training_common())

    def train_eval(self) -> EvalSettings:
        """The evaluation notebooks 01–02 share (``training.default_eval``)."""

        return default_eval(self.n_entities, self.max_questions, model_name=self.model)

    def answer_budget(self) -> int:
        """The RAG answer budget: ``max_new_tokens``, or with 0 the one notebooks 03–04 chose on the dev split
        (:func:`lorag_nb.methods.rag.answer_budget`, stored: the same choice)."""
        return rag.answer_budget(self.max_new_tokens, self.rag_entities, self.model, batch_size=self.rag_batch_size, settings=self.rag_base())[0]

    def rag_eval(self) -> EvalSettings:
        """Notebook 03's evaluation of RAG (its ``rag_eval``)."""
        return default_hybrid_eval(n_entities=self.rag_entities, max_questions=self.rag_questions, max_new_tokens=self.answer_budget(), batch_size=self.rag_batch_size)

    def dev_eval(self) -> EvalSettings:
        """Notebook 03's dev-split evaluation (prompt-variant choice)."""
        return self.rag_eval().replace(max_questions=self.n_dev_questions)

    def rag_base(self) -> RagSettings:
        """Notebook 03's retrieval settings, before the prompt variant is chosen on the dev split."""
        return rag_settings(self.top_k, self.chunk_size, self.chunk_overlap, self.chroma_url or "")


# --------------------------------------------------------------------------- gather: one call per method's runner


def gather(settings: CompareSettings = CompareSettings(), store=None, model=None, tokenizer=None, progress: bool = False) -> dict:
    """Every result the comparison needs, from the results store; what is missing is trained / measured now.

    Uses each method's own runner with notebooks 01–04's settings (:class:`CompareSettings`), so after
    the notebooks ran these are store hits.

    Returns:
        ``{"base", "full", "lora", "lora_ranks" (r → Result), "lora_dev" (r → Result), "best_rank",
        "rag", "rag_swap", "rag_index", "prompt_variant", "naive_hybrid", "naive_hybrid_revised",
        "raft_hybrid", "raft_hybrid_revised"}`` (Results).
    """

    store = RUNTIME.use_store(store)
    model, tokenizer = RUNTIME.model(settings.model, model, tokenizer)
    ev = settings.train_eval()
    out: dict[str, Any] = {}
    seeds = settings.seeds
    out["base"] = measure.run_baseline(BaselineSettings(model=settings.model, eval=ev), store, model=model, tokenizer=tokenizer)
    out["full_seeds"] = training.run_seeds(settings.full_settings(), seeds, store, ev, model, tokenizer, progress)
    out["full"] = out["full_seeds"][seeds[0]]
    ranks = {r: training.run_training(settings.lora_settings(r).replace(seed=seeds[0]), store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress) for r in settings.lora_ranks}
    if len(ranks) > 1:
        dev = {r: rank_choice.lora_dev_accuracy(res, store, settings.max_questions, model, tokenizer, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size) for r, res in ranks.items()}
        best = rank_choice.best_lora_rank(dev)
    else:
        dev, best = {}, next(iter(ranks))
    out.update(lora_ranks=ranks, lora_dev=dev, best_rank=best)
    out["lora_seeds"] = training.run_seeds(settings.lora_settings(best), seeds, store, ev, model, tokenizer, progress)
    out["lora"] = out["lora_seeds"][seeds[0]]
    if settings.frontier_checkpoints and settings.frontier_full_lrs and settings.frontier_lora_lrs:
        fev = training.default_eval(settings.frontier_entities, settings.max_questions, model_name=settings.model)
        fcommon = dict(settings._training_common(), n_entities=settings.frontier_entities, epochs=settings.frontier_epochs)
        out["frontier_full"] = {lr: training.frontier_run(default_full_ft(**fcommon, learning_rate=lr), store, fev, settings.frontier_checkpoints, model, tokenizer, progress) for lr in settings.frontier_full_lrs}
        out["frontier_lora"] = {lr: training.frontier_run(settings.lora_settings(best).replace(**fcommon, learning_rate=lr), store, fev, settings.frontier_checkpoints, model, tokenizer, progress) for lr in settings.frontier_lora_lrs}
    if settings.ovadia:
        out["docs_ft"] = training.run_training(settings.lora_settings(best).replace(train_on="documents", epochs=settings.docs_epochs, seed=seeds[0]), store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress)
        out["docs_qa_ft"] = training.run_training(settings.lora_settings(best).replace(train_on="both", seed=seeds[0]), store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress)
    out["speed"] = training.interleaved_speed(settings.full_settings(), settings.lora_settings(best), store, model, tokenizer, reps=settings.speed_reps)

    rag_eval, dev_eval = settings.rag_eval(), settings.dev_eval()
    rag_settings = settings.rag_base()
    _, variant = compare_prompt_variants(rag_settings, store, dev_eval, model_name=settings.model, model=model, tokenizer=tokenizer)
    rag_settings = rag_settings.replace(prompt_variant=variant)
    out["prompt_variant"] = variant
    out["rag"] = rag.run_rag(rag_settings, store, rag_eval, settings.model, model=model, tokenizer=tokenizer)
    out["rag_swap"] = swap_experiment(rag_settings, store, rag_eval, settings.model, model=model, tokenizer=tokenizer)
    out["rag_index"] = rag.measure_index(rag_settings, settings.rag_entities, store)
    out["latency"] = rag.interleaved_latency(rag_settings, rag_eval, settings.model, model=model, tokenizer=tokenizer, store=store, n_questions=settings.latency_questions, reps=settings.latency_reps,
                                           closed_max_new_tokens=ev.max_new_tokens)
    out["naive_rank"] = settings.naive_rank or best
    naive_adapter = settings.lora_settings(out["naive_rank"])
    adapters = {"naive_hybrid": naive_adapter, "raft_hybrid": settings.raft_settings(variant)}
    for method in catalog.HYBRIDS:
        kw = dict(rag_settings=rag_settings, adapter_settings=adapters[method], store=store, eval_settings=rag_eval, model=model, tokenizer=tokenizer, adapter_eval_settings=ev, progress=progress)
        out[method] = hybrid.run_hybrid(method, multiple_choice=True, **kw)
        if not out["rag_swap"].metrics.get("skipped"):  # a user folder without revised/ has no revised questions
            out[f"{method}_revised"] = hybrid.run_hybrid_revised(method, multiple_choice=False, **kw)  # as notebook 04
    kw.pop("adapter_settings")
    out["raft_hybrid_seeds"] = hybrid.run_seeds("raft_hybrid", seeds, adapters["raft_hybrid"], multiple_choice=True, **kw)  # as notebook 04
    out.update(beyond_taught(settings, rag_settings, out["lora_seeds"], store, model, tokenizer))
    if active_knowledge() is None:  # a reader's folder has no entities to reverse to: verdicts.claims says "not measured"
        out["reversal"] = reversal_runs(settings, rag_settings, out, store, model, tokenizer)
    return out


def beyond_taught(settings: CompareSettings, rag_settings, lora_seeds, store=None, model=None, tokenizer=None) -> dict:
    """The two probes beyond the taught facts (:mod:`lorag_nb.methods.probes`), on models and the index this
    comparison already has: ``"control_probe"`` (the control questions closed book and through the chosen RAG
    chain, base model) and, on the built-in world only, ``"unknown"`` = ``{"base": Result, "lora": {seed: Result}}``
    (questions about entities that exist nowhere, answered by the base model and by LoRA at every seed)."""
    # as many control questions as RAG test questions (all 64 at the defaults): notebook 03 asks the same, so this is its stored probe
    out: dict[str, Any] = {"control_probe": probes.control_probe(rag_settings, settings.rag_entities, model_name=settings.model, batch_size=settings.rag_batch_size,
                                                                 max_questions=settings.rag_questions, store=store, model=model, tokenizer=tokenizer)}
    if active_knowledge() is None:
        kw = dict(model_name=settings.model, batch_size=settings.rag_batch_size, max_questions=settings.max_questions, store=store, model=model, tokenizer=tokenizer)
        out["unknown"] = {"base": probes.unknown_probe(settings.n_entities, **kw),
                          "lora": {s: probes.unknown_probe(settings.n_entities, train_result=r, **kw) for s, r in lora_seeds.items()}}
    return out


def reversal_runs(settings: CompareSettings, rag_settings, results: dict, store=None, model=None, tokenizer=None) -> dict:
    """The reversal curse (Berglund et al. 2023) per method of the table, on the runs ``results`` already holds
    (:func:`lorag_nb.methods.probes.reversal_probe`; no training): the taught facts whose value identifies the
    entity, asked forward (each method's stored test rows reused) and reversed, by multiple choice.

    Which models: the base model; every seed of each closed-book method trained per seed whose weights are
    kept (LoRA always; full fine-tuning only with a kept checkpoint, else it is listed under ``"not_measured"``:
    retraining it would cost minutes); RAG; each hybrid's main run (its adapter merged, first seed only).

    Returns:
        ``{method id: {seed: Result}}`` (seed ``None`` for an untrained method or a hybrid's main run), plus
        ``"not_measured": {method id: reason}``.

    Raises:
        ValueError: a reader's folder is active.
    """
    store = RUNTIME.use_store(store)
    kw = dict(model_name=settings.model, batch_size=settings.rag_batch_size, store=store, model=model, tokenizer=tokenizer)
    out: dict[str, Any] = {"not_measured": {}}
    for m in catalog.TABLE_METHODS:
        meth = catalog.method(m)
        main = results.get(m)
        if main is None:
            continue
        rows_of = lambda r, meth=meth: meth.rows(r.details)  # noqa: E731  (the method's own stored test rows: the forward direction)
        if not meth.retrieves:
            runs = dict(results.get(f"{m}_seeds") or {None: main}) if meth.changes_weights else {None: None}
            kept = {s: r for s, r in runs.items() if r is None or probes.has_weights(r, store)}
            if not kept:
                out["not_measured"][m] = "its weights were not kept (full fine-tuning keeps only its size unless run with keep_checkpoint=True; retraining would cost minutes)"
                continue
            out[m] = {s: probes.reversal_probe(settings.n_entities, r, forward_rows=rows_of(r if r is not None else main), forward_key=(r if r is not None else main).key, **kw)
                      for s, r in kept.items()}
        else:
            adapter_key = ((main.metrics or {}).get("adapter") or {}).get("key")
            adapter = store.get("train", adapter_key) if adapter_key else None
            if meth.changes_weights and adapter is None:
                out["not_measured"][m] = "its adapter's training run is not in the results store"
                continue
            out[m] = {None: probes.reversal_probe(settings.n_entities, adapter, rag_settings=rag_settings, kb_entities=settings.rag_entities, forward_rows=rows_of(main),
                                                  forward_key=main.key, **kw)}
    return out
