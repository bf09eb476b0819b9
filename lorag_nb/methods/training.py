"""One fine-tuning entry point for every method: full fine-tuning, LoRA, DoRA, and the hybrid (RAFT) adapter.

:func:`train` builds the training examples, the model (a copy of the base for full fine-tuning, a
fresh PEFT wrap for LoRA: :func:`lorag_nb.methods.adapters.wrap`) and runs the Hugging Face
``transformers.Trainer`` — no hand-written loop. Full fine-tuning and LoRA share every line except
the model wrapper. :func:`run_training` adds the results store (a rerun or a widget moved back reads
the stored result), the standard measurements (:func:`lorag_nb.methods.measure.measure_model`) and
forgetting against the base model.

Training examples (the prompts are those of :mod:`lorag_nb.data.prompts`, so train and test prompts match):

- ``"qa"`` (instruction tuning): ``make_prompt(tok, question)`` followed by ``completion(tok, answer)``
  (the answer and ``<|im_end|>``). Prompt and completion are tokenized separately and concatenated;
  the labels are -100 on the prompt positions and the token ids on the completion positions.
- ``"documents"`` (continued pretraining, the "unsupervised fine-tuning" of Ovadia et al. 2023): the raw
  document text followed by the EOS token; every position is a label.
- ``"both"``: the union.

Masking is by POSITION, never by token id: SmolLM2's pad id equals its EOS id (2, ``<|im_end|>``), so
masking every pad-id label would also hide the real end of turn and the model would never learn to
stop. Batches are padded dynamically to their longest example (right padding, labels padded with
-100) by ``transformers.DataCollatorForSeq2Seq``.
"""
from __future__ import annotations

import copy
import gc
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from lorag_nb.core.config import (
    BaselineSettings,
    EvalSettings,
    LoraSettings,
    TrainingSettings,
    seed_everything,
)
from lorag_nb.core.fmt import cap
from lorag_nb.core.store import settings_key
from lorag_nb.data.knowledge import load_knowledge, perplexity_texts
from lorag_nb.data.prompts import completion, make_prompt
from lorag_nb.methods import raft
from lorag_nb.methods.adapters import load_adapter, save_adapter, wrap
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
from lorag_nb.methods.models import count_parameters, load_model
from lorag_nb.methods.runtime import RUNTIME

# --------------------------------------------------------------------------- shared defaults

#: Evaluation used by notebooks 01 and 02 (and the rank explorer): same keys → shared stored results.
#: None = every test question of the taught entities (3 wordings per fact: 10 entities → 60 facts, 180 questions).
DEFAULT_MAX_QUESTIONS = None
#: Headline runs (full fine-tuning, LoRA at the chosen rank, RAFT) are trained with each of these seeds;
#: verdicts use the per-fact mean over seeds and print the seed spread (lorag_nb.core.claims).
DEFAULT_SEEDS = (0, 1)
DEFAULT_EVAL = dict(max_new_tokens=16, batch_size=16, perplexity_texts=4, perplexity_tokens=256)


def default_eval(n_entities: int | None, max_questions: int | None = DEFAULT_MAX_QUESTIONS, **overrides) -> EvalSettings:
    """The evaluation settings notebooks 01 and 02 share, for a world of ``n_entities`` entities.

    Caps every split at ``max_questions`` questions (the first ones, in entity order), answers with at
    most 16 new tokens, and measures perplexity on 4 passages of 256 tokens — sized for a 2-core CPU.
    """
    kw = dict(DEFAULT_EVAL, n_entities=n_entities, max_questions=max_questions)
    kw.update(overrides)
    return EvalSettings(**kw)


# --------------------------------------------------------------------------- examples


def build_examples(tokenizer, ks, settings: TrainingSettings) -> list[dict]:
    """The tokenized training set for ``settings`` (see module docstring for the example formats).

    Applies ``paraphrases`` (wordings kept per fact), then shuffles with ``settings.seed`` and keeps
    the first ``max_examples`` — so a smaller ``max_examples`` gives a subset of a larger one (nested
    data-efficiency curves).

    Raises:
        ValueError: no example to train on.
    """

    if settings.context == "raft":  # RAFT-style examples (question + retrieved documents), lorag_nb.methods.raft
        return raft.raft_examples(tokenizer, ks, settings)
    examples = []
    if settings.train_on in ("documents", "both"):
        examples += [document_example(tokenizer, d.text, settings.max_length) for d in ks.documents]
    if settings.train_on in ("qa", "both"):
        for q in select_qa(ks.train_qa, settings.paraphrases, settings.seed):
            examples.append(qa_example(tokenizer, make_prompt(tokenizer, q.question), completion(tokenizer, q.answer), settings.max_length))
    random.Random(settings.seed).shuffle(examples)
    if settings.max_examples is not None:
        examples = examples[: settings.max_examples]
    if not examples:
        raise ValueError(f"no training examples for train_on={settings.train_on!r} with n_entities={settings.n_entities}")
    return examples


def make_collator(tokenizer):
    """Dynamic padding to the longest example of each batch: right padding, labels padded with -100.

    ``transformers.DataCollatorForSeq2Seq`` on a right-padding copy of ``tokenizer`` (the caller's
    tokenizer keeps its left padding for generation).
    """
    from transformers import DataCollatorForSeq2Seq

    right = copy.deepcopy(tokenizer)
    right.padding_side = "right"
    return DataCollatorForSeq2Seq(right, padding="longest", label_pad_token_id=IGNORE_INDEX, return_tensors="pt")


# --------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak memory of a block of code, in bytes.

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (tensors only).
    Linux CPU: the process's peak resident set size (``VmHWM`` in ``/proc/self/status``), reset at
    entry by writing 5 to ``/proc/self/clear_refs``; it includes everything the process holds (the
    base model, Python, the tokenizer), not only training. Elsewhere: ``resource.getrusage``
    ``ru_maxrss`` (the process's lifetime peak RSS; it cannot be reset). ``before`` is the memory in
    use at entry (CUDA allocated / RSS), so ``peak - before`` is what the block added.
    """

    def __init__(self, device: str):
        self.device = device
        self.kind = "cuda_max_allocated" if device.startswith("cuda") else "rss_peak"
        self.peak = 0
        self.before = 0

    def __enter__(self):
        if self.kind == "cuda_max_allocated":
            import torch

            torch.cuda.reset_peak_memory_stats()
            self.before = int(torch.cuda.memory_allocated())
        else:
            self.before = _rss_now()
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                self.kind = "rss_peak"
            except OSError:
                self.kind = "rss_peak_lifetime"
        return self

    def __exit__(self, *exc):
        if self.kind == "cuda_max_allocated":
            import torch

            self.peak = int(torch.cuda.max_memory_allocated())
        else:
            self.peak = _rss_peak()
        return False


def _rss_now() -> int:
    """Current resident set size in bytes (0 if unknown)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # pragma: no cover - psutil comes with jupyter
        return 0


def _rss_peak() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


# --------------------------------------------------------------------------- callbacks


class TrainingDivergedError(RuntimeError):
    """Training diverged (see :func:`divergence_reason`); training stopped and nothing was saved."""

#: A loss within this fraction of the uniform-distribution loss ln |vocab| counts as "at" it (in fp32 a
#: model whose every logit is 0 logs 10.802672, just below ln 49,152 = 10.802673).
UNIFORM_TOLERANCE = 1e-3
#: Consecutive logged steps at the uniform loss (or far above the starting loss) that count as diverged.
DIVERGENCE_PATIENCE = 2


def divergence_reason(losses: Sequence[float], vocab_size: int, warmup_steps: int = 0, final: bool = False, grad_norm: float | None = None) -> str | None:
    """Why a training run whose per-step losses so far are ``losses`` has diverged, or None.

    Diverged means any of:

    - the last loss (or the last gradient norm) is NaN or infinite;
    - after ``warmup_steps`` (and never at step 1: an untrained model may start near uniform), the
      loss is at or above ln ``vocab_size`` (the loss of predicting every token with probability
      1/|vocab|: what a model whose logits all collapsed to one value gives) for
      :data:`DIVERGENCE_PATIENCE` consecutive steps, or at the last step (``final``);
    - after warm-up, the loss stayed more than halfway from its starting value up to ln |vocab| for
      ``DIVERGENCE_PATIENCE + 1`` consecutive steps (or at the last step).

    Losses are mean cross-entropies in nats per label token.
    """
    if not losses:
        return None
    step, loss = len(losses), losses[-1]
    if not math.isfinite(loss):
        return f"training loss is {loss} at step {step}"
    if grad_norm is not None and not math.isfinite(grad_norm):
        return f"gradient norm is {grad_norm} at step {step} (loss {loss:.4f})"
    uniform = math.log(vocab_size)
    start = losses[0]
    far = start + 0.5 * (uniform - start) if start < uniform else math.inf
    after = [(i + 1, x) for i, x in enumerate(losses) if i + 1 > max(1, warmup_steps)]

    def run_length(threshold: float) -> int:
        n = 0
        for _, x in reversed(after):
            if x < threshold:
                break
            n += 1
        return n

    at_uniform = run_length(uniform * (1 - UNIFORM_TOLERANCE))
    if at_uniform >= DIVERGENCE_PATIENCE or (final and at_uniform >= 1):
        return (f"training loss is {loss:.4f} at step {step}, at or above the uniform-distribution loss ln {vocab_size:,} = "
                f"{uniform:.4f} (the model predicts nothing; it started at {start:.4f})")
    above = run_length(far)
    if above >= DIVERGENCE_PATIENCE + 1 or (final and above >= 1):
        return (f"training loss is {loss:.4f} at step {step}, far above its starting value {start:.4f} for {above} step(s) "
                f"(more than halfway to the uniform-distribution loss {uniform:.4f})")
    return None


def _non_finite_callback(vocab_size: int):
    from transformers import TrainerCallback

    class StopOnDivergence(TrainerCallback):
        """Raise :class:`TrainingDivergedError` at the first logged step where :func:`divergence_reason` finds one."""

        losses: list

        def on_train_begin(self, args, state, control, **kwargs):
            self.losses = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            self.losses.append(float(loss))
            warmup = args.get_warmup_steps(state.max_steps) if state.max_steps else 0
            why = divergence_reason(self.losses, vocab_size, warmup, final=state.global_step >= state.max_steps, grad_norm=(logs or {}).get("grad_norm"))
            if why:
                raise TrainingDivergedError(
                    f"{why} (learning_rate={args.learning_rate}); training stopped and nothing was saved. "
                    "Lower the learning rate (or lora_alpha) and retry."
                )

    return StopOnDivergence()


def _tqdm_callback():
    """A tqdm bar over optimizer steps showing the last loss (replaces the Trainer's printing of every log)."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class LossBar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc="train", unit="step")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.3f}")

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(1)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return LossBar()


# --------------------------------------------------------------------------- train


@dataclass
class TrainOutput:
    """What one training run produced.

    Attributes:
        model: the trained model (a ``PeftModel`` for LoRA), in eval mode.
        tokenizer: its tokenizer (left padding, for generation).
        loss_history: training loss at every optimizer step (mean over the step's label tokens).
        seconds: wall time of ``Trainer.train()`` (s).
        tokens: non-padding input tokens processed (the sum of the attention masks; prompt tokens
            included, padding excluded), counted by the Trainer (``include_num_input_tokens_seen="non_padding"``).
        tokens_per_second: ``tokens / seconds``.
        steps: optimizer steps.
        peak_memory_bytes: see :class:`PeakMemory`; ``memory_kind`` says which measure.
        trainable_params, total_params: parameter counts of the trained model.
        artifact_bytes: size on disk of what the method saves: the adapter folder for LoRA, the
            safetensors checkpoint for full fine-tuning (bytes).
        artifact_path: where it is, or None if it was only written to measure its size.
        n_examples: training examples (before epochs).
        device: ``"cpu"`` or ``"cuda"``…
        extra: ``cpu_seconds`` (process CPU time of training, all threads, s), ``threads`` (torch
            intra-op threads): on a shared machine CPU seconds show the cost better than wall time;
            ``memory_before_bytes`` (memory in use when training started, same measure as the peak).
    """

    model: Any
    tokenizer: Any
    loss_history: list[float]
    seconds: float
    tokens: int
    tokens_per_second: float
    steps: int
    peak_memory_bytes: int
    memory_kind: str
    trainable_params: int
    total_params: int
    artifact_bytes: int
    artifact_path: str | None
    n_examples: int
    device: str
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The numbers, without model and tokenizer (JSON-able)."""
        return {
            "loss_first": self.loss_history[0] if self.loss_history else None,
            "loss_last": self.loss_history[-1] if self.loss_history else None,
            "loss_last_epoch": _tail_mean(self.loss_history, self.extra.get("steps_per_epoch", 1)),
            "seconds": self.seconds,
            "tokens": self.tokens,
            "tokens_per_second": self.tokens_per_second,
            "seconds_per_step": self.seconds / self.steps if self.steps else None,
            "steps": self.steps,
            "peak_memory_bytes": self.peak_memory_bytes,
            "memory_kind": self.memory_kind,
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "trainable_fraction": self.trainable_params / self.total_params if self.total_params else None,
            "artifact_bytes": self.artifact_bytes,
            "n_examples": self.n_examples,
            "device": self.device,
            **self.extra,
        }


def process_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: set by ``torchrun`` / ``accelerate launch`` (``RANK``,
    ``WORLD_SIZE``); ``(0, 1)`` for a plain Python process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def per_device_batch(settings: TrainingSettings, world_size: int) -> int:
    """Examples each process takes per step so that the effective batch stays ``settings.batch_size``
    (× ``gradient_accumulation_steps``) whatever the number of processes: data parallel training
    (transformers ``Trainer`` under Hugging Face Accelerate) gives every process its own slice of each
    global batch and averages the gradients over the tokens of all of them
    (``TrainingArguments.average_tokens_across_devices``).

    Raises:
        ValueError: ``batch_size`` is not a multiple of the number of processes.
    """
    if settings.batch_size % world_size:
        raise ValueError(f"batch_size={settings.batch_size} cannot be split over {world_size} processes; valid: a multiple of {world_size} "
                         "(batch_size is the effective batch per optimizer step, split evenly across processes)")
    return settings.batch_size // world_size


def _training_arguments(settings: TrainingSettings, output_dir: str, device: str, progress: bool):
    import dataclasses as _dc

    from transformers import TrainingArguments

    fields = {f.name for f in _dc.fields(TrainingArguments)}
    # transformers 5 takes the warm-up fraction as a float warmup_steps; 4.x has warmup_ratio
    warmup = {"warmup_ratio": settings.warmup_ratio} if "warmup_ratio" in fields else {"warmup_steps": settings.warmup_ratio}
    cuda = device.startswith("cuda")
    bf16 = False
    if cuda:
        import torch

        bf16 = settings.bf16 and torch.cuda.is_bf16_supported()
    # speed knobs (TrainingSettings.group_by_length / torch_compile / fused_adamw); see benchmarks/README.md
    speed: dict = {}
    if settings.group_by_length:
        speed.update({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in fields else {"group_by_length": True})
    if cuda and settings.torch_compile:
        speed["torch_compile"] = True
    if cuda or device == "cpu":  # fused AdamW kernels exist for CUDA and CPU tensors
        speed["optim"] = "adamw_torch_fused" if settings.fused_adamw else "adamw_torch"
    if settings.gradient_checkpointing:  # non-reentrant: correct with a frozen base (LoRA), see train()
        name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"  # transformers 5 renamed it
        speed.update({name: True, f"{name}_kwargs": {"use_reentrant": False}})
    return TrainingArguments(
        **speed,
        output_dir=output_dir,
        per_device_train_batch_size=per_device_batch(settings, process_world()[1]),
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="linear",
        **warmup,
        weight_decay=settings.weight_decay,
        seed=settings.seed,
        data_seed=settings.seed,
        report_to=[],
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss must reach the callback, not be averaged away
        include_num_input_tokens_seen="non_padding",
        use_cpu=not cuda,
        bf16=bf16,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,  # our own bar (_tqdm_callback) when progress=True
    )


#: Prefix of train()'s scratch folders in the system temp folder: ``lorag-train-<pid>-<random>``.
SCRATCH_PREFIX = "lorag-train-"


def _remove_stale_scratch() -> None:
    """Delete scratch folders of :func:`train` whose process is gone (killed before its ``finally``
    ran: a full fine-tuning scratch holds a 540 MB checkpoint). Folders of live processes stay."""
    for path in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = path.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (PermissionError, OSError):
            pass  # alive (another user's process) or unknowable: keep it


def train(settings: TrainingSettings, model=None, tokenizer=None, output_dir: str | Path | None = None, progress: bool = False, callbacks: Sequence | None = None, ks=None, examples: list[dict] | None = None,
          data_collator=None) -> TrainOutput:
    """Fine-tune with ``transformers.Trainer``: full fine-tuning if ``settings.lora`` is None, else LoRA.

    Args:
        settings: what to train on and how (see :class:`~lorag_nb.core.config.TrainingSettings`).
        model, tokenizer: the base model to start from (never modified: full fine-tuning trains a deep
            copy, LoRA wraps a fresh copy); loaded with ``load_model(settings.model, dtype="float32")``
            if None (fp32 weights; bf16 autocast on CUDA).
        output_dir: where to keep the artifact (LoRA: the adapter folder in PEFT format; full
            fine-tuning: the model and tokenizer, safetensors). If None the artifact is written to a
            temporary folder only to measure its size, then deleted.
        progress: show a tqdm bar over optimizer steps with the current loss.
        callbacks: extra ``transformers.TrainerCallback`` objects (e.g. a widget progress bar).
        ks: a loaded :class:`~lorag_nb.data.knowledge.KnowledgeSet` (default ``load_knowledge(settings.n_entities)``).
        examples: ready training examples (``{"input_ids", "attention_mask", "labels"}`` lists, e.g. from
            :func:`qa_example`), replacing :func:`build_examples` (the hybrid/RAFT runs use this).
        data_collator: the ``Trainer``'s ``data_collator`` (default :func:`make_collator`; the benchmarks
            pass one that also records the batches).

    Returns:
        :class:`TrainOutput`: loss per step, wall time (s), tokens/s over non-padding input tokens,
        peak memory (bytes), trainable/total parameters, artifact size (bytes), the trained model.

    Raises:
        TrainingDivergedError: the run diverged (training stops at that step): a NaN or infinite loss
            or gradient norm, a loss stuck at the uniform-distribution loss ln |vocab| or far above its
            start (:func:`divergence_reason`), or non-finite trained weights at the end.
        ValueError: settings that cannot train (no examples, a LoRA target module that matches nothing,
            bad RAFT knobs or a RAFT example longer than max_length: ``context="raft"`` examples come
            from :func:`lorag_nb.methods.raft.raft_examples`).
    """
    from transformers import PrinterCallback, ProgressCallback, Trainer


    seed_everything(settings.seed)
    if model is None:
        model, tokenizer = load_model(settings.model, dtype="float32")
    elif tokenizer is None:
        raise ValueError("pass the tokenizer together with the model")
    if examples is None:
        ks = ks if ks is not None else load_knowledge(n_entities=settings.n_entities)
        examples = build_examples(tokenizer, ks, settings)
    elif not examples:
        raise ValueError("examples is empty: nothing to train on")
    device = str(next(model.parameters()).device.type)

    seed_everything(settings.seed)
    if settings.lora is None:
        trained = copy.deepcopy(model)
        for p in trained.parameters():
            p.requires_grad_(True)
    else:
        trained = wrap(model, settings.lora)
    trainable, total = count_parameters(trained)
    trained.config.use_cache = False
    if settings.gradient_checkpointing and settings.lora is not None:
        trained.enable_input_require_grads()  # a frozen base: checkpointed blocks need an input that requires grad (transformers#35826)

    _remove_stale_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    try:
        args = _training_arguments(settings, str(scratch / "trainer"), device, progress)
        trainer = Trainer(
            model=trained,
            args=args,
            train_dataset=examples,
            data_collator=data_collator or make_collator(tokenizer),
            callbacks=[_non_finite_callback(int(trained.get_output_embeddings().weight.shape[0])), *([_tqdm_callback()] if progress else []), *(callbacks or [])],
        )
        trainer.remove_callback(PrinterCallback)  # it prints every log dict (one per step)
        trainer.remove_callback(ProgressCallback)
        with PeakMemory(device) as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.train()
            seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
        bad = next((n for n, p in trained.named_parameters() if p.requires_grad and not bool(p.detach().isfinite().all())), None)
        if bad is not None:
            raise TrainingDivergedError(f"parameter {bad} holds NaN or infinite values after training (learning_rate={settings.learning_rate}); "
                                        "nothing was saved. Lower the learning rate (or lora_alpha) and retry.")
        tokens = int(trainer.state.num_input_tokens_seen)
        steps = int(trainer.state.global_step)
        trained.config.use_cache = True
        trained.eval()

        if output_dir is not None:
            target = Path(output_dir)
        else:
            target = scratch / "artifact"
        if settings.lora is not None:
            artifact_bytes = save_adapter(trained, target, base_model=settings.model)
        else:
            target.mkdir(parents=True, exist_ok=True)
            trained.save_pretrained(str(target), safe_serialization=True)
            artifact_bytes = sum(f.stat().st_size for f in target.glob("*.safetensors"))
            if output_dir is not None:
                tokenizer.save_pretrained(str(target))
        del trainer
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TrainOutput(
        model=trained,
        tokenizer=tokenizer,
        loss_history=losses,
        seconds=seconds,
        tokens=tokens,
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
        steps=steps,
        peak_memory_bytes=mem.peak,
        memory_kind=mem.kind,
        trainable_params=trainable,
        total_params=total,
        artifact_bytes=artifact_bytes,
        artifact_path=str(output_dir) if output_dir is not None else None,
        n_examples=len(examples),
        device=device,
        extra={"cpu_seconds": cpu_seconds, "threads": _threads(), "memory_before_bytes": mem.before,
               "processes": process_world()[1], "per_device_batch_size": per_device_batch(settings, process_world()[1]),
               "steps_per_epoch": math.ceil(len(examples) / (settings.batch_size * settings.gradient_accumulation_steps))},
    )


def _tail_mean(values: Sequence[float], k: int) -> float | None:
    """Mean of the last ``k`` values (all if fewer); None if empty."""
    tail = list(values)[-max(1, int(k)):]
    return sum(tail) / len(tail) if tail else None


def final_loss(result) -> float | None:
    """Mean training loss over the last epoch of a stored run (the last ``ceil(examples / (batch ×
    accumulation))`` optimizer steps, or all steps of a shorter run).

    The loss of the single last step depends on which 4 examples that batch held; the last epoch's
    mean sees every example once, so runs compare fairly.
    """
    tr = result.metrics["training"]
    st = result.settings["training"]
    per_epoch = math.ceil(tr["n_examples"] / (st["batch_size"] * st.get("gradient_accumulation_steps", 1)))
    return _tail_mean(result.details.get("loss_history", []), per_epoch)


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


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
    return eval_settings if eval_settings is not None else default_eval(settings.n_entities)


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
    key = {"full": full.to_dict(), "lora": lora.to_dict(), "reps": reps, "steps": steps, "threads": _threads()}

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
            "batch_size": bs, "steps": steps, "reps": reps, "threads": _threads(), "device": str(device), "loadavg": load,
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
