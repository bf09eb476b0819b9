"""RAFT training examples (Zhang et al. 2024, *RAFT: Adapting Language Model to Domain Specific RAG*):
each example is a question, ``k`` documents in the prompt — the oracle (gold) document with probability
``p_oracle``, otherwise distractors only — and the answer. The prompt is the RAG chain's own
with-context prompt (``prompts.make_prompt(..., contexts, variant)``), so train and test prompts match.

The knobs (``p_oracle``, ``k``, ``distractors``, ``cite``, ``prompt_variant``, ``kb_entities``) are
:class:`lorag_nb.core.config.RaftSettings` (``TrainingSettings.raft``), validated at construction.

The training data are examples of :func:`lorag_nb.methods.examples.qa_example` (labels only on the answer and
its end-of-turn token); :func:`lorag_nb.methods.training.build_examples` calls :func:`raft_examples` when
``settings.context == "raft"``, so ``training.run_training(raft_settings())`` trains, measures and stores
the adapter like any other run (kind ``"train"``, method ``"raft"``).
"""
from __future__ import annotations

import random
import re
from typing import Sequence

from lorag_nb.core.config import RaftSettings, RagSettings, TrainingSettings
from lorag_nb.data.knowledge import DATA_DIR, active_knowledge, document_for, load_folder, load_knowledge
from lorag_nb.data.prompts import (
    DEFAULT_CONTEXT_VARIANT,
    completion,
    make_prompt,
)
from lorag_nb.methods import rag
from lorag_nb.methods.examples import IGNORE_INDEX, qa_example, select_qa


def _sentence_with(text: str, answer: str) -> str | None:
    """The sentence of ``text`` that contains ``answer`` (case-insensitive), or None."""
    for s in re.split(r"(?<=[.!?])\s+", text.strip()):
        if answer.lower() in s.lower():
            return s.strip()
    return None


def raft_target(answer: str, oracle_text: str | None, cite: bool) -> str:
    """The answer text a RAFT example teaches: the answer, or with ``cite`` ``answer (from: "sentence")``
    quoting the oracle sentence that contains it (the answer alone if none does)."""
    if cite and oracle_text:
        s = _sentence_with(oracle_text, answer)
        if s:
            return f'{answer} (from: "{s}")'
    return answer


def passage(text: str, answer: str | None = None, size: int = RagSettings.chunk_size) -> str:
    """A document as a RAFT context of at most ``size`` characters (what RAG shows: a chunk, not a whole
    document): the whole text when it fits, else the window of ``size`` characters around the first
    occurrence of ``answer`` (case-insensitive), or the first ``size`` characters, cut at word boundaries.

    Why: a reader's real documents run to thousands of characters; three whole ones made a RAFT example of
    1,105 tokens on ``examples/python_prose`` (over ``max_length`` 512), while RAG answers from 500-character
    chunks. The built-in world's documents (≤ 401 characters) are used whole, as before.
    """
    if len(text) <= size:
        return text
    at = text.lower().find(answer.lower()) if answer else -1
    start = 0 if at < 0 else max(0, min(at - (size - len(answer or "")) // 2, len(text) - size))
    window = text[start : start + size]
    if start > 0 and " " in window:
        window = window[window.index(" ") + 1 :]
    if start + size < len(text) and " " in window:
        window = window[: window.rindex(" ")]
    return window.strip()


def _open_kb(kb_entities: int | None, client=None):

    kb, _ = rag.open_knowledge_base(RagSettings(), load_knowledge(n_entities=kb_entities), kb_entities, client=client)
    return kb


def raft_records(tokenizer, ks, settings: TrainingSettings, kb=None, client=None) -> list[dict]:
    """RAFT training examples with what went into them (for previews and tests).

    For each training question (``settings.paraphrases`` wordings per fact, as closed-book training):
    with probability ``p_oracle`` (``random.Random(settings.seed)``, one draw per question) the oracle
    document plus ``k − 1`` distractors, else ``k`` distractors; contexts shuffled; prompt
    ``prompts.make_prompt(tokenizer, question, contexts, variant)``; target
    ``prompts.completion(tokenizer, raft_target(...))``; tokenized by :func:`lorag_nb.methods.examples.qa_example`.
    Then shuffled with the seed and cut to ``max_examples`` (as :func:`lorag_nb.methods.training.build_examples`).

    Every document comes from ``ks`` (or the same source at ``kb_entities``): for a user folder, never from
    the generated world. Questions linked to no document are left out (they have no oracle).

    Distractor pools: ``near_duplicates``: the look-alike documents of the question's entity, then the
    other look-alikes (random order) — for a user folder, which has none, its other documents; ``retrieved``: the non-gold chunks the similarity retriever ranks
    highest for the question in the RAG knowledge base (``kb``, default: the collection of
    ``RagSettings()`` over ``kb_entities`` entities); ``both``: alternately one of each.

    Returns:
        ``[{"example": {"input_ids", "attention_mask", "labels"}, "question", "answer", "target",
        "contexts", "context_ids", "oracle" (bool), "gold_doc", "tokens", "label_tokens"}]``.

    Raises:
        ValueError: bad RAFT knobs; an example longer than ``settings.max_length`` (it would be cut:
            raise ``max_length`` or lower ``k``); no training question linked to a document.

    Warns:
        UserWarning: once, when some questions have fewer distractor passages than ``k`` asks for (a folder of
            few documents); their examples show the distractors there are.
    """

    raft = settings.raft or RaftSettings()
    k, p = raft.k, raft.p_oracle
    variant = raft.prompt_variant or DEFAULT_CONTEXT_VARIANT
    qas = [q for q in select_qa(ks.train_qa, settings.paraphrases, settings.seed) if q.doc_id]  # a question linked to no document has no oracle
    if not qas:
        raise ValueError(f"no training questions linked to a document for n_entities={settings.n_entities}")
    if ks.source == "builtin":
        pool_ks = ks if raft.kb_entities == settings.n_entities else load_knowledge(n_entities=raft.kb_entities, data_dir=DATA_DIR)
        lookalikes = list(pool_ks.distractors)
    else:  # a user folder has no look-alike documents: its other documents (of the same folder, never the world's) are the distractors
        lookalikes = list(load_folder(ks.root, raft.kb_entities).documents)
    rng = random.Random(settings.seed)
    need_retrieved = raft.distractors in ("retrieved", "both")
    ranked: dict[str, list] = {}
    if need_retrieved:
        if kb is None and str(active_knowledge()) != str(ks.root if ks.source != "builtin" else None):
            raise ValueError(f"raft distractors={raft.distractors!r} retrieve from the active knowledge base ({active_knowledge() or 'the generated world'}), "
                             f"but the questions come from {ks.root or 'the generated world'}: call knowledge.use_knowledge() on it first or pass kb")
        kb = kb if kb is not None else _open_kb(raft.kb_entities, client)
        questions = [q.question for q in qas]
        for q, docs in zip(questions, kb.rank(questions, min(kb.count(), k + 12))):
            ranked[q] = docs

    records, short = [], []
    for q in qas:
        gold = document_for(ks, q)
        with_oracle = rng.random() < p
        n_dis = k - 1 if with_oracle else k
        own = [d for d in lookalikes if d.metadata.get("imitates") == q.entity_id]
        others = [d for d in lookalikes if d.metadata.get("imitates") != q.entity_id]
        rng.shuffle(others)
        near = [(d.id, passage(d.text)) for d in own + others if d.id != gold.id]  # never the question's own document as a distractor
        retrieved = [(c.id, c.page_content) for c in ranked.get(q.question, []) if c.metadata.get("doc_id") != gold.id]
        if raft.distractors == "near_duplicates":
            pool = near
        elif raft.distractors == "retrieved":
            pool = retrieved
        else:
            pool = [x for pair in zip(near, retrieved) for x in pair] + near[len(retrieved):] + retrieved[len(near):]
        oracle = passage(gold.text, q.answer)
        chosen, seen = [], {gold.text.strip(), oracle.strip()}
        for cid, text in pool:
            if text.strip() not in seen and len(chosen) < n_dis:
                chosen.append((cid, text))
                seen.add(text.strip())
        if len(chosen) < n_dis:  # a folder of few documents: fewer distractors than k asks for (counted, said once below)
            short.append(q.id)
        contexts = chosen + ([(gold.id, oracle)] if with_oracle else [])
        rng.shuffle(contexts)
        target_text = raft_target(q.answer, oracle, raft.cite)
        prompt = make_prompt(tokenizer, q.question, [t for _, t in contexts], variant=variant)
        target = completion(tokenizer, target_text)
        n_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) + len(tokenizer(target, add_special_tokens=False)["input_ids"])
        if n_tokens > settings.max_length:
            raise ValueError(f"RAFT example {q.id} needs {n_tokens} tokens but max_length={settings.max_length}: it would be cut; raise max_length to >= {n_tokens} or lower k={k}")
        ex = qa_example(tokenizer, prompt, target, settings.max_length)
        n_labels = sum(1 for l in ex["labels"] if l != IGNORE_INDEX)
        records.append({"example": ex, "id": q.id, "question": q.question, "answer": q.answer, "target": target_text, "contexts": [t for _, t in contexts], "context_ids": [c for c, _ in contexts], "oracle": with_oracle, "gold_doc": gold.id, "tokens": len(ex["input_ids"]), "label_tokens": n_labels})
    if short:
        import warnings

        warnings.warn(f"RAFT k={k}: {len(short)} of {len(qas)} training questions have fewer than {k - 1} distractor passages available from {raft.distractors!r} "
                      f"(the knowledge base has {len(ks.documents)} documents), e.g. {short[0]}; those examples show what there is", UserWarning, stacklevel=2)
    random.Random(settings.seed).shuffle(records)
    if settings.max_examples is not None:
        records = records[: settings.max_examples]
    return records


def raft_examples(tokenizer, ks, settings: TrainingSettings, kb=None, client=None) -> list[dict]:
    """Tokenized RAFT training examples (``{"input_ids", "attention_mask", "labels"}``; labels only on
    the answer and its end-of-turn token) — :func:`raft_records` without the metadata.

    Called by :func:`lorag_nb.methods.training.build_examples` when ``settings.context == "raft"``.

    Raises:
        ValueError: as :func:`raft_records`.
    """
    return [r["example"] for r in raft_records(tokenizer, ks, settings, kb=kb, client=client)]


def raft_preview(tokenizer, settings: TrainingSettings, kb=None, client=None, max_chars: int = 90):
    """Two RAFT examples side by side — the first with the oracle document, the first without — as a
    DataFrame (rows: question, contexts (document ids, gold marked), oracle in prompt, target (the
    label tokens, decoded), prompt tokens, label tokens)."""
    import pandas as pd


    recs = raft_records(tokenizer, load_knowledge(n_entities=settings.n_entities), settings, kb=kb, client=client)
    picks = {}
    for r in recs:
        picks.setdefault("with the oracle document" if r["oracle"] else "distractors only", r)
    cols = {}
    for label in ("with the oracle document", "distractors only"):
        r = picks.get(label)
        if r is None:
            continue
        ex = r["example"]
        learned = tokenizer.decode([i for i, l in zip(ex["input_ids"], ex["labels"]) if l != IGNORE_INDEX])
        cols[label] = {
            "question": r["question"],
            "contexts (in prompt order)": " | ".join(f"{cid}{' (gold)' if cid == r['gold_doc'] else ''}: {t[:max_chars]}…" for cid, t in zip(r["context_ids"], r["contexts"])),
            "oracle in prompt": r["oracle"],
            "trained on (label tokens)": learned,
            "tokens": r["tokens"],
            "label tokens": r["label_tokens"],
        }
    return pd.DataFrame(cols)


def oracle_rate(records: Sequence[dict]) -> float:
    """Share of RAFT records whose prompt holds the oracle document."""
    return sum(r["oracle"] for r in records) / len(records) if records else float("nan")


#: Notebook 03's defaults: the knowledge base (all 80 entities + near-duplicate distractors, chunks of
#: 500 characters) and the first 12 test questions (those of the 2 entities notebooks 01–02 train on).
