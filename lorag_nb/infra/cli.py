"""The ``lorag-nb`` command: run the notebook sequence with papermill and export HTML.

    lorag-nb run                 # every notebook, default parameters, into runs/<UTC timestamp>/
    lorag-nb run --smoke         # the small "smoke" parameters each notebook declares in its metadata
    lorag-nb run -n 00 -n 03     # only notebooks whose file name starts with 00 or 03
    lorag-nb run -p n_entities=20
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lorag_nb.infra import bench
from lorag_nb.infra.runner import parse_parameter, run_notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lorag-nb", description="Run the lorag_nb notebook sequence.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks with papermill and export HTML",
                           description="Execute the notebooks in order with papermill; write executed notebooks, HTML and index.html under runs/<UTC timestamp>/.")
    p_run.add_argument("--smoke", action="store_true", help="use each notebook's small smoke parameters")
    p_run.add_argument("-n", "--notebook", action="append", dest="prefixes", help="only notebooks starting with this (repeatable)")
    p_run.add_argument("-p", "--parameter", action="append", default=[], help="name=value for every notebook (repeatable)")
    p_run.add_argument("-o", "--out", type=Path, help="output folder (default runs/<UTC timestamp>)")
    p_run.add_argument("-k", "--kernel", default="python3", help="Jupyter kernel name (default python3)")
    add_bench_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench_command(args)
    if args.command == "run":
        try:
            overrides = dict(parse_parameter(p) for p in args.parameter)
            out_dir, records = run_notebooks(args.out, smoke=args.smoke, prefixes=args.prefixes, overrides=overrides, kernel=args.kernel)
        except (ValueError, FileNotFoundError) as err:
            print(f"lorag-nb run: {err}", file=sys.stderr)
            return 2
        failed = [r for r in records if r["error"]]
        for r in records:
            print(f"{r['notebook']:40s} {r['seconds']:7.1f} s  {'FAILED: ' + r['error'] if r['error'] else 'ok'}")
        print(f"Executed notebooks and HTML: {out_dir}")
        print(f"Open {out_dir / 'index.html'}")
        return 1 if failed else 0
    return 2  # pragma: no cover


def add_bench_parser(sub) -> None:
    """The ``lorag-nb bench [name ...]`` subcommand (see :mod:`lorag_nb.infra.bench`)."""
    p = sub.add_parser("bench", help="run benchmarks (training, retrieval, evaluation, model_load; notebooks when named)",
                       description="Run benchmarks; each prints a Markdown table and writes runs/bench/<name>.json. "
                                   "Without names: training, retrieval, evaluation, model_load.")
    p.add_argument("names", nargs="*", help="training, retrieval, evaluation, model_load, notebooks")
    p.add_argument("--device", default=None, choices=["cpu", "cuda"], help="training/evaluation device (default cpu)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (checks that the code paths work; numbers mean little)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="notebooks: smoke parameters (the default)")
    mode.add_argument("--defaults", action="store_true", help="notebooks: default parameters")
    p.add_argument("-n", "--notebook", action="append", dest="prefixes", help="notebooks: only those starting with this (repeatable)")
    p.add_argument("-o", "--out", type=Path, help="JSON folder (default runs/bench or $LORAG_NB_BENCH_DIR)")


def bench_command(args) -> int:
    """Run ``lorag-nb bench``; returns 0 (targets missed are reported in the tables, not as failures)."""

    options: dict = {k: dict(v) for k, v in bench.TINY.items()} if args.tiny else {}
    if args.device:
        for name in ("training", "evaluation"):
            options.setdefault(name, {})["device"] = args.device
    options["notebooks"] = {"smoke": not args.defaults, "prefixes": args.prefixes}
    bad = [n for n in args.names if n not in bench.ALL_BENCHES]
    if bad:
        print(f"lorag-nb bench: unknown benchmark(s) {bad}; valid: {list(bench.ALL_BENCHES)}", file=sys.stderr)
        return 2
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("lorag-nb bench: --device cuda but torch sees no CUDA device (torch.cuda.is_available() is False); use --device cpu", file=sys.stderr)
            return 2
    out = args.out
    if out is None and args.tiny:  # tiny numbers must not overwrite a real run's JSON
        out = bench.bench_dir() / "tiny"
    bench.run(args.names or None, options=options, out_dir=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
