"""Where a notebook's time goes: the per-stage profile of ``lorag-nb bench notebooks``.

Each notebook's kernel runs with ``LORAG_NB_STAGES`` naming a JSON file (:mod:`lorag_nb.core.stages`):
at exit it writes the wall and CPU seconds and the tokens of every stage it entered. This module reads
those files and reports, per notebook and stage: wall s, CPU s (the kernel's, every thread), share of
the notebook's wall time, calls, tokens, the **FLOP floor** and wall ÷ floor.

FLOP floor = Σ over token kinds of tokens × FLOPs per token ÷ peak FLOP/s: the time the stage would
take if every model FLOP ran at the matmul peak measured in the same run
(:func:`lorag_nb.infra.bench_train.matmul_peak_flops`: best fp32 1024³ matmul on CPU, bf16 8192³ on
CUDA). FLOPs per token (:func:`floor_flops_per_token`), N = model parameters as
:func:`lorag_nb.infra.bench_train.model_shape` counts them (tied embedding once, as the output layer):
6N per trained token (Kaplan et al. 2020, §2.1; Chowdhery et al. 2022, PaLM, appendix B, the MFU
definition), 4N per LoRA-trained token (frozen weights: forward and input gradients only; the
adapter's 6·N_lora is left out), 2N per forward token, 2(N − output layer) per prefill token (prompt
positions whose logits are not computed). The attention term 12·L·H·Q·T of
:func:`~lorag_nb.infra.bench_train.flops_per_token` is left out (T = 0), so the floor is a lower bound.
Retrieval (MiniLM embeddings, Chroma), model loading, bootstrap and plotting count no tokens: no floor.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from lorag_nb.core.config import cpu_precision
from lorag_nb.infra.bench_report import machine_info, markdown_table
from lorag_nb.infra.bench_train import flops_per_token, matmul_peak_flops, model_shape
from lorag_nb.methods.models import load_model

#: Stages in report order (names used by :func:`lorag_nb.core.stages.stage` across the package); a stage
#: the kernel reports that is not here is listed after them.
STAGES = ("model_load", "training", "generation", "multiple_choice", "perplexity", "retrieval", "bootstrap", "plotting")
#: The notebook's wall time outside every stage (kernel start, imports, data loading, tables, papermill).
OTHER = "other"

PROFILE_COLUMNS = ["notebook", "stage", "wall_s", "cpu_s", "share", "calls", "tokens", "floor_s", "x_floor"]


def floor_flops_per_token(shape: Mapping[str, int], head_params: int = 0) -> dict[str, float]:
    """FLOPs per token of each token kind of :mod:`lorag_nb.core.stages`, attention term left out.

    ``train`` is :func:`~lorag_nb.infra.bench_train.flops_per_token` at T = 0 (6N); ``train_lora`` 4N (its
    LoRA formula without the adapter's 6·N_lora); ``forward`` 2N; ``prefill`` 2(N − ``head_params``),
    ``head_params`` being the output layer's weights (V·d; their product is skipped for prompt positions).
    """
    six_n, _ = flops_per_token(shape, 0.0)
    n = six_n / 6
    return {"train": six_n, "train_lora": 4 * n, "forward": 2 * n, "prefill": 2 * (n - head_params)}


def floor_seconds(tokens: Mapping[str, int], fpt: Mapping[str, float], peak_flops: float) -> float | None:
    """Σ tokens[kind] × fpt[kind] ÷ ``peak_flops`` (seconds); None when no token was counted.

    Raises:
        KeyError: a token kind ``fpt`` has no price for.
    """
    if not tokens or not any(tokens.values()):
        return None
    return sum(n * fpt[kind] for kind, n in tokens.items()) / peak_flops


def read_table(path: str | Path) -> dict | None:
    """A kernel's stage table (:func:`lorag_nb.core.stages.snapshot` as JSON), or None if it wrote none."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def stage_rows(notebook: str, seconds: float, table: dict | None, fpt: Mapping[str, float], peak_flops: float) -> list[dict]:
    """One row per stage the kernel entered, then ``other`` (``seconds`` − the stages' wall time; its CPU
    time is the kernel's CPU time outside stages). ``share`` = wall ÷ ``seconds``; ``x_floor`` = wall ÷ floor."""
    stages = (table or {}).get("stages", {})
    names = [s for s in STAGES if s in stages] + sorted(set(stages) - set(STAGES))
    rows = []
    for name in names:
        st = stages[name]
        tokens = {k: int(v) for k, v in st.get("tokens", {}).items() if v}
        floor = floor_seconds(tokens, fpt, peak_flops)
        rows.append({"notebook": notebook, "stage": name, "wall_s": st["wall_s"], "cpu_s": st["cpu_s"], "share": st["wall_s"] / seconds if seconds else None,
                     "calls": st["calls"], "tokens": sum(tokens.values()) or None, "tokens_by_kind": tokens, "floor_s": floor,
                     "x_floor": st["wall_s"] / floor if floor else None})
    in_stages = sum(r["wall_s"] for r in rows)
    other_cpu = table["process_cpu_s"] - sum(r["cpu_s"] for r in rows) if table and "process_cpu_s" in table else None
    rows.append({"notebook": notebook, "stage": OTHER, "wall_s": seconds - in_stages, "cpu_s": other_cpu,
                 "share": (seconds - in_stages) / seconds if seconds else None, "calls": None, "tokens": None, "tokens_by_kind": {}, "floor_s": None, "x_floor": None})
    return rows


def pivot(rows: Sequence[dict]) -> list[dict]:
    """Wall seconds per notebook (rows) and stage (columns), with a ``total`` column and an ``all`` row."""
    out: dict[str, dict] = {}
    for r in rows:
        row = out.setdefault(r["notebook"], {"notebook": r["notebook"]})
        row[r["stage"]] = row.get(r["stage"], 0.0) + r["wall_s"]
    table = list(out.values())
    stages = stage_columns(rows)
    for row in table:
        row["total"] = sum(row.get(s, 0.0) for s in stages)
    if len(table) > 1:
        table.append({"notebook": "all", **{s: sum(row.get(s, 0.0) for row in table) for s in stages + ["total"]}})
    return table


def stage_columns(rows: Sequence[dict]) -> list[str]:
    """The stages present in ``rows``, in :data:`STAGES` order, unknown ones next, ``other`` last."""
    seen = {r["stage"] for r in rows}
    return [s for s in STAGES if s in seen] + sorted(seen - set(STAGES) - {OTHER}) + ([OTHER] if OTHER in seen else [])


def floor_inputs(device: str | None = None) -> dict:
    """What the floor needs, measured now: the matmul peak (on CPU in its precision, :func:`~lorag_nb.core.config.cpu_precision`;
    bf16 on CUDA) and the embedded
    model's shape (the notebooks' default model; loaded once from the cache)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = "bfloat16" if device.startswith("cuda") or cpu_precision() == "bf16" else "float32"  # the precision the notebooks compute in
    peak = matmul_peak_flops(device, dtype)
    model, _tok = load_model("embedded", device="cpu", dtype="float32")
    shape = model_shape(model)
    head = int(model.get_output_embeddings().weight.numel())
    del model
    return {"device": device, "peak_flops": peak, "peak_dtype": dtype, "model_shape": shape, "head_params": head,
            "flops_per_token": floor_flops_per_token(shape, head)}


def notebook_profile(records: Sequence[dict], tables: Mapping[str, dict | None], load_before: Any = None, inputs: dict | None = None) -> dict:
    """The profile of a notebook run: ``records`` from :func:`lorag_nb.infra.runner.run_notebooks`
    (``notebook``, ``seconds``), ``tables`` notebook → its kernel's stage table (None: none written)."""
    inputs = inputs or floor_inputs()
    rows = []
    for r in records:
        rows += stage_rows(r["notebook"], r["seconds"], tables.get(r["notebook"]), inputs["flops_per_token"], inputs["peak_flops"])
    info = machine_info()
    return {**inputs, "rows": rows, "pivot": pivot(rows), "missing": [r["notebook"] for r in records if not tables.get(r["notebook"])],
            "load_average_before": load_before, "load_average_after": info["load_average"],
            "device_name": info["gpu"] if inputs["device"].startswith("cuda") else info["cpu"], "cores": info["cores"], "torch_threads": info["torch_threads"]}


def profile_report(p: dict) -> str:
    """Markdown: the setting, the notebook × stage wall-time table, the detailed table and how to read it."""
    n = p["model_shape"]["matmul_params"]
    fpt = p["flops_per_token"]
    lines = [
        f"#### Where the time goes (per stage; {p['device_name']}, {p['cores']} cores, {p['torch_threads']} torch threads; "
        f"load average before {p['load_average_before']}, after {p['load_average_after']})",
        "",
        "Wall seconds per stage:",
        "",
        markdown_table(p["pivot"], ["notebook"] + stage_columns(p["rows"]) + ["total"]),
        "",
        markdown_table(p["rows"], PROFILE_COLUMNS),
        "",
        f"share = stage wall ÷ the notebook's wall time; cpu_s = the kernel's CPU seconds (all threads); other = the notebook's wall time outside every "
        f"stage (kernel start, imports, data, tables). FLOP floor = tokens × FLOPs per token ÷ {p['peak_flops'] / 1e9:,.1f} GFLOP/s "
        f"(measured {p['peak_dtype']} matmul peak, this run); N = {n / 1e6:.1f}M: train 6N = {fpt['train'] / 1e6:.0f} MFLOP, LoRA 4N = "
        f"{fpt['train_lora'] / 1e6:.0f}, forward 2N = {fpt['forward'] / 1e6:.0f}, prefill 2(N − output layer) = {fpt['prefill'] / 1e6:.0f} per token; "
        "x_floor = wall ÷ floor.",
    ]
    if p["missing"]:
        lines.append(f"No stage table from: {', '.join(p['missing'])} (the kernel did not exit normally); their rows are all 'other'.")
    return "\n".join(lines)
