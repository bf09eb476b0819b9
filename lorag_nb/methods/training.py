"""One fine-tuning entry point for every method: full fine-tuning, LoRA, DoRA, and the hybrid (RAFT) adapter.

:func:`train` (in :mod:`lorag_nb.methods.trainer`, re-exported here with every public name of that
module) builds the training examples, the model (a copy of the base for full fine-tuning, a
fresh PEFT wrap for LoRA: :func:`lorag_nb.methods.adapters.wrap`) and runs the Hugging Face
``transformers.Trainer`` — no hand-written loop. Full fine-tuning and LoRA share every line except
the model wrapper. :func:`run_training` adds the results store (a rerun or a widget moved back reads
the stored result), the standard measurements (:func:`lorag_nb.methods.measure.measure_model`) and
forgetting against the base model.

This module holds the stored runs and what is built on them: the evaluation defaults notebooks share
(:func:`default_eval`), :func:`run_training`, :func:`find_training`, :func:`load_trained`,
:func:`stale_rate`, seeds and sweeps (:func:`run_seeds`, :func:`sweep`), the interleaved speed and
memory measurement (:func:`interleaved_speed`) and the learning-vs-forgetting frontier
(:func:`frontier_run`). The training-example formats and the label masking are described in
:mod:`lorag_nb.methods.trainer`.
"""
from __future__ import annotations

import copy
import gc
import shutil
import time
from pathlib import Path
from typing import Sequence

from lorag_nb.core.config import (
    BaselineSettings,
    EvalSettings,
    LoraSettings,
    TrainingSettings,
    seed_everything,
)
from lorag_nb.core.fmt import cap
from lorag_nb.core.store import settings_key
from lorag_nb.data.knowledge import active_knowledge, load_knowledge, perplexity_texts
from lorag_nb.data.prompts import make_prompt
from lorag_nb.methods import rag
from lorag_nb.methods.adapters import load_adapter, wrap
from lorag_nb.methods.evaluation import (
    evaluate_qa,
    forgetting,
    gold_contained,
    multiple_choice_scores,
    perplexity,
)
from lorag_nb.methods.examples import (  # noqa: F401  (training.qa_example etc. stay importable)
    IGNORE_INDEX,
    document_example,
    qa_example,
    select_qa,
)
from lorag_nb.methods.measure import measure_model, run_baseline
from lorag_nb.methods.models import load_model
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.trainer import (  # noqa: F401  (the Trainer path, re-exported: training.train etc. stay importable)
    DIVERGENCE_PATIENCE,
    SCRATCH_PREFIX,
    UNIFORM_TOLERANCE,
    PeakMemory,
    TrainingDivergedError,
    TrainOutput,
    build_examples,
    divergence_reason,
    final_loss,
    make_collator,
    per_device_batch,
    process_world,
    torch_threads,
    train,
)

# --------------------------------------------------------------------------- shared defaults

#: Evaluation used by notebooks 01 and 02 (and the rank explorer): same keys → shared stored results.
#: None = every test question of the taught entities (3 wordings per fact: 10 entities → 60 facts, 180 questions).
DEFAULT_MAX_QUESTIONS = None
#: Headline runs (full fine-tuning, LoRA at the chosen rank, RAFT) are trained with each of these seeds;
#: verdicts use the per-fact mean over seeds and print the seed spread (lorag_nb.core.claims).
DEFAULT_SEEDS = (0, 1)
#: Closed-book answers' budget (``max_new_tokens``) is not here: :func:`closed_book_budget` chooses it per knowledge set and model.
DEFAULT_EVAL = dict(batch_size=EvalSettings.batch_size, perplexity_texts=4, perplexity_tokens=256)


def closed_book_budget(model_name: str = "embedded", model=None, tokenizer=None) -> tuple[int, str]:
    """The closed-book answer budget (``max_new_tokens``) for the active knowledge set (the built-in world or a reader's
    folder) and model, and where it came from.

    Chosen on the knowledge set's dev questions (training questions fill up to 40), asked without a document by the
    model ``model_name`` (:func:`lorag_nb.methods.rag.answer_budget` with ``closed_book=True``: the smallest of 8…96
    tokens that cuts off at most 5% of the answers; stored in the results store, so every notebook and every slice of
    the set picks the same). Why: a fixed 16 tokens cut 133 of the base model's 180 closed-book test answers on the
    built-in world mid-answer (78 at 24; measured 2026-12-07) and every closed-book answer on a gallery folder (it
    restates the question first), and cut answers score as wrong. On the built-in world the choice is 48 tokens for the
    embedded model (40 dev questions; 2026-12-07, fp32 and bf16 alike). ``model``/``tokenizer``: a loaded
    ``model_name`` to reuse; loaded once (:data:`~lorag_nb.methods.runtime.RUNTIME`) when the choice is not stored yet.

    Returns:
        ``(tokens, why)``.
    """
    return rag.answer_budget(0, None, model_name, model, tokenizer, batch_size=EvalSettings.batch_size, closed_book=True)


def oracle_budget(model_name: str = "embedded", model=None, tokenizer=None) -> tuple[int, str]:
    """The budget of answers given the gold document (the baseline's oracle arm, ``EvalSettings.oracle_max_new_tokens``),
    chosen like :func:`closed_book_budget` but with each dev question's gold document in the prompt
    (:func:`lorag_nb.methods.rag.answer_budget` without ``settings``; stored, so every notebook picks the same).

    Returns:
        ``(tokens, why)``.
    """
    return rag.answer_budget(0, None, model_name, model, tokenizer, batch_size=EvalSettings.batch_size)


def default_eval(n_entities: int | None, max_questions: int | None = DEFAULT_MAX_QUESTIONS, model_name: str = "embedded", **overrides) -> EvalSettings:
    """The evaluation settings notebooks 01 and 02 share, for a world of ``n_entities`` entities.

    Caps every split at ``max_questions`` questions (the first ones, in entity order), answers closed book with
    :func:`closed_book_budget` tokens (chosen on the knowledge set's dev split by ``model_name``; the oracle arm with
    :func:`oracle_budget` tokens), and measures
    perplexity on 4 passages of 256 tokens — sized for a 2-core CPU. ``max_new_tokens`` in ``overrides`` wins.
    """
    kw = dict(DEFAULT_EVAL, n_entities=n_entities, max_questions=max_questions)
    if "max_new_tokens" not in overrides:
        kw["max_new_tokens"] = closed_book_budget(model_name)[0]
    if "oracle_max_new_tokens" not in overrides:
        kw["oracle_max_new_tokens"] = oracle_budget(model_name)[0]
    kw.update(overrides)
    return EvalSettings(**kw)


# --------------------------------------------------------------------------- stored runs

CHECKPOINT_DIRNAME = "checkpoint"


def _canonical(value):
    """Integral floats become ints (lora_alpha=16.0 and 16, epochs=2.0 and 2 are the same run)."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _store_settings(settings: TrainingSettings, eval_settings: EvalSettings, oracle: bool = False) -> dict:
    return _canonical({"training": settings.to_dict(), "eval": eval_settings.to_dict(), "oracle": bool(oracle)})


def _resolve_eval(settings: TrainingSettings, eval_settings: EvalSettings | None) -> EvalSettings:
    return eval_settings if eval_settings is not None else default_eval(settings.n_entities, model_name=settings.model)


def training_key(settings: TrainingSettings, eval_settings: EvalSettings | None = None, oracle: bool = False) -> str:
    """The results-store key of ``run_training(settings, eval_settings=..., oracle=...)``."""

    return settings_key("train", _store_settings(settings, _resolve_eval(settings, eval_settings), oracle))


def find_training(settings: TrainingSettings, store=None, eval_settings: EvalSettings | None = None, oracle: bool = False):
    """The stored :class:`~lorag_nb.core.store.Result` of this run, or None (never trains; < 10 ms)."""

    store = RUNTIME.use_store(store)
    return store.get("train", training_key(settings, eval_settings, oracle))


def run_training(settings: TrainingSettings, store=None, eval_settings: EvalSettings | None = None, force: bool = False, progress: bool = False, keep_checkpoint: bool = False, model=None, tokenizer=None, callbacks: Sequence | None = None, oracle: bool = False,
                 data_collator=None):
    """Train, measure and store one run; a stored run with the same settings is returned without training.

    Args:
        settings: the run (full fine-tuning if ``settings.lora`` is None).
        store: :class:`~lorag_nb.core.store.ResultsStore` (default: ``$LORAG_NB_RESULTS`` or the cache).
        eval_settings: what to measure (default :func:`default_eval` for ``settings.n_entities``). The
            baseline (base model, same evaluation) comes from the store or is measured once and stored.
        force: retrain even if stored.
        progress: tqdm bars.
        keep_checkpoint: full fine-tuning only — keep the fine-tuned model (≈540 MB) in the store's
            artifact folder so :func:`load_trained` can reload it. By default only its size is
            recorded. LoRA adapters (a few MB) are always kept. A stored run without a kept checkpoint
            is retrained when ``keep_checkpoint=True``.
        model, tokenizer: a loaded base model to reuse (must be ``settings.model``, fp32); loaded if None.
        callbacks: extra ``TrainerCallback`` objects.
        oracle: also measure the trained model with the gold document in its prompt (does fine-tuning
            change how it reads a context? used by the hybrid notebook). Off by default: it doubles
            the evaluation time. Part of the stored key.
        data_collator: passed to :func:`train` (``lorag-nb train --log-batches`` records the batches).

    The trained model is measured as deployed: a LoRA/DoRA adapter is merged into W0 first
    (``merge_and_unload``; same logits within 1e-4, see :func:`lorag_nb.methods.adapters.merge_check`), after
    the adapter has been saved. Unmerged DoRA recomputes weight norms at every generated token and
    would make evaluation several times slower.

    Returns:
        :class:`~lorag_nb.core.store.Result` of kind ``"train"``. ``metrics``: ``method``,
        ``training`` (:meth:`TrainOutput.summary`: loss_first/loss_last/loss_last_epoch, seconds, tokens_per_second,
        peak_memory_bytes, trainable_params, total_params, artifact_bytes, …), the measurements of
        :func:`~lorag_nb.methods.measure.measure_model` (``test``, ``oracle``, ``revised``,
        ``control_accuracy``, ``perplexity`` …), ``revised_stale`` (fraction of revised-facts questions
        answered with the OLD value: knowledge frozen by training), ``baseline`` (the same measurements of the base
        model: test/revised/oracle metrics, control_accuracy, perplexity), ``forgetting``
        (``control_drop``, ``perplexity_change``; :func:`lorag_nb.methods.evaluation.forgetting`).
        ``details``: ``loss_history``, per-question ``rows``, ``artifact`` (folder name or None).

    Under ``torchrun`` / ``accelerate launch --num_processes N`` (data parallel, :func:`per_device_batch`)
    every process calls this; process 0 trains its slice, measures and stores as above, the others
    train their slice and return None. The effective batch is ``settings.batch_size`` whatever N, so
    the key (and the result) is the one a single process makes; ``metrics["training"]`` records
    ``processes`` and ``per_device_batch_size``.

    Raises:
        TrainingDivergedError: the run diverged (:func:`train`); nothing is stored and no artifact is left behind.
        ValueError: ``batch_size`` not a multiple of the number of processes.

    A run killed mid-way (even by SIGKILL) stores no record; an artifact folder it left without a
    record is deleted before the rerun trains.
    """

    store = RUNTIME.use_store(store)
    ev = _resolve_eval(settings, eval_settings)
    store_settings = _store_settings(settings, ev, oracle)
    rank, world_size = process_world()
    if world_size > 1 and rank != 0:  # data parallel: every process trains its slice; only process 0 measures and stores
        hit = None if force else find_training(settings, store, ev, oracle)
        if hit is not None:  # process 0 finds the same record and trains nothing either
            return hit
        if model is None:
            model, tokenizer = load_model(settings.model, dtype="float32")
        train(settings, model=model, tokenizer=tokenizer, callbacks=callbacks, data_collator=data_collator)
        return None
    if keep_checkpoint and settings.lora is None and not force:
        hit = find_training(settings, store, ev, oracle)
        if hit is not None and not (store.artifact_dir("train", hit.key) / CHECKPOINT_DIRNAME).is_dir():
            force = True

    def compute(artifact_dir: Path):
        nonlocal model, tokenizer
        if model is None:
            model, tokenizer = load_model(settings.model, dtype="float32")
        ks = load_knowledge(n_entities=settings.n_entities)
        ks_eval = ks if ev.n_entities == settings.n_entities else load_knowledge(n_entities=ev.n_entities)
        if settings.lora is not None:
            out_dir, artifact = artifact_dir / ADAPTER_DIR, ADAPTER_DIR
        elif keep_checkpoint:
            out_dir, artifact = artifact_dir / CHECKPOINT_DIRNAME, CHECKPOINT_DIRNAME
        else:
            out_dir, artifact = None, None
        if artifact_dir.exists() and store.get("train", artifact_dir.name.split("-", 1)[1]) is None:
            shutil.rmtree(artifact_dir)  # left by an interrupted run: no record owns it
        created = not artifact_dir.exists()
        try:
            out = train(settings, model=model, tokenizer=tokenizer, output_dir=out_dir, progress=progress, callbacks=callbacks, ks=ks, data_collator=data_collator)
            # the base model is untouched by train(); measured after training so a diverged run stores nothing
            baseline = run_baseline(BaselineSettings(model=settings.model, eval=ev), store=store, model=model, tokenizer=tokenizer)
            seed_everything(settings.seed)
            measured = out.model.merge_and_unload() if settings.lora is not None else out.model
            measured.eval()
            metrics, rows = measure_model(measured, out.tokenizer, ks_eval, ev, oracle=oracle)
            del measured
        except BaseException:
            if created:
                shutil.rmtree(artifact_dir, ignore_errors=True)
            raise
        base = baseline.metrics
        if "revised" in rows:
            metrics["revised_stale"] = stale_rate(rows["revised"], ks_eval.revised_test_qa)
        metrics = {
            "method": settings.method,
            "training": out.summary(),
            **metrics,
            "baseline": {k: base[k] for k in ("test", "oracle", "revised", "control_accuracy", "perplexity") if k in base},
            "baseline_key": baseline.key,
            "forgetting": forgetting(base, metrics),
        }
        details = {"loss_history": out.loss_history, "rows": rows, "artifact": artifact}
        del out
        gc.collect()
        return metrics, details

    return store.cached("train", store_settings, compute, force=force)


ADAPTER_DIR = "adapter"


def settings_of(result) -> tuple[TrainingSettings, EvalSettings]:
    """The ``(TrainingSettings, EvalSettings)`` a stored training result was made with."""
    tr = dict(result.settings["training"])
    if tr.get("lora") is not None:
        tr["lora"] = LoraSettings(**tr["lora"])
    return TrainingSettings(**tr), EvalSettings(**result.settings["eval"])


def load_trained(result, store=None, device: str | None = None):
    """Reload the model a stored training run produced: ``(model, tokenizer)``, eval mode.

    LoRA: the base model plus the saved adapter (``PeftModel.from_pretrained``); full fine-tuning:
    the kept checkpoint.

    Raises:
        FileNotFoundError: the artifact is missing (full fine-tuning run without ``keep_checkpoint``,
            or a store folder that was cleaned); the message says how to recreate it.
    """

    store = RUNTIME.use_store(store)
    settings, _ = settings_of(result)
    folder = store.artifact_dir(result.kind, result.key)
    if settings.lora is not None:
        adapter = folder / ADAPTER_DIR
        if not (adapter / "adapter_config.json").is_file():
            raise FileNotFoundError(f"adapter of run {result.key} not found in {adapter}; rerun run_training(settings, force=True)")
        base, tok = load_model(settings.model, device=device)
        return load_adapter(base, adapter, copy_base=False), tok
    ckpt = folder / CHECKPOINT_DIRNAME
    if not (ckpt / "config.json").is_file():
        raise FileNotFoundError(
            f"full fine-tuning run {result.key} kept no checkpoint ({ckpt} missing); "
            "rerun run_training(settings, keep_checkpoint=True) to keep it (≈540 MB)"
        )
    return load_model(str(ckpt), device=device)


# --------------------------------------------------------------------------- tables and findings for notebooks


def stale_rate(rows: Sequence[dict], revised_qas: Sequence) -> float | None:
    """Fraction of revised-facts questions whose answer contains the OLD (pre-revision) value.

    ``rows`` are :func:`~lorag_nb.methods.evaluation.evaluate_qa` rows in the order of ``revised_qas``
    (as :func:`~lorag_nb.methods.measure.measure_model` makes them). None when there are none.
    """

    by_id = {q.id: q for q in revised_qas}
    hits = [gold_contained(r["prediction"], by_id[r["id"]].old_answer) for r in rows if r["id"] in by_id and by_id[r["id"]].old_answer]
    return sum(hits) / len(hits) if hits else None


def run_seeds(settings: TrainingSettings, seeds: Sequence[int] = DEFAULT_SEEDS, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, progress: bool = False) -> dict:
    """:func:`run_training` once per seed (``settings.replace(seed=s)``): ``{seed: Result}``.

    Each seed changes the data order, the LoRA initialisation and dropout, so the spread of a metric
    across seeds is the noise floor of retraining (shown beside every interval by :mod:`lorag_nb.core.claims`).
    Stored runs are read, not retrained.

    Raises:
        ValueError: ``seeds`` is empty or repeats a seed.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints; got {list(seeds)}")
    return sweep({s: settings.replace(seed=s) for s in seeds}, store=store, eval_settings=eval_settings, model=model, tokenizer=tokenizer, progress=progress)


def training_state_bytes(model) -> int:
    """Bytes of what training adds per trainable parameter: its gradient and AdamW's two moment
    buffers (3 × numel × element size; Loshchilov & Hutter 2019 keep ``exp_avg`` and ``exp_avg_sq``).
    Activations are not counted. Exact for the model given (no sampling)."""
    return sum(3 * p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def interleaved_speed(full: TrainingSettings, lora: TrainingSettings, store=None, model=None, tokenizer=None, reps: int = 5, steps: int = 2, force: bool = False):
    """Seconds per training step of full fine-tuning and LoRA, measured **interleaved** in one process.

    Both models (a copy of the base for full fine-tuning, a fresh PEFT wrap of another copy for LoRA)
    take the same ``steps`` batches of ``full``'s training examples with ``torch.optim.AdamW`` (the
    Trainer's optimizer), after one untimed warm-up step each; then ``reps`` repetitions alternate
    A, B, B, A, … so both see the same machine load. Each repetition gives one ratio LoRA ÷ full of
    seconds per step; :func:`lorag_nb.core.claims.ratio_estimate` turns them into a median with its spread.
    Memory: :func:`training_state_bytes` of each (exact). Cached in the results store (kind ``"speed"``).

    Returns:
        Result with metrics ``full_s_per_step``, ``lora_s_per_step`` (lists, one per repetition, s),
        ``ratios`` (LoRA ÷ full per repetition), ``full_state_bytes``, ``lora_state_bytes``,
        ``batch_size``, ``steps``, ``threads``, ``device``, ``loadavg`` (1-minute load at start).

    Raises:
        ValueError: ``lora`` has no LoRA settings, or ``reps`` < 2.
    """
    import os

    import torch


    if lora.lora is None or full.lora is not None:
        raise ValueError("interleaved_speed needs a full fine-tuning settings (lora=None) and a LoRA settings")
    if reps < 2 or steps < 1:
        raise ValueError(f"reps must be ≥ 2 and steps ≥ 1; got reps={reps}, steps={steps}")
    store = RUNTIME.use_store(store)
    key = {"full": full.to_dict(), "lora": lora.to_dict(), "reps": reps, "steps": steps, "threads": torch_threads()}

    def compute(_artifacts: Path):
        nonlocal model, tokenizer
        if model is None:
            model, tokenizer = load_model(full.model, dtype="float32")
        seed_everything(full.seed)
        examples = build_examples(tokenizer, load_knowledge(n_entities=full.n_entities), full)
        collate = make_collator(tokenizer)
        if not examples:
            raise ValueError("interleaved_speed needs at least one training example; the knowledge set has none")
        bs = full.batch_size
        # a small folder has fewer examples than (steps + 1) batches: cycle through them (every batch stays full,
        # so the seconds per step are those of batch_size examples) and record that they repeat
        batches = [collate([examples[(i * bs + j) % len(examples)] for j in range(bs)]) for i in range(steps + 1)]
        device = next(model.parameters()).device
        models = {"full": copy.deepcopy(model), "lora": wrap(copy.deepcopy(model), lora.lora)}
        for p in models["full"].parameters():
            p.requires_grad_(True)
        opts = {k: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-7) for k, m in models.items()}

        def step(name, batch):
            m, opt = models[name], opts[name]
            m.train()
            out = m(**{k: v.to(device) for k, v in batch.items()})
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        for name in models:  # warm-up (allocates optimizer state)
            step(name, batches[-1])
        times: dict[str, list[float]] = {"full": [], "lora": []}
        for rep in range(reps):
            for name in (("full", "lora") if rep % 2 == 0 else ("lora", "full")):
                t0 = time.perf_counter()
                for b in batches[:steps]:
                    step(name, b)
                times[name].append((time.perf_counter() - t0) / steps)
        state = {k: training_state_bytes(m) for k, m in models.items()}
        del models, opts
        gc.collect()
        try:
            load = os.getloadavg()[0]
        except OSError:  # pragma: no cover - not on Linux/macOS
            load = None
        metrics = {
            "full_s_per_step": times["full"], "lora_s_per_step": times["lora"],
            "ratios": [lo / fu for lo, fu in zip(times["lora"], times["full"])],
            "full_state_bytes": state["full"], "lora_state_bytes": state["lora"],
            "batch_size": bs, "steps": steps, "reps": reps, "threads": torch_threads(), "device": str(device), "loadavg": load,
            "examples": len(examples), "examples_repeated": len(examples) < (steps + 1) * bs,
        }
        return metrics, {}

    return store.cached("speed", key, compute, force=force)


def checkpoint_measure(model, tokenizer, ks, ev: EvalSettings) -> tuple[dict, dict]:
    """The cheap measurements of one training checkpoint (Biderman et al. 2024's learning and forgetting
    axes): held-out multiple-choice accuracy on the taught facts (``learned``), control-set accuracy by
    multiple-choice log-likelihood (``control_mc``) and by generated answers (``control_gen``, gold
    contained), and perplexity on Python's docs.

    Returns:
        ``(metrics, rows)``: fractions / perplexity, and per-question rows ``{"test": [{id, fact,
        mc_correct}], "control": [{id, mc_correct, contains}]}`` for intervals.
    """

    test = [q for q in cap(ks.test_qa, ev.max_questions) if q.options]
    scores = multiple_choice_scores(model, tokenizer, [make_prompt(tokenizer, q.question) for q in test], [q.options for q in test], batch_size=ev.batch_size)
    trows = [{"id": q.id, "fact": q.fact, "mc_correct": max(range(len(sc)), key=sc.__getitem__) == q.answer_index} for q, sc in zip(test, scores)]
    ctrl = evaluate_qa(model, tokenizer, cap(ks.control_qa, ev.max_questions), max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size, multiple_choice=True)
    crows = [{"id": r["id"], "mc_correct": r["mc_correct"], "contains": r["contains"]} for r in ctrl.rows]
    n_t, n_c = max(1, len(trows)), max(1, len(crows))
    metrics = {
        "learned": sum(r["mc_correct"] for r in trows) / n_t,
        "control_mc": sum(bool(r["mc_correct"]) for r in crows) / n_c,
        "control_gen": sum(r["contains"] for r in crows) / n_c,
        "perplexity": perplexity(model, tokenizer, perplexity_texts(n_texts=ev.perplexity_texts), max_tokens=ev.perplexity_tokens),
    }
    return metrics, {"test": trows, "control": crows}


def _checkpoint_callback(tokenizer, ks, ev: EvalSettings, n_checkpoints: int, out: list):
    from transformers import TrainerCallback

    class EvaluateCheckpoints(TrainerCallback):
        """Measures the model (:func:`checkpoint_measure`) before training and at ``n_checkpoints`` evenly spaced steps."""

        def __init__(self):
            self.at: set[int] = set()

        def _measure(self, model, step):
            import torch

            was_training = model.training
            model.eval()
            with torch.no_grad():
                m, rows = checkpoint_measure(model, tokenizer, ks, ev)
            if was_training:
                model.train()
            out.append({"step": int(step), **m, "rows": rows})

        def on_train_begin(self, args, state, control, model=None, **kw):
            total = max(1, state.max_steps)
            self.at = {max(1, round(total * i / n_checkpoints)) for i in range(1, n_checkpoints + 1)}
            self._measure(model, 0)

        def on_step_end(self, args, state, control, model=None, **kw):
            if state.global_step in self.at:
                self._measure(model, state.global_step)

    return EvaluateCheckpoints()


def frontier_run(settings: TrainingSettings, store=None, eval_settings: EvalSettings | None = None, checkpoints: int = 4, model=None, tokenizer=None, progress: bool = False, force: bool = False):
    """One training run measured **during** training: learning vs forgetting as a curve, not an end point.

    Biderman et al. (2024, *LoRA Learns Less and Forgets Less*) show that end points at different
    learning rates mislead; this trains ``settings`` with the one ``Trainer`` path (:func:`train`) and a
    callback that measures the model before training and at ``checkpoints`` evenly spaced steps
    (:func:`checkpoint_measure`). Cached in the results store (kind ``"frontier"``).

    Returns:
        Result with metrics ``points`` (``[{"step", "learned", "control_mc", "control_gen",
        "perplexity"}]``, step 0 = the base model), ``learning_rate``, ``method``, ``steps``; details
        ``rows`` (per checkpoint, the per-question rows).

    Raises:
        ValueError: ``checkpoints`` < 1.
        TrainingDivergedError: the loss became NaN or infinite.
    """

    if not isinstance(checkpoints, int) or checkpoints < 1:
        raise ValueError(f"checkpoints must be an int ≥ 1; got {checkpoints!r}")
    store = RUNTIME.use_store(store)
    ev = _resolve_eval(settings, eval_settings)
    key = {"training": _canonical(settings.to_dict()), "eval": ev.to_dict(), "checkpoints": checkpoints}

    def compute(_artifacts: Path):
        nonlocal model, tokenizer
        if model is None:
            model, tokenizer = load_model(settings.model, dtype="float32")
        ks = load_knowledge(n_entities=settings.n_entities)
        points: list[dict] = []
        cb = _checkpoint_callback(tokenizer, ks, ev, checkpoints, points)
        out = train(settings, model=model, tokenizer=tokenizer, progress=progress, callbacks=[cb], ks=ks)
        steps = out.steps
        del out
        gc.collect()
        rows = [p.pop("rows") for p in points]
        return {"points": points, "learning_rate": settings.learning_rate, "method": settings.method, "steps": steps}, {"rows": rows}

    return store.cached("frontier", key, compute, force=force)


def sweep(runs: dict, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, progress: bool = False) -> dict:
    """:func:`run_training` for each ``label → TrainingSettings`` (stored runs are read, not retrained).

    Returns ``label → Result`` in the same order. One base model is loaded once and reused.
    """

    out = {}
    for label, settings in runs.items():
        if model is None and find_training(settings, store, eval_settings) is None:
            model, tokenizer = load_model(settings.model, dtype="float32")
        out[label] = run_training(settings, store=store, eval_settings=eval_settings, model=model, tokenizer=tokenizer, progress=progress)
    return out
