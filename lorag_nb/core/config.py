"""Every knob of every experiment, as dataclasses that validate themselves.

A settings object is the key of the results store: ``settings.to_dict()`` is hashed (with the model
name, the data fingerprint and the seed) so a rerun or a widget moved back finds the stored result.
Invalid values raise :class:`ValueError` naming the field, the bad value and what is valid.

Defaults: where a field's default here is the value the notebooks use (``LoraSettings`` r 8 / lora_alpha 16,
``RagSettings``' retriever, ``RaftSettings``' P, K and distractors, ``EvalSettings``' = notebook 00's
evaluation), :mod:`lorag_nb.experiments.recipes` (the one table of defaults) names it instead of copying it.
The experiments' sizes and choices (entities, learning rates, epochs, batches, budgets) live only there.
``TrainingSettings``' numeric defaults (epochs, learning_rate, batch_size, max_length) are the library's plain
values for direct calls (``lorag-nb check``, the benchmarks, tests): every notebook run is built by the
recipes' factories, which set each of them (``tests/test_recipes.py`` checks).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from lorag_nb.data.knowledge import load_python_docs, perplexity_texts
from lorag_nb.data.prompts import CONTEXT_VARIANTS

#: Linear layers of a Llama block, by PEFT module name.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
ALL_LINEAR_MODULES = ATTENTION_MODULES + MLP_MODULES
#: Named presets for ``LoraSettings.target_modules``.
TARGET_PRESETS: dict[str, tuple[str, ...]] = {
    "attention": ATTENTION_MODULES,
    "all-linear": ALL_LINEAR_MODULES,
    "mlp": MLP_MODULES,
}
TRAIN_ON = ("qa", "documents", "both")
SEARCH_TYPES = ("similarity", "mmr")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels where cheap.

    Uses ``transformers.set_seed`` (which seeds all three). On CPU the same seed gives the same numbers.
    """
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        from transformers import set_seed

        set_seed(seed)
    except ImportError:  # pragma: no cover - transformers is a hard dependency
        import numpy as np
        import torch

        np.random.seed(seed)
        torch.manual_seed(seed)


#: ``LORAG_NB_PRECISION``: how a CPU computes. ``auto`` (default): bf16 autocast where the CPU has native bf16
#: instructions, fp32 elsewhere; ``fp32`` or ``bf16`` force one.
PRECISION_ENV = "LORAG_NB_PRECISION"
PRECISIONS = ("auto", "fp32", "bf16")
#: CPU flags (Linux ``/proc/cpuinfo``) of native bf16 matrix instructions: AVX512-BF16 (AMD Zen 4, Intel Cooper
#: Lake and later) and AMX-BF16 (Intel Sapphire Rapids and later).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when ``/proc/cpuinfo`` lists a native bf16 instruction set (:data:`BF16_CPU_FLAGS`); False where it
    cannot be read (macOS, Windows): those CPUs keep fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in BF16_CPU_FLAGS)
    except OSError:
        pass
    return False


def cpu_precision() -> str:
    """The precision models compute in on a CPU: ``"bf16"`` (``torch.autocast("cpu", torch.bfloat16)`` around
    training, generation and scoring, fp32 master weights) or ``"fp32"``.

    ``$LORAG_NB_PRECISION`` (:data:`PRECISION_ENV`) decides; ``auto`` (the default) picks bf16 only where the CPU
    has native bf16 instructions (:func:`cpu_has_native_bf16`): measured on the 2-core VMs, one training step of
    the embedded model (batch 4 × 64) took 0.72–0.78× the fp32 time on an Intel Xeon with AMX-BF16 and 0.60–0.63×
    on an AMD EPYC with AVX512-BF16, greedy generation 0.70× and 0.75–0.83× (benchmarks/README.md); CPUs without
    them emulate bf16 and keep fp32. The answer is part of every stored result's key
    (:func:`lorag_nb.core.store.settings_key`) and of a reference's provenance, so fp32 and bf16 numbers never mix.

    Raises:
        ValueError: ``$LORAG_NB_PRECISION`` is not one of :data:`PRECISIONS`.
    """
    value = (os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"{PRECISION_ENV}={os.environ.get(PRECISION_ENV)!r} is not a precision; use one of {', '.join(PRECISIONS)}")
    return auto_precision() if value == "auto" else value


def auto_precision() -> str:
    """What ``$LORAG_NB_PRECISION=auto`` (:func:`cpu_precision`) picks on this CPU: ``"bf16"`` where it has native bf16
    instructions (:func:`cpu_has_native_bf16`), else ``"fp32"``."""
    return "bf16" if cpu_has_native_bf16() else "fp32"


def check(cond: bool, name: str, value: Any, valid: str) -> None:
    if not cond:
        raise ValueError(f"{name}={value!r} is invalid; valid: {valid}")


def _is_int(value: Any) -> bool:
    """An integer (Python or NumPy), not a bool: ``True`` is not a rank, ``2.5`` is not a step count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite real number (int or float, Python or NumPy), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_int(obj: Any, name: str, valid: str, low: int | None = None, high: int | None = None, optional: bool = False) -> None:
    """Check that field ``name`` of ``obj`` is an integer in ``[low, high]`` (or None if ``optional``);
    a NumPy integer is stored as a Python int (so settings stay JSON-able)."""
    value = getattr(obj, name)
    if optional and value is None:
        return
    check(_is_int(value) and (low is None or value >= low) and (high is None or value <= high), name, value, valid)
    object.__setattr__(obj, name, int(value))


def _check_number(obj: Any, name: str, valid: str, ok=lambda v: True) -> None:
    """Check that field ``name`` of ``obj`` is a finite number for which ``ok(value)`` holds."""
    value = getattr(obj, name)
    check(_is_number(value) and ok(value), name, value, valid)


def _check_bool(obj: Any, *names: str) -> None:
    for name in names:
        check(isinstance(getattr(obj, name), bool), name, getattr(obj, name), "True or False")


class Settings:
    """Mixin: dict round-trip and ``replace``."""

    def to_dict(self) -> dict:
        """A JSON-able dict of every field (tuples become lists)."""
        return json_ready(dataclasses.asdict(self))  # type: ignore[arg-type]

    def replace(self, **changes):
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def json_ready(value):
    """Recursively turn tuples into lists so a dict hashes the same before and after a JSON round-trip."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


@dataclass(frozen=True)
class LoraSettings(Settings):
    """LoRA knobs (Hu et al. 2021), passed to ``peft.LoraConfig``.

    Attributes:
        r: rank of the update B·A (A: r × d_in, B: d_out × r). > 0.
        lora_alpha: scaling numerator; the update is scaled by lora_alpha / r (or / sqrt(r) with rsLoRA). > 0.
        lora_dropout: dropout on the LoRA input, in [0, 1).
        target_modules: a preset name (``"attention"``, ``"all-linear"``, ``"mlp"``) or module names.
        use_rslora: rank-stabilized scaling lora_alpha / sqrt(r) (Kalajdzievski 2023).
        use_dora: weight-decomposed LoRA (Liu et al. 2024).
    """

    r: int = 8  # notebook 02's default adapter (lorag_nb.experiments.recipes reads it from here)
    lora_alpha: float = 16
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    use_rslora: bool = False
    use_dora: bool = False

    def __post_init__(self):
        _check_int(self, "r", "an integer > 0", low=1)
        _check_number(self, "lora_alpha", "a number > 0", lambda v: v > 0)
        _check_number(self, "lora_dropout", "a number in [0, 1)", lambda v: 0 <= v < 1)
        _check_bool(self, "use_rslora", "use_dora")
        if isinstance(self.target_modules, str):
            check(self.target_modules in TARGET_PRESETS, "target_modules", self.target_modules, f"one of {sorted(TARGET_PRESETS)} or a list of module names")
        else:
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
            check(len(self.target_modules) > 0 and all(isinstance(m, str) and m for m in self.target_modules), "target_modules", self.target_modules, "a non-empty list of module names")

    @property
    def module_names(self) -> tuple[str, ...]:
        """The target module names, presets expanded."""
        if isinstance(self.target_modules, str):
            return TARGET_PRESETS[self.target_modules]
        return tuple(self.target_modules)


#: Training speed knobs (``TrainingSettings``) and their defaults; left out of store keys at these values.
#: Every entity of the knowledge set: the RAG knowledge base that RAFT's distractors come from.
KB_ENTITIES = 80
#: Where RAFT's distractor documents come from (:class:`RaftSettings`).
DISTRACTOR_SOURCES = ("near_duplicates", "retrieved", "both")


@dataclass(frozen=True)
class RaftSettings(Settings):
    """RAFT knobs (Zhang et al. 2024, *RAFT: Adapting Language Model to Domain Specific RAG*): how the
    training examples of a hybrid adapter (``TrainingSettings(context="raft", raft=...)``) are built by
    :func:`lorag_nb.methods.raft.raft_examples`.

    Attributes:
        p_oracle: probability in [0, 1] that an example's documents include the oracle (gold) document
            (the paper's P; it reports 0.8 as a good value for in-domain RAG).
        k: documents per example, >= 1 (oracle + k − 1 distractors, or k distractors). k = 3 documents
            of ~110 tokens keep an example under 512 tokens (checked, never cut).
        distractors: ``"near_duplicates"`` (the knowledge set's look-alike documents of that entity first,
            then of other entities), ``"retrieved"`` (non-gold chunks the real retriever returns for the
            question: hard negatives) or ``"both"`` (alternating, near-duplicates first).
        cite: the target is ``answer (from: "sentence")``, quoting the oracle sentence that holds the
            answer (the paper's chain-of-thought answers quote the document); off by default, because
            exact match then needs the answer alone.
        prompt_variant: the with-context prompt variant (the RAG chain's, chosen on the dev split by
            notebook 03); None = :data:`lorag_nb.data.prompts.DEFAULT_CONTEXT_VARIANT`.
        kb_entities: entities of the knowledge base the distractors come from (None = all).

    Raises:
        ValueError: a value out of range, naming the field, the value and what is valid (at construction,
            so a bad knob never reaches training).
    """

    p_oracle: float = 0.8
    k: int = 3
    distractors: Literal["near_duplicates", "retrieved", "both"] = "both"
    cite: bool = False
    prompt_variant: str | None = None
    kb_entities: int | None = KB_ENTITIES

    def __post_init__(self):
        _check_number(self, "p_oracle", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        object.__setattr__(self, "p_oracle", float(self.p_oracle))
        _check_int(self, "k", "an integer >= 1 (documents per training example)", low=1)
        check(self.distractors in DISTRACTOR_SOURCES, "distractors", self.distractors, f"one of {DISTRACTOR_SOURCES}")
        _check_bool(self, "cite")
        check(self.prompt_variant is None or self.prompt_variant in CONTEXT_VARIANTS, "prompt_variant", self.prompt_variant, f"None or one of {sorted(CONTEXT_VARIANTS)}")
        _check_int(self, "kb_entities", "None (all) or an integer >= 1", low=1, optional=True)


SPEED_KNOB_DEFAULTS = {"group_by_length": False, "bf16": True, "torch_compile": False, "fused_adamw": True, "gradient_checkpointing": False}


@dataclass(frozen=True)
class TrainingSettings(Settings):
    """One fine-tuning run: full fine-tuning when ``lora`` is None, else LoRA with those settings.

    Attributes:
        model: ``"embedded"`` or a Hugging Face id / folder.
        train_on: ``"qa"`` (instruction tuning on training QA), ``"documents"`` (continued
            pretraining on the documents: the "unsupervised fine-tuning" of Ovadia et al. 2023), ``"both"``.
        n_entities: how many entities of the knowledge set (None = all).
        max_examples: cap on training examples after shuffling (None = all): data-efficiency knob.
        paraphrases: training wordings per fact (None = all; 1 = a single wording).
        epochs, learning_rate, batch_size, gradient_accumulation_steps, warmup_ratio, weight_decay,
        max_length (tokens), seed: as in ``transformers.TrainingArguments``.
        max_steps: if > 0, overrides epochs (smoke runs).
        lora: LoRA settings, or None for full fine-tuning.
        context: "closed_book" or "raft" (hybrid RAFT-style examples; see :mod:`lorag_nb.methods.raft`).
        raft: the RAFT knobs (a :class:`RaftSettings` or a dict of its fields) when ``context == "raft"``
            (None there means ``RaftSettings()``); must be None otherwise.
        group_by_length: batch examples of similar length together (transformers' length-grouped
            sampler) to cut padding. Off by default: at the default QA data padding is 4-6% of the
            tokens (2.5% grouped), and the sampler orders each mega-batch (a quarter of an epoch or
            less) from longest to shortest examples, a systematic order that changes the training
            numbers (``lorag-nb bench training`` measures the padding both ways).
        bf16: bf16 mixed precision (autocast, fp32 master weights) on CUDA with bf16 support; on a CPU
            :func:`cpu_precision` decides (``$LORAG_NB_PRECISION``), and ``bf16=False`` keeps fp32.
        torch_compile: ``torch.compile`` the model — CUDA only. Off by default: compiling costs about a
            minute, more than a notebook's 30-step run; it pays off on long GPU runs (see benchmarks/).
        fused_adamw: the fused AdamW kernel (``optim="adamw_torch_fused"``, transformers' default).
        gradient_checkpointing: recompute each layer's activations in the backward pass instead of
            keeping them (less activation memory, about one more forward pass of compute per step).
            Works with LoRA: the frozen base's input embeddings are made to require gradients
            (transformers#35826) and the non-reentrant ``torch.utils.checkpoint`` is used. Same
            losses as without it (a test checks 3 steps within 1e-5).

    The speed and memory knobs (the last five) are left out of :meth:`to_dict` while at their defaults, so stored
    results keyed before they existed keep their keys.
    """

    model: str = "embedded"
    train_on: Literal["qa", "documents", "both"] = "qa"
    n_entities: int | None = None
    max_examples: int | None = None
    paraphrases: int | None = None
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 1e-4
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_length: int = 256
    seed: int = 0
    lora: LoraSettings | None = None
    context: Literal["closed_book", "raft"] = "closed_book"
    raft: RaftSettings | None = None
    group_by_length: bool = False
    bf16: bool = True
    torch_compile: bool = False
    fused_adamw: bool = True
    gradient_checkpointing: bool = False

    def to_dict(self) -> dict:
        """A JSON-able dict of every field; speed knobs at their defaults are left out (stable store keys)."""
        d = super().to_dict()
        for name, default in SPEED_KNOB_DEFAULTS.items():
            if d.get(name) == default:
                d.pop(name, None)
        return d

    def __post_init__(self):
        _check_bool(self, *SPEED_KNOB_DEFAULTS)
        check(isinstance(self.model, str) and bool(self.model.strip()), "model", self.model, "'embedded', a Hugging Face model id or a folder")
        check(self.train_on in TRAIN_ON, "train_on", self.train_on, f"one of {TRAIN_ON}")
        _check_number(self, "learning_rate", "a number > 0", lambda v: v > 0)
        _check_int(self, "max_steps", "an integer >= -1 (-1 or 0: train for epochs; > 0: that many steps)", low=-1)
        _check_number(self, "epochs", "a number > 0 (or max_steps > 0)", lambda v: v > 0 or self.max_steps > 0)
        _check_int(self, "batch_size", "an integer > 0", low=1)
        _check_int(self, "gradient_accumulation_steps", "an integer >= 1", low=1)
        _check_number(self, "warmup_ratio", "a number in [0, 1)", lambda v: 0 <= v < 1)
        _check_number(self, "weight_decay", "a number >= 0", lambda v: v >= 0)
        _check_int(self, "max_length", "an integer >= 16 (tokens)", low=16)
        _check_int(self, "seed", "an integer in [0, 2**32 - 1]", low=0, high=2**32 - 1)
        _check_int(self, "n_entities", "None or an integer >= 1", low=1, optional=True)
        _check_int(self, "max_examples", "None or an integer >= 1", low=1, optional=True)
        _check_int(self, "paraphrases", "None or an integer >= 1", low=1, optional=True)
        check(self.context in ("closed_book", "raft"), "context", self.context, "'closed_book' or 'raft'")
        if isinstance(self.raft, dict):
            unknown = sorted(set(self.raft) - {f.name for f in dataclasses.fields(RaftSettings)})
            check(not unknown, "raft keys", unknown, f"fields of RaftSettings: {[f.name for f in dataclasses.fields(RaftSettings)]}")
            object.__setattr__(self, "raft", RaftSettings(**self.raft))
        check(self.raft is None or isinstance(self.raft, RaftSettings), "raft", self.raft, "None, a RaftSettings or a dict of its fields")
        check(self.raft is None or self.context == "raft", "raft", self.raft, "None unless context='raft' (RAFT knobs shape RAFT examples only)")
        if isinstance(self.lora, dict):
            object.__setattr__(self, "lora", LoraSettings(**self.lora))
        check(self.lora is None or isinstance(self.lora, LoraSettings), "lora", self.lora, "None (full fine-tuning), a LoraSettings or a dict of its fields")

    @property
    def method(self) -> str:
        """``"full"``, ``"lora"``, ``"dora"``, or ``"raft"`` for a hybrid adapter."""
        if self.context == "raft":
            return "raft"
        if self.lora is None:
            return "full"
        return "dora" if self.lora.use_dora else "lora"


@dataclass(frozen=True)
class RagSettings(Settings):
    """Retrieval-augmented generation knobs.

    Attributes:
        top_k: passages given to the model per question (> 0; clamped to the collection size with a warning).
        search_type: ``"similarity"`` or ``"mmr"`` (maximal marginal relevance, Carbonell & Goldstein 1998).
        fetch_k: MMR candidate pool size (≥ top_k).
        lambda_mult: MMR trade-off in [0, 1]: 1 = pure relevance, 0 = pure diversity.
        chunk_size: splitter chunk size in characters (``RecursiveCharacterTextSplitter`` counts characters).
        chunk_overlap: overlap between neighbouring chunks, in characters (< chunk_size).
        prompt_variant: key of ``prompts.CONTEXT_VARIANTS``.
        include_distractors: index the near-duplicate distractor documents too (harder retrieval).
        knowledge: ``"original"`` or ``"revised"`` documents.
        chroma_url: None for an embedded store, else ``http://host:port`` of a Chroma server.
    """

    top_k: int = 3
    search_type: Literal["similarity", "mmr"] = "similarity"
    fetch_k: int = 20
    lambda_mult: float = 0.5
    chunk_size: int = 500
    chunk_overlap: int = 50
    prompt_variant: str = "context_then_question"
    include_distractors: bool = True
    knowledge: Literal["original", "revised"] = "original"
    chroma_url: str | None = None

    def __post_init__(self):
        _check_int(self, "top_k", "an integer > 0", low=1)
        check(self.search_type in SEARCH_TYPES, "search_type", self.search_type, f"one of {SEARCH_TYPES}")
        _check_int(self, "fetch_k", "an integer >= 1", low=1)
        _check_number(self, "lambda_mult", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        _check_int(self, "chunk_size", "an integer > 0 (characters)", low=1)
        _check_int(self, "chunk_overlap", f"an integer in [0, chunk_size={self.chunk_size})", low=0, high=self.chunk_size - 1)
        _check_bool(self, "include_distractors")
        check(self.chroma_url is None or isinstance(self.chroma_url, str), "chroma_url", self.chroma_url, "None or 'http://host:port'")
        check(self.knowledge in ("original", "revised"), "knowledge", self.knowledge, "'original' or 'revised'")

        check(self.prompt_variant in CONTEXT_VARIANTS, "prompt_variant", self.prompt_variant, f"one of {sorted(CONTEXT_VARIANTS)}")


@dataclass(frozen=True)
class EvalSettings(Settings):
    """What an evaluation covers.

    Attributes:
        n_entities: entities of the knowledge set (None = all).
        max_questions: cap per split (None = all), for smoke runs.
        max_new_tokens: generation budget per answer (tokens).
        batch_size: questions per forward pass.
        oracle_max_new_tokens: budget of the answers given the gold document (the baseline's oracle arm); None: the
            same as ``max_new_tokens``. With a document the model answers longer than closed book: at the closed-book
            budget (48) 19 of 180 oracle answers were cut off on the built-in world (2026-12-07).
        perplexity_texts: how many real-text passages (Python docs) for perplexity, from 1 to the
            number of long-enough topics of this Python's documentation (34 on CPython 3.11).
        perplexity_tokens: tokens per passage, >= 2 (the first token of a passage is not predicted,
            so 1 token would give no prediction and a meaningless perplexity of 1.0).

    Raises:
        ValueError: any field out of range or of the wrong type (checked at construction, before
            anything is evaluated or trained).
    """

    n_entities: int | None = None
    max_questions: int | None = None
    max_new_tokens: int = 24
    batch_size: int = 32
    perplexity_texts: int = 8
    perplexity_tokens: int = 256
    oracle_max_new_tokens: int | None = None

    def __post_init__(self):
        _check_int(self, "n_entities", "None or an integer >= 1", low=1, optional=True)
        _check_int(self, "max_questions", "None or an integer >= 1", low=1, optional=True)
        _check_int(self, "max_new_tokens", "an integer >= 1", low=1)
        _check_int(self, "oracle_max_new_tokens", "None or an integer >= 1", low=1, optional=True)
        _check_int(self, "batch_size", "an integer >= 1", low=1)
        n_topics = _perplexity_topics()
        _check_int(self, "perplexity_texts", f"an integer in [1, {n_topics}] (passages of Python's docs)", low=1, high=n_topics)
        _check_int(self, "perplexity_tokens", "an integer >= 2 (tokens per passage)", low=2)


@functools.lru_cache(maxsize=1)
def _perplexity_topics() -> int:
    """How many Python documentation topics are long enough for :func:`lorag_nb.data.knowledge.perplexity_texts`."""
    import inspect


    max_chars = inspect.signature(perplexity_texts).parameters["max_chars"].default
    return len(load_python_docs(min_chars=max_chars))


@dataclass(frozen=True)
class BaselineSettings:
    """The base model before any adaptation: closed book, oracle context, control set, perplexity."""

    model: str = "embedded"
    eval: EvalSettings = field(default_factory=EvalSettings)
    seed: int = 0

    def __post_init__(self):
        check(isinstance(self.model, str) and bool(self.model.strip()), "model", self.model, "'embedded', a Hugging Face model id or a folder")
        check(isinstance(self.eval, EvalSettings), "eval", self.eval, "an EvalSettings")
        _check_int(self, "seed", "an integer in [0, 2**32 - 1]", low=0, high=2**32 - 1)

    def to_dict(self) -> dict:
        return {"model": self.model, "eval": self.eval.to_dict(), "seed": self.seed}
