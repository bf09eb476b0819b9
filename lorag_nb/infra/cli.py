"""The ``lorag-nb`` command: run the notebook sequence with papermill and export HTML.

    lorag-nb run                 # every notebook, default parameters, into runs/<UTC timestamp>/
    lorag-nb run --smoke         # the small "smoke" parameters each notebook declares in its metadata
    lorag-nb run -n 00 -n 03     # only notebooks whose file name starts with 00 or 03
    lorag-nb run -p n_entities=20
    lorag-nb run --profile gpu   # every notebook at GPU sizes; writes reference.json beside the notebooks
    lorag-nb train settings.json # one training run into the results store (also under accelerate launch)
    lorag-nb run --smoke -p knowledge='"examples/lighthouses"'   # every notebook on a folder of your own
    lorag-nb check-knowledge DIR # validate a knowledge folder and print what was found
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lorag_nb.core.config import EvalSettings, TrainingSettings
from lorag_nb.experiments.profiles import PROFILES
from lorag_nb.data import knowledge
from lorag_nb.infra import bench
from lorag_nb.infra.runner import parse_parameter, run_notebooks
from lorag_nb.methods import training
from lorag_nb.methods.models import embedded_model_dir, load_model


def _non_negative_int(text: str) -> int:
    """argparse type: an int ≥ 0 (argparse turns the ValueError into one usage line naming the value)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a number of tokens (e.g. 512), or 0 to skip the check")
    return value


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
    p_run.add_argument("--profile", choices=PROFILES, default=None,
                       help="every notebook's run profile: auto (gpu when torch sees CUDA, else cpu), cpu (laptop sizes) or gpu (the whole world, 3 seeds; "
                            "needs CUDA). Default: each notebook's own (auto). After notebook 05, reference.json in the run folder holds the compact reference result")
    add_bench_parser(sub)
    p_check = sub.add_parser("check-knowledge", help="validate a knowledge folder (docs/, qa_train.jsonl, qa_test.jsonl) and print what was found",
                             description="Validate a folder of your own documents and questions and print: documents, train/dev/test questions, "
                                         "test answers found verbatim in a document (the RAG ceiling's upper bound), test questions also in training, "
                                         "questions whose answer is in no document, generated multiple-choice options, and the document each question is linked to.")
    p_check.add_argument("folder", type=Path, help="the knowledge folder")
    p_check.add_argument("--all", action="store_true", help="list every question's link (default: the first 20)")
    p_check.add_argument("--max-length", type=_non_negative_int, default=TrainingSettings().max_length,
                         help="warn about questions whose prompt + answer exceed this many tokens of the embedded model's tokenizer (default: training max_length; 0 skips the check)")
    p_train = sub.add_parser("train", help="one training run from a settings file into the results store",
                             description="Train, measure and store one run (training.run_training) from a JSON file: "
                                         '{"training": {TrainingSettings fields}, "eval": {EvalSettings fields}} (eval optional: the notebooks\' default). '
                                         "Works unchanged under `accelerate launch --num_processes N` (data parallel; batch_size stays the effective batch; "
                                         "only process 0 measures and writes the store).")
    p_train.add_argument("settings", type=Path, help="the JSON settings file")
    p_train.add_argument("--force", action="store_true", help="retrain even if the store has the run")
    p_train.add_argument("--log-batches", type=Path, help="folder: each process writes the token ids of every batch it trained on to rank<R>.json")
    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench_command(args)
    if args.command == "train":
        return train_command(args)
    if args.command == "check-knowledge":
        return check_knowledge_command(args)
    if args.command == "run":
        try:
            overrides = dict(parse_parameter(p) for p in args.parameter)
            out_dir, records = run_notebooks(args.out, smoke=args.smoke, prefixes=args.prefixes, overrides=overrides, kernel=args.kernel, profile=args.profile)
        except (ValueError, FileNotFoundError) as err:
            print(f"lorag-nb run: {err}", file=sys.stderr)
            return 2
        failed = [r for r in records if r["error"]]
        for r in records:
            print(f"{r['notebook']:40s} {r['seconds']:7.1f} s  {'FAILED: ' + r['error'] if r['error'] else 'ok'}")
        print(f"Executed notebooks and HTML: {out_dir}")
        print(f"Open {out_dir / 'index.html'}")
        if (out_dir / "reference.json").exists():
            print(f"Reference result: {out_dir / 'reference.json'} (commit it as reference/<name>.json to show it in notebook 05)")
        return 1 if failed else 0
    return 2  # pragma: no cover


def check_knowledge_command(args) -> int:
    """Run ``lorag-nb check-knowledge DIR``: prints :func:`lorag_nb.data.knowledge.format_check`; returns 0,
    or 2 with one line naming the file (and line) when the folder cannot be used. Writes nothing."""
    try:
        folder = knowledge.resolve_knowledge(args.folder)  # as the notebooks do: the working directory, then the repository root
        if folder is None:
            raise knowledge.KnowledgeError(f"{args.folder!r} is the generated world, which needs no check; give a folder with docs/, qa_train.jsonl and qa_test.jsonl")
        report = knowledge.check_folder(folder)
    except knowledge.KnowledgeError as err:
        print(f"lorag-nb check-knowledge: {err}", file=sys.stderr)
        return 2
    print(knowledge.format_check(report, max_rows=10**9 if args.all else 20))
    if args.max_length:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
        long = knowledge.long_questions(knowledge.load_folder(folder), tokenizer, args.max_length)
        print(f"  questions longer than {args.max_length} tokens with their prompt (embedded model's tokenizer): {len(long)}")
        for q in long[:10**9 if args.all else 20]:
            print(f"  WARNING: {q['message']}")
    return 0


def train_command(args) -> int:
    """Run ``lorag-nb train``: prints the stored key on process 0; returns 0, or 2 on bad input."""
    try:
        spec = json.loads(args.settings.read_text(encoding="utf-8"))
        if not isinstance(spec, dict) or not isinstance(spec.get("training"), dict):
            raise ValueError(f'{args.settings} must hold {{"training": {{...}}, "eval": {{...}}}} (eval optional)')
        unknown = sorted(set(spec) - {"training", "eval"})
        if unknown:
            raise ValueError(f"{args.settings}: unknown key(s) {unknown}; valid: ['eval', 'training']")
        settings = TrainingSettings(**spec["training"])
        ev = EvalSettings(**spec["eval"]) if spec.get("eval") is not None else None
    except (OSError, ValueError, TypeError) as err:
        print(f"lorag-nb train: {err}", file=sys.stderr)
        return 2
    rank, world_size = training.process_world()
    seen: list[dict] = []
    collator = None
    if args.log_batches:
        model, tokenizer = load_model(settings.model, dtype="float32")
        collator = bench.recording_collator(tokenizer, seen)
    else:
        model = tokenizer = None
    result = training.run_training(settings, eval_settings=ev, force=args.force, model=model, tokenizer=tokenizer, data_collator=collator)
    if args.log_batches:
        args.log_batches.mkdir(parents=True, exist_ok=True)
        (args.log_batches / f"rank{rank}.json").write_text(json.dumps([b["input_ids"].tolist() for b in seen]))
    if result is not None:
        tr = result.metrics["training"]
        print(f"stored train/{result.key}: {tr['steps']} steps on {tr.get('processes', 1)} process(es) × {tr.get('per_device_batch_size', settings.batch_size)} examples, "
              f"test MC acc {result.metrics['test']['mc_accuracy']:.3f}" + (" (cached)" if result.cached else ""))
    return 0


def add_bench_parser(sub) -> None:
    """The ``lorag-nb bench [name ...]`` subcommand (see :mod:`lorag_nb.infra.bench`)."""
    p = sub.add_parser("bench", help="run benchmarks (training, retrieval, evaluation, model_load; notebooks when named)",
                       description="Run benchmarks; each prints a Markdown table and writes runs/bench/<name>.json and <name>.md. "
                                   "Without names: training, retrieval, evaluation, model_load. notebooks also reports where each notebook's "
                                   "time goes: wall and CPU seconds per stage (model load, training, generation, multiple choice, perplexity, "
                                   "retrieval, bootstrap, plotting, other) and each stage's FLOP floor.")
    p.add_argument("names", nargs="*", help="training, retrieval, evaluation, model_load, notebooks, precision (bf16 vs fp32 on this CPU)")
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
