"""The standard measurements of a model, and the baseline experiment (the base model before any
adaptation). Every method's results are measured by :func:`measure_model`, so they compare."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lorag_nb.core.config import BaselineSettings, EvalSettings, seed_everything
from lorag_nb.core.fmt import cap
from lorag_nb.core.store import Result, ResultsStore
from lorag_nb.data.knowledge import document_for, load_knowledge, perplexity_texts
from lorag_nb.data.prompts import closed_book_prompt
from lorag_nb.data.worldgen import CONTROL, CONTROL_CANDIDATES, normalize
from lorag_nb.methods.evaluation import evaluate_qa, one_truncation_warning, perplexity
from lorag_nb.methods.models import load_model
from lorag_nb.methods.runtime import RUNTIME


def measure_model(model, tokenizer, ks, ev: EvalSettings, oracle: bool = True) -> tuple[dict, dict]:
    """Every standard measurement of one model on one knowledge set.

    Measures: test questions closed book (EM, F1, contains, MC accuracy), with the oracle (gold)
    document as context if ``oracle``, revised-facts questions closed book, control-set accuracy
    ("contains" on generated answers) and perplexity on real text (Python docs). The oracle arm answers at
    ``ev.oracle_max_new_tokens`` tokens (when set), the others at ``ev.max_new_tokens``.

    Returns:
        ``(metrics, details)``: metrics ``{"test": {...}, "oracle": {...}, "revised": {...},
        "control_accuracy": float, "perplexity": float}``; details holds per-question rows.
    """

    with one_truncation_warning():  # one warning for the four evaluations below
        return _measure_model(model, tokenizer, ks, ev, oracle)


def _measure_model(model, tokenizer, ks, ev: EvalSettings, oracle: bool) -> tuple[dict, dict]:
    kw = dict(max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size)
    test = cap(ks.test_qa, ev.max_questions)
    metrics, details = {}, {}
    r = evaluate_qa(model, tokenizer, test, **kw)
    metrics["test"], details["test"] = r.metrics, r.rows
    if oracle:
        ctx = [[document_for(ks, q).text] if q.doc_id else [] for q in test]  # a user question linked to no document: no context
        r = evaluate_qa(model, tokenizer, test, contexts=ctx, **dict(kw, max_new_tokens=ev.oracle_max_new_tokens or ev.max_new_tokens))
        metrics["oracle"], details["oracle"] = r.metrics, r.rows
    revised = cap(ks.revised_test_qa, ev.max_questions)
    if revised:
        r = evaluate_qa(model, tokenizer, revised, **kw)
        metrics["revised"], details["revised"] = r.metrics, r.rows
    r = evaluate_qa(model, tokenizer, cap(ks.control_qa, ev.max_questions), multiple_choice=False, **kw)
    metrics["control_accuracy"] = r.metrics["contains"]
    metrics["control"], details["control"] = r.metrics, r.rows
    metrics["perplexity"] = perplexity(model, tokenizer, perplexity_texts(n_texts=ev.perplexity_texts), max_tokens=ev.perplexity_tokens)
    return metrics, details


def run_baseline(settings: BaselineSettings = BaselineSettings(), store: ResultsStore | None = None, model=None, tokenizer=None, force: bool = False) -> Result:
    """Measure the base model (cached in the results store).

    Args:
        model, tokenizer: an already-loaded model to reuse (must be ``settings.model``); loaded if None.

    Returns:
        :class:`Result` of kind ``"baseline"`` with :func:`measure_model`'s metrics.
    """

    store = RUNTIME.use_store(store)

    def compute(_artifacts: Path):
        seed_everything(settings.seed)
        m, t = (model, tokenizer) if model is not None else load_model(settings.model)
        ks = load_knowledge(n_entities=settings.eval.n_entities)
        return measure_model(m, t, ks, settings.eval)

    return store.cached("baseline", settings.to_dict(), compute, force=force)


#: kind -> "module:function" implementing ``f(settings, store=..., **kw) -> Result``; imported lazily so
#: this module does not depend on the training or RAG stacks.
RUNNERS: dict[str, str] = {
    "BaselineSettings": "lorag_nb.methods.measure:run_baseline",
    "TrainingSettings": "lorag_nb.methods.training:run_training",
    "RagSettings": "lorag_nb.methods.rag:run_rag",
}


def run(settings: Any, store: ResultsStore | None = None, **kwargs) -> Result:
    """Run (or fetch from the store) the experiment that ``settings`` describes.

    Dispatches on the settings' type through :data:`RUNNERS`.

    Raises:
        TypeError: no runner for that settings type.
    """
    name = type(settings).__name__
    if name not in RUNNERS:
        raise TypeError(f"no experiment runner for {name}; known settings types: {sorted(RUNNERS)}")
    module, func = RUNNERS[name].split(":")
    return getattr(importlib.import_module(module), func)(settings, store=store, **kwargs)


def select_control(candidates=CONTROL_CANDIDATES, model_name: str = "embedded", batch_sizes=(8, 1),
                   max_new_tokens: int = 16) -> list[dict]:
    """Ask the real model every control candidate closed book; report which it answers correctly.

    This is how :data:`~lorag_nb.data.worldgen.CONTROL_KEPT` was chosen; it is never called by :func:`~lorag_nb.data.worldgen.generate`. Each batch
    size is a separate greedy run (left padding, ``lorag_nb.data.prompts.closed_book_prompt``,
    ``max_new_tokens`` tokens, continuation cut at ``<|im_end|>`` and at its first line). A candidate
    passes a run when its normalized answer or an alias occurs as whole words in the normalized
    output, and passes overall when it passes every run.

    Returns:
        One dict per candidate: ``question``, ``answer``, ``ok`` (bool), ``outputs`` (one per run).
        Takes about a minute on 2 CPU cores for ~100 candidates.
    """
    import torch


    model, tokenizer = load_model(model_name)
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    prompts = [closed_book_prompt(tokenizer, q) for q, *_ in candidates]
    runs = []
    for bs in batch_sizes:
        outs = []
        for i in range(0, len(prompts), bs):
            enc = tokenizer(prompts[i:i + bs], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            outs += [_first_line(t) for t in tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=False)]
        runs.append(outs)
    report = []
    for k, (q, a, aliases, _wrong) in enumerate(candidates):
        outputs = [run[k] for run in runs]
        ok = all(any(f" {normalize(g)} " in f" {normalize(o)} " for g in (a, *aliases)) for o in outputs)
        report.append({"question": q, "answer": a, "ok": ok, "outputs": outputs})
    return report


def main() -> None:
    """``python -m lorag_nb.methods.measure``: ask the model every control candidate of
    :mod:`lorag_nb.data.worldgen` and print which pass (:func:`select_control`) and the ``CONTROL_KEPT`` set."""
    report = select_control()
    for r in report:
        print(("PASS" if r["ok"] else "fail"), r["question"], "|", r["answer"], "|", " || ".join(r["outputs"]))
    kept = sorted(r["question"] for r in report if r["ok"])
    print(f"{len(kept)}/{len(report)} candidates pass; currently kept: {len(CONTROL)}")
    print("CONTROL_KEPT = frozenset({\n" + "".join(f"    {q!r},\n" for q in kept) + "})")


if __name__ == "__main__":
    main()


def _first_line(raw: str, stop: str = "<|im_end|>") -> str:
    """The answer as scored: the continuation cut at ``stop`` and at its first non-empty line."""
    lines = [ln.strip() for ln in raw.split(stop)[0].strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""
