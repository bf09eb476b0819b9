"""Every method side by side (notebook 05): one table, the article's claims with verdicts, a decision guide.

One mechanism: :func:`gather` asks each method's own runner for its result — the same functions and
the same default settings notebooks 00–04 use (``measure.run_baseline``, ``training.run_training`` with
:func:`~lorag_nb.experiments.nb01.default_full_ft` / :func:`~lorag_nb.experiments.nb02.default_lora`,
``rag.run_rag`` / :func:`~lorag_nb.experiments.nb03.swap_experiment`, ``hybrid.run_hybrid`` /
``hybrid.run_hybrid_revised``) — so after ``make demo`` every call is a results-store hit, and run alone
it trains and measures whatever is missing. :meth:`Comparison.from_results` then turns the stored
results into numbers without running anything (tests feed it synthetic records).

Methods (rows): the base model (closed book), full fine-tuning, LoRA (the rank with the best
multiple-choice accuracy on the **dev** questions: :func:`best_lora_rank`), RAG, the naive hybrid
(notebook 02's closed-book adapter inside the RAG chain) and the RAFT hybrid (an adapter trained to
answer from retrieved passages with distractors; Zhang et al. 2024, *RAFT*). Every method is scored
on the same test questions (:func:`check_same_questions` raises otherwise).

Claims and verdicts (:func:`claims`) come from the one claims engine (:mod:`lorag_nb.core.claims`):
per-fact scores, a paired 95% bootstrap interval for each difference, one rule per claim; the RAG
claims are judged by notebook 03's own :func:`~lorag_nb.experiments.nb03.article_claims`, so the two
notebooks agree on the same numbers. Each verdict carries the condition it was measured under (model
size, facts, steps, questions, device).
"""
from __future__ import annotations

import dataclasses
import math
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from lorag_nb.core import claims as C
from lorag_nb.core.config import (
    BaselineSettings,
    EvalSettings,
    RagSettings,
    Settings,
    check,
    json_ready,
)
from lorag_nb.core.fmt import cap, mib, pct
from lorag_nb.core.paths import NOTEBOOKS_DIR
from lorag_nb.data.knowledge import active_knowledge, load_knowledge
from lorag_nb.experiments import nb01, nb03, nb04
from lorag_nb.experiments.nb01 import default_full_ft
from lorag_nb.experiments.nb02 import (
    LORA_DEFAULT_ADAPTER,
    LORA_DEFAULTS,
    SWEEP_DEFAULTS,
    default_lora,
    frontier_series,
    frontier_verdict,
)
from lorag_nb.methods import hybrid, measure, rag, training
from lorag_nb.methods.adapters import load_adapter
from lorag_nb.methods.evaluation import evaluate_qa, gold_contained
from lorag_nb.methods.models import load_model
from lorag_nb.methods.rag import knowledge_documents
from lorag_nb.methods.retrieval import (
    CachedEmbeddings,
    KnowledgeBase,
    get_embeddings,
    make_client,
)
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.training import (
    ADAPTER_DIR,
    DEFAULT_MAX_QUESTIONS,
    DEFAULT_SEEDS,
    default_eval,
    settings_of,
)

#: Row order of the comparison; each is a key of :data:`LABELS` and :data:`COLORS`.
METHODS = ("base", "full", "lora", "rag", "naive_hybrid", "raft_hybrid")
LABELS = {
    "base": "base model",
    "full": "full fine-tuning",
    "lora": "LoRA",
    "rag": "RAG",
    "naive_hybrid": "naive hybrid (LoRA + RAG)",
    "raft_hybrid": "RAFT hybrid",
}
#: Method → colour key of :data:`lorag_nb.ui.plots.METHOD_COLORS`.
COLORS = {"base": "base", "full": "full", "lora": "lora", "rag": "rag", "naive_hybrid": "hybrid", "raft_hybrid": "raft"}

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

HYBRID_METHODS = ("naive_hybrid", "raft_hybrid")
#: The arms of Ovadia et al. (2023), *Fine-Tuning or Retrieval?*: LoRA trained on the documents, and on
#: the documents plus paraphrased questions (the LoRA row itself is trained on the questions only).
OVADIA_ARMS = {"docs_ft": "LoRA on the documents", "docs_qa_ft": "LoRA on documents + paraphrased QA"}


# --------------------------------------------------------------------------- settings

#: Notebook 05 parameters that are not run settings: a view (``accuracy_metric``) and the run profile
#: (``profile``: resolved by :func:`lorag_nb.core.profiles.apply` before the settings are built).
NOT_SETTINGS = ("accuracy_metric", "profile", "knowledge")  # knowledge: the process-wide source (knowledge.use_knowledge), not a comparison knob


@dataclass(frozen=True)
class CompareSettings(Settings):
    """The settings of every run notebook 05 compares; the defaults are taken from notebooks 01–04's
    (``nb02.LORA_DEFAULTS``, ``LORA_DEFAULT_ADAPTER``, ``SWEEP_DEFAULTS``, ``nb03.RAG_DEFAULTS``,
    ``RagSettings``, ``training.DEFAULT_SEEDS``), not copied, so a default changed there changes here
    (a test checks that notebook 05's parameters cell agrees with notebooks 01–04's).

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

    model: str = "embedded"
    n_entities: int = LORA_DEFAULTS["n_entities"]
    max_questions: int | None = DEFAULT_MAX_QUESTIONS
    batch_size: int = LORA_DEFAULTS["batch_size"]
    max_steps: int = -1
    lora_ranks: tuple = (LORA_DEFAULT_ADAPTER["r"],)
    naive_rank: int = LORA_DEFAULT_ADAPTER["r"]
    rag_entities: int | None = nb03.RAG_DEFAULTS["n_entities"]
    rag_questions: int = nb03.RAG_DEFAULTS["n_questions"]
    n_dev_questions: int = nb03.RAG_DEFAULTS["n_dev_questions"]
    top_k: int = RagSettings.top_k
    chunk_size: int = RagSettings.chunk_size
    chunk_overlap: int = RagSettings.chunk_overlap
    max_new_tokens: int = nb03.RAG_DEFAULTS["max_new_tokens"]
    rag_batch_size: int = nb03.RAG_DEFAULTS["batch_size"]
    seeds: tuple = DEFAULT_SEEDS
    speed_reps: int = SWEEP_DEFAULTS["speed_reps"]
    latency_reps: int = nb03.RAG_DEFAULTS["latency_reps"]
    latency_questions: int = nb03.RAG_DEFAULTS["latency_questions"]
    frontier_entities: int = SWEEP_DEFAULTS["sweep_entities"]
    frontier_epochs: float = SWEEP_DEFAULTS["sweep_epochs"]
    frontier_full_lrs: tuple = SWEEP_DEFAULTS["frontier_full_lrs"]
    frontier_lora_lrs: tuple = SWEEP_DEFAULTS["frontier_lora_lrs"]
    frontier_checkpoints: int = SWEEP_DEFAULTS["frontier_checkpoints"]
    docs_epochs: float = 5.0
    ovadia: bool = True
    seed: int = 0
    chroma_url: str | None = None

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

        return default_lora(r=int(r), lora_alpha=LORA_DEFAULT_ADAPTER["lora_alpha"], **self._training_common())

    def raft_settings(self, prompt_variant: str | None = None):
        """Notebook 04's RAFT adapter (``hybrid.raft_settings``) with this world, step budget, the RAG
        chain's prompt variant and knowledge base (its distractors come from it)."""

        return nb04.raft_settings(prompt_variant=prompt_variant, kb_entities=self.rag_entities, **self._training_common())

    def train_eval(self) -> EvalSettings:
        """The evaluation notebooks 01–02 share (``training.default_eval``)."""

        return default_eval(self.n_entities, self.max_questions)

    def answer_budget(self) -> int:
        """The RAG answer budget: ``max_new_tokens``, or with 0 the one notebooks 03–04 chose on the dev split
        (:func:`lorag_nb.methods.rag.answer_budget`, stored: the same choice)."""
        return rag.answer_budget(self.max_new_tokens, self.rag_entities, self.model, batch_size=self.rag_batch_size)[0]

    def rag_eval(self) -> EvalSettings:
        """Notebook 03's evaluation of RAG (its ``rag_eval``)."""
        return EvalSettings(n_entities=self.rag_entities, max_questions=self.rag_questions, max_new_tokens=self.answer_budget(), batch_size=self.rag_batch_size, perplexity_texts=4, perplexity_tokens=256)

    def dev_eval(self) -> EvalSettings:
        """Notebook 03's dev-split evaluation (prompt-variant choice)."""
        return self.rag_eval().replace(max_questions=self.n_dev_questions)

    def rag_base(self) -> RagSettings:
        """Notebook 03's retrieval settings, before the prompt variant is chosen on the dev split."""
        return nb03.rag_settings(self.top_k, self.chunk_size, self.chunk_overlap, self.chroma_url or "")


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


def _secs(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} s" if x < 10 else f"{x:.0f} s"


def folder_bytes(path: str | Path) -> int:
    """Total size in bytes of the files under ``path`` (0 if it does not exist)."""
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


# --------------------------------------------------------------------------- measurements this notebook adds


def measure_index(settings: RagSettings, n_entities: int | None, store=None, force: bool = False):
    """Build the RAG knowledge base from scratch once and measure it: indexing seconds and bytes on disk.

    A fresh persistent Chroma client in a temporary folder and a fresh embedding cache (the packaged
    all-MiniLM-L6-v2, already loaded, is reused: model loading is not counted), ingest the documents
    (plus distractors) of ``n_entities`` entities, time it, measure the folder, delete it. Cached in the
    results store (kind ``"rag_index"``).

    Returns:
        :class:`~lorag_nb.core.store.Result` with metrics ``seconds`` (s), ``bytes`` (on disk),
        ``chunks``, ``documents``, ``embedded``.
    """

    store = RUNTIME.use_store(store)
    key = {"rag": rag.key_dict(settings, top_k=1, prompt_variant="context_then_question"), "n_entities": n_entities}

    def compute(_artifacts: Path):
        shared = get_embeddings()
        fresh = CachedEmbeddings(shared.base, shared.name, shared.dimension)
        docs = knowledge_documents(load_knowledge(n_entities=n_entities), settings.knowledge, settings.include_distractors)
        tmp = Path(tempfile.mkdtemp(prefix="lorag-index-"))
        try:
            kb = KnowledgeBase("lorag-index-measure", chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, client=make_client("persistent", path=tmp), embeddings=fresh)
            report = kb.ingest(docs)
            size = folder_bytes(tmp)
            del kb
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {"seconds": report.seconds, "bytes": size, "chunks": report.count, "documents": report.documents, "embedded": report.embedded}, {}

    return store.cached("rag_index", key, compute, force=force)


def lora_dev_accuracy(result, store=None, n_questions: int | None = None, model=None, tokenizer=None, max_new_tokens: int = 16, batch_size: int = 16, force: bool = False):
    """Multiple-choice accuracy (and EM/F1) of a stored LoRA run on the **dev** questions of its world.

    Dev questions use wordings that are neither training nor test wordings, so choosing a rank on them
    does not leak into the test numbers. The adapter is loaded onto a copy of the base model and merged.
    Cached in the results store (kind ``"lora_dev"``, keyed by the training run's key).

    Args:
        result: a LoRA :class:`~lorag_nb.core.store.Result` of :func:`lorag_nb.methods.training.run_training`.
        n_questions: the first dev questions to use (None = all of the run's world).

    Returns:
        Result with ``evaluate_qa`` metrics (n, exact_match, f1, contains, mc_accuracy, …) and rows.

    Raises:
        ValueError: ``result`` is not a LoRA training run.
        FileNotFoundError: its adapter folder is gone (rerun ``run_training(..., force=True)``).
    """

    store = RUNTIME.use_store(store)
    settings, _ = settings_of(result)
    if settings.lora is None:
        raise ValueError(f"run {result.key} is full fine-tuning, not LoRA: it has no adapter to evaluate on the dev split")
    key = {"train_key": result.key, "n_questions": n_questions, "max_new_tokens": max_new_tokens, "batch_size": batch_size}

    def compute(_artifacts: Path):
        nonlocal model, tokenizer
        if model is None:
            model, tokenizer = load_model(settings.model, dtype="float32")
        adapter = store.artifact_dir(result.kind, result.key) / ADAPTER_DIR
        wrapped = load_adapter(model, adapter, copy_base=True)
        merged = wrapped.merge_and_unload()
        merged.eval()
        qas = cap(list(load_knowledge(n_entities=settings.n_entities).dev_qa), n_questions)
        r = evaluate_qa(merged, tokenizer, qas, max_new_tokens=max_new_tokens, batch_size=batch_size, multiple_choice=True)
        del merged, wrapped
        return dict(r.metrics, r=settings.lora.r), {"rows": r.rows}

    return store.cached("lora_dev", key, compute, force=force)


def best_lora_rank(dev: Mapping[int, Any]) -> int:
    """The rank with the highest dev multiple-choice accuracy (ties: higher dev F1, then the smaller rank).

    Args:
        dev: rank → dev Result (or metrics dict) of :func:`lora_dev_accuracy`.

    Raises:
        ValueError: ``dev`` is empty.
    """
    if not dev:
        raise ValueError("no LoRA rank to choose from (dev is empty)")

    def score(r):
        m = dev[r].metrics if hasattr(dev[r], "metrics") else dev[r]
        return (round(float(m.get("mc_accuracy") or 0.0), 9), round(float(m.get("f1") or 0.0), 9), -int(r))

    return max(dev, key=score)


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
        dev = {r: lora_dev_accuracy(res, store, settings.max_questions, model, tokenizer, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size) for r, res in ranks.items()}
        best = best_lora_rank(dev)
    else:
        dev, best = {}, next(iter(ranks))
    out.update(lora_ranks=ranks, lora_dev=dev, best_rank=best)
    out["lora_seeds"] = training.run_seeds(settings.lora_settings(best), seeds, store, ev, model, tokenizer, progress)
    out["lora"] = out["lora_seeds"][seeds[0]]
    if settings.frontier_checkpoints and settings.frontier_full_lrs and settings.frontier_lora_lrs:
        fev = training.default_eval(settings.frontier_entities, settings.max_questions)
        fcommon = dict(settings._training_common(), n_entities=settings.frontier_entities, epochs=settings.frontier_epochs)
        out["frontier_full"] = {lr: training.frontier_run(nb01.default_full_ft(**fcommon, learning_rate=lr), store, fev, settings.frontier_checkpoints, model, tokenizer, progress) for lr in settings.frontier_full_lrs}
        out["frontier_lora"] = {lr: training.frontier_run(settings.lora_settings(best).replace(**fcommon, learning_rate=lr), store, fev, settings.frontier_checkpoints, model, tokenizer, progress) for lr in settings.frontier_lora_lrs}
    if settings.ovadia:
        out["docs_ft"] = training.run_training(settings.lora_settings(best).replace(train_on="documents", epochs=settings.docs_epochs, seed=seeds[0]), store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress)
        out["docs_qa_ft"] = training.run_training(settings.lora_settings(best).replace(train_on="both", seed=seeds[0]), store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress)
    out["speed"] = training.interleaved_speed(settings.full_settings(), settings.lora_settings(best), store, model, tokenizer, reps=settings.speed_reps)

    rag_eval, dev_eval = settings.rag_eval(), settings.dev_eval()
    rag_settings = settings.rag_base()
    _, variant = nb03.compare_prompt_variants(rag_settings, store, dev_eval, model_name=settings.model, model=model, tokenizer=tokenizer)
    rag_settings = rag_settings.replace(prompt_variant=variant)
    out["prompt_variant"] = variant
    out["rag"] = rag.run_rag(rag_settings, store, rag_eval, settings.model, model=model, tokenizer=tokenizer)
    out["rag_swap"] = nb03.swap_experiment(rag_settings, store, rag_eval, settings.model, model=model, tokenizer=tokenizer)
    out["rag_index"] = measure_index(rag_settings, settings.rag_entities, store)
    out["latency"] = rag.interleaved_latency(rag_settings, rag_eval, settings.model, model=model, tokenizer=tokenizer, store=store, n_questions=settings.latency_questions, reps=settings.latency_reps)
    out["naive_rank"] = settings.naive_rank or best
    naive_adapter = settings.lora_settings(out["naive_rank"])
    adapters = {"naive_hybrid": naive_adapter, "raft_hybrid": settings.raft_settings(variant)}
    for method in HYBRID_METHODS:
        kw = dict(rag_settings=rag_settings, adapter_settings=adapters[method], store=store, eval_settings=rag_eval, model=model, tokenizer=tokenizer, adapter_eval_settings=ev, progress=progress)
        out[method] = hybrid.run_hybrid(method, multiple_choice=True, **kw)
        if not out["rag_swap"].metrics.get("skipped"):  # a user folder without revised/ has no revised questions
            out[f"{method}_revised"] = hybrid.run_hybrid_revised(method, multiple_choice=False, **kw)  # as notebook 04
    kw.pop("adapter_settings")
    out["raft_hybrid_seeds"] = hybrid.run_seeds("raft_hybrid", seeds, adapters["raft_hybrid"], multiple_choice=True, **kw)  # as notebook 04
    return out


# --------------------------------------------------------------------------- question ids


def scored_question_ids(method: str, result) -> list[str]:
    """The ids of the test questions ``result`` was scored on (from its per-question rows).

    Base model: ``details["test"]``; training runs: ``details["rows"]["test"]``; RAG and hybrids:
    ``details["rows"]``.
    """
    return [r["id"] for r in test_rows(method, result)]


def test_rows(method: str, result, split: str = "test") -> list[dict]:
    """A result's per-question rows of ``split`` (``"test"`` or ``"control"``; see :func:`scored_question_ids`)."""
    d = result.details or {}
    if method == "base":
        return list(d.get(split, []))
    if method in ("full", "lora"):
        return list(_get(d, "rows", split, default=[]))
    rows = d.get("rows", [])
    if isinstance(rows, Mapping):
        return list(rows.get(split, []))
    return list(rows) if split == "test" else []


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
        if m in ("base", "full", "lora"):
            ctrl = _seed_rows(results, m, "control")
            if (any(ctrl.values()) if isinstance(ctrl, Mapping) else ctrl):
                out[m]["control"] = C.scores(ctrl, "contains", lab)
        if m in HYBRID_METHODS and results.get(f"{m}_revised") is not None:
            rv = test_rows(m, results[f"{m}_revised"])
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

    d = result.details or {}
    if method == "base":
        rows = d.get("revised", [])
    elif method in ("full", "lora"):
        rows = _get(d, "rows", "revised", default=[])
    elif method == "rag":  # the rag_swap result: answers after the swap
        rows = d.get("after", [])
    else:
        rows = d.get("rows", [])
        if isinstance(rows, Mapping):
            rows = rows.get("revised", rows.get("after", []))
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
        revised = {m: _revised_rows(m, results["rag_swap"] if m == "rag" else results.get(f"{m}_revised", results[m]) if m in HYBRID_METHODS else results[m], old) for m in methods}
        with_rows = [m for m in methods if revised[m]]
        common = set.intersection(*[{r["id"] for r in revised[m]} for m in with_rows]) if with_rows else set()

        # the runs notebook 03's claim rules read (nb03.article_claims), as notebook 03 passes them
        rag_runs = {"rag": results["rag"], "baseline": results["base"], "swap": results["rag_swap"],
                    "trained": {m: (results.get(f"{m}_seeds") or results[m]) for m in ("full", "lora")}}
        index = results.get("rag_index")
        index_s = _get(index.metrics, "seconds") if index is not None else None
        index_mib = mib(_get(index.metrics, "bytes")) if index is not None else None
        swap = results["rag_swap"].metrics

        rows: dict[str, dict] = {}
        for m in methods:
            res = results[m]
            met = res.metrics
            if m in ("base", "full", "lora"):
                test = met.get("test") or {}
                latency = test.get("latency_ms_p50")
            else:
                test = met.get("answers") or {}
                latency = _get(met, "latency_ms", "total_p50")
            row = {"test EM": test.get("exact_match"), "test F1": test.get("f1"), "test MC acc": test.get("mc_accuracy"), "n test": test.get("n"), "p50 latency ms": latency}
            if m == "base":
                row.update({"control drop": 0.0, "perplexity change": 0.0, "trainable params": 0, "train s": 0.0, "setup s": 0.0, "update s": None, "weights unchanged": True})
            elif m in ("full", "lora"):
                nums = _training_numbers(met)
                fg = met.get("forgetting") or {}
                row.update(nums)
                row.update({"control drop": fg.get("control_drop"), "perplexity change": fg.get("perplexity_change"), "setup s": nums["train s"], "update s": nums["train s"]})
                row["learning_rate"] = _get(res.settings, "training", "learning_rate")
                if m == "lora":
                    row["r"] = _get(res.settings, "training", "lora", "r")
            elif m == "rag":
                row.update({"control drop": 0.0, "perplexity change": 0.0, "trainable params": 0, "train s": 0.0, "artifact MiB": index_mib, "setup s": index_s, "update s": swap.get("swap_seconds"), "weights unchanged": True})
            else:
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
            if m == "naive_hybrid" and results.get("naive_rank"):
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
        kb_methods = [m for m in ("rag", *HYBRID_METHODS) if revised.get(m)]
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
        for k, lab in OVADIA_ARMS.items():
            if results.get(k) is not None:
                comp.samples[k] = {"mc": C.scores(test_rows("lora", results[k]), "mc_correct", lab)}
                extra[k] = {"train s": _get(results[k].metrics, "training", "seconds"), "steps": _get(results[k].metrics, "training", "steps"), "n_examples": _get(results[k].metrics, "training", "n_examples")}
        if results.get("frontier_full") and results.get("frontier_lora"):

            extra["frontier_verdict"] = frontier_verdict(results["frontier_full"], results["frontier_lora"])
            extra["frontier_verdict_gen"] = frontier_verdict(results["frontier_full"], results["frontier_lora"], control="gen")
            extra["frontier_series"] = frontier_series({**{f"full fine-tuning, lr {lr:g}": r for lr, r in results["frontier_full"].items()}, **{f"LoRA, lr {lr:g}": r for lr, r in results["frontier_lora"].items()}})
        return comp

    # ---- views

    def label(self, method: str) -> str:
        """Display name of a method (LoRA carries its rank)."""
        if method == "lora" and self.rows.get("lora", {}).get("r"):
            return f"LoRA r={self.rows['lora']['r']}"
        if method == "naive_hybrid" and self.rows.get("naive_hybrid", {}).get("r"):
            return f"naive hybrid (LoRA r={self.rows['naive_hybrid']['r']} + RAG)"
        return LABELS[method]

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


# --------------------------------------------------------------------------- claims and verdicts

#: Notebook sections that measured each claim: claim id → [(notebook file stem, heading text)].
SECTIONS: dict[str, list[tuple[str, str]]] = {
    "full_quality": [("01_full_finetuning", "Before and after"), ("05_comparison", "The comparison table")],
    "full_forgets": [("01_full_finetuning", "Before and after"), ("05_comparison", "Learning vs forgetting")],
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
    vals = sorted(comp.rows[m]["p50 latency ms"] for m in ("base", "full", "lora") if m in comp.rows and comp.rows[m].get("p50 latency ms") is not None)
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

    Returns:
        ``[lorag_nb.core.claims.Verdict]`` (``.row()`` for a flat dict; ``.verdict`` ∈ holds / does not hold / undetermined).
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
    best_other = best_by(comp, [m for m in comp.methods if m not in ("full", "base")])
    if best_other:
        add("full_quality", _diff(comp, "full", best_other), {lab("full"): mc("full"), lab(best_other): mc(best_other)},
            f"compared with the most accurate other method, {lab(best_other)}; at most {100 * C.MATCH_MARGIN:.0f} points below it still counts as the best quality")
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

    # --- RAG: notebook 03's rules (nb03.article_claims) on the runs gathered here, so 03 and 05 agree
    ft_best = best_by(comp, ["full", "lora"])
    rr = comp.extra.get("rag_runs") or {}
    if rr.get("rag") is not None and rr.get("baseline") is not None:
        trained = (rr.get("trained") or {}).get(ft_best) if ft_best else None
        rag_cond = cond + f"; knowledge base of {comp.context.get('rag_entities') or 'all'} entities"
        lat = comp.extra.get("latency") if len((comp.extra.get("latency") or {}).get("ratios") or []) >= 2 else None
        vs = {v.id: v for v in nb03.article_claims(rr["rag"], rr["baseline"], rr.get("swap"), trained, lat, rag_cond, lab(ft_best) if ft_best else "the fine-tuned model", section_links)}
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

    # --- hybrid: notebook 04's rule (nb04.combine_claims), against every single method of this run
    hyb = {lab(m): comp.samples[m]["mc"] for m in HYBRID_METHODS if m in comp.methods and (comp.samples.get(m) or {}).get("mc") is not None}
    singles = {lab(m): comp.samples[m]["mc"] for m in ("full", "lora", "rag") if (comp.samples.get(m) or {}).get("mc") is not None}
    nr = (comp.samples.get("naive_hybrid") or {}).get("revised")
    out.extend(nb04.combine_claims(hyb, singles, (nr, after) if nr and after else None, "mc_correct", "the most accurate single method", cond, section_links))
    if "docs_ft" in comp.samples:
        add("ovadia_rag_beats_docs", _diff(comp, "rag", "docs_ft"), {lab("rag"): mc("rag"), OVADIA_ARMS["docs_ft"]: mc("docs_ft")},
            f"continued pretraining on the {comp.context.get('n_entities')} taught entities' documents ({(comp.extra.get('docs_ft') or {}).get('steps')} steps) against retrieval from the knowledge base")
    if "docs_ft" in comp.samples and "docs_qa_ft" in comp.samples:
        add("ovadia_paraphrases_help", _diff(comp, "docs_qa_ft", "docs_ft"), {OVADIA_ARMS["docs_qa_ft"]: mc("docs_qa_ft"), OVADIA_ARMS["docs_ft"]: mc("docs_ft")},
            "the same documents, with and without the paraphrased training questions")
    if "raft_hybrid" in comp.samples:
        add("raft_beats_rag", _diff(comp, "raft_hybrid", "rag", "contains"), {lab("raft_hybrid"): _est(comp, "raft_hybrid", "contains"), lab("rag"): _est(comp, "rag", "contains")},
            f"the same retrieved chunks at top_k={comp.context.get('top_k')}, gold contained in the answer")
    return out


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
    skipped = nb03.swap_skipped()
    swap = (f"The swap itself was not measured ({skipped.split(': ', 1)[-1]})." if skipped else
            f"After the swap RAG answered {pct((comp.extra.get('swap_after') or {}).get('contains'))} of the revised facts (before: {pct((comp.extra.get('swap_before') or {}).get('contains'))}, n={comp.extra.get('swap_n')}); "
            f"without retraining, the fine-tuned models still state the old value in {pct(lora.get('revised stale'))} (LoRA) and {pct(full.get('revised stale'))} (full) of their answers (n={comp.context.get('n_revised')}).")
    lines.append(
        f"- **Facts that change → RAG (or a hybrid).** Updating RAG "
        + (f"took {_secs(rag.get('update s'))} of re-indexing" if rag.get("update s") is not None else "means re-indexing the changed documents (its time not measured here)")
        + "; updating a fine-tuned model means "
        f"retraining ({_secs(lora.get('update s'))} for {comp.label('lora')}, {_secs(full.get('update s'))} for full fine-tuning). {swap}"
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
    if any(m in R for m in HYBRID_METHODS):
        h = {m: R[m] for m in HYBRID_METHODS if m in R}
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


# --------------------------------------------------------------------------- one call for the notebook


def compare(settings: CompareSettings = CompareSettings(), store=None, model=None, tokenizer=None, progress: bool = False) -> Comparison:
    """:func:`gather` then :meth:`Comparison.from_results`: the comparison of every method (trains what is missing)."""
    results = gather(settings, store, model, tokenizer, progress=progress)
    comp = Comparison.from_results(results, settings)
    comp.extra["results"] = {k: v.key for k, v in results.items() if hasattr(v, "key")}
    return comp


def headline_markdown(comp: Comparison) -> str:
    """One line per method with the key numbers (the same numbers ``index.html`` shows)."""
    out = []
    for h in comp.headline():
        out.append(
            f"- **{h['method']}**: test MC {pct(h['test MC acc'])}, EM {pct(h['test EM'])}, revised facts {pct(h['revised acc'])}, "
            f"control drop {pct(h['control drop'])}, set-up {_secs(h['setup s'])}, update {_secs(h['update s'])}, p50 {h['p50 latency ms'] or 0:.0f} ms"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------- charts (builders live in plots.py)


def ovadia_table(comp: Comparison):
    """Ovadia et al.'s arms beside RAG and the QA-trained LoRA: held-out MC accuracy with its 95% interval
    over facts, training seconds (a DataFrame; empty when the arm was not run)."""
    import pandas as pd

    rows = []
    for m, label in (("rag", comp.label("rag")), ("lora", comp.label("lora") + " on the QA pairs"), *OVADIA_ARMS.items()):
        smp = (comp.samples.get(m) or {}).get("mc")
        if smp is None:
            continue
        e = C.mean_estimate(smp)
        secs = comp.rows[m].get("train s") if m in comp.rows else (comp.extra.get(m) or {}).get("train s")
        rows.append({"method": label, "test MC acc [95% CI]": e.text(), "n facts": e.n_facts, "train s": None if secs is None else round(secs, 1)})
    return pd.DataFrame(rows).set_index("method") if rows else pd.DataFrame()


# --------------------------------------------------------------------------- notebook and index helpers


def columns_markdown(columns: Sequence[str] = COLUMNS) -> str:
    """Markdown list explaining each column of the table (:data:`COLUMN_HELP`)."""
    return "\n".join(f"- **{c}**: {COLUMN_HELP[c]}" for c in columns)


#: Key of the output metadata that carries the headline numbers of an executed notebook (read by
#: :func:`lorag_nb.infra.runner.write_index`).
HEADLINE_KEY = "lorag_nb_headline"


def display_headline(comp: Comparison) -> None:
    """Show :func:`headline_markdown` and attach the numbers to the output's metadata
    (``metadata[HEADLINE_KEY]`` = :meth:`Comparison.headline` rows), where ``lorag-nb run`` finds them
    for ``index.html``."""
    from IPython.display import Markdown, display


    display(Markdown(headline_markdown(comp)), metadata={HEADLINE_KEY: json_ready({"condition": comp.condition(), "rows": comp.headline()})})


def attached_output(path: str | Path, key: str, accept=lambda data: True) -> dict | None:
    """The first dict an executed notebook's outputs carry under ``metadata[key]`` for which ``accept`` is
    true, or None (no such output, unreadable file). How notebook 05 hands numbers to the runner
    (:func:`display_headline`, :func:`lorag_nb.experiments.reference.attach`)."""
    import json

    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = (out.get("metadata") or {}).get(key)
            if isinstance(data, dict) and accept(data):
                return data
    return None


def headline_from_notebook(path: str | Path) -> dict | None:
    """The headline numbers an executed notebook attached with :func:`display_headline`, or None
    (no such output, unreadable file)."""
    return attached_output(path, HEADLINE_KEY, lambda data: isinstance(data.get("rows"), list))
