"""One training run with the Hugging Face ``transformers.Trainer``, for every method: full fine-tuning,
LoRA, DoRA, and the hybrid (RAFT) adapter.

What this module holds (nothing here touches the results store; :mod:`lorag_nb.methods.training`
builds the stored runs and the studies on it and re-exports every public name of this module):

- the tokenized training set (:func:`build_examples`) and the batch collator (:func:`make_collator`);
- peak-memory measurement (:class:`PeakMemory`) and the torch thread count (:func:`torch_threads`);
- the callbacks that stop a diverging run (:func:`divergence_reason`, :class:`TrainingDivergedError`)
  and draw the progress bar;
- the process helpers of data-parallel runs (:func:`process_world`, :func:`per_device_batch`) and the
  ``TrainingArguments`` built from a :class:`~lorag_nb.core.config.TrainingSettings`;
- :func:`train` itself and what it returns (:class:`TrainOutput`), the cleanup of its scratch folders
  (:data:`SCRATCH_PREFIX`), and the loss read-out of a stored run (:func:`final_loss`).

:func:`train` builds the training examples, the model (a copy of the base for full fine-tuning, a
fresh PEFT wrap for LoRA: :func:`lorag_nb.methods.adapters.wrap`) and runs the Hugging Face
``transformers.Trainer`` — no hand-written loop. Full fine-tuning and LoRA share every line except
the model wrapper.

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

from lorag_nb.core.config import TrainingSettings, cpu_precision, seed_everything
from lorag_nb.core.stages import add_tokens, stage
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.data.prompts import completion, make_prompt
from lorag_nb.methods import raft
from lorag_nb.methods.adapters import save_adapter, wrap
from lorag_nb.methods.examples import IGNORE_INDEX, document_example, qa_example, select_qa
from lorag_nb.methods.models import count_parameters, load_model


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
      ``DIVERGENCE_PATIENCE + 1`` consecutive steps (or at the last step of a run with at least
      ``DIVERGENCE_PATIENCE`` steps after warm-up).

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
    # at the last step one such loss suffices, but only once the run had DIVERGENCE_PATIENCE steps after warm-up: in a
    # 2-step run of tiny batches one batch's loss above halfway is batch-to-batch noise (seen: 3.90 then 7.56 on a reader's
    # 18-question folder), and a real collapse still meets the uniform-loss rule above
    if above >= DIVERGENCE_PATIENCE + 1 or (final and above >= 1 and len(after) >= DIVERGENCE_PATIENCE):
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
    if cuda:
        import torch

        bf16 = settings.bf16 and torch.cuda.is_bf16_supported()
    else:  # a CPU: bf16 autocast where it computes in bf16 (cpu_precision: native bf16 instructions or LORAG_NB_PRECISION)
        bf16 = settings.bf16 and device == "cpu" and cpu_precision() == "bf16"
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


@stage("training")
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
        add_tokens("training", int(trainer.state.num_input_tokens_seen), "train" if settings.lora is None else "train_lora")  # non-padding input tokens
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
        extra={"cpu_seconds": cpu_seconds, "threads": torch_threads(), "memory_before_bytes": mem.before,
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


def torch_threads() -> int:
    """The number of intra-op threads torch uses now."""
    import torch

    return int(torch.get_num_threads())
