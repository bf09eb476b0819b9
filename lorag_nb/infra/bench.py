"""Benchmarks: our code paths against a plain baseline measured in the same run, reported as ratios.

``lorag-nb bench [training|retrieval|evaluation|model_load|notebooks]`` runs them (plain
``lorag-nb bench`` runs the first four); each prints a Markdown table and writes
``runs/bench/<name>.json`` (``$LORAG_NB_BENCH_DIR`` overrides the folder). The machine, the load
average and the thread count go into every JSON, because absolute times on a shared 2-core machine
are noise — ratios measured in one run are what the targets are about.

- :func:`bench_training`: our :func:`lorag_nb.methods.training.train` (transformers ``Trainer``) vs a plain
  PyTorch loop (forward, backward, gradient clipping at 1.0, ``torch.optim.AdamW``, linear warm-up
  schedule) over EXACTLY the batches the Trainer saw (the collator's output is recorded and replayed).
  Tokens/s count non-padding tokens (attention-mask sum) in both. Model FLOPs per token: full
  fine-tuning 6N + 12·L·H·Q·T (Kaplan et al. 2020 for 6N; the attention term from Chowdhery et al.
  2022, PaLM, appendix B); LoRA 4·N_frozen + 6·N_lora + 12·L·H·Q·T — the forward pass (2N) and the
  input-gradient half of the backward pass (2N) still run through every frozen weight; only the
  weight-gradient half (2N) is skipped for frozen weights (Hu et al. 2021, LoRA, §4.2 make the same
  argument for their ~25% training speed-up). N counts the weights used in matmuls: every parameter,
  the tied embedding once (as the output layer; the input lookup is free). MFU = achieved model FLOP/s
  ÷ peak FLOP/s; the CPU peak is MEASURED in the same run (best fp32 ``torch.matmul`` of two square
  matrices, same thread count), the GPU peak is the spec sheet's dense bf16 (989 TFLOP/s for H100/H200
  SXM) with the measured bf16 matmul peak reported beside it.
- :func:`bench_retrieval`: Chroma (HNSW, ``hnsw:space=cosine``) vs exact cosine search in NumPy over the
  same vectors: indexing chunks/s (embedding included and excluded), query latency p50/p95, recall@10.
- :func:`bench_evaluation`: batched generation and multiple-choice scoring vs one question at a time.
- :func:`bench_notebooks`: wall time of each notebook (smoke or default parameters) on a fresh store.
- :func:`bench_model_load`: first load (GGUF → safetensors conversion) vs cached reload.
"""
from __future__ import annotations

import copy
import datetime as _dt
import gc
import json
import math
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from lorag_nb.core.config import LoraSettings, TrainingSettings, seed_everything
from lorag_nb.core.fmt import percentile
from lorag_nb.core.paths import REPO_ROOT
from lorag_nb.data.knowledge import Document, load_knowledge, load_python_docs
from lorag_nb.data.prompts import make_prompt
from lorag_nb.infra.runner import run_notebooks
from lorag_nb.methods import models, training
from lorag_nb.methods.adapters import wrap
from lorag_nb.methods.evaluation import generate, multiple_choice_scores
from lorag_nb.methods.models import load_embeddings, load_model
from lorag_nb.methods.retrieval import CachedEmbeddings, KnowledgeBase, make_client
from lorag_nb.methods.training import PeakMemory

#: Benchmarks run by a plain ``lorag-nb bench``; ``notebooks`` is run only when named.
DEFAULT_BENCHES = ("training", "retrieval", "evaluation", "model_load")
ALL_BENCHES = DEFAULT_BENCHES + ("notebooks",)
#: Dense bf16 peak of an H100/H200 SXM (NVIDIA spec sheet, without sparsity), FLOP/s.
H200_BF16_PEAK = 989e12

# --------------------------------------------------------------------------- reporting


def bench_dir() -> Path:
    """Where benchmark JSON goes: ``$LORAG_NB_BENCH_DIR`` or ``<repo>/runs/bench`` (created)."""
    path = Path(os.environ.get("LORAG_NB_BENCH_DIR") or REPO_ROOT / "runs" / "bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine_info() -> dict:
    """Date (UTC), CPU model, cores, torch threads, 1/5/15-minute load averages, versions, GPU name if any."""
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux/macOS
        load = None
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": load,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a Markdown table (floats with 3 significant digits, None as ``-``)."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "NO"
        if isinstance(v, float):
            if v != v:
                return "nan"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_result(name: str, result: dict, out_dir: Path | None = None) -> Path:
    """Write ``result`` as ``<out_dir>/<name>.json`` (default :func:`bench_dir`); returns the path."""
    out = Path(out_dir) if out_dir is not None else bench_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    return path


def _target(value, target, higher_is_better: bool = True, label: str = "") -> dict:
    met = None if value is None else (value >= target if higher_is_better else value <= target)
    return {"value": value, "target": target, "direction": ">=" if higher_is_better else "<=", "met": met, "what": label}


def targets_table(targets: dict) -> str:
    """A Markdown table of ``name → _target(...)`` entries."""
    rows = [{"target": k, "what": v["what"], "value": v["value"], "goal": f"{v['direction']} {v['target']}", "met": v["met"]} for k, v in targets.items()]
    return markdown_table(rows, ["target", "what", "value", "goal", "met"])




# --------------------------------------------------------------------------- training: FLOPs and peak


def matmul_peak_flops(device: str = "cpu", dtype: str = "float32", n: int | None = None, repeats: int = 5) -> float:
    """Measured matmul peak, FLOP/s: best of ``repeats`` timings of one ``n × n`` by ``n × n`` product.

    Defaults: n = 1024 on CPU (fp32, the thread count torch uses now), 8192 on CUDA (synchronized).
    Counts 2n³ FLOPs per product.
    """
    import torch

    cuda = device.startswith("cuda")
    n = n or (8192 if cuda else 1024)
    dt = getattr(torch, dtype)
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    best = float("inf")
    for _ in range(repeats + 1):  # first one warms up
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        (a @ b)
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def model_shape(model) -> dict:
    """``layers`` (L), ``heads`` (H), ``head_dim`` (Q), ``matmul_params`` (N: all parameters, tied
    weights once) of a decoder-only transformers model (a PEFT wrapper is looked through)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = base.config
    heads = int(cfg.num_attention_heads)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
    n = sum(p.numel() for n_, p in base.named_parameters() if "lora_" not in n_)
    return {"layers": int(cfg.num_hidden_layers), "heads": heads, "head_dim": head_dim, "matmul_params": int(n)}


def flops_per_token(shape: dict, seq_len: float, lora_params: int = 0) -> tuple[float, str]:
    """Model FLOPs per trained token and the formula used.

    Full fine-tuning (``lora_params == 0``): 6N + 12·L·H·Q·T (Kaplan et al. 2020; PaLM appendix B).
    LoRA: 4·N + 6·N_lora + 12·L·H·Q·T — forward 2N and input gradients 2N through the frozen weights,
    forward and both backward halves (6·N_lora) for the adapter. ``seq_len`` = T, the mean real length.
    """
    n = shape["matmul_params"]
    attn = 12 * shape["layers"] * shape["heads"] * shape["head_dim"] * seq_len
    if lora_params:
        return 4 * n + 6 * lora_params + attn, "4N + 6N_lora + 12LHQT"
    return 6 * n + attn, "6N + 12LHQT"


# --------------------------------------------------------------------------- training: the two paths


class _StepClock:
    """A ``TrainerCallback``-compatible recorder of the wall clock at the end of each optimizer step."""

    def __init__(self, device: str):
        self.device = device
        self.ends: list[float] = []
        self.start = None

    def _now(self) -> float:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def callback(self):
        from transformers import TrainerCallback

        clock = self

        class StepClock(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                clock.start = clock._now()

            def on_step_end(self, args, state, control, **kwargs):
                clock.ends.append(clock._now())

        return StepClock()


def recording_collator(tokenizer, batches: list) -> Any:
    """The collator :func:`lorag_nb.methods.training.train` uses (:func:`~lorag_nb.methods.training.make_collator`),
    appending a copy of every batch it produces to ``batches``, so the plain loop can replay exactly the
    Trainer's batches (passed as ``train(..., data_collator=...)``; the dataloader may prefetch one batch
    beyond the last step)."""

    inner = training.make_collator(tokenizer)

    def collate(features):
        out = inner(features)
        batches.append({k: v.clone() for k, v in out.items()})
        return out

    return collate


def plain_loop(model, batches: Sequence[dict], learning_rate: float, warmup_ratio: float = 0.0, weight_decay: float = 0.0, max_grad_norm: float = 1.0, bf16: bool = False, device: str = "cpu", fused: bool = False) -> dict:
    """A plain PyTorch training loop: one optimizer step per batch.

    forward → ``loss.backward()`` → ``clip_grad_norm_(max_grad_norm)`` → ``torch.optim.AdamW.step()``
    (PyTorch's default implementation; ``fused=True``: the fused kernel) → linear warm-up/decay schedule (``LambdaLR``, the schedule
    ``Trainer`` uses) → ``zero_grad``. ``bf16``: autocast to bf16 (fp32 weights), as ``Trainer(bf16=True)``.

    Returns:
        ``losses`` (per step), ``step_ends`` (wall clock at each step end, s), ``start``, ``tokens``
        (non-padding tokens, attention-mask sum), ``seconds``.
    """
    import torch

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    steps = len(batches)
    warmup = math.ceil(warmup_ratio * steps)
    cuda = device.startswith("cuda")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    sync()
    start, cpu0 = time.perf_counter(), time.process_time()
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay, **({"fused": True} if fused else {}))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s / max(1, warmup)) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    losses, ends, tokens = [], [], 0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        tokens += int(batch["attention_mask"].sum())
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        sync()
        ends.append(time.perf_counter())
    cpu_seconds = time.process_time() - cpu0
    model.eval()
    return {"losses": losses, "step_ends": ends, "start": start, "tokens": tokens, "seconds": ends[-1] - start if ends else 0.0, "cpu_seconds": cpu_seconds}


def _rate(ends: Sequence[float], start: float, step_tokens: Sequence[int], skip: int) -> dict:
    """Tokens/s over all steps and over steps after the first ``skip`` (steady state)."""
    total_s = ends[-1] - start
    out = {"seconds": total_s, "tokens": int(sum(step_tokens)), "tokens_per_second": sum(step_tokens) / total_s if total_s > 0 else None}
    if len(ends) > skip + 1 and skip >= 1:
        s = ends[-1] - ends[skip - 1]
        out["steady_tokens_per_second"] = sum(step_tokens[skip:]) / s if s > 0 else None
        out["steady_seconds_per_step"] = s / (len(ends) - skip)
    else:
        out["steady_tokens_per_second"] = out["tokens_per_second"]
        out["steady_seconds_per_step"] = total_s / max(1, len(ends))
    return out


def padding_fraction(lengths: Sequence[int], batch_size: int, grouped: bool, seed: int = 0) -> float:
    """Padding share of one epoch's padded tokens when batching ``lengths`` (padding to each batch's longest).

    ``grouped=False``: a random permutation (``RandomSampler``); True: transformers'
    ``LengthGroupedSampler`` (what ``TrainingSettings(group_by_length=True)`` uses). Seeded.
    """
    import torch

    g = torch.Generator()
    g.manual_seed(seed)
    if grouped:
        from transformers.trainer_pt_utils import LengthGroupedSampler

        order = list(LengthGroupedSampler(batch_size, lengths=list(lengths), generator=g))
    else:
        order = torch.randperm(len(lengths), generator=g).tolist()
    real = padded = 0
    for i in range(0, len(order), batch_size):
        b = [lengths[j] for j in order[i : i + batch_size]]
        real += sum(b)
        padded += max(b) * len(b)
    return 1.0 - real / padded if padded else 0.0


def docs_examples(tokenizer, seq_len: int, n: int) -> list[dict]:
    """``n`` full-length ``seq_len``-token windows of Python's documentation (every position a label).

    The text is tokenized once, joined with EOS and cut into windows (cycled if ``n`` exceeds them):
    no padding at all, one fixed shape (what a compiled GPU run wants).
    """

    ids: list[int] = []
    for doc in load_python_docs():
        ids += tokenizer(doc.text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(ids) >= seq_len * n:
            break
    windows = [ids[i : i + seq_len] for i in range(0, len(ids) - seq_len + 1, seq_len)]
    out = []
    for k in range(n):
        w = windows[k % len(windows)]
        out.append({"input_ids": list(w), "attention_mask": [1] * seq_len, "labels": list(w)})
    return out


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def bench_training(
    device: str = "cpu",
    n_entities: int = 2,
    steps: int = 14,
    batch_size: int = 4,
    max_length: int = 128,
    r: int = 16,
    methods: Sequence[str] = ("full", "lora"),
    data: str = "qa",
    seq_len: int = 512,
    skip_steps: int = 2,
    variants: Sequence[str] = ("ours",),
    model=None,
    tokenizer=None,
    peak_flops: float | None = None,
    time_budget_s: float | None = None,
    plain_fused: bool = True,
) -> dict:
    """Training throughput: :func:`lorag_nb.methods.training.train` vs :func:`plain_loop` on the same batches.

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        n_entities, max_length: the knowledge-set QA training data (``data="qa"``, notebook 01's shape).
        steps: optimizer steps per run; ``skip_steps`` first steps are left out of the steady-state rate
            (lazy initialization, compilation).
        batch_size: examples per step (both paths).
        r: LoRA rank (lora_alpha = 2r, all linear layers).
        methods: ``"full"`` and/or ``"lora"``.
        data: ``"qa"`` or ``"docs"`` (full-length ``seq_len``-token windows of Python's docs, no padding).
        variants: our path's settings to run, each against the same plain loop: ``"ours"`` (default
            knobs), ``"ours+compile"`` (``torch_compile=True``, CUDA only), ``"ours+group"``
            (``group_by_length=True``; it changes the batches, so it is compared by padding).
        model, tokenizer: a loaded fp32 base model (loaded if None).
        peak_flops: FLOP/s for MFU (default: measured CPU matmul peak; the spec bf16 peak on CUDA).
        time_budget_s: stop starting new runs after this many seconds.
        plain_fused: also run the plain loop with ``torch.optim.AdamW(fused=True)`` (``"plain+fused"``):
            the Trainer's default optimizer is the fused kernel, PyTorch's is not; this row separates
            the optimizer kernel from the rest of the path.

    Returns:
        A dict with ``rows`` (one per method × path), ``checks`` (same token counts, loss agreement),
        ``padding`` (fraction with and without length grouping), ``targets``, ``machine``.
    """
    import torch


    t_start = time.perf_counter()
    cuda = device.startswith("cuda")
    if model is None:
        model, tokenizer = load_model("embedded", device=device, dtype="float32")
    measured_peak = matmul_peak_flops(device, "bfloat16" if cuda else "float32")
    peak = peak_flops or (H200_BF16_PEAK if cuda else measured_peak)
    shape = model_shape(model)
    base_settings = TrainingSettings(n_entities=n_entities, max_steps=steps, batch_size=batch_size, max_length=max(max_length, seq_len if data == "docs" else 16), train_on="qa")
    if data == "qa":
        ks = load_knowledge(n_entities=n_entities)
        examples = training.build_examples(tokenizer, ks, base_settings)
    elif data == "docs":
        examples = docs_examples(tokenizer, seq_len, steps * batch_size + batch_size)
    else:
        raise ValueError(f"data={data!r} is invalid; valid: 'qa' or 'docs'")
    lengths = [len(e["input_ids"]) for e in examples]
    mean_len = sum(lengths) / len(lengths)
    padding = {"examples": len(examples), "batch_size": batch_size, "mean_length": mean_len, "min_length": min(lengths), "max_length": max(lengths),
               "random": padding_fraction(lengths, batch_size, False), "group_by_length": padding_fraction(lengths, batch_size, True)}
    rows, checks, runs = [], {}, {}
    for method in methods:
        lora = LoraSettings(r=r, lora_alpha=2 * r, target_modules="all-linear") if method == "lora" else None
        lr = 1e-3 if lora else 5e-5
        for variant in variants:
            if variant != variants[0] and time_budget_s is not None and time.perf_counter() - t_start > time_budget_s:
                break  # the first variant always runs: the plain loop replays its batches
            knobs = {"torch_compile": variant.endswith("+compile"), "group_by_length": variant.endswith("+group")}
            if knobs["torch_compile"] and not cuda:
                continue
            settings = base_settings.replace(lora=lora, learning_rate=lr, **knobs)
            clock = _StepClock(device)
            seen: list[dict] = []
            out = training.train(settings, model, tokenizer, examples=examples, callbacks=[clock.callback()], data_collator=recording_collator(tokenizer, seen))
            n_steps = out.steps
            step_tokens = [int(b["attention_mask"].sum()) for b in seen[:n_steps]]
            padded = sum(int(b["attention_mask"].numel()) for b in seen[:n_steps])
            rate = _rate(clock.ends, clock.start, step_tokens, skip_steps)
            lora_params = out.trainable_params if lora else 0
            fpt, formula = flops_per_token(shape, mean_len, lora_params)
            row = {"method": method, "path": variant, "steps": n_steps, "tokens": out.tokens, **rate,
                   "tokens_per_cpu_second": out.tokens / out.extra["cpu_seconds"] if out.extra.get("cpu_seconds") else None,
                   "padding_fraction": 1 - sum(step_tokens) / padded if padded else 0.0,
                   "mfu": (rate["steady_tokens_per_second"] or 0) * fpt / peak, "flops_per_token": fpt, "flops_formula": formula,
                   "peak_memory_gib": out.peak_memory_bytes / 2**30, "memory_kind": out.memory_kind,
                   "trainable_params": out.trainable_params, "losses": out.loss_history}
            rows.append(row)
            runs[(method, variant)] = (seen[:n_steps], out)
            del out
            _free(device)
        # the plain loop over the batches our default path saw
        if (method, "ours") not in runs:
            continue
        batches = runs[(method, "ours")][0]
        bf16 = cuda and torch.cuda.is_bf16_supported()

        for path in ("plain", "plain+fused") if plain_fused else ("plain",):
            seed_everything(0)
            if lora is None:
                plain_model = copy.deepcopy(model)
                for p in plain_model.parameters():
                    p.requires_grad_(True)
            else:

                plain_model = wrap(model, lora)
            plain_model.config.use_cache = False
            with PeakMemory(device) as mem:
                res = plain_loop(plain_model, batches, lr, warmup_ratio=base_settings.warmup_ratio, bf16=bf16, device=device, fused=path == "plain+fused")
            step_tokens = [int(b["attention_mask"].sum()) for b in batches]
            rate = _rate(res["step_ends"], res["start"], step_tokens, skip_steps)
            lora_params = sum(p.numel() for p in plain_model.parameters() if p.requires_grad) if lora else 0
            fpt, formula = flops_per_token(shape, mean_len, lora_params)
            padded = sum(int(b["attention_mask"].numel()) for b in batches)
            rows.append({"method": method, "path": path, "steps": len(batches), "tokens": res["tokens"], **rate,
                         "tokens_per_cpu_second": res["tokens"] / res["cpu_seconds"] if res["cpu_seconds"] else None,
                         "padding_fraction": 1 - sum(step_tokens) / padded if padded else 0.0,
                         "mfu": (rate["steady_tokens_per_second"] or 0) * fpt / peak, "flops_per_token": fpt, "flops_formula": formula,
                         "peak_memory_gib": mem.peak / 2**30, "memory_kind": mem.kind,
                         "trainable_params": lora_params or sum(p.numel() for p in plain_model.parameters()), "losses": res["losses"]})
            if path == "plain":
                ours_row = next(r_ for r_ in rows if r_["method"] == method and r_["path"] == "ours")
                checks[method] = {
                    "tokens_ours": ours_row["tokens"], "tokens_plain": res["tokens"], "same_tokens": ours_row["tokens"] == res["tokens"],
                    "first_loss_abs_diff": abs(ours_row["losses"][0] - res["losses"][0]) if ours_row["losses"] and res["losses"] else None,
                    "max_loss_abs_diff": max((abs(a - b) for a, b in zip(ours_row["losses"], res["losses"])), default=None),
                }
            del plain_model
            _free(device)
    for method in methods:
        plain = next((x for x in rows if x["method"] == method and x["path"] == "plain"), None)
        for x in rows:
            if x["method"] == method and plain and plain["steady_tokens_per_second"]:
                x["ratio_vs_plain"] = x["steady_tokens_per_second"] / plain["steady_tokens_per_second"]
                x["ratio_vs_plain_total"] = x["tokens_per_second"] / plain["tokens_per_second"] if plain["tokens_per_second"] else None
                x["cpu_ratio_vs_plain"] = x["tokens_per_cpu_second"] / plain["tokens_per_cpu_second"] if x.get("tokens_per_cpu_second") and plain.get("tokens_per_cpu_second") else None
    targets = {}
    best = lambda m: max((x for x in rows if x["method"] == m and x["path"] != "plain"), key=lambda x: x.get("steady_tokens_per_second") or 0, default=None)  # noqa: E731
    if cuda:
        full, lora_best = best("full"), best("lora")
        if full:
            targets["gpu_full_vs_plain"] = _target(full.get("ratio_vs_plain"), 2.0, label=f"full FT, {full['path']} / plain eager (tokens/s)")
            targets["gpu_full_mfu"] = _target(full["mfu"], 0.40, label="full FT MFU vs 989 TFLOP/s bf16")
        if full and lora_best:
            targets["gpu_lora_vs_full"] = _target(lora_best["steady_tokens_per_second"] / full["steady_tokens_per_second"], 1.3, label=f"LoRA {lora_best['path']} / full FT {full['path']} (tokens/s)")
    else:
        for m in methods:
            row = next((x for x in rows if x["method"] == m and x["path"] == "ours"), None)
            if row:
                targets[f"cpu_{m}_vs_plain"] = _target(row.get("ratio_vs_plain"), 1.0, label=f"{m}: our Trainer path / plain loop (steady tokens/s)")
            fused = next((x for x in rows if x["method"] == m and x["path"] == "plain+fused"), None)
            if row and fused and fused["steady_tokens_per_second"]:
                targets[f"cpu_{m}_vs_plain_fused"] = _target(row["steady_tokens_per_second"] / fused["steady_tokens_per_second"], 1.0,
                                                             label=f"{m}: our Trainer path / plain loop with the same fused AdamW (steady tokens/s)")
    return {"device": device, "data": data, "peak_flops": peak, "peak_flops_source": "spec sheet bf16 dense (H100/H200 SXM)" if cuda and not peak_flops else ("given" if peak_flops else "measured fp32 matmul"),
            "measured_matmul_peak_flops": measured_peak, "model_shape": shape, "settings": base_settings.to_dict(), "skip_steps": skip_steps,
            "rows": rows, "checks": checks, "padding": padding, "targets": targets, "seconds": time.perf_counter() - t_start, "machine": machine_info()}


TRAINING_COLUMNS = ["method", "path", "steps", "tokens", "steady_tokens_per_second", "ratio_vs_plain", "tokens_per_second", "ratio_vs_plain_total", "tokens_per_cpu_second", "cpu_ratio_vs_plain", "mfu", "peak_memory_gib", "padding_fraction"]


def training_report(res: dict) -> str:
    """Markdown: the throughput table, checks, padding and targets of :func:`bench_training`."""
    p = res["padding"]
    lines = [
        f"### Training throughput ({res['device']}, data={res['data']}, batch {res['settings']['batch_size']}, steady state = after {res['skip_steps']} step(s))",
        markdown_table(res["rows"], TRAINING_COLUMNS),
        "",
        f"MFU = steady tokens/s × FLOPs per token ÷ {res['peak_flops'] / 1e9:.1f} GFLOP/s ({res['peak_flops_source']}; measured matmul peak "
        f"{res['measured_matmul_peak_flops'] / 1e9:.1f} GFLOP/s). FLOPs per token: "
        + "; ".join(sorted({f"{r['method']}: {r['flops_formula']} = {r['flops_per_token'] / 1e6:.0f} MFLOP" for r in res["rows"]})) + ".",
        "Same batches in both paths: " + "; ".join(f"{m}: {c['tokens_ours']:,} vs {c['tokens_plain']:,} non-padding tokens, max |Δloss| {c['max_loss_abs_diff']:.2g}" for m, c in res["checks"].items()) + ".",
        f"Padding (one epoch of {p['examples']} examples, {p['min_length']}–{p['max_length']} tokens, batch {p['batch_size']}): random batches {100 * p['random']:.1f}%, "
        f"length-grouped {100 * p['group_by_length']:.1f}% of padded tokens.",
        "",
        targets_table(res["targets"]),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- retrieval


def synthetic_chunks(n: int, seed: int = 0, n_entities: int | None = None) -> list[str]:
    """``n`` distinct chunk texts: 2–3 sentences of the knowledge set's documents recombined (seeded)."""
    import re


    ks = load_knowledge(n_entities=n_entities)
    sentences = [s.strip() for d in list(ks.documents) + list(ks.distractors) for s in re.split(r"(?<=[.!?])\s+", d.text) if len(s.strip()) > 20]
    rng = random.Random(seed)
    return [" ".join(rng.sample(sentences, rng.randint(2, 3))) + f" (chunk {i})" for i in range(n)]


def derived_vectors(real, n: int, noise: float = 0.5, seed: int = 0):
    """``n`` unit vectors: the ``real`` ones first, then a random real vector plus Gaussian noise of norm
    ≈ ``noise``, renormalized — synthetic vectors that keep the real embeddings' cluster structure."""
    import numpy as np

    real = np.asarray(real, dtype=np.float32)
    if n <= len(real):
        return real[:n].copy()
    rng = np.random.default_rng(seed)
    extra = n - len(real)
    d = real.shape[1]
    v = real[rng.integers(0, len(real), extra)] + noise * rng.standard_normal((extra, d)).astype(np.float32) / np.sqrt(d)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return np.concatenate([real, v])


def exact_top_k(vectors, query, k: int):
    """Indices of the ``k`` largest cosine similarities (unit vectors: dot products), best first (NumPy)."""
    import numpy as np

    scores = vectors @ query
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def recall_at_k(found: Sequence[Sequence], exact: Sequence[Sequence], k: int = 10) -> float:
    """Mean over queries of |found[:k] ∩ exact[:k]| / |exact[:k]| (ANN recall@k against exact search)."""
    vals = [len(set(list(f)[:k]) & set(list(e)[:k])) / max(1, len(list(e)[:k])) for f, e in zip(found, exact)]
    return sum(vals) / len(vals) if vals else float("nan")


def bench_retrieval(sizes: Sequence[int] = (1000, 10000, 100000), n_queries: int = 200, embed_chunks: int = 1000, k: int = 10, noise: float = 0.5, seed: int = 0, ef_search: Sequence[int] = (100, 500, 1500)) -> dict:
    """Indexing throughput, query latency and HNSW recall@k of Chroma vs exact NumPy search, same vectors.

    ``embed_chunks`` synthetic chunks (:func:`synthetic_chunks`) go through the real path —
    :meth:`lorag_nb.methods.retrieval.KnowledgeBase.ingest` with the packaged MiniLM (split, embed, upsert) —
    giving chunks/s with embedding; those real embeddings seed :func:`derived_vectors` for the larger
    sizes (labelled ``derived`` in the rows: embedding 100k chunks on 2 cores would take many minutes
    and measures the embedder, not the index). Each size goes into a fresh Chroma collection
    (``hnsw:space=cosine``; default HNSW parameters M=16, ef_construction=100, ef_search=100) with
    precomputed vectors (chunks/s without embedding), then ``n_queries`` real question embeddings are
    searched one at a time in Chroma (``collection.query``) and in NumPy (:func:`exact_top_k`).
    If recall@k < 0.95 at Chroma's default ``ef_search`` (100), a new collection is built with the next
    ``ef_search`` value (``hnsw:search_ef`` in its metadata), until recall@k reaches 0.95.
    """
    import numpy as np


    t_start = time.perf_counter()
    texts = synthetic_chunks(embed_chunks, seed)
    base = load_embeddings()
    base.embed_documents(["warm-up"])
    emb = CachedEmbeddings(base, "sentence-transformers/all-MiniLM-L6-v2", 384)
    client = make_client("ephemeral")
    name = f"bench-kb-{os.getpid()}-{seed}"
    kb = KnowledgeBase(name, client=client, embeddings=emb)
    docs = [Document(id=f"s{i:06d}", text=t, title="", metadata={"source": "synthetic"}) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    report = kb.ingest(docs)
    ingest_s = time.perf_counter() - t0
    embed_s = sum(emb.seconds.values()) if hasattr(emb, "seconds") else None
    got = kb.collection.get(include=["embeddings"])
    real = np.asarray(got["embeddings"], dtype=np.float32)
    ks = load_knowledge()
    questions = [q.question for q in list(ks.test_qa) + list(ks.train_qa)]
    questions = list(dict.fromkeys(questions))[: n_queries]
    t0 = time.perf_counter()
    qv = np.asarray(base.embed_documents(questions), dtype=np.float32)
    q_embed_s = time.perf_counter() - t0
    # end-to-end query through the KnowledgeBase (LangChain retriever, query embedding included)
    e2e = []
    for q in questions[:50]:
        t0 = time.perf_counter()
        kb.search(q + " ", top_k=k)  # trailing space: a text new to the embedding cache
        e2e.append(time.perf_counter() - t0)
    client.delete_collection(name)
    rows = []
    step = max(1, int(client.get_max_batch_size()))
    for n in sizes:
        vecs = derived_vectors(real, n, noise, seed)
        exact, lat_np = [], []
        for q in qv:
            t0 = time.perf_counter()
            exact.append([str(j) for j in exact_top_k(vecs, q, k)])
            lat_np.append(time.perf_counter() - t0)
        for ef in ef_search:
            # ef_search is fixed when the collection is created (Chroma's local client ignores a later
            # modify() for the loaded index), so each value gets its own collection
            meta = {"hnsw:space": "cosine"} if ef == 100 else {"hnsw:space": "cosine", "hnsw:search_ef": int(ef)}
            col = client.create_collection(f"bench-{n}-{ef}-{os.getpid()}", metadata=meta)
            t0 = time.perf_counter()
            for i in range(0, n, step):
                col.add(ids=[str(j) for j in range(i, min(n, i + step))], embeddings=vecs[i : i + step])
            add_s = time.perf_counter() - t0
            col.query(query_embeddings=[qv[0]], n_results=k, include=[])  # warm-up
            found, lat = [], []
            for q in qv:
                t0 = time.perf_counter()
                res = col.query(query_embeddings=[q], n_results=k, include=[])
                lat.append(time.perf_counter() - t0)
                found.append(res["ids"][0])
            client.delete_collection(col.name)
            rec = recall_at_k(found, exact, k)
            rows.append({"chunks": n, "vectors": "real" if n <= len(real) else f"{len(real)} real + derived", "ef_search": ef,
                         "index_chunks_per_s": n / add_s, "chroma_p50_ms": 1e3 * percentile(lat, 0.5), "chroma_p95_ms": 1e3 * percentile(lat, 0.95),
                         "numpy_p50_ms": 1e3 * percentile(lat_np, 0.5), "numpy_p95_ms": 1e3 * percentile(lat_np, 0.95), f"recall@{k}": rec})
            if rec >= 0.95:
                break
        del vecs
        gc.collect()
    at10k = [x for x in rows if x["chunks"] == 10000]
    targets = {}
    if at10k:
        targets["p50_10k"] = _target(at10k[0]["chroma_p50_ms"], 5.0, higher_is_better=False, label="Chroma query p50 at 10k chunks, ms (vector in, ids out)")
    first_by_size = {}
    for x in rows:
        first_by_size.setdefault(x["chunks"], x)
    worst = min(first_by_size.values(), key=lambda x: x[f"recall@{k}"]) if rows else None
    if worst:
        targets["hnsw_recall"] = _target(worst[f"recall@{k}"], 0.95, label=f"lowest HNSW recall@{k} at default ef_search (at {worst['chunks']:,} chunks)")
    return {
        "rows": rows,
        "ingest": {"chunks": report.chunks, "seconds": ingest_s, "chunks_per_s_with_embedding": report.chunks / ingest_s,
                   "embedding_seconds": embed_s, "embedding_chunks_per_s": report.chunks / embed_s if embed_s else None},
        "queries": {"n": len(questions), "embed_seconds": q_embed_s, "kb_search_p50_ms": 1e3 * percentile(e2e, 0.5), "kb_search_p95_ms": 1e3 * percentile(e2e, 0.95),
                    "kb_chunks": report.chunks},
        "k": k, "noise": noise, "targets": targets, "seconds": time.perf_counter() - t_start, "machine": machine_info(),
    }


RETRIEVAL_COLUMNS = ["chunks", "vectors", "ef_search", "index_chunks_per_s", "chroma_p50_ms", "chroma_p95_ms", "numpy_p50_ms", "numpy_p95_ms", "recall@10"]


def retrieval_report(res: dict) -> str:
    """Markdown: the retrieval table, ingestion with embedding, end-to-end query latency, targets."""
    i, q = res["ingest"], res["queries"]
    cols = [c if c != "recall@10" else f"recall@{res['k']}" for c in RETRIEVAL_COLUMNS]
    return "\n".join([
        f"### Retrieval (Chroma HNSW vs exact NumPy cosine, {q['n']} queries, k={res['k']})",
        markdown_table(res["rows"], cols),
        "",
        f"Indexing with embedding (KnowledgeBase.ingest: split + MiniLM + upsert): {i['chunks']:,} chunks in {i['seconds']:.1f} s = "
        f"{i['chunks_per_s_with_embedding']:.0f} chunks/s (embedding alone {i['embedding_chunks_per_s'] or float('nan'):.0f} chunks/s). "
        f"A KnowledgeBase.search with query embedding ({q['kb_chunks']:,} chunks): p50 {q['kb_search_p50_ms']:.1f} ms, p95 {q['kb_search_p95_ms']:.1f} ms.",
        "",
        targets_table(res["targets"]),
    ])


# --------------------------------------------------------------------------- evaluation


def bench_evaluation(n_entities: int = 4, max_questions: int = 24, max_new_tokens: int = 16, batch_size: int = 16, one_at_a_time: int = 6, model=None, tokenizer=None, device: str | None = None) -> dict:
    """Batched generation and multiple-choice scoring vs one question at a time, on the test set.

    Generation: :func:`lorag_nb.methods.evaluation.generate` with ``batch_size`` over all questions vs
    ``batch_size=1`` over the first ``one_at_a_time`` of them (greedy; answers compared); the ratio is
    of the time per question (one at a time costs the same per question on any subset; the full set
    one by one would take most of the benchmark's budget on a loaded 2-core machine).
    Multiple choice: ``multiple_choice_scores`` batched with the shared prompt cache (the default) and
    batched without it, vs one prompt+option sequence per forward pass; accuracies compared and the
    largest per-option score difference reported.
    """

    t_start = time.perf_counter()
    if model is None:
        model, tokenizer = load_model("embedded", device=device, dtype="float32")
    ks = load_knowledge(n_entities=n_entities)
    qas = [q for q in ks.test_qa if q.options][:max_questions]
    prompts = [make_prompt(tokenizer, q.question) for q in qas]
    options = [list(q.options) for q in qas]
    generate(model, tokenizer, prompts[:1], max_new_tokens=2, batch_size=1)  # warm-up

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    g_batch, s_gb = timed(lambda: generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size))
    n1 = max(1, min(one_at_a_time, len(prompts)))
    g_one, s_g1 = timed(lambda: generate(model, tokenizer, prompts[:n1], max_new_tokens=max_new_tokens, batch_size=1))
    m_shared, s_ms = timed(lambda: multiple_choice_scores(model, tokenizer, prompts, options, batch_size=batch_size, share_prompt=True))
    m_batch, s_mb = timed(lambda: multiple_choice_scores(model, tokenizer, prompts, options, batch_size=batch_size, share_prompt=False))
    m_one, s_m1 = timed(lambda: multiple_choice_scores(model, tokenizer, prompts, options, batch_size=1, share_prompt=False))

    def acc(scores):
        return sum(max(range(len(s)), key=s.__getitem__) == q.answer_index for s, q in zip(scores, qas)) / len(qas)

    diff = max(abs(a - b) for ra, rb in zip(m_shared, m_one) for a, b in zip(ra, rb))
    n = len(qas)
    rows = [
        {"task": "generation", "mode": f"batched ({batch_size})", "questions": n, "seconds": s_gb, "ms_per_question": 1e3 * s_gb / n, "ratio_vs_one": (s_g1 / n1) / (s_gb / n)},
        {"task": "generation", "mode": "one at a time", "questions": n1, "seconds": s_g1, "ms_per_question": 1e3 * s_g1 / n1, "ratio_vs_one": 1.0},
        {"task": "multiple choice", "mode": f"batched ({batch_size}), shared prompt cache", "questions": n, "seconds": s_ms, "ms_per_question": 1e3 * s_ms / n, "ratio_vs_one": s_m1 / s_ms, "accuracy": acc(m_shared)},
        {"task": "multiple choice", "mode": f"batched ({batch_size} sequences)", "questions": n, "seconds": s_mb, "ms_per_question": 1e3 * s_mb / n, "ratio_vs_one": s_m1 / s_mb, "accuracy": acc(m_batch)},
        {"task": "multiple choice", "mode": "one sequence at a time", "questions": n, "seconds": s_m1, "ms_per_question": 1e3 * s_m1 / n, "ratio_vs_one": 1.0, "accuracy": acc(m_one)},
    ]
    same_answers = sum(a.text == b.text for a, b in zip(g_batch, g_one)) / n1
    targets = {"generation_batched": _target((s_g1 / n1) / (s_gb / n), 4.0, label="batched / one-at-a-time generation speed (per question)"),
               "mc_batched": _target(s_m1 / s_ms, 4.0, label="batched (shared cache) / one-at-a-time MC scoring speed")}
    return {"rows": rows, "questions": n, "max_new_tokens": max_new_tokens, "batch_size": batch_size, "generation_same_answers": same_answers,
            "mc_max_score_diff": diff, "mc_same_accuracy": acc(m_shared) == acc(m_one), "targets": targets,
            "seconds": time.perf_counter() - t_start, "machine": machine_info()}


def evaluation_report(res: dict) -> str:
    """Markdown: the evaluation table and targets."""
    return "\n".join([
        f"### Evaluation ({res['questions']} test questions, {res['max_new_tokens']} new tokens, batch {res['batch_size']})",
        markdown_table(res["rows"], ["task", "mode", "questions", "seconds", "ms_per_question", "ratio_vs_one", "accuracy"]),
        "",
        f"Batched and one-at-a-time generation gave the same answer for {100 * res['generation_same_answers']:.0f}% of the questions run both ways; "
        f"multiple-choice scores differ by at most {res['mc_max_score_diff']:.1g} (per byte), same accuracy: {res['mc_same_accuracy']}.",
        "",
        targets_table(res["targets"]),
    ])


# --------------------------------------------------------------------------- notebooks and model load


def bench_notebooks(smoke: bool = True, prefixes: list[str] | None = None, out_dir: Path | None = None, fresh_store: bool = True) -> dict:
    """Wall time of each notebook run through papermill (:func:`lorag_nb.infra.runner.run_notebooks`).

    ``fresh_store``: point ``LORAG_NB_RESULTS`` at an empty temporary store so nothing is read from
    earlier runs (the notebooks still share that store among themselves, as in ``make demo``).
    """

    t_start = time.perf_counter()
    old = os.environ.get("LORAG_NB_RESULTS")
    tmp = tempfile.mkdtemp(prefix="lorag-bench-store-")
    if fresh_store:
        os.environ["LORAG_NB_RESULTS"] = tmp
    try:
        out, records = run_notebooks(out_dir or (bench_dir() / f"notebooks-{'smoke' if smoke else 'defaults'}"), smoke=smoke, prefixes=prefixes)
    finally:
        if fresh_store:
            if old is None:
                os.environ.pop("LORAG_NB_RESULTS", None)
            else:
                os.environ["LORAG_NB_RESULTS"] = old
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    rows = [{"notebook": r["notebook"], "seconds": r["seconds"], "status": "ok" if not r["error"] else f"error: {r['error']}"} for r in records]
    total = sum(r["seconds"] for r in records)
    limit = 600.0 if smoke else 1800.0
    return {"mode": "smoke" if smoke else "defaults", "rows": rows, "total_seconds": total, "output": str(out),
            "targets": {"suite": _target(total, limit, higher_is_better=False, label=f"{'smoke' if smoke else 'default'} suite wall time, s (2 cores)")},
            "seconds": time.perf_counter() - t_start, "machine": machine_info()}


def notebooks_report(res: dict) -> str:
    """Markdown: per-notebook wall time and the suite target."""
    return "\n".join([f"### Notebook suite ({res['mode']} parameters, fresh results store)", markdown_table(res["rows"] + [{"notebook": "total", "seconds": res["total_seconds"]}], ["notebook", "seconds", "status"]), "", targets_table(res["targets"])])


def bench_model_load(reloads: int = 3) -> dict:
    """First load of the embedded model (GGUF → safetensors conversion, in a temporary cache) vs cached reload."""

    old = os.environ.get("LORAG_NB_CACHE")
    t_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["LORAG_NB_CACHE"] = tmp
            t0 = time.perf_counter()
            models.load_model("embedded", device="cpu")
            first = time.perf_counter() - t0
            times = []
            for _ in range(reloads):
                t0 = time.perf_counter()
                models.load_model("embedded", device="cpu")
                times.append(time.perf_counter() - t0)
    finally:
        if old is None:
            os.environ.pop("LORAG_NB_CACHE", None)
        else:
            os.environ["LORAG_NB_CACHE"] = old
    best = min(times)
    return {"first_load_s": first, "reload_s": times, "speedup": first / best, "rows": [{"load": "first (convert GGUF)", "seconds": first}, {"load": f"cached reload (best of {reloads})", "seconds": best}],
            "targets": {"reload": _target(best, 2.0, higher_is_better=False, label="cached reload, s")}, "seconds": time.perf_counter() - t_start, "machine": machine_info()}


def model_load_report(res: dict) -> str:
    """Markdown: first load vs cached reload."""
    return "\n".join(["### Model load", markdown_table(res["rows"], ["load", "seconds"]), f"Ratio {res['speedup']:.1f}×.", "", targets_table(res["targets"])])


# --------------------------------------------------------------------------- runner

#: Sizes for ``lorag-nb bench --tiny`` (seconds, for checking that the code paths work).
TINY = {
    "training": dict(n_entities=1, steps=2, skip_steps=1, batch_size=2, max_length=64, r=2),
    "retrieval": dict(sizes=(200, 500), n_queries=20, embed_chunks=100, ef_search=(100,)),
    "evaluation": dict(n_entities=1, max_questions=4, max_new_tokens=4, batch_size=4, one_at_a_time=2),
}

REPORTS: dict[str, Callable[[dict], str]] = {"training": training_report, "retrieval": retrieval_report, "evaluation": evaluation_report,
                                              "notebooks": notebooks_report, "model_load": model_load_report}


def run(names: Sequence[str] | None = None, options: dict[str, dict] | None = None, out_dir: Path | None = None, echo: bool = True) -> dict:
    """Run benchmarks by name (default :data:`DEFAULT_BENCHES`), print each report, write each JSON.

    Args:
        names: a subset of :data:`ALL_BENCHES`.
        options: ``name → keyword arguments`` for that bench function (sizes, device…).
        out_dir: JSON folder (default :func:`bench_dir`).

    Returns:
        ``name → result dict``; each result also has ``report`` (the Markdown printed) and ``json``.

    Raises:
        ValueError: an unknown name.
    """
    names = list(names or DEFAULT_BENCHES)
    bad = [n for n in names if n not in ALL_BENCHES]
    if bad:
        raise ValueError(f"unknown benchmark(s) {bad}; valid: {list(ALL_BENCHES)}")
    options = options or {}
    funcs = {"training": bench_training, "retrieval": bench_retrieval, "evaluation": bench_evaluation, "notebooks": bench_notebooks, "model_load": bench_model_load}
    shared: dict[str, Any] = {}
    results = {}
    for name in names:
        kw = dict(options.get(name, {}))
        if name in ("training", "evaluation") and "model" not in kw:
            dev = kw.get("device") or "cpu"
            if ("model", dev) not in shared:

                shared[("model", dev)] = load_model("embedded", device=dev, dtype="float32")
            kw["model"], kw["tokenizer"] = shared[("model", dev)]
        res = funcs[name](**kw)
        res["report"] = REPORTS[name](res)
        res["json"] = str(write_result(name if name != "training" or res.get("device", "cpu") == "cpu" else f"training_{res['device']}", res, out_dir))
        if echo:
            print(res["report"], flush=True)
            print(f"(written: {res['json']}; load average {res['machine']['load_average']}, {res['machine']['torch_threads']} torch threads, {res['seconds']:.0f} s)\n", flush=True)
        results[name] = res
    return results
