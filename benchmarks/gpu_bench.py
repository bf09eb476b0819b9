"""GPU training benchmark: one script, under 8 minutes on one H200; prints its whole table and writes JSON.

    python benchmarks/gpu_bench.py            # on a CUDA machine: the full run
    python benchmarks/gpu_bench.py --tiny     # anywhere (CPU): the same code path at a tiny size

On CUDA it measures, at batch 64 × 512 tokens of Python's documentation (full-length windows: no
padding, one shape), for full fine-tuning and LoRA (r=16, all linear layers):

- ``plain``: a plain eager PyTorch loop over the same batches (bf16 autocast, fp32 weights,
  ``torch.optim.AdamW``, clipping at 1.0) — the baseline of issue 6;
- ``ours``: :func:`lorag_nb.methods.training.train` with its default knobs (bf16 autocast, SDPA attention,
  fused AdamW, no compilation);
- ``ours+compile``: the same with ``TrainingSettings(torch_compile=True)``;
- LoRA also at batch 128 (``lora-b128``) — LoRA frees the optimizer state of the frozen weights,
  so a larger batch fits; tokens/s at the larger batch is what LoRA can buy back.

Steady-state tokens/s leave out the first ``skip`` steps (compilation happens there; its time is
in the ``seconds`` column). MFU is against 989 TFLOP/s (dense bf16, H100/H200 SXM spec sheet); the
measured bf16 matmul peak is printed beside it. Writes ``runs/bench/gpu.json`` (or
``$LORAG_NB_BENCH_DIR``) and a Markdown report to stdout; paste it into ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing


def main(argv: list[str] | None = None) -> dict:
    import torch

    from lorag_nb.infra import bench
    from lorag_nb.methods.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny CPU-sized run (checks the code path)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds after which no new run starts (default 420)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        size = dict(steps=30, batch_size=64, seq_len=512, skip_steps=8)
    else:
        size = dict(steps=3, batch_size=2, seq_len=32, skip_steps=1)
    model, tok = load_model("embedded", device=device, dtype="float32")
    print(f"model loaded on {device} ({torch.cuda.get_device_name(0) if cuda else 'cpu'}), attention: {model.config._attn_implementation}", flush=True)
    variants = ("ours", "ours+compile") if cuda else ("ours",)
    main_run = bench.bench_training(device=device, data="docs", methods=("full", "lora"), variants=variants, model=model, tokenizer=tok,
                                    time_budget_s=args.budget, r=16, **size)
    results = {"main": main_run}
    report = [bench.training_report(main_run)]
    left = args.budget - (time.perf_counter() - t0)
    if cuda and left > 60:
        big = dict(size, batch_size=size["batch_size"] * 2)
        lora_big = bench.bench_training(device=device, data="docs", methods=("lora",), variants=variants[-1:], model=model, tokenizer=tok,
                                        time_budget_s=max(1.0, left - 60), r=16, **big)
        results["lora_larger_batch"] = lora_big
        rows = [dict(r, method="lora-b%d" % big["batch_size"]) for r in lora_big["rows"] if r["path"] != "plain"]
        full_plain = next((r for r in main_run["rows"] if r["method"] == "full" and r["path"] == "plain"), None)
        full_best = max((r for r in main_run["rows"] if r["method"] == "full" and r["path"] != "plain"), key=lambda r: r["steady_tokens_per_second"] or 0, default=None)
        for r in rows:
            if full_best:
                r["ratio_vs_full_best"] = r["steady_tokens_per_second"] / full_best["steady_tokens_per_second"]
            if full_plain:
                r["ratio_vs_plain"] = r["steady_tokens_per_second"] / full_plain["steady_tokens_per_second"]
        report.append(f"### LoRA at batch {big['batch_size']} (ratio_vs_full_best: against the fastest full fine-tuning path above)")
        report.append(bench.markdown_table(rows, ["method", "path", "steps", "steady_tokens_per_second", "ratio_vs_full_best", "mfu", "peak_memory_gib", "seconds"]))
    results["seconds"] = time.perf_counter() - t0
    results["machine"] = bench.machine_info()
    text = "\n\n".join(report) + f"\n\nTotal {results['seconds']:.0f} s on {results['machine']['gpu'] or 'cpu'}; {results['machine']['date']}."
    print(text, flush=True)
    path = bench.write_result("gpu" if cuda else "gpu_tiny_cpu", {**results, "report": text})
    print(f"written: {path}")
    return results


if __name__ == "__main__":
    main()
