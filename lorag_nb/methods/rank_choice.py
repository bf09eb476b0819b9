"""Choosing the LoRA rank on the dev split: evaluate stored LoRA runs on the dev questions, pick the best.

Notebook 05's LoRA row is the rank with the best multiple-choice accuracy on the **dev** questions
(wordings that are neither training nor test wordings), so the choice does not leak into the test
numbers. A module of its own rather than part of :mod:`lorag_nb.methods.adapters`, because it reads
stored training runs (:func:`lorag_nb.methods.training.settings_of`) and ``training`` already imports
``adapters`` (the other way round would be a cycle).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from lorag_nb.core.fmt import cap
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.methods.adapters import load_adapter
from lorag_nb.methods.evaluation import evaluate_qa
from lorag_nb.methods.models import load_model
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.training import ADAPTER_DIR, settings_of


def lora_dev_accuracy(result, store=None, n_questions: int | None = None, model=None, tokenizer=None, max_new_tokens: int = 16, batch_size: int = 16, force: bool = False):
    """Multiple-choice accuracy (and EM/F1) of a stored LoRA run on the **dev** questions of its world.

    Dev questions use wordings that are neither training nor test wordings, so choosing a rank on them
    does not leak into the test numbers. The adapter is loaded onto a copy of the base model and merged.
    Cached in the results store (kind ``"lora_dev"``, keyed by the training run's key).

    Args:
        result: a LoRA :class:`~lorag_nb.core.store.Result` of :func:`lorag_nb.methods.training.run_training`.
        n_questions: the first dev questions to use (None = all of the run's world).

    Returns:
        Result with ``evaluate_qa`` metrics (n, exact_match, f1, contains, mc_accuracy, …) and rows.

    Raises:
        ValueError: ``result`` is not a LoRA training run.
        FileNotFoundError: its adapter folder is gone (rerun ``run_training(..., force=True)``).
    """

    store = RUNTIME.use_store(store)
    settings, _ = settings_of(result)
    if settings.lora is None:
        raise ValueError(f"run {result.key} is full fine-tuning, not LoRA: it has no adapter to evaluate on the dev split")
    key = {"train_key": result.key, "n_questions": n_questions, "max_new_tokens": max_new_tokens, "batch_size": batch_size}

    def compute(_artifacts: Path):
        nonlocal model, tokenizer
        if model is None:
            model, tokenizer = load_model(settings.model, dtype="float32")
        adapter = store.artifact_dir(result.kind, result.key) / ADAPTER_DIR
        wrapped = load_adapter(model, adapter, copy_base=True)
        merged = wrapped.merge_and_unload()
        merged.eval()
        qas = cap(list(load_knowledge(n_entities=settings.n_entities).dev_qa), n_questions)
        r = evaluate_qa(merged, tokenizer, qas, max_new_tokens=max_new_tokens, batch_size=batch_size, multiple_choice=True)
        del merged, wrapped
        return dict(r.metrics, r=settings.lora.r), {"rows": r.rows}

    return store.cached("lora_dev", key, compute, force=force)


def best_lora_rank(dev: Mapping[int, Any]) -> int:
    """The rank with the highest dev multiple-choice accuracy (ties: higher dev F1, then the smaller rank).

    Args:
        dev: rank → dev Result (or metrics dict) of :func:`lora_dev_accuracy`.

    Raises:
        ValueError: ``dev`` is empty.
    """
    if not dev:
        raise ValueError("no LoRA rank to choose from (dev is empty)")

    def score(r):
        m = dev[r].metrics if hasattr(dev[r], "metrics") else dev[r]
        return (round(float(m.get("mc_accuracy") or 0.0), 9), round(float(m.get("f1") or 0.0), 9), -int(r))

    return max(dev, key=score)
