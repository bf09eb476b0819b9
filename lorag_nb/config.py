"""Every knob of every experiment, as dataclasses that validate themselves.

A settings object is the key of the results store: ``settings.to_dict()`` is hashed (with the model
name, the data fingerprint and the seed) so a rerun or a widget moved back finds the stored result.
Invalid values raise :class:`ValueError` naming the field, the bad value and what is valid.
"""
from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

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


def _check(cond: bool, name: str, value: Any, valid: str) -> None:
    if not cond:
        raise ValueError(f"{name}={value!r} is invalid; valid: {valid}")


class _Settings:
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
class LoraSettings(_Settings):
    """LoRA knobs (Hu et al. 2021), passed to ``peft.LoraConfig``.

    Attributes:
        r: rank of the update B·A (A: r × d_in, B: d_out × r). > 0.
        lora_alpha: scaling numerator; the update is scaled by lora_alpha / r (or / sqrt(r) with rsLoRA). > 0.
        lora_dropout: dropout on the LoRA input, in [0, 1).
        target_modules: a preset name (``"attention"``, ``"all-linear"``, ``"mlp"``) or module names.
        use_rslora: rank-stabilized scaling lora_alpha / sqrt(r) (Kalajdzievski 2023).
        use_dora: weight-decomposed LoRA (Liu et al. 2024).
    """

    r: int = 16
    lora_alpha: float = 32
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    use_rslora: bool = False
    use_dora: bool = False

    def __post_init__(self):
        _check(isinstance(self.r, int) and self.r > 0, "r", self.r, "an integer > 0")
        _check(self.lora_alpha > 0, "lora_alpha", self.lora_alpha, "a number > 0")
        _check(0 <= self.lora_dropout < 1, "lora_dropout", self.lora_dropout, "a number in [0, 1)")
        if isinstance(self.target_modules, str):
            _check(self.target_modules in TARGET_PRESETS, "target_modules", self.target_modules, f"one of {sorted(TARGET_PRESETS)} or a list of module names")
        else:
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
            _check(len(self.target_modules) > 0 and all(isinstance(m, str) and m for m in self.target_modules), "target_modules", self.target_modules, "a non-empty list of module names")

    @property
    def module_names(self) -> tuple[str, ...]:
        """The target module names, presets expanded."""
        if isinstance(self.target_modules, str):
            return TARGET_PRESETS[self.target_modules]
        return tuple(self.target_modules)


#: Training speed knobs (``TrainingSettings``) and their defaults; left out of store keys at these values.
SPEED_KNOB_DEFAULTS = {"group_by_length": False, "bf16": True, "torch_compile": False, "fused_adamw": True}


@dataclass(frozen=True)
class TrainingSettings(_Settings):
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
        context: "closed_book" or "raft" (hybrid RAFT-style examples; see ``hybrid.py``).
        raft: dict of RAFT knobs (``p_oracle``, ``k``, ``distractors``) when ``context == "raft"``.
        group_by_length: batch examples of similar length together (transformers' length-grouped
            sampler) to cut padding. Off by default: at the default QA data padding is 4-6% of the
            tokens (2.5% grouped), and the sampler orders each mega-batch (a quarter of an epoch or
            less) from longest to shortest examples, a systematic order that changes the training
            numbers (``lorag-nb bench training`` measures the padding both ways).
        bf16: bf16 mixed precision (autocast, fp32 master weights) — CUDA with bf16 support only.
        torch_compile: ``torch.compile`` the model — CUDA only. Off by default: compiling costs about a
            minute, more than a notebook's 30-step run; it pays off on long GPU runs (see benchmarks/).
        fused_adamw: the fused AdamW kernel (``optim="adamw_torch_fused"``, transformers' default).

    The speed knobs (the last four) are left out of :meth:`to_dict` while at their defaults, so stored
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
    raft: dict | None = None
    group_by_length: bool = False
    bf16: bool = True
    torch_compile: bool = False
    fused_adamw: bool = True

    def to_dict(self) -> dict:
        """A JSON-able dict of every field; speed knobs at their defaults are left out (stable store keys)."""
        d = super().to_dict()
        for name, default in SPEED_KNOB_DEFAULTS.items():
            if d.get(name) == default:
                d.pop(name, None)
        return d

    def __post_init__(self):
        for name in SPEED_KNOB_DEFAULTS:
            _check(isinstance(getattr(self, name), bool), name, getattr(self, name), "True or False")
        _check(self.train_on in TRAIN_ON, "train_on", self.train_on, f"one of {TRAIN_ON}")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "a number > 0")
        _check(self.epochs > 0 or self.max_steps > 0, "epochs", self.epochs, "a number > 0 (or max_steps > 0)")
        _check(isinstance(self.batch_size, int) and self.batch_size > 0, "batch_size", self.batch_size, "an integer > 0")
        _check(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", self.gradient_accumulation_steps, "an integer >= 1")
        _check(0 <= self.warmup_ratio < 1, "warmup_ratio", self.warmup_ratio, "a number in [0, 1)")
        _check(self.max_length >= 16, "max_length", self.max_length, "an integer >= 16 (tokens)")
        _check(self.n_entities is None or self.n_entities >= 1, "n_entities", self.n_entities, "None or an integer >= 1")
        _check(self.max_examples is None or self.max_examples >= 1, "max_examples", self.max_examples, "None or an integer >= 1")
        _check(self.paraphrases is None or self.paraphrases >= 1, "paraphrases", self.paraphrases, "None or an integer >= 1")
        _check(self.context in ("closed_book", "raft"), "context", self.context, "'closed_book' or 'raft'")
        if isinstance(self.lora, dict):
            object.__setattr__(self, "lora", LoraSettings(**self.lora))

    @property
    def method(self) -> str:
        """``"full"``, ``"lora"``, ``"dora"``, or ``"raft"`` for a hybrid adapter."""
        if self.context == "raft":
            return "raft"
        if self.lora is None:
            return "full"
        return "dora" if self.lora.use_dora else "lora"


@dataclass(frozen=True)
class RagSettings(_Settings):
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
        _check(isinstance(self.top_k, int) and self.top_k > 0, "top_k", self.top_k, "an integer > 0")
        _check(self.search_type in SEARCH_TYPES, "search_type", self.search_type, f"one of {SEARCH_TYPES}")
        _check(self.fetch_k >= 1, "fetch_k", self.fetch_k, "an integer >= 1")
        _check(0 <= self.lambda_mult <= 1, "lambda_mult", self.lambda_mult, "a number in [0, 1]")
        _check(isinstance(self.chunk_size, int) and self.chunk_size > 0, "chunk_size", self.chunk_size, "an integer > 0 (characters)")
        _check(0 <= self.chunk_overlap < self.chunk_size, "chunk_overlap", self.chunk_overlap, f"an integer in [0, chunk_size={self.chunk_size})")
        _check(self.knowledge in ("original", "revised"), "knowledge", self.knowledge, "'original' or 'revised'")
        from .prompts import CONTEXT_VARIANTS

        _check(self.prompt_variant in CONTEXT_VARIANTS, "prompt_variant", self.prompt_variant, f"one of {sorted(CONTEXT_VARIANTS)}")


@dataclass(frozen=True)
class EvalSettings(_Settings):
    """What an evaluation covers.

    Attributes:
        n_entities: entities of the knowledge set (None = all).
        max_questions: cap per split (None = all), for smoke runs.
        max_new_tokens: generation budget per answer (tokens).
        batch_size: questions per forward pass.
        perplexity_texts: how many real-text passages (Python docs) for perplexity.
        perplexity_tokens: tokens per passage.
    """

    n_entities: int | None = None
    max_questions: int | None = None
    max_new_tokens: int = 24
    batch_size: int = 16
    perplexity_texts: int = 8
    perplexity_tokens: int = 256

    def __post_init__(self):
        _check(self.n_entities is None or self.n_entities >= 1, "n_entities", self.n_entities, "None or an integer >= 1")
        _check(self.max_questions is None or self.max_questions >= 1, "max_questions", self.max_questions, "None or an integer >= 1")
        _check(self.max_new_tokens >= 1, "max_new_tokens", self.max_new_tokens, "an integer >= 1")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
