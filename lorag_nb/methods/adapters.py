"""LoRA adapters through PEFT: config from settings, a fresh wrap per config, counts, save/load, merge check.

LoRA (Hu et al. 2021, *LoRA: Low-Rank Adaptation of Large Language Models*) freezes a pretrained weight
W0 (d_out × d_in) and learns a low-rank update: W = W0 + (lora_alpha / r) · B A, with A (r × d_in)
and B (d_out × r); B starts at zero, so the wrapped model starts exactly equal to the base model.
Variants exposed by :class:`~lorag_nb.core.config.LoraSettings`: rank-stabilized scaling lora_alpha / sqrt(r)
(rsLoRA, Kalajdzievski 2023) and the magnitude/direction decomposition of DoRA (Liu et al. 2024).
Everything here is a thin layer over the PEFT library (``peft.LoraConfig``, ``get_peft_model``,
``PeftModel``); nothing re-implements LoRA.

Pitfall handled here: ``peft.get_peft_model`` injects the adapter layers INTO the model it is given,
so wrapping the same base twice stacks or keeps the old adapter. :func:`wrap` always wraps a fresh
deep copy, and leaves the base untouched.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorag_nb.core.config import TARGET_PRESETS, LoraSettings
from lorag_nb.methods.models import count_parameters, resolve_model_source

#: Name of the folder (inside a result's artifact folder) that holds a saved adapter.
ADAPTER_DIRNAME = "adapter"


# --------------------------------------------------------------------------- module names


def _conv1d_class():
    """transformers' ``Conv1D`` (GPT-2's linear layers: weight stored as d_in × d_out), or None."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - transformers is a dependency
        return None
    return Conv1D


def _is_linear(mod) -> bool:
    import torch

    conv1d = _conv1d_class()
    return isinstance(mod, torch.nn.Linear) or (conv1d is not None and isinstance(mod, conv1d))


def _out_in(mod) -> tuple[int, int]:
    """``(d_out, d_in)`` of a linear layer: ``nn.Linear`` stores d_out × d_in, GPT-2's ``Conv1D`` d_in × d_out."""
    conv1d = _conv1d_class()
    d0, d1 = tuple(mod.weight.shape)
    return (d1, d0) if conv1d is not None and isinstance(mod, conv1d) else (d0, d1)


def linear_layers(model) -> dict[str, tuple[int, int]]:
    """Full module name → ``(d_out, d_in)`` of every layer LoRA can adapt: ``torch.nn.Linear`` and GPT-2's
    ``Conv1D``, in model order. An adapter's own A/B matrices are left out, and a layer already wrapped by
    PEFT is listed under its own name (not ``….base_layer``)."""
    out = {}
    for name, mod in model.named_modules():
        parts = name.split(".")
        if any(p.startswith("lora_") for p in parts) or not _is_linear(mod):
            continue
        if parts[-1] == "base_layer":
            name = ".".join(parts[:-1])
        out[name] = _out_in(mod)
    return out


def linear_module_names(model) -> list[str]:
    """Sorted distinct short names (last path component) of every linear layer of ``model`` (:func:`linear_layers`).

    For SmolLM2 (Llama): ``down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj``; for
    GPT-2: ``c_attn, c_fc, c_proj, lm_head``. These are the names ``target_modules`` can use.
    """
    return sorted({n.rsplit(".", 1)[-1] for n in linear_layers(model)})


def _matches(layer: str, target: str) -> bool:
    """PEFT's rule for a list of target names: the full name equals ``target`` or ends with ``"." + target``."""
    return layer == target or layer.endswith("." + target)


def _output_head(model) -> set[str]:
    """Names of the output head (``get_output_embeddings()``; ``lm_head``), which presets never adapt
    (PEFT's own ``"all-linear"`` leaves it out too)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = {n for n, m in model.named_modules() if head is not None and m is head}
    return names | {n for n in linear_layers(model) if n.rsplit(".", 1)[-1] == "lm_head"}


#: Preset → the word its layers' enclosing module class carries (``LlamaAttention``, ``GPT2MLP``, ``Qwen2MLP`` …).
PRESET_BLOCKS = {"attention": "attention", "mlp": "mlp"}


def preset_layers(model, preset: str) -> list[str]:
    """Full names of the linear layers a preset targets in ``model``, for any architecture.

    - ``"all-linear"``: every linear layer (``nn.Linear`` or GPT-2's ``Conv1D``) except the output head,
      as PEFT's ``target_modules="all-linear"`` (Llama, Qwen2: the seven projections; GPT-2: ``c_attn``,
      ``attn.c_proj``, ``c_fc``, ``mlp.c_proj``).
    - ``"attention"`` / ``"mlp"``: the linear layers inside a module whose class name contains
      "Attention" / "MLP" (``LlamaAttention`` → q/k/v/o_proj; ``GPT2Attention`` → ``c_attn`` and the
      attention's ``c_proj``; ``Qwen2MLP`` → gate/up/down_proj). For a model without such classes, the
      Llama names of :data:`lorag_nb.core.config.TARGET_PRESETS`.

    Raises:
        ValueError: an unknown preset, or one that matches no layer of ``model`` (names the model's linear modules).
    """
    if preset not in TARGET_PRESETS:
        raise ValueError(f"target_modules preset {preset!r} is unknown; valid: {sorted(TARGET_PRESETS)}")
    layers = [n for n in linear_layers(model) if n not in _output_head(model)]
    if preset == "all-linear":
        chosen = layers
    else:
        modules = dict(model.named_modules())
        word = PRESET_BLOCKS[preset]

        def inside(name: str) -> bool:
            parts = name.split(".")
            return any(word in type(modules.get(".".join(parts[:k]))).__name__.lower() for k in range(1, len(parts)))

        chosen = [n for n in layers if inside(n)] or [n for n in layers if any(_matches(n, t) for t in TARGET_PRESETS[preset])]
    if not chosen:
        raise ValueError(f"target_modules={preset!r} matches no linear layer of this model; its linear module names are {linear_module_names(model)}")
    return chosen


def compact_targets(model, layers: list[str]) -> list[str]:
    """The shortest PEFT target names that select exactly ``layers`` (full names) in ``model``: each layer's
    last name component, lengthened by its parents only where the short name would also select a layer
    outside ``layers`` (GPT-2's ``c_proj`` is in both the attention and the MLP: ``attn.c_proj``). In order
    of first appearance; for Llama's seven projections, the seven short names."""
    every = list(linear_layers(model))
    wanted = set(layers)
    out: list[str] = []
    for name in layers:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            target = ".".join(parts[-k:])
            if {n for n in every if _matches(n, target)} <= wanted:
                break
        if target not in out:
            out.append(target)
    return out


def targeted_layers(model, settings: LoraSettings) -> dict[str, tuple[int, int]]:
    """Full name → ``(d_out, d_in)`` of every layer LoRA with ``settings`` adapts in ``model``.

    Raises:
        ValueError: see :func:`resolve_target_modules`.
    """
    layers = linear_layers(model)
    targets = resolve_target_modules(model, settings)
    return {n: shape for n, shape in layers.items() if any(_matches(n, t) for t in targets)}


def resolve_target_modules(model, settings: LoraSettings) -> list[str]:
    """The ``target_modules`` to give PEFT for ``model``, checked against the model's linear layers.

    A preset (``"all-linear"``, ``"attention"``, ``"mlp"``) is resolved against this model's own modules
    (:func:`preset_layers`), so it works for Llama-, Qwen2- and GPT-2-style names, and written as the
    shortest names that select exactly those layers (:func:`compact_targets`; SmolLM2's ``"all-linear"``
    stays the seven projection names). A list of names is checked as given.

    Raises:
        ValueError: a target module name (or preset) that matches no linear layer of ``model``; the message
            names it and lists the model's linear module names.
    """
    if isinstance(settings.target_modules, str):
        return compact_targets(model, preset_layers(model, settings.target_modules))
    layers = linear_layers(model)
    names = list(settings.module_names)
    missing = [t for t in names if not any(_matches(n, t) for n in layers)]
    if missing:
        raise ValueError(
            f"target_modules {missing} match no linear layer of this model; "
            f"its linear module names are {linear_module_names(model)} (or use a preset: 'attention', 'mlp', 'all-linear')"
        )
    return names


def lora_config(settings: LoraSettings, model=None):
    """``peft.LoraConfig`` for ``settings`` (task ``CAUSAL_LM``, no bias training).

    Args:
        settings: r, lora_alpha, lora_dropout, target_modules, use_rslora, use_dora.
        model: if given, target modules are checked against it (see :func:`resolve_target_modules`).

    Raises:
        ValueError: a target module that matches nothing in ``model``. (Bad r, lora_alpha or
            lora_dropout already raise when ``settings`` is built.)
    """
    from peft import LoraConfig

    targets = resolve_target_modules(model, settings) if model is not None else list(settings.module_names)
    conv1d = _conv1d_class()
    fan_in_fan_out = model is not None and conv1d is not None and any(
        isinstance(m, conv1d) for n, m in model.named_modules() if any(_matches(n, t) for t in targets))  # GPT-2's Conv1D stores W transposed
    return LoraConfig(
        fan_in_fan_out=fan_in_fan_out,
        task_type="CAUSAL_LM",
        r=settings.r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        use_rslora=settings.use_rslora,
        use_dora=settings.use_dora,
        bias="none",
    )


def wrap(base_model, settings: LoraSettings):
    """A new ``peft.PeftModel`` with a LoRA adapter on a FRESH deep copy of ``base_model``.

    ``base_model`` is never modified (``get_peft_model`` mutates the model it is given), so wrapping
    one base with several configs gives independent models whose trainable counts match each config.
    Only the LoRA matrices (and DoRA magnitudes) are trainable. Seed first (``seed_everything``) for a
    reproducible initialization of A.

    Raises:
        ValueError: a target module name that matches no linear layer (see :func:`resolve_target_modules`).
    """
    from peft import get_peft_model

    config = lora_config(settings, base_model)  # validates before copying 540 MB
    fresh = copy.deepcopy(base_model)
    with _quiet_peft():
        return get_peft_model(fresh, config)


@contextlib.contextmanager
def _quiet_peft():
    """Silence one FutureWarning PEFT 0.21 triggers in transformers 5 (``is_gradient_checkpointing``)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


# --------------------------------------------------------------------------- counts and shapes


def parameter_counts(model) -> dict:
    """``{"trainable", "total", "trainable_fraction"}`` (counts of parameters; tied weights once)."""

    trainable, total = count_parameters(model)
    return {"trainable": trainable, "total": total, "trainable_fraction": trainable / total if total else 0.0}


def expected_trainable(model, settings: LoraSettings) -> int:
    """Trainable parameters LoRA with ``settings`` adds to ``model``, computed from its layer shapes.

    Σ over the targeted layers (:func:`targeted_layers`) of r · (d_in + d_out), plus d_out per layer for
    DoRA's magnitude vector. Works on a model on the ``meta`` device (no weights needed) and for any
    architecture whose linear layers are ``nn.Linear`` or GPT-2's ``Conv1D``.

    Raises:
        ValueError: a target module that matches nothing.
    """
    return sum(settings.r * (d_in + d_out) + (d_out if settings.use_dora else 0) for d_out, d_in in targeted_layers(model, settings).values())


def per_rank(model, target_modules: str | tuple[str, ...] = "all-linear") -> int:
    """Trainable LoRA parameters per unit of rank on ``model``: Σ (d_in + d_out) over the targeted layers
    (:func:`expected_trainable` at r = 1, without DoRA)."""
    return expected_trainable(model, LoraSettings(r=1, target_modules=target_modules))


def per_rank_markdown(model, targets=("all-linear", "attention")) -> str:
    """One sentence, computed from ``model``'s layers: how many parameters LoRA trains per unit of rank on
    each target preset, over how many layers, and which module names that means here."""
    parts = []
    for t in targets:
        layers = targeted_layers(model, LoraSettings(r=1, target_modules=t))
        names = ", ".join(f"`{n}`" for n in compact_targets(model, list(layers)))
        parts.append(f"on {t} ({len(layers)} layers: {names}) exactly **{per_rank(model, t):,} × r** parameters")
    return "On this model, LoRA trains " + "; ".join(parts) + "."


@dataclass
class LoraShapes:
    """Shapes of W = W0 + B A on one real layer.

    Attributes:
        module: full module name (e.g. ``model.layers.0.self_attn.q_proj``).
        r: the rank.
        w0: shape of the frozen weight (d_out, d_in).
        a: shape of A (r, d_in). b: shape of B (d_out, r).
        w0_params: d_out · d_in. lora_params: r · (d_in + d_out). ratio: lora_params / w0_params.
    """

    module: str
    r: int
    w0: tuple[int, int]
    a: tuple[int, int]
    b: tuple[int, int]
    w0_params: int
    lora_params: int

    @property
    def ratio(self) -> float:
        return self.lora_params / self.w0_params

    def as_rows(self) -> list[dict]:
        """Rows for a table: matrix, shape, parameters."""
        return [
            {"matrix": "W0 (frozen)", "shape": f"{self.w0[0]} × {self.w0[1]}", "parameters": self.w0_params},
            {"matrix": "A (trained)", "shape": f"{self.a[0]} × {self.a[1]}", "parameters": self.a[0] * self.a[1]},
            {"matrix": "B (trained)", "shape": f"{self.b[0]} × {self.b[1]}", "parameters": self.b[0] * self.b[1]},
            {"matrix": "B·A (= ΔW)", "shape": f"{self.b[0]} × {self.a[1]}", "parameters": self.lora_params},
        ]


def lora_shapes(model, module_name: str = "q_proj", r: int = 8, layer: int = 0) -> LoraShapes:
    """Shapes of W0, A and B for ``module_name`` in layer ``layer`` of ``model`` (the base, or a PeftModel).

    If ``model`` is wrapped, the shapes are read from its real ``lora_A``/``lora_B`` weights (and
    ``r`` is taken from them); otherwise they are derived from W0 and ``r``.

    Raises:
        ValueError: ``module_name`` is not a linear layer name of ``model``, ``r`` < 1, or ``layer`` out of range.
    """
    import torch

    if r < 1:
        raise ValueError(f"r={r} is invalid; valid: an integer > 0")
    linear = linear_module_names(model)
    if module_name not in linear:
        raise ValueError(f"module_name={module_name!r} is not a linear layer of this model; valid: {linear}")
    candidates = [(n, m) for n, m in model.named_modules() if n.endswith("." + module_name) and hasattr(m, "weight") and f".{layer}." in n]
    if not candidates:
        raise ValueError(f"layer={layer} has no {module_name!r}; valid layers: 0 to {_n_layers(model) - 1}")
    name, mod = candidates[0]
    base_layer = getattr(mod, "base_layer", mod)
    d_out, d_in = _out_in(base_layer)
    if hasattr(mod, "lora_A") and "default" in getattr(mod, "lora_A", {}):
        a = tuple(mod.lora_A["default"].weight.shape)
        b = tuple(mod.lora_B["default"].weight.shape)
        r = a[0]
    else:
        a, b = (r, d_in), (d_out, r)
    assert isinstance(base_layer, torch.nn.Module)
    return LoraShapes(module=name.replace("base_model.model.", ""), r=r, w0=(d_out, d_in), a=a, b=b, w0_params=d_out * d_in, lora_params=r * (d_in + d_out))


def _n_layers(model) -> int:
    cfg = getattr(model, "config", None)
    return int(getattr(cfg, "num_hidden_layers", 0) or 0)


def meta_model(name: str = "embedded"):
    """The architecture of ``name`` on the ``meta`` device: exact layer shapes, no weights, no memory.

    For parameter-count charts without loading 540 MB (config read from the local model folder).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM


    source, _ = resolve_model_source(name)
    cfg = AutoConfig.from_pretrained(source, local_files_only=True)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(cfg)


# --------------------------------------------------------------------------- save, load, merge


def folder_size(path: str | Path) -> int:
    """Total size in bytes of the files under ``path`` (a file's own size if ``path`` is a file)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def save_adapter(peft_model, folder: str | Path, base_model: str | None = None) -> int:
    """Save only the adapter (PEFT format: ``adapter_config.json`` + ``adapter_model.safetensors``).

    Args:
        base_model: the base model's name as :func:`lorag_nb.methods.models.load_model` takes it
            (``"embedded"``, a Hugging Face id, a folder), written as ``base_model_name_or_path`` in
            ``adapter_config.json`` instead of the folder the base was loaded from (for the embedded
            model an absolute path into this machine's cache), so the adapter names its base on any
            machine. None keeps PEFT's value.

    Returns:
        The folder's size on disk in bytes.
    """
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(folder), safe_serialization=True)
    if base_model is not None:  # rewritten after saving: PEFT checks the saved name on the Hub when saving
        config_path = folder / "adapter_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_model
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        readme = folder / "README.md"
        if readme.is_file() and peft_model.peft_config:
            old = next(iter(peft_model.peft_config.values())).base_model_name_or_path
            if old:
                readme.write_text(readme.read_text(encoding="utf-8").replace(str(old), base_model), encoding="utf-8")
    return folder_size(folder)


def load_adapter(base_model, folder: str | Path, copy_base: bool = True):
    """``PeftModel.from_pretrained`` on a fresh copy of ``base_model`` (or on it, if ``copy_base=False``).

    Returns the wrapped model in eval mode; its logits equal those of the model that was saved.

    Raises:
        FileNotFoundError: ``folder`` has no ``adapter_config.json``.
    """
    from peft import PeftModel

    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a PEFT adapter folder (no adapter_config.json)")
    base = copy.deepcopy(base_model) if copy_base else base_model
    with _quiet_peft():
        model = PeftModel.from_pretrained(base, str(folder))
    model.eval()
    return model


def fixed_input(tokenizer, text: str = "The capital of France is Paris. LoRA adds a low-rank update B A to W0.") -> dict:
    """A fixed tokenized input (batch of 1) for logit comparisons."""
    return dict(tokenizer(text, return_tensors="pt", add_special_tokens=False))


def logits(model, inputs: dict):
    """Float32 logits of ``model`` on ``inputs`` (eval mode, no grad), on CPU."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(**{k: v.to(device) for k, v in inputs.items()}).logits.float().cpu()
    if was_training:
        model.train()
    return out


def merge_check(peft_model, inputs: dict | None = None, tokenizer=None, dtype=None) -> float:
    """Max absolute logit difference between the adapter model and its merged copy.

    ``merge_and_unload()`` folds B A into W0 (W = W0 + scale · B A) on a deep copy, so ``peft_model``
    stays usable. In fp32 the difference should be ≤ 1e-4 (rounding only).

    Args:
        inputs: tokenized input; default :func:`fixed_input` (needs ``tokenizer``).
        dtype: run both models in this dtype (on copies), e.g. ``torch.float64`` to separate the
            merge's exactness from fp32 rounding; default: the model's own dtype.

    Raises:
        ValueError: neither ``inputs`` nor ``tokenizer`` given.
    """
    import torch

    if inputs is None:
        if tokenizer is None:
            raise ValueError("merge_check needs inputs or a tokenizer to build the fixed input")
        inputs = fixed_input(tokenizer)
    model = peft_model if dtype is None else copy.deepcopy(peft_model).to(dtype)
    before = logits(model, inputs)
    merged = copy.deepcopy(model).merge_and_unload()
    after = logits(merged, inputs) if dtype is None else _logits_as(merged, inputs, dtype)
    if dtype is not None:
        before = _logits_as(model, inputs, dtype)
    del merged
    return float(torch.max(torch.abs(before - after)))


def _logits_as(model, inputs: dict, dtype):
    """Logits in ``dtype`` (no down-cast to float32), eval mode, no grad."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return model(**{k: v.to(device) for k, v in inputs.items()}).logits.to(dtype).cpu()


# --------------------------------------------------------------------------- tables for notebook 02


def count_table(model, ranks, targets=("all-linear", "attention")) -> "Any":
    """Trainable LoRA parameters per rank and target set: a pandas DataFrame indexed by rank.

    One column per target preset (computed from the model's layer shapes by :func:`expected_trainable`),
    the parameters per unit of rank, and the share of the model's total parameters for the first preset.
    """
    import pandas as pd


    _, total = count_parameters(model)
    rows = []
    for r in sorted(set(int(x) for x in ranks)):
        row = {"r": r}
        for t in targets:
            row[f"trainable ({t})"] = expected_trainable(model, LoraSettings(r=r, target_modules=t))
        first = row[f"trainable ({targets[0]})"]
        row[f"per unit of rank ({targets[0]})"] = first // r
        row[f"share of {total:,} ({targets[0]})"] = f"{100 * first / total:.2f}%"
        rows.append(row)
    return pd.DataFrame(rows).set_index("r")


def merge_report(peft_model, tokenizer, tolerance: float = 1e-4, relative_tolerance: float = 1e-5) -> dict:
    """:func:`merge_check` on the fixed input, in the model's dtype and with float64 weights, for display.

    In fp32 the merged and unmerged models round differently (W0 + s·BA is rounded once; x·W0 and
    s·(x·A)·B separately), and the difference grows with the size of the logits (a trained adapter on
    SmolLM2 gives logits up to ~35, and differences around 1e-4). With float64 weights the difference
    vanishes, which shows the merge itself is exact. (transformers' Llama RMSNorm still computes in
    float32 internally, so the float64 figure is an upper bound on nothing but rounding.)

    Returns a dict: max |logit difference| in the model's dtype, the largest |logit|, their ratio,
    whether the difference is within ``tolerance`` (absolute) and within ``relative_tolerance`` ×
    largest |logit|, and the difference with float64 weights.
    """
    import torch

    inputs = fixed_input(tokenizer)
    diff = merge_check(peft_model, inputs)
    scale = float(logits(peft_model, inputs).abs().max())
    diff64 = merge_check(peft_model, inputs, dtype=torch.float64)
    dtype = str(next(peft_model.parameters()).dtype).replace("torch.", "")
    return {
        f"max |logit difference| ({dtype})": diff,
        "largest |logit|": scale,
        "relative difference": diff / scale if scale else 0.0,
        f"within {tolerance:g} absolute": diff <= tolerance,
        f"within {relative_tolerance:g} relative": diff <= relative_tolerance * max(scale, 1.0),
        "max |logit difference| (float64 weights)": diff64,
    }
