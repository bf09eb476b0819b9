"""The method catalog: every method this study compares, once — its id, display labels, colour key and traits.

Code that must tell methods apart reads a trait here (``changes_weights``, ``retrieves``, …) instead of
testing a method's name (``m in ("base", "full", "lora")``); label and colour tables are views of this
one table (``tests/test_architecture.py`` fails on a comparison against a method id outside this module).

Each :class:`Method` also knows where its numbers sit in a stored result (:class:`ResultShape`): the
base model's ``measure.run_baseline`` and the fine-tuned runs of ``training.run_training`` keep answer
metrics under ``metrics["test"]`` and median latency under ``test.latency_ms_p50``; RAG and the hybrids
(``rag.run_rag`` / ``hybrid.run_hybrid``) under ``metrics["answers"]`` and ``latency_ms.total_p50``.
Those views (:meth:`Method.answers`, :meth:`Method.latency_p50`, :meth:`Method.rows`,
:meth:`Method.revised_rows`) are plain dict reads, so this module imports nothing from the package.

Colour *values* live in :data:`lorag_nb.ui.plots.METHOD_COLORS`, keyed by :attr:`Method.color`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


def _get(d: Any, *path, default=None):
    for p in path:
        if not isinstance(d, Mapping) or p not in d:
            return default
        d = d[p]
    return d


@dataclass(frozen=True)
class ResultShape:
    """Where a stored result keeps a method's numbers.

    Attributes:
        name: ``"baseline"`` (``measure.run_baseline``), ``"training"`` (``training.run_training``) or
            ``"chain"`` (``rag.run_rag``, ``hybrid.run_hybrid``: answers through the retrieval chain).
        answers: path in ``metrics`` to the answer metrics (exact_match, f1, mc_accuracy, n, …).
        latency: path in ``metrics`` to the median answer latency in ms.
    """

    name: str
    answers: tuple[str, ...]
    latency: tuple[str, ...]


BASELINE = ResultShape("baseline", ("test",), ("test", "latency_ms_p50"))
TRAINING = ResultShape("training", ("test",), ("test", "latency_ms_p50"))
CHAIN = ResultShape("chain", ("answers",), ("latency_ms", "total_p50"))


@dataclass(frozen=True)
class Method:
    """One method of the study.

    Attributes:
        id: the name results, settings and notebooks use (``"lora"``); never shown to a reader.
        label: display name in notebook 05's table and charts (``"LoRA"``).
        long_label: display name where every row answers through the RAG chain (notebook 04), saying
            which model reads the passages; defaults to ``label``.
        color: key of :data:`lorag_nb.ui.plots.METHOD_COLORS`.
        changes_weights: its answers come from weights it trained (fine-tuning, an adapter).
        retrieves: it answers from retrieved passages (the RAG chain).
        trained_per_seed: notebook 05 trains it once per seed (``results[id + "_seeds"]``).
        shape: where a stored result keeps its numbers (:class:`ResultShape`).
        rank_label: the label when the row carries its LoRA rank (``"LoRA r={r}"``), else None.
        revised_result: which of notebook 05's gathered results holds its answers to the revised facts
            (``"{id}"`` is replaced by the method id): the swapped knowledge base for RAG, a second run
            for the hybrids, the run itself for closed-book models.
        row: a row of notebook 05's main comparison table (the Ovadia arms are reported apart).
    """

    id: str
    label: str
    color: str
    changes_weights: bool
    retrieves: bool
    shape: ResultShape
    trained_per_seed: bool = False
    long_label: str = ""
    rank_label: str | None = None
    revised_result: str = "{id}"
    row: bool = True

    @property
    def closed_book(self) -> bool:
        """Answers without retrieved passages (the base model and the fine-tuned models)."""
        return not self.retrieves

    @property
    def learns_facts(self) -> bool:
        """Takes in the knowledge set somehow (trained weights or retrieval); only the base model does not."""
        return self.changes_weights or self.retrieves

    @property
    def hybrid(self) -> bool:
        """A trained adapter answering through the RAG chain."""
        return self.changes_weights and self.retrieves

    @property
    def display_long(self) -> str:
        return self.long_label or self.label

    def revised_key(self) -> str:
        """The key of notebook 05's gathered results that holds this method's revised-facts answers."""
        return self.revised_result.format(id=self.id)

    # ---- views of a stored result (plain dicts: Result.metrics / Result.details)

    def answers(self, metrics: Mapping | None) -> dict:
        """The answer metrics of a stored result (``{}`` if absent)."""
        return _get(metrics, *self.shape.answers) or {}

    def latency_p50(self, metrics: Mapping | None) -> float | None:
        """Median answer latency (ms) of a stored result, or None."""
        return _get(metrics, *self.shape.latency)

    def rows(self, details: Mapping | None, split: str = "test") -> list[dict]:
        """Per-question rows of ``split`` (``"test"``, ``"control"``, ``"revised"``): the baseline keeps
        them at ``details[split]``, a training run at ``details["rows"][split]``, a chain run at
        ``details["rows"]`` (a list: the test split; or a mapping by split)."""
        d = details or {}
        if self.shape is BASELINE:
            return list(d.get(split, []))
        if self.shape is TRAINING:
            return list(_get(d, "rows", split, default=[]))
        rows = d.get("rows", [])
        if isinstance(rows, Mapping):
            return list(rows.get(split, []))
        return list(rows) if split == "test" else []

    def revised_rows(self, details: Mapping | None) -> list[dict]:
        """Per-question rows on the revised facts, from the result :meth:`revised_key` names: the
        closed-book models' own ``revised`` split, RAG's knowledge-base swap (its ``after`` rows), a
        hybrid's revised run (its rows, or their ``revised`` / ``after`` split)."""
        d = details or {}
        if self.shape is BASELINE:
            return list(d.get("revised", []))
        if self.shape is TRAINING:
            return list(_get(d, "rows", "revised", default=[]))
        if not self.changes_weights:  # RAG: the swap result, answers after the swap
            return list(d.get("after", []))
        rows = d.get("rows", [])
        if isinstance(rows, Mapping):
            rows = rows.get("revised", rows.get("after", []))
        return list(rows)


#: Every method, in notebook 05's row order (the Ovadia arms last: they are not table rows).
CATALOG: tuple[Method, ...] = (
    Method("base", "base model", "base", changes_weights=False, retrieves=False, shape=BASELINE),
    Method("full", "full fine-tuning", "full", changes_weights=True, retrieves=False, shape=TRAINING, trained_per_seed=True),
    Method("lora", "LoRA", "lora", changes_weights=True, retrieves=False, shape=TRAINING, trained_per_seed=True, rank_label="LoRA r={r}"),
    Method("rag", "RAG", "rag", changes_weights=False, retrieves=True, shape=CHAIN, long_label="RAG (base model)", revised_result="rag_swap"),
    Method("naive_hybrid", "naive hybrid (LoRA + RAG)", "hybrid", changes_weights=True, retrieves=True, shape=CHAIN,
           long_label="naive hybrid (closed-book LoRA + RAG)", rank_label="naive hybrid (LoRA r={r} + RAG)", revised_result="{id}_revised"),
    Method("raft_hybrid", "RAFT hybrid", "raft", changes_weights=True, retrieves=True, shape=CHAIN, trained_per_seed=True,
           long_label="RAFT hybrid (RAFT LoRA + RAG)", revised_result="{id}_revised"),
    # the arms of Ovadia et al. (2023), *Fine-Tuning or Retrieval?*: LoRA trained on the documents, and on
    # the documents plus paraphrased questions (the LoRA row itself is trained on the questions only)
    Method("docs_ft", "LoRA on the documents", "lora", changes_weights=True, retrieves=False, shape=TRAINING, row=False),
    Method("docs_qa_ft", "LoRA on documents + paraphrased QA", "lora", changes_weights=True, retrieves=False, shape=TRAINING, row=False),
)
#: id → :class:`Method`.
BY_ID: dict[str, Method] = {m.id: m for m in CATALOG}


def method(method_id: str) -> Method:
    """The catalog entry of ``method_id``.

    Raises:
        KeyError: not a method of the catalog (the message lists the valid ids).
    """
    try:
        return BY_ID[method_id]
    except KeyError:
        raise KeyError(f"unknown method {method_id!r}; valid: {sorted(BY_ID)}") from None


def ids(**traits) -> tuple[str, ...]:
    """Ids of the methods (in catalog order) whose attributes / properties equal ``traits``:
    ``ids(retrieves=True)`` → ``("rag", "naive_hybrid", "raft_hybrid")``."""
    return tuple(m.id for m in CATALOG if all(getattr(m, k) == v for k, v in traits.items()))


#: notebook 05's table rows, in order.
TABLE_METHODS = ids(row=True)
#: the base model and the fine-tuned models: they answer without retrieval.
CLOSED_BOOK = ids(row=True, closed_book=True)
#: the methods whose weights were trained on the facts, answering closed book (full fine-tuning, LoRA).
FINE_TUNED = ids(row=True, closed_book=True, changes_weights=True)
#: the methods that answer through the RAG chain.
RETRIEVAL = ids(row=True, retrieves=True)
#: a trained adapter inside the RAG chain.
HYBRIDS = ids(row=True, hybrid=True)
#: the single methods a hybrid combines or competes with (full fine-tuning, LoRA, RAG).
SINGLES = ids(row=True, hybrid=False, learns_facts=True)
#: Ovadia et al.'s arms (not table rows).
OVADIA = ids(row=False)


def labels(methods=None, long: bool = False) -> dict[str, str]:
    """id → display label of ``methods`` (default: all); ``long=True``: notebook 04's chain labels."""
    return {m: (BY_ID[m].display_long if long else BY_ID[m].label) for m in (methods or BY_ID)}


def color_keys(methods=None) -> dict[str, str]:
    """id → colour key (:data:`lorag_nb.ui.plots.METHOD_COLORS`) of ``methods`` (default: all)."""
    return {m: BY_ID[m].color for m in (methods or BY_ID)}
