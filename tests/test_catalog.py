"""The method catalog (:mod:`lorag_nb.core.catalog`): one table of ids, labels, colour keys and traits, and
its views of a stored result."""
from __future__ import annotations

import pytest

from lorag_nb.core import catalog
from lorag_nb.methods import hybrid
from lorag_nb.ui.plots import METHOD_COLORS


def test_ids_are_unique_and_every_colour_key_has_a_colour():
    assert len(catalog.BY_ID) == len(catalog.CATALOG)
    assert all(m.color in METHOD_COLORS for m in catalog.CATALOG)


def test_the_trait_lists_are_the_groups_the_notebooks_use():
    assert catalog.TABLE_METHODS == ("base", "full", "lora", "rag", "naive_hybrid", "raft_hybrid")
    assert catalog.CLOSED_BOOK == ("base", "full", "lora")
    assert catalog.FINE_TUNED == ("full", "lora")
    assert catalog.RETRIEVAL == hybrid.METHODS == ("rag", "naive_hybrid", "raft_hybrid")
    assert catalog.HYBRIDS == ("naive_hybrid", "raft_hybrid")
    assert catalog.SINGLES == ("full", "lora", "rag")
    assert catalog.OVADIA == ("docs_ft", "docs_qa_ft")


def test_labels_are_the_ones_the_notebooks_show():
    assert catalog.labels(catalog.TABLE_METHODS) == {"base": "base model", "full": "full fine-tuning", "lora": "LoRA", "rag": "RAG",
                                                     "naive_hybrid": "naive hybrid (LoRA + RAG)", "raft_hybrid": "RAFT hybrid"}
    assert hybrid.METHOD_LABELS == {"rag": "RAG (base model)", "naive_hybrid": "naive hybrid (closed-book LoRA + RAG)", "raft_hybrid": "RAFT hybrid (RAFT LoRA + RAG)"}
    assert hybrid.METHOD_COLOR_KEYS == {"rag": "rag", "naive_hybrid": "hybrid", "raft_hybrid": "raft"}
    assert catalog.method("lora").rank_label.format(r=8) == "LoRA r=8"


def test_result_views_read_each_shape():
    base = catalog.method("base")
    assert base.answers({"test": {"f1": 0.5}}) == {"f1": 0.5} and base.latency_p50({"test": {"latency_ms_p50": 3.0}}) == 3.0
    assert base.rows({"test": [{"id": "a"}], "control": [{"id": "c"}]}, "control") == [{"id": "c"}]
    lora = catalog.method("lora")
    assert lora.rows({"rows": {"test": [{"id": "a"}]}}) == [{"id": "a"}] and lora.revised_rows({"rows": {"revised": [{"id": "r"}]}}) == [{"id": "r"}]
    rag = catalog.method("rag")
    assert rag.answers({"answers": {"f1": 0.7}}) == {"f1": 0.7} and rag.latency_p50({"latency_ms": {"total_p50": 9.0}}) == 9.0
    assert rag.rows({"rows": [{"id": "a"}]}) == [{"id": "a"}] and rag.rows({"rows": [{"id": "a"}]}, "control") == []
    assert rag.revised_key() == "rag_swap" and rag.revised_rows({"after": [{"id": "n"}]}) == [{"id": "n"}]
    naive = catalog.method("naive_hybrid")
    assert naive.revised_key() == "naive_hybrid_revised" and naive.revised_rows({"rows": [{"id": "h"}]}) == [{"id": "h"}]


def test_an_unknown_method_is_named():
    with pytest.raises(KeyError, match="unknown method 'dora'"):
        catalog.method("dora")
