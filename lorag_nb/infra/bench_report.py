"""What every benchmark of :mod:`lorag_nb.infra.bench` reports with: where the JSON goes
(:func:`bench_dir`, :func:`write_result`), the machine it ran on (:func:`machine_info`), Markdown
tables (:func:`markdown_table`, written with :func:`write_report`) and the targets each benchmark checks (:func:`target_entry`,
:func:`targets_table`). :mod:`lorag_nb.infra.bench` re-exports every public name here.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Sequence

from lorag_nb.core.config import cpu_precision
from lorag_nb.core.paths import REPO_ROOT

# --------------------------------------------------------------------------- reporting


def bench_dir() -> Path:
    """Where benchmark JSON goes: ``$LORAG_NB_BENCH_DIR`` or ``<repo>/runs/bench`` (created)."""
    path = Path(os.environ.get("LORAG_NB_BENCH_DIR") or REPO_ROOT / "runs" / "bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine_info() -> dict:
    """Date (UTC), CPU model, cores, torch threads, CPU precision (fp32 or bf16), 1/5/15-minute load averages, versions, GPU name if any."""
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
        "precision": cpu_precision(),
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


def write_report(name: str, markdown: str, out_dir: Path | None = None) -> Path:
    """Write a benchmark's Markdown report as ``<out_dir>/<name>.md`` (default :func:`bench_dir`); returns the path."""
    out = Path(out_dir) if out_dir is not None else bench_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.md"
    path.write_text(markdown + "\n", encoding="utf-8")
    return path


def target_entry(value, target, higher_is_better: bool = True, label: str = "") -> dict:
    """One row of a benchmark's ``targets``: ``value`` against ``target`` (``>=`` if ``higher_is_better``,
    else ``<=``), ``met`` None when there is no value; ``label`` says what is measured."""
    met = None if value is None else (value >= target if higher_is_better else value <= target)
    return {"value": value, "target": target, "direction": ">=" if higher_is_better else "<=", "met": met, "what": label}


def targets_table(targets: dict) -> str:
    """A Markdown table of ``name → target_entry(...)`` entries."""
    rows = [{"target": k, "what": v["what"], "value": v["value"], "goal": f"{v['direction']} {v['target']}", "met": v["met"]} for k, v in targets.items()]
    return markdown_table(rows, ["target", "what", "value", "goal", "met"])
