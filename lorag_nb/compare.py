"""Every method side by side (notebook 05): one table, the article's claims with verdicts, a decision guide.

One mechanism: :func:`gather` asks each method's own runner for its result — the same functions and
the same default settings notebooks 00–04 use (``experiments.run_baseline``, ``training.run_training``
with ``training.default_full_ft`` / ``training.default_lora``, ``rag.run_rag`` / ``rag.swap_experiment``,
``hybrid.run_hybrid`` / ``hybrid.run_hybrid_revised``) — so after ``make demo`` every call is a
results-store hit, and run alone it trains and measures whatever is missing. :meth:`Comparison.from_results`
then turns the stored results into numbers without running anything (tests feed it synthetic records).

Methods (rows): the base model (closed book), full fine-tuning, LoRA (the rank with the best
multiple-choice accuracy on the **dev** questions: :func:`best_lora_rank`), RAG, the naive hybrid
(notebook 02's closed-book adapter inside the RAG chain) and the RAFT hybrid (an adapter trained to
answer from retrieved passages with distractors; Zhang et al. 2024, *RAFT*). Every method is scored
on the same test questions (:func:`check_same_questions` raises otherwise).

Claims and verdicts (:func:`claims`) are computed from the numbers with explicit rules: a difference of
one question or less (1/n) is a tie, a ratio threshold is an argument. Each verdict carries the
condition it was measured under (model size, facts, steps, questions, device).
"""
from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import EvalSettings, RagSettings, _check, _Settings

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
#: Method → colour key of :data:`lorag_nb.plots.METHOD_COLORS`.
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


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class CompareSettings(_Settings):
    """The settings of every run notebook 05 compares; defaults are those of notebooks 01–04.

    Attributes:
        model: ``"embedded"`` or a Hugging Face id / folder.
        n_entities: entities taught to the fine-tuned methods (notebooks 01–02: 2 → 12 facts).
        max_questions: questions per split for the fine-tuned evaluation (``training.default_eval``).
        batch_size: training batch size (notebooks 01–02: 4).
        max_steps: if positive, cap on optimizer steps (smoke runs); -1 keeps the epochs.
        lora_ranks: candidate LoRA ranks; the best by dev multiple-choice accuracy is the LoRA row.
        naive_rank: rank of the naive hybrid's closed-book adapter (notebook 04 uses notebook 02's r;
            0 = the best rank).
        rag_entities: entities in the RAG knowledge base (notebook 03: 80, all).
        rag_questions: test questions RAG and the hybrids answer (notebook 03: 12 — the same first
            questions the fine-tuned methods are scored on).
        n_dev_questions: dev questions for notebook 03's prompt-variant choice.
        top_k, chunk_size, chunk_overlap: retrieval (notebook 03).
        max_new_tokens, rag_batch_size: RAG generation budget and batch (notebook 03).
        seed: random seed.
    """

    model: str = "embedded"
    n_entities: int = 2
    max_questions: int | None = 24
    batch_size: int = 4
    max_steps: int = -1
    lora_ranks: tuple = (2, 8, 32)
    naive_rank: int = 8
    rag_entities: int | None = 80
    rag_questions: int = 12
    n_dev_questions: int = 10
    top_k: int = 3
    chunk_size: int = 500
    chunk_overlap: int = 50
    max_new_tokens: int = 16
    rag_batch_size: int = 16
    seed: int = 0

    def __post_init__(self):
        _check(isinstance(self.n_entities, int) and self.n_entities >= 1, "n_entities", self.n_entities, "an int ≥ 1")
        _check(self.max_questions is None or (isinstance(self.max_questions, int) and self.max_questions >= 1), "max_questions", self.max_questions, "None or an int ≥ 1")
        _check(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size", self.batch_size, "an int ≥ 1")
        _check(isinstance(self.max_steps, int) and (self.max_steps == -1 or self.max_steps >= 1), "max_steps", self.max_steps, "-1 or an int ≥ 1")
        ranks = tuple(self.lora_ranks)
        _check(len(ranks) >= 1 and all(isinstance(r, int) and r >= 1 for r in ranks), "lora_ranks", self.lora_ranks, "a non-empty list of ints ≥ 1")
        object.__setattr__(self, "lora_ranks", tuple(sorted(set(ranks))))
        _check(isinstance(self.naive_rank, int) and self.naive_rank >= 0, "naive_rank", self.naive_rank, "0 (the best rank) or an int ≥ 1")
        _check(self.rag_entities is None or (isinstance(self.rag_entities, int) and self.rag_entities >= 1), "rag_entities", self.rag_entities, "None or an int ≥ 1")
        _check(isinstance(self.rag_questions, int) and self.rag_questions >= 1, "rag_questions", self.rag_questions, "an int ≥ 1")
        _check(isinstance(self.n_dev_questions, int) and self.n_dev_questions >= 1, "n_dev_questions", self.n_dev_questions, "an int ≥ 1")
        _check(isinstance(self.top_k, int) and self.top_k >= 1, "top_k", self.top_k, "an int ≥ 1")
        _check(isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 1, "max_new_tokens", self.max_new_tokens, "an int ≥ 1")
        _check(isinstance(self.rag_batch_size, int) and self.rag_batch_size >= 1, "rag_batch_size", self.rag_batch_size, "an int ≥ 1")

    # ---- the runs of notebooks 01-04, with these values

    def _training_common(self) -> dict:
        return dict(model=self.model, n_entities=self.n_entities, batch_size=self.batch_size, max_steps=self.max_steps, seed=self.seed)

    def full_settings(self):
        """Notebook 01's full fine-tuning run (``training.default_full_ft``)."""
        from .training import default_full_ft

        return default_full_ft(**self._training_common())

    def lora_settings(self, r: int):
        """Notebook 02's LoRA run at rank ``r`` (``training.default_lora``: lora_alpha 16, all linear layers, lr 1e-3)."""
        from .training import LORA_DEFAULT_ADAPTER, default_lora

        return default_lora(r=int(r), lora_alpha=LORA_DEFAULT_ADAPTER["lora_alpha"], **self._training_common())

    def raft_settings(self, prompt_variant: str | None = None):
        """Notebook 04's RAFT adapter (``hybrid.raft_settings``) with this world, step budget, the RAG
        chain's prompt variant and knowledge base (its distractors come from it)."""
        from . import hybrid

        return hybrid.raft_settings(prompt_variant=prompt_variant, kb_entities=self.rag_entities, **self._training_common())

    def train_eval(self) -> EvalSettings:
        """The evaluation notebooks 01–02 share (``training.default_eval``)."""
        from .training import default_eval

        return default_eval(self.n_entities, self.max_questions)

    def rag_eval(self) -> EvalSettings:
        """Notebook 03's evaluation of RAG (its ``rag_eval``)."""
        return EvalSettings(n_entities=self.rag_entities, max_questions=self.rag_questions, max_new_tokens=self.max_new_tokens, batch_size=self.rag_batch_size, perplexity_texts=4, perplexity_tokens=256)

    def dev_eval(self) -> EvalSettings:
        """Notebook 03's dev-split evaluation (prompt-variant choice)."""
        return self.rag_eval().replace(max_questions=self.n_dev_questions)

    def rag_base(self) -> RagSettings:
        """Notebook 03's retrieval settings, before the prompt variant is chosen on the dev split."""
        return RagSettings(top_k=self.top_k, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)


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


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def _secs(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2f} s" if x < 10 else f"{x:.0f} s"


def _mib(b: float | None) -> float | None:
    return None if b is None else b / 2**20


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
        :class:`~lorag_nb.experiments.Result` with metrics ``seconds`` (s), ``bytes`` (on disk),
        ``chunks``, ``documents``, ``embedded``.
    """
    from .experiments import ResultsStore
    from .knowledge import load_knowledge
    from .rag import knowledge_documents
    from .retrieval import CachedEmbeddings, KnowledgeBase, get_embeddings, make_client

    store = store or ResultsStore()
    key = {"rag": settings.replace(top_k=1, prompt_variant="context_then_question", chroma_url=None).to_dict(), "n_entities": n_entities}

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
        result: a LoRA :class:`~lorag_nb.experiments.Result` of :func:`lorag_nb.training.run_training`.
        n_questions: the first dev questions to use (None = all of the run's world).

    Returns:
        Result with ``evaluate_qa`` metrics (n, exact_match, f1, contains, mc_accuracy, …) and rows.

    Raises:
        ValueError: ``result`` is not a LoRA training run.
        FileNotFoundError: its adapter folder is gone (rerun ``run_training(..., force=True)``).
    """
    from .adapters import load_adapter
    from .evaluation import evaluate_qa
    from .experiments import ResultsStore, _cap
    from .knowledge import load_knowledge
    from .models import load_model
    from .training import ADAPTER_DIR, settings_of

    store = store or ResultsStore()
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
        qas = _cap(list(load_knowledge(n_entities=settings.n_entities).dev_qa), n_questions)
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


def _hybrid_module():
    try:
        from . import hybrid
    except ImportError as err:  # pragma: no cover - hybrid.py ships with the package
        raise ImportError(f"lorag_nb.hybrid is needed for the hybrid rows of the comparison: {err}") from err
    return hybrid


def gather(settings: CompareSettings = CompareSettings(), store=None, model=None, tokenizer=None, progress: bool = False) -> dict:
    """Every result the comparison needs, from the results store; what is missing is trained / measured now.

    Uses each method's own runner with notebooks 01–04's settings (:class:`CompareSettings`), so after
    the notebooks ran these are store hits.

    Returns:
        ``{"base", "full", "lora", "lora_ranks" (r → Result), "lora_dev" (r → Result), "best_rank",
        "rag", "rag_swap", "rag_index", "prompt_variant", "naive_hybrid", "naive_hybrid_revised",
        "raft_hybrid", "raft_hybrid_revised"}`` (Results).
    """
    from . import experiments, rag, training
    from .experiments import ResultsStore

    store = store or ResultsStore()
    model, tokenizer = rag.get_model(settings.model, model, tokenizer)
    ev = settings.train_eval()
    out: dict[str, Any] = {}
    out["base"] = experiments.run_baseline(experiments.BaselineSettings(model=settings.model, eval=ev), store, model=model, tokenizer=tokenizer)
    out["full"] = training.run_training(settings.full_settings(), store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress)
    ranks = {r: training.run_training(settings.lora_settings(r), store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress) for r in settings.lora_ranks}
    dev = {r: lora_dev_accuracy(res, store, settings.max_questions, model, tokenizer, max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size) for r, res in ranks.items()}
    best = best_lora_rank(dev)
    out.update(lora_ranks=ranks, lora_dev=dev, best_rank=best, lora=ranks[best])

    rag_eval, dev_eval = settings.rag_eval(), settings.dev_eval()
    rag_settings = settings.rag_base()
    _, variant = rag.compare_prompt_variants(rag_settings, store, dev_eval, model_name=settings.model, model=model, tokenizer=tokenizer)
    rag_settings = rag_settings.replace(prompt_variant=variant)
    out["prompt_variant"] = variant
    out["rag"] = rag.run_rag(rag_settings, store, rag_eval, settings.model, model=model, tokenizer=tokenizer)
    out["rag_swap"] = rag.swap_experiment(rag_settings, store, rag_eval, settings.model, model=model, tokenizer=tokenizer)
    out["rag_index"] = measure_index(rag_settings, settings.rag_entities, store)

    hybrid = _hybrid_module()
    out["naive_rank"] = settings.naive_rank or best
    naive_adapter = settings.lora_settings(out["naive_rank"])
    adapters = {"naive_hybrid": naive_adapter, "raft_hybrid": settings.raft_settings(variant)}
    for method in HYBRID_METHODS:
        kw = dict(rag_settings=rag_settings, adapter_settings=adapters[method], store=store, eval_settings=rag_eval, model=model, tokenizer=tokenizer, adapter_eval_settings=ev, progress=progress)
        out[method] = hybrid.run_hybrid(method, multiple_choice=True, **kw)
        out[f"{method}_revised"] = hybrid.run_hybrid_revised(method, multiple_choice=False, **kw)  # as notebook 04
    return out


# --------------------------------------------------------------------------- question ids


def scored_question_ids(method: str, result) -> list[str]:
    """The ids of the test questions ``result`` was scored on (from its per-question rows).

    Base model: ``details["test"]``; training runs: ``details["rows"]["test"]``; RAG and hybrids:
    ``details["rows"]``.
    """
    d = result.details or {}
    if method == "base":
        rows = d.get("test", [])
    elif method in ("full", "lora"):
        rows = _get(d, "rows", "test", default=[])
    else:
        rows = d.get("rows", [])
        if isinstance(rows, Mapping):
            rows = rows.get("test", [])
    return [r["id"] for r in rows]


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
    from .evaluation import gold_contained

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
        "peak memory MiB": _mib(tr.get("peak_memory_bytes")),
        "artifact MiB": _mib(tr.get("artifact_bytes")),
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
    """

    rows: dict[str, dict]
    test_ids: list[str]
    revised_ids: list[str]
    context: dict
    extra: dict = field(default_factory=dict)
    best_rank: int | None = None
    dev_accuracy: dict = field(default_factory=dict)

    @classmethod
    def from_results(cls, results: Mapping[str, Any], settings: CompareSettings | None = None) -> "Comparison":
        """Turn :func:`gather`'s results into rows (runs nothing).

        Needs keys ``base``, ``full``, ``lora``, ``rag``, ``rag_swap``; optional ``rag_index``,
        ``naive_hybrid`` / ``raft_hybrid`` (+ ``_revised``), ``lora_dev``, ``best_rank``, ``prompt_variant``.

        Raises:
            ValueError: a required result is missing, or methods answered different test questions.
        """
        from .knowledge import load_knowledge

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

        index = results.get("rag_index")
        index_s = _get(index.metrics, "seconds") if index is not None else None
        index_mib = _mib(_get(index.metrics, "bytes")) if index is not None else None
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
                row.update({"control drop": 0.0, "perplexity change": 0.0, "trainable params": 0, "train s": 0.0, "setup s": 0.0, "update s": None})
            elif m in ("full", "lora"):
                nums = _training_numbers(met)
                fg = met.get("forgetting") or {}
                row.update(nums)
                row.update({"control drop": fg.get("control_drop"), "perplexity change": fg.get("perplexity_change"), "setup s": nums["train s"], "update s": nums["train s"]})
                row["learning_rate"] = _get(res.settings, "training", "learning_rate")
                if m == "lora":
                    row["r"] = _get(res.settings, "training", "lora", "r")
            elif m == "rag":
                row.update({"control drop": 0.0, "perplexity change": 0.0, "trainable params": 0, "train s": 0.0, "artifact MiB": index_mib, "setup s": index_s, "update s": swap.get("swap_seconds")})
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
                        "peak memory MiB": _mib(a.get("peak_memory_bytes")),
                        "artifact MiB": None if a.get("artifact_bytes") is None else _mib(a.get("artifact_bytes")) + (index_mib or 0.0),
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
            "n_entities": settings.n_entities,
            "n_facts": len({(q.entity_id, q.relation) for q in ks_taught.test_qa}),
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
            "lora_memory_added_MiB": _mib((_get(results["lora"].metrics, "training", "peak_memory_bytes") or 0) - (_get(results["lora"].metrics, "training", "memory_before_bytes") or 0)),
            "full_memory_added_MiB": _mib((full_tr.get("peak_memory_bytes") or 0) - (full_tr.get("memory_before_bytes") or 0)),
        }
        kb_methods = [m for m in ("rag", *HYBRID_METHODS) if revised.get(m)]
        kb_common = set.intersection(*[{r["id"] for r in revised[m]} for m in kb_methods]) if kb_methods else set()
        extra["revised_kb"] = {
            m: {"acc": _mean([r["contains"] for r in revised[m] if r["id"] in kb_common]), "stale": _mean([r["stale"] for r in revised[m] if r["id"] in kb_common]), "n": len(kb_common)}
            for m in kb_methods
        }
        dev = {int(r): (v.metrics if hasattr(v, "metrics") else v).get("mc_accuracy") for r, v in (results.get("lora_dev") or {}).items()}
        return cls(rows=rows, test_ids=test_ids, revised_ids=sorted(common), context=context, extra=extra, best_rank=results.get("best_rank"), dev_accuracy=dev)

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
        with sensible precision, parameters with thousands separators, blanks for n/a.
        """
        import pandas as pd

        methods = [m for m in (methods or self.methods) if m in self.rows]
        df = pd.DataFrame([{c: self.rows[m].get(c) for c in columns} for m in methods], index=[self.label(m) for m in methods])
        df.index.name = "method"
        if not pretty:
            return df

        def fmt(col, v):
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

        return df.apply(lambda s: s.map(lambda v: fmt(s.name, v)))

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
            f"{params} {c['model']} model, {c['n_entities']} entities ({c['n_facts']} facts) taught in {c['steps']} steps, "
            f"{c['n_test']} test questions, {c.get('device', 'cpu')}"
            + (f" ({c['threads']} thread{'s' if c['threads'] != 1 else ''})" if c.get("threads") else "")
        ).strip()

    def rank_sentence(self) -> str:
        """Markdown: which LoRA rank won on the dev split, and the candidates' dev accuracies."""
        if not self.dev_accuracy:
            return f"LoRA row: r={self.rows.get('lora', {}).get('r')}."
        parts = ", ".join(f"r={r}: {_pct(a)}" for r, a in sorted(self.dev_accuracy.items()))
        return f"LoRA rank chosen on the **dev** questions (multiple-choice accuracy; ties: higher dev F1, then the smaller rank): {parts} → **r={self.best_rank}**."


# --------------------------------------------------------------------------- Pareto front


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
    "lora_forgets_less": [("02_lora", "LoRA vs full fine-tuning"), ("05_comparison", "Learning vs forgetting")],
    "rag_no_training": [("03_rag", "Answers vs top_k, against the oracle-document ceiling"), ("05_comparison", "Accuracy vs training cost")],
    "rag_swap": [("03_rag", "Swapping the knowledge base"), ("05_comparison", "The comparison table")],
    "rag_grounded": [("03_rag", "Answers vs top_k, against the oracle-document ceiling")],
    "rag_latency": [("03_rag", "Latency per question")],
    "hybrid_best": [("04_hybrid", None), ("05_comparison", "The comparison table")],
    "hybrid_update": [("04_hybrid", None), ("05_comparison", "The comparison table")],
}

#: Notebook file name prefix → file stem, for sections whose notebook name is only known by its number.
NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"


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


def _tie(a: float, b: float, n: int) -> bool:
    """Within one question of each other on ``n`` questions (noise at this size)."""
    return abs(a - b) <= 1.0 / max(1, n) + 1e-9


def _cmp(a: float, b: float, tol: float) -> int:
    return 0 if abs(a - b) <= tol + 1e-12 else (-1 if a < b else 1)


def claims(comp: Comparison, speed_margin: float = 0.1, tiny_share: float = 0.05, ppl_tol: float = 0.005, ground_share: float = 0.8) -> list[dict]:
    """The article's claims about full fine-tuning, LoRA, RAG and the hybrid, each with a verdict.

    Rules (thresholds are the arguments; nothing is hard-coded per result):

    - accuracy differences of one question or less (1/n on n test questions) are ties; control-set
      differences of one control question or less, and perplexity changes within ``ppl_tol``, too;
    - RAG's latency is compared with the median closed-book latency of the base, full fine-tuning and
      LoRA models (:func:`closed_book_latency`: one cold start cannot decide it);
    - "faster"/"less memory": a ratio beyond ``1 ± speed_margin``; "tiny": below ``tiny_share`` of
      the full checkpoint; "grounded": the gold document among the sources in ≥ ``ground_share``.

    Verdicts are ``holds``, ``does not hold`` or ``depends``; each row names the condition (scale,
    data, steps, device) and links the notebook sections that measured it.

    Returns:
        ``[{"id", "claim", "measured", "verdict", "why", "condition", "sections"}]``.
    """
    R, n = comp.rows, max(1, comp.context.get("n_test") or 1)
    cond = comp.condition()
    nc = max(1, comp.context.get("n_control") or 1)
    out = []

    def add(cid, claim, measured, verdict, why, condition=cond):
        out.append({"id": cid, "claim": claim, "measured": measured, "verdict": verdict, "why": why, "condition": condition, "sections": section_links(cid)})

    full, lora, rag, base = R["full"], R["lora"], R["rag"], R["base"]
    lname = comp.label("lora")
    acc = "test MC acc"

    # --- full fine-tuning
    others = {m: R[m][acc] for m in R if m not in ("full", "base") and R[m].get(acc) is not None}
    best_other = max(others, key=others.get) if others else None
    if best_other is not None:
        f, b = full[acc], others[best_other]
        ft_others = {m: v for m, v in others.items() if m == "lora"}
        if f >= b or _tie(f, b, n):
            v, why = "holds", "full fine-tuning is within one question of the best method or above it"
        elif ft_others and all(f >= x or _tie(f, x, n) for x in ft_others.values()):
            v, why = "depends", f"it is the best of the fine-tuning methods, but {comp.label(best_other)}, which retrieves, answers more"
        else:
            v, why = "does not hold", f"{comp.label(best_other)} answers more held-out questions"
        add("full_quality", "Full fine-tuning gives the best quality (it updates every weight)", f"test MC accuracy {_pct(f)} vs best other {comp.label(best_other)} {_pct(b)} (n={n})", v, why)

    cd, pc = full.get("control drop"), full.get("perplexity change")
    if cd is not None and pc is not None:
        c_forgot, p_forgot = cd > 1.0 / nc + 1e-9, pc > ppl_tol
        if c_forgot and p_forgot:
            v, why = "holds", "both control-set accuracy and perplexity got worse"
        elif c_forgot or p_forgot:
            v, why = "depends", ("control answers got worse but perplexity did not" if c_forgot else "perplexity got worse but the control answers did not") + ": forgetting shows in one measure only"
        else:
            v, why = "does not hold", "no measurable forgetting at this training budget"
        add("full_forgets", "Full fine-tuning makes the model forget what it knew (catastrophic forgetting)", f"control-set drop {_pct(cd)} (n={nc}), perplexity change {100 * pc:+.1f}%", v, why)

    # --- LoRA
    fs, ls = full.get("seconds per step"), lora.get("seconds per step")
    if fs and ls:
        ratio = ls / fs
        if ratio < 1 - speed_margin:
            v, why = "holds", f"LoRA took {ratio:.2f}× the time per step of full fine-tuning"
        elif ratio > 1 + speed_margin:
            v, why = "does not hold", f"LoRA took {ratio:.2f}× the time per step"
        else:
            v, why = "depends", f"per-step times within {speed_margin:.0%} ({ratio:.2f}×): the frozen model's forward and backward passes dominate"
        why += "; the gain depends on hardware and model size (this project measured plain LoRA slower than full fine-tuning on an H200 GPU at 135M parameters)"
        add("lora_faster", "LoRA is faster to train", f"{ls:.2f} s/step vs {fs:.2f} s/step; total {_secs(lora.get('train s'))} vs {_secs(full.get('train s'))}; {lora.get('tokens/s') or 0:.0f} vs {full.get('tokens/s') or 0:.0f} tokens/s", v, why)

    lm, fm = comp.extra.get("lora_memory_added_MiB"), comp.extra.get("full_memory_added_MiB")
    lp, fp = lora.get("peak memory MiB"), full.get("peak memory MiB")
    if lp and fp:
        ratio = lp / fp
        v = "holds" if ratio < 1 - speed_margin else "does not hold" if ratio > 1 + speed_margin else "depends"
        why = f"peak {ratio:.2f}× of full fine-tuning's" + (f"; memory added by training {lm:.0f} vs {fm:.0f} MiB" if lm and fm else "")
        if v == "depends":
            why += " — at 135M parameters the optimizer state is small next to the process itself"
        add("lora_memory", "LoRA needs less memory to train", f"peak memory {lp:.0f} MiB vs {fp:.0f} MiB", v, why)

    la, fa = lora.get("artifact MiB"), full.get("artifact MiB")
    if la and fa:
        share = la / fa
        v = "holds" if share < tiny_share else "depends" if share < 0.5 else "does not hold"
        add("lora_tiny", "LoRA adapters are tiny", f"adapter {la:.2f} MiB vs full checkpoint {fa:.0f} MiB ({share:.1%}); {lora.get('trainable params') or 0:,} vs {full.get('trainable params') or 0:,} trainable parameters", v, f"the adapter is {1 / share:.0f}× smaller than a full copy of the model" if share else "")

    la_, fa_ = lora[acc], full[acc]
    le, fe = lora.get("test EM"), full.get("test EM")
    if la_ is not None and fa_ is not None:
        mc_tie = _tie(la_, fa_, n)
        em_tie = le is None or fe is None or _tie(le, fe, n)
        if (mc_tie or la_ > fa_) and (em_tie or (le or 0) > (fe or 0)):
            v, why = "holds", "LoRA is within one question of full fine-tuning or above it on both multiple choice and exact match"
        elif mc_tie or la_ > fa_ or em_tie:
            v, why = "depends", "the two metrics disagree: one is a tie (or a LoRA win), the other a loss"
        else:
            v, why = "does not hold", "full fine-tuning answered more held-out questions"
        add("lora_matches", "LoRA matches full fine-tuning quality", f"test MC {_pct(la_)} ({lname}) vs {_pct(fa_)}; exact match {_pct(le)} vs {_pct(fe)} (n={n})", v, why)

    lcd, lpc = lora.get("control drop"), lora.get("perplexity change")
    if None not in (lcd, lpc, cd, pc):
        c = _cmp(lcd, cd, 1.0 / nc)
        p = _cmp(lpc, pc, ppl_tol)
        full_forgot = cd > 1.0 / nc + 1e-9 or pc > ppl_tol
        if not full_forgot and c >= 0 and p >= 0 and (c, p) != (0, 0) and not (lcd > 1.0 / nc or lpc > ppl_tol):
            c = p = 0
        if c <= 0 and p <= 0 and (c, p) != (0, 0):
            v, why = "holds", "LoRA lost less on the control set and/or perplexity, and not more on the other"
        elif (c, p) == (0, 0):
            v = "depends"
            why = ("neither method forgot measurably at this training budget; the difference appears when full fine-tuning forgets" if not full_forgot
                   else "the two forgot about equally (within one control question and the perplexity tolerance)")
        elif c >= 0 and p >= 0:
            lr_l, lr_f = lora.get("learning_rate"), full.get("learning_rate")
            v, why = "does not hold", "LoRA forgot more than full fine-tuning here" + (f" (its learning rate is {lr_l / lr_f:.0f}× full fine-tuning's)" if lr_l and lr_f else "")
        else:
            v, why = "depends", "the two forgetting measures disagree on which method forgot more"
        add("lora_forgets_less", "LoRA forgets less (Biderman et al. 2024)", f"control drop {_pct(lcd)} vs {_pct(cd)}; perplexity change {100 * lpc:+.1f}% vs {100 * pc:+.1f}%", v, why)

    # --- RAG
    ra, ba = rag[acc], base[acc]
    ft_best = max((R[m][acc] for m in ("full", "lora") if R[m].get(acc) is not None), default=None)
    if ra is not None and ba is not None:
        if ft_best is not None and (ra >= ft_best or _tie(ra, ft_best, n)) and not _tie(ra, ba, n) and ra > ba:
            v, why = "holds", "with zero training examples and zero training seconds RAG is within one question of the best fine-tuned model or above it"
        elif ra > ba and not _tie(ra, ba, n):
            v, why = "depends", "RAG learned the facts without training, but the fine-tuned models answered more here"
        else:
            v, why = "does not hold", "RAG did not beat the closed-book base model by more than one question"
        add("rag_no_training", "RAG needs less data: no training, only documents", f"0 training examples, indexing {_secs(rag.get('setup s'))}: test MC {_pct(ra)} vs best fine-tuned {_pct(ft_best)} and base {_pct(ba)} (n={n})", v, why,
            cond + f"; knowledge base of {comp.context.get('rag_entities') or 'all'} entities")

    before, after = comp.extra.get("swap_before") or {}, comp.extra.get("swap_after") or {}
    if before and after:
        gain = after.get("contains", 0) - before.get("contains", 0)
        ns = max(1, comp.extra.get("swap_n") or 1)
        swap_s, retrain = comp.extra.get("swap_seconds"), lora.get("train s")
        cheaper = swap_s is not None and retrain is not None and swap_s < retrain
        worked = gain > 1.0 / ns + 1e-9
        v = "holds" if worked and cheaper else "depends" if worked else "does not hold"
        why = ("the swapped knowledge base answers the revised facts" if worked else "the answers did not follow the swapped documents (by more than one question)") + (
            f"; re-indexing took {swap_s / retrain:.1%} of LoRA's retraining time" if cheaper and swap_s else "; re-indexing was not cheaper than retraining here" if not cheaper else "")
        stale_ft = lora.get("revised stale")
        measured = f"revised facts answered {_pct(before.get('contains'))} → {_pct(after.get('contains'))} after a {_secs(swap_s)} swap (n={ns}); retraining LoRA {_secs(retrain)}"
        if stale_ft is not None:
            measured += f"; closed-book LoRA still states the old value in {_pct(stale_ft)} of its answers"
        add("rag_swap", "Swap the knowledge base without retraining", measured, v, why)

    hit, rc, bc = comp.extra.get("answered_hit_rate"), comp.extra.get("rag_contains"), comp.extra.get("base_contains")
    if hit is not None and rc is not None and bc is not None:
        fewer_wrong = (1 - rc) < (1 - bc) and not _tie(rc, bc, n)
        grounded = hit >= ground_share
        if fewer_wrong and grounded:
            v, why = "holds", "fewer wrong answers than closed book, and the cited sources contain the gold document"
        elif fewer_wrong or grounded:
            v = "depends"
            why = ("answers improved but the cited sources often miss the gold document" if fewer_wrong else
                   "the right document is cited, but the small model still answers wrongly from it: grounding depends on the reader model")
        else:
            v, why = "does not hold", "no fewer wrong answers, and the sources often miss the gold document"
        add("rag_grounded", "RAG reduces hallucination: answers are grounded, with sources", f"wrong answers (gold not contained) {_pct(1 - bc)} closed book → {_pct(1 - rc)} with RAG; gold document among the cited sources for {_pct(hit)} of questions", v, why)

    rl, bl = rag.get("p50 latency ms"), closed_book_latency(comp)
    if rl is not None and bl is not None:
        extra = rl - bl
        ret = comp.extra.get("retrieval_ms_p50") or 0.0
        v = "holds" if rl > bl * (1 + speed_margin) else "does not hold" if rl < bl * (1 - speed_margin) else "depends"
        add("rag_latency", "RAG adds latency to every answer", f"p50 {rl:.0f} ms with RAG vs {bl:.0f} ms closed book (median of the closed-book models; {extra:+.0f} ms, of which retrieval ≈ {ret:.0f} ms, the rest is the longer prompt)", v,
            "retrieval plus a longer prompt cost time on every question" if v == "holds" else f"the difference is within {speed_margin:.0%}, the noise of batched CPU timing")

    # --- hybrid
    hybrids = {m: R[m][acc] for m in HYBRID_METHODS if m in R and R[m].get(acc) is not None}
    singles = {m: R[m][acc] for m in ("full", "lora", "rag") if R[m].get(acc) is not None}
    if hybrids and singles:
        hb = max(hybrids, key=hybrids.get)
        sb = max(singles, key=singles.get)
        h, s = hybrids[hb], singles[sb]
        if h > s and not _tie(h, s, n):
            v, why = "holds", f"{comp.label(hb)} beats every single method by more than one question"
        elif _tie(h, s, n):
            v, why = "depends", f"{comp.label(hb)} ties with {comp.label(sb)} (within one question): no measurable gain at this size"
        else:
            v, why = "does not hold", f"{comp.label(sb)} alone answers more than any hybrid"
        if "naive_hybrid" in hybrids and "raft_hybrid" in hybrids and not _tie(hybrids["naive_hybrid"], hybrids["raft_hybrid"], n):
            why += f"; how the adapter is trained matters: naive {_pct(hybrids['naive_hybrid'])} vs RAFT {_pct(hybrids['raft_hybrid'])}"
        add("hybrid_best", "Combine both (fine-tuning + RAG) for the best results", "test MC " + ", ".join(f"{comp.label(m)} {_pct(x)}" for m, x in {**singles, **hybrids}.items()) + f" (n={n})", v, why)

    kb = comp.extra.get("revised_kb") or {}
    if "naive_hybrid" in kb and "rag" in kb and kb["rag"].get("acc") is not None and kb["naive_hybrid"].get("acc") is not None:
        nh, rg = kb["naive_hybrid"], kb["rag"]
        nr = max(1, rg["n"])
        worse = nh["acc"] < rg["acc"] and not _tie(nh["acc"], rg["acc"], nr)
        staler = (nh["stale"] or 0) > (rg["stale"] or 0) and not _tie(nh["stale"] or 0, rg["stale"] or 0, nr)
        rag_follows = rg["acc"] > 1.0 / nr + 1e-9
        if worse and staler:
            v, why = "does not hold", "the adapter's trained (old) facts override the swapped documents"
        elif worse or staler:
            v, why = "depends", "the adapter's trained (old) facts override the swapped documents for some questions"
        elif rag_follows:
            v, why = "holds", "after re-indexing the naive hybrid answers the revised facts as well as RAG does (within one question)"
        else:
            v, why = "depends", "RAG itself did not answer the revised facts here, so the hybrid's update cannot be judged"
        measured = (f"after re-indexing ({_secs(R['naive_hybrid'].get('update s'))}): revised facts answered {_pct(nh['acc'])} {comp.label('naive_hybrid')} vs {_pct(rg['acc'])} RAG; "
                    f"old value stated {_pct(nh['stale'])} vs {_pct(rg['stale'])} (n={nr})")
        if "raft_hybrid" in kb:
            measured += f"; RAFT hybrid {_pct(kb['raft_hybrid']['acc'])}, old value {_pct(kb['raft_hybrid']['stale'])}"
        add("hybrid_update", "A hybrid is updated by re-indexing alone (no retraining)", measured, v, why)
    return out


def claims_frame(rows: Sequence[dict]):
    """The claims as a DataFrame (claim, measured, verdict, why, condition)."""
    import pandas as pd

    return pd.DataFrame([{k: r[k] for k in ("claim", "measured", "verdict", "why", "condition")} for r in rows])


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(rows: Sequence[dict]) -> str:
    """The claims as a Markdown table with links to the sections that measured them (renders in HTML)."""
    icon = {"holds": "✅ holds", "does not hold": "❌ does not hold", "depends": "⚖️ depends"}
    lines = ["| claim | measured here | verdict | why / condition | measured in |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {_md_cell(r['claim'])} | {_md_cell(r['measured'])} | **{icon.get(r['verdict'], r['verdict'])}** | {_md_cell(r['why'])}. *At {_md_cell(r['condition'])}.* | {r['sections']} |")
    return "\n".join(lines)


def verdict_counts(rows: Sequence[dict]) -> dict[str, int]:
    """How many claims hold, do not hold, depend."""
    out = {"holds": 0, "does not hold": 0, "depends": 0}
    for r in rows:
        out[r["verdict"]] = out.get(r["verdict"], 0) + 1
    return out


# --------------------------------------------------------------------------- decision guide

SCALE_PARAGRAPH = (
    "**Scale.** Everything above was measured on a 135M-parameter model, a handful of invented facts and a "
    "few dozen optimizer steps on a CPU, with tens of questions (one question moves an accuracy by several "
    "points). At larger scale expect: fine-tuning to learn facts more reliably (bigger models memorize from "
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
    verdicts = {r["id"]: r["verdict"] for r in claim_rows}
    best = max((m for m in R if R[m].get(acc) is not None), key=lambda m: R[m][acc])
    n = max(1, comp.context.get("n_test") or 1)
    tied = [comp.label(m) for m in R if R[m].get(acc) is not None and _tie(R[m][acc], R[best][acc], n)]
    cheapest_good = pareto_front({comp.label(m): (R[m].get("setup s"), R[m].get(acc)) for m in R})
    lines = [
        f"*Measured at: {comp.condition()}; RAG over a knowledge base of {comp.context.get('rag_entities') or 'all'} entities, top_k={comp.context.get('top_k')}.*",
        "",
        f"- **Most accurate here: {', '.join(tied)}** ({_pct(R[best][acc])} best multiple-choice accuracy on the held-out questions; within one question counts as a tie; base model {_pct(R['base'][acc])}).",
        f"- **Best accuracy for the set-up cost** (Pareto front, cheapest first): {', '.join(cheapest_good)}.",
    ]
    rag, lora, full = R["rag"], R["lora"], R["full"]
    lines.append(
        f"- **Facts that change → RAG (or a hybrid).** Updating RAG took {_secs(rag.get('update s'))} of re-indexing; updating a fine-tuned model means "
        f"retraining ({_secs(lora.get('update s'))} for {comp.label('lora')}, {_secs(full.get('update s'))} for full fine-tuning). "
        f"After the swap RAG answered {_pct((comp.extra.get('swap_after') or {}).get('contains'))} of the revised facts (before: {_pct((comp.extra.get('swap_before') or {}).get('contains'))}, n={comp.extra.get('swap_n')}); "
        f"without retraining, the fine-tuned models still state the old value in {_pct(lora.get('revised stale'))} (LoRA) and {_pct(full.get('revised stale'))} (full) of their answers (n={comp.context.get('n_revised')})."
    )
    lines.append(
        f"- **Answers that must cite sources → RAG.** The gold document was among the cited sources for {_pct(comp.extra.get('answered_hit_rate'))} of questions; "
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
        parts = ", ".join(f"{comp.label(m)} {_pct(v.get(acc))} (after a knowledge-base update: revised facts {_pct((kb.get(m) or {}).get('acc'))}, old value {_pct((kb.get(m) or {}).get('stale'))})" for m, v in h.items())
        nk, rk = kb.get("naive_hybrid") or {}, kb.get("raft_hybrid") or {}
        note = ""
        if nk.get("stale") is not None and rk.get("stale") is not None:
            nr = max(1, nk.get("n") or 1)
            if nk["stale"] > rk["stale"] and not _tie(nk["stale"], rk["stale"], nr):
                note = " The closed-book adapter keeps its trained facts after the knowledge base changes; the RAFT adapter, trained to *read* the passages, repeats them less."
            elif (nk.get("acc") or 0) < (rk.get("acc") or 0) and not _tie(nk.get("acc") or 0, rk.get("acc") or 0, nr):
                note = " After the update the RAFT adapter, trained to *read* the passages, follows the new documents more often than the closed-book adapter."
            else:
                note = " After the update the two adapters followed the new documents about equally (within one question)."
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
            f"- **{h['method']}**: test MC {_pct(h['test MC acc'])}, EM {_pct(h['test EM'])}, revised facts {_pct(h['revised acc'])}, "
            f"control drop {_pct(h['control drop'])}, set-up {_secs(h['setup s'])}, update {_secs(h['update s'])}, p50 {h['p50 latency ms'] or 0:.0f} ms"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------- charts (builders live in plots.py)


def colors(comp: Comparison) -> dict[str, str]:
    """Method label → colour (:data:`lorag_nb.plots.METHOD_COLORS`, the same in every notebook)."""
    from .plots import METHOD_COLORS

    return {comp.label(m): METHOD_COLORS[COLORS[m]] for m in comp.methods}


def pareto_chart(comp: Comparison, accuracy: str = "test MC acc", cost: str = "setup s"):
    """Accuracy (``accuracy`` column) against set-up cost (``cost`` column), Pareto front marked (plotly figure)."""
    from .plots import pareto_figure

    points = {comp.label(m): (comp.rows[m].get(cost), comp.rows[m].get(accuracy)) for m in comp.methods}
    chance = 0.25 if accuracy == "test MC acc" else None
    return pareto_figure(points, pareto_front(points), colors(comp), xaxis=f"{cost}: {COLUMN_HELP.get(cost, '')}"[:90], yaxis=accuracy, chance=chance)


def forgetting_chart(comp: Comparison, learned: str = "test MC acc"):
    """New-knowledge accuracy against forgetting (control drop, perplexity change), one point per method."""
    from .plots import learning_forgetting_figure

    pts = {comp.label(m): {"learned": comp.rows[m].get(learned), "control_drop": comp.rows[m].get("control drop"), "perplexity_change": comp.rows[m].get("perplexity change")} for m in comp.methods}
    return learning_forgetting_figure(pts, colors(comp))


#: Metrics the bars chart shows by default.
DEFAULT_BAR_METRICS = ("test MC acc", "test EM", "revised acc", "control drop", "setup s", "p50 latency ms")


def bars_chart(comp: Comparison, metrics: Sequence[str] = DEFAULT_BAR_METRICS, methods: Sequence[str] | None = None):
    """Grouped bars: one panel per metric in ``metrics`` (columns of :data:`COLUMNS`), one bar per method.

    Raises:
        ValueError: an unknown metric or method.
    """
    from .plots import metric_bars_figure

    bad = [m for m in metrics if m not in COLUMNS]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; valid: {list(COLUMNS)}")
    methods = list(methods) if methods is not None else comp.methods
    bad = [m for m in methods if m not in comp.rows]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; valid: {comp.methods}")
    values = {metric: {comp.label(m): comp.rows[m].get(metric) for m in methods} for metric in metrics}
    return metric_bars_figure(values, colors(comp))


# --------------------------------------------------------------------------- notebook and index helpers


def columns_markdown(columns: Sequence[str] = COLUMNS) -> str:
    """Markdown list explaining each column of the table (:data:`COLUMN_HELP`)."""
    return "\n".join(f"- **{c}**: {COLUMN_HELP[c]}" for c in columns)


#: Key of the output metadata that carries the headline numbers of an executed notebook (read by
#: :func:`lorag_nb.cli.write_index`).
HEADLINE_KEY = "lorag_nb_headline"


def display_headline(comp: Comparison) -> None:
    """Show :func:`headline_markdown` and attach the numbers to the output's metadata
    (``metadata[HEADLINE_KEY]`` = :meth:`Comparison.headline` rows), where ``lorag-nb run`` finds them
    for ``index.html``."""
    from IPython.display import Markdown, display

    from .config import json_ready

    display(Markdown(headline_markdown(comp)), metadata={HEADLINE_KEY: json_ready({"condition": comp.condition(), "rows": comp.headline()})})


def headline_from_notebook(path: str | Path) -> dict | None:
    """The headline numbers an executed notebook attached with :func:`display_headline`, or None
    (no such output, unreadable file)."""
    import json

    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = (out.get("metadata") or {}).get(HEADLINE_KEY)
            if isinstance(data, dict) and isinstance(data.get("rows"), list):
                return data
    return None
