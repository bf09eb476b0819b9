"""Training examples: tokenized prompt + target with labels on the target only (the loss every
fine-tuning run uses), document examples (continued pretraining), and the choice of training wordings."""
from __future__ import annotations

import random
from typing import Sequence

IGNORE_INDEX = -100


def qa_example(tokenizer, prompt: str, target: str, max_length: int) -> dict:
    """Token ids and position-masked labels for one prompt → target pair.

    ``prompt`` and ``target`` are tokenized separately (no special tokens added) and concatenated;
    labels are -100 on every prompt position and equal the ids on the target positions (so the
    end-of-turn token in ``target`` is learned). If the pair exceeds ``max_length`` tokens the prompt
    loses tokens from its start; the target is kept whole (cut only if it alone is longer).

    Returns:
        ``{"input_ids", "attention_mask", "labels"}``, lists of equal length ≤ ``max_length``.
    """
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(target, add_special_tokens=False)["input_ids"][:max_length]
    room = max_length - len(c)
    p = p[len(p) - room :] if room > 0 else []
    ids = p + c
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE_INDEX] * len(p) + c}


def document_example(tokenizer, text: str, max_length: int) -> dict:
    """One continued-pretraining example: the text then the EOS token, every position a label (cut at ``max_length``)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - 1] + [tokenizer.eos_token_id]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)}


def select_qa(qas: Sequence, paraphrases: int | None, seed: int) -> list:
    """Keep ``paraphrases`` wordings per fact (chosen with ``seed``), or all if None; order kept."""
    if paraphrases is None:
        return list(qas)
    by_fact: dict[tuple, list] = {}
    for q in qas:
        by_fact.setdefault((q.entity_id, q.relation) if q.fact_id is None else ("fact", q.fact_id), []).append(q)
    rng = random.Random(seed)
    keep = set()
    for fact in sorted(by_fact, key=str):
        group = by_fact[fact]
        keep.update(id(q) for q in rng.sample(group, min(paraphrases, len(group))))
    return [q for q in qas if id(q) in keep]
