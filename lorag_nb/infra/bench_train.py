"""The training-throughput benchmark (``lorag-nb bench training``, :func:`bench_training`): our Trainer
path against a plain PyTorch loop over the same batches, with model FLOPs per token, MFU and padding.
:mod:`lorag_nb.infra.bench` runs it with the other benchmarks and re-exports every public name here.

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
"""
from __future__ import annotations

import copy
import gc
import math
import time
from typing import Any, Sequence

from lorag_nb.core.config import LoraSettings, TrainingSettings, cpu_precision, seed_everything
from lorag_nb.data.knowledge import load_knowledge, load_python_docs
from lorag_nb.infra.bench_report import machine_info, markdown_table, target_entry, targets_table
from lorag_nb.methods import training
from lorag_nb.methods.adapters import wrap
from lorag_nb.methods.models import load_model
from lorag_nb.methods.trainer import PeakMemory

#: Dense bf16 peak of an H100/H200 SXM (NVIDIA spec sheet, without sparsity), FLOP/s.
H200_BF16_PEAK = 989e12

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
    cpu_bf16 = device == "cpu" and cpu_precision() == "bf16"  # the Trainer autocasts to bf16 there (trainer._training_arguments)
    measured_peak = matmul_peak_flops(device, "bfloat16" if cuda or cpu_bf16 else "float32")
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
        bf16 = (cuda and torch.cuda.is_bf16_supported()) or cpu_bf16

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
            targets["gpu_full_vs_plain"] = target_entry(full.get("ratio_vs_plain"), 2.0, label=f"full FT, {full['path']} / plain eager (tokens/s)")
            targets["gpu_full_mfu"] = target_entry(full["mfu"], 0.40, label="full FT MFU vs 989 TFLOP/s bf16")
        if full and lora_best:
            targets["gpu_lora_vs_full"] = target_entry(lora_best["steady_tokens_per_second"] / full["steady_tokens_per_second"], 1.3, label=f"LoRA {lora_best['path']} / full FT {full['path']} (tokens/s)")
    else:
        for m in methods:
            row = next((x for x in rows if x["method"] == m and x["path"] == "ours"), None)
            if row:
                targets[f"cpu_{m}_vs_plain"] = target_entry(row.get("ratio_vs_plain"), 1.0, label=f"{m}: our Trainer path / plain loop (steady tokens/s)")
            fused = next((x for x in rows if x["method"] == m and x["path"] == "plain+fused"), None)
            if row and fused and fused["steady_tokens_per_second"]:
                targets[f"cpu_{m}_vs_plain_fused"] = target_entry(row["steady_tokens_per_second"] / fused["steady_tokens_per_second"], 1.0,
                                                             label=f"{m}: our Trainer path / plain loop with the same fused AdamW (steady tokens/s)")
    return {"device": device, "data": data, "peak_flops": peak, "peak_flops_source": "spec sheet bf16 dense (H100/H200 SXM)" if cuda and not peak_flops else ("given" if peak_flops else f"measured {'bf16' if cpu_bf16 else 'fp32'} matmul"),
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
