"""LoRA + RAG hybrids: a fine-tuned adapter used inside the RAG chain, and RAFT-style training.

Two hybrids, measured against each other and against their parts on the same test questions and the
same retriever (notebook 04):

- ``"naive_hybrid"``: the closed-book LoRA adapter of notebook 02 (``training.default_lora()``),
  merged into the base model, answering through the RAG chain of notebook 03 (:func:`lorag_nb.rag.run_rag`).
- ``"raft_hybrid"``: a LoRA adapter trained RAFT-style (Zhang et al. 2024, *RAFT: Adapting Language
  Model to Domain Specific RAG*): each training example is a question, ``k`` documents in the prompt —
  the oracle (gold) document with probability ``p_oracle``, otherwise distractors only — and the answer
  (optionally citing the sentence it comes from). The prompt is the RAG chain's own with-context prompt
  (``prompts.make_prompt(..., contexts, variant)``), so train and test prompts match.
- ``"rag"``: the base model in the same chain (the reference).

RAFT knobs (``TrainingSettings.raft``, validated by :func:`validate_raft`):

- ``p_oracle`` in [0, 1]: probability that an example's contexts include the oracle document (the
  paper's P; it reports 0.8 as a good value for in-domain RAG).
- ``k`` ≥ 1: documents per example (oracle + k − 1 distractors, or k distractors).
- ``distractors``: ``"near_duplicates"`` (the knowledge set's look-alike documents of that entity first,
  then of other entities), ``"retrieved"`` (non-gold chunks the real retriever returns for the
  question — hard negatives), or ``"both"`` (alternating, near-duplicates first).
- ``cite``: the target is ``answer (from: "sentence")``, the oracle sentence containing the answer
  (the paper's chain-of-thought answers quote the document); off by default, because exact match then
  needs the answer alone.
- ``prompt_variant``: the with-context prompt variant (the RAG chain's, chosen on the dev split by
  notebook 03).
- ``kb_entities``: entities of the knowledge base the distractors come from (the RAG knowledge base).

The training data are examples of :func:`lorag_nb.training.qa_example` (labels only on the answer and
its end-of-turn token); :func:`lorag_nb.training.build_examples` calls :func:`raft_examples` when
``settings.context == "raft"``, so ``training.run_training(raft_settings())`` trains, measures and stores
the adapter like any other run (kind ``"train"``, method ``"raft"``).
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Sequence

from .config import EvalSettings, RagSettings, TrainingSettings
from .training import _pct

#: The three methods compared (contract with notebook 05).
METHODS = ("rag", "naive_hybrid", "raft_hybrid")
#: Display names.
METHOD_LABELS = {"rag": "RAG (base model)", "naive_hybrid": "naive hybrid (closed-book LoRA + RAG)", "raft_hybrid": "RAFT hybrid (RAFT LoRA + RAG)"}
#: plots.METHOD_COLORS keys per method.
METHOD_COLOR_KEYS = {"rag": "rag", "naive_hybrid": "hybrid", "raft_hybrid": "raft"}
DISTRACTOR_SOURCES = ("near_duplicates", "retrieved", "both")

#: Notebook 03's defaults: the knowledge base (all 80 entities + near-duplicate distractors, chunks of
#: 500 characters) and the first 12 test questions (those of the 2 entities notebooks 01–02 train on).
KB_ENTITIES = 80
RAG_EVAL = dict(n_entities=KB_ENTITIES, max_questions=12, max_new_tokens=16, batch_size=16, perplexity_texts=4, perplexity_tokens=256)
#: Notebook 03's dev-split prompt comparison (its winner is the chain's prompt variant).
DEV_QUESTIONS = 10

#: RAFT defaults. k = 3 documents of ~110 tokens keep an example under 512 tokens (checked, never cut).
RAFT_DEFAULTS = dict(p_oracle=0.8, k=3, distractors="both", cite=False, prompt_variant=None, kb_entities=KB_ENTITIES)
#: Training knobs of the RAFT adapter that differ from notebook 02's LoRA: longer examples need more room,
#: and 2 of the 5 training wordings per fact (one epoch) keep the cost of ~3.5× longer examples near that
#: of the closed-book LoRA (60 facts: 120 examples, 30 steps).
RAFT_TRAINING = dict(max_length=512, epochs=1.0, paraphrases=2)


# --------------------------------------------------------------------------- settings


def default_hybrid_eval(**overrides) -> EvalSettings:
    """The questions every hybrid and the plain RAG are compared on: notebook 03's evaluation
    (knowledge base of 80 entities, the first 12 test questions — those of the 2 trained entities —,
    16 new tokens), with ``overrides`` (any ``EvalSettings`` field)."""
    kw = dict(RAG_EVAL)
    kw.update(overrides)
    return EvalSettings(**kw)


def chosen_prompt_variant(store=None, model_name: str = "embedded", model=None, tokenizer=None, n_entities: int = KB_ENTITIES, n_dev_questions: int = DEV_QUESTIONS, max_new_tokens: int = 16, batch_size: int = 16, client=None, settings: RagSettings | None = None) -> str:
    """The with-context prompt variant notebook 03 chose on the dev split (:func:`lorag_nb.rag.compare_prompt_variants`
    with retriever ``settings``, default ``RagSettings()``: top_k 3, chunks of 500 characters).

    Read from the results store when notebook 03 (or an earlier call) measured it with the same
    settings; measured and stored otherwise (about a minute on a CPU).
    """
    from . import rag

    ev = default_hybrid_eval(n_entities=n_entities, max_questions=n_dev_questions, max_new_tokens=max_new_tokens, batch_size=batch_size)
    _, best = rag.compare_prompt_variants(settings or RagSettings(), store, ev, model_name=model_name, model=model, tokenizer=tokenizer, client=client)
    return best


def default_rag_settings(prompt_variant: str | None = None, store=None, model=None, tokenizer=None, client=None, **overrides) -> RagSettings:
    """The retriever every hybrid and the plain RAG use: notebook 03's ``RagSettings`` (top_k 3,
    similarity search, chunks of 500 characters with 50 of overlap, distractors indexed) with the
    prompt variant it chose on the dev split (:func:`chosen_prompt_variant`, unless ``prompt_variant``
    is given), and ``overrides`` (any ``RagSettings`` field)."""
    variant = prompt_variant or chosen_prompt_variant(store, model=model, tokenizer=tokenizer, client=client)
    return RagSettings(prompt_variant=variant, **overrides)


def validate_raft(raft: dict | None) -> dict:
    """The RAFT knobs with defaults filled in (see the module docstring).

    Raises:
        ValueError: an unknown key, ``p_oracle`` outside [0, 1], ``k`` < 1, an unknown distractor
            source, an unknown prompt variant or ``kb_entities`` < 1 — naming the value and what is valid.
    """
    from .prompts import CONTEXT_VARIANTS

    raft = dict(raft or {})
    unknown = sorted(set(raft) - set(RAFT_DEFAULTS))
    if unknown:
        raise ValueError(f"raft keys {unknown} are unknown; valid keys: {sorted(RAFT_DEFAULTS)}")
    out = dict(RAFT_DEFAULTS, **raft)
    p = out["p_oracle"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"raft p_oracle={p!r} is invalid; valid: a number in [0, 1]")
    k = out["k"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"raft k={k!r} is invalid; valid: an integer >= 1 (documents per training example)")
    if out["distractors"] not in DISTRACTOR_SOURCES:
        raise ValueError(f"raft distractors={out['distractors']!r} is invalid; valid: one of {DISTRACTOR_SOURCES}")
    if not isinstance(out["cite"], bool):
        raise ValueError(f"raft cite={out['cite']!r} is invalid; valid: True or False")
    if out["prompt_variant"] is not None and out["prompt_variant"] not in CONTEXT_VARIANTS:
        raise ValueError(f"raft prompt_variant={out['prompt_variant']!r} is invalid; valid: one of {sorted(CONTEXT_VARIANTS)}")
    kbe = out["kb_entities"]
    if kbe is not None and (isinstance(kbe, bool) or not isinstance(kbe, int) or kbe < 1):
        raise ValueError(f"raft kb_entities={kbe!r} is invalid; valid: None (all) or an integer >= 1")
    out["p_oracle"] = float(p)
    return out


def raft_settings(p_oracle: float = RAFT_DEFAULTS["p_oracle"], k: int = RAFT_DEFAULTS["k"], distractors: str = RAFT_DEFAULTS["distractors"], cite: bool = False, prompt_variant: str | None = None, kb_entities: int | None = KB_ENTITIES, **overrides) -> TrainingSettings:
    """RAFT adapter settings: notebook 02's LoRA (``training.default_lora()``: 2 entities, r=8 on all
    linear layers, lr 1e-3, batch 4) with ``context="raft"``, the RAFT knobs, ``max_length`` 512 and one
    epoch (:data:`RAFT_TRAINING`), and ``overrides`` (any ``TrainingSettings`` field).

    ``prompt_variant`` None means the default context variant of :mod:`lorag_nb.prompts`; pass the RAG
    chain's (``default_rag_settings().prompt_variant``) so training and test prompts match.

    Raises:
        ValueError: bad RAFT knobs (:func:`validate_raft`) or training settings.
    """
    from .prompts import DEFAULT_CONTEXT_VARIANT
    from .training import default_lora

    raft = validate_raft(dict(p_oracle=p_oracle, k=k, distractors=distractors, cite=cite, prompt_variant=prompt_variant or DEFAULT_CONTEXT_VARIANT, kb_entities=kb_entities))
    kw = dict(RAFT_TRAINING)
    kw.update(overrides)
    kw.update(context="raft", raft=raft)
    return default_lora(**kw)


def naive_settings(**overrides) -> TrainingSettings:
    """The naive hybrid's adapter: notebook 02's closed-book LoRA (``training.default_lora(**overrides)``)."""
    from .training import default_lora

    return default_lora(**overrides)


# --------------------------------------------------------------------------- RAFT examples


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


def _open_kb(kb_entities: int | None, client=None):
    from . import rag
    from .knowledge import load_knowledge

    kb, _ = rag.open_knowledge_base(RagSettings(), load_knowledge(n_entities=kb_entities), kb_entities, client=client)
    return kb


def raft_records(tokenizer, ks, settings: TrainingSettings, kb=None, client=None) -> list[dict]:
    """RAFT training examples with what went into them (for previews and tests).

    For each training question (``settings.paraphrases`` wordings per fact, as closed-book training):
    with probability ``p_oracle`` (``random.Random(settings.seed)``, one draw per question) the oracle
    document plus ``k − 1`` distractors, else ``k`` distractors; contexts shuffled; prompt
    ``prompts.make_prompt(tokenizer, question, contexts, variant)``; target
    ``prompts.completion(tokenizer, raft_target(...))``; tokenized by :func:`lorag_nb.training.qa_example`.
    Then shuffled with the seed and cut to ``max_examples`` (as :func:`lorag_nb.training.build_examples`).

    Distractor pools: ``near_duplicates``: the look-alike documents of the question's entity, then the
    other look-alikes (random order); ``retrieved``: the non-gold chunks the similarity retriever ranks
    highest for the question in the RAG knowledge base (``kb``, default: the collection of
    ``RagSettings()`` over ``kb_entities`` entities); ``both``: alternately one of each.

    Returns:
        ``[{"example": {"input_ids", "attention_mask", "labels"}, "question", "answer", "target",
        "contexts", "context_ids", "oracle" (bool), "gold_doc", "tokens", "label_tokens"}]``.

    Raises:
        ValueError: bad RAFT knobs; an example longer than ``settings.max_length`` (it would be cut:
            raise ``max_length`` or lower ``k``); not enough distractors for ``k``; no training questions.
    """
    from .knowledge import document_for, load_knowledge
    from .prompts import DEFAULT_CONTEXT_VARIANT, completion, make_prompt
    from .training import IGNORE_INDEX, qa_example, select_qa

    raft = validate_raft(settings.raft)
    k, p = raft["k"], raft["p_oracle"]
    variant = raft["prompt_variant"] or DEFAULT_CONTEXT_VARIANT
    qas = select_qa(ks.train_qa, settings.paraphrases, settings.seed)
    if not qas:
        raise ValueError(f"no training questions for n_entities={settings.n_entities}")
    pool_ks = ks if raft["kb_entities"] == settings.n_entities else load_knowledge(n_entities=raft["kb_entities"])
    lookalikes = list(pool_ks.distractors)
    rng = random.Random(settings.seed)
    need_retrieved = raft["distractors"] in ("retrieved", "both")
    ranked: dict[str, list] = {}
    if need_retrieved:
        kb = kb if kb is not None else _open_kb(raft["kb_entities"], client)
        questions = [q.question for q in qas]
        for q, docs in zip(questions, kb.rank(questions, min(kb.count(), k + 12))):
            ranked[q] = docs

    records = []
    for q in qas:
        gold = document_for(ks, q)
        with_oracle = rng.random() < p
        n_dis = k - 1 if with_oracle else k
        own = [d for d in lookalikes if d.metadata.get("imitates") == q.entity_id]
        others = [d for d in lookalikes if d.metadata.get("imitates") != q.entity_id]
        rng.shuffle(others)
        near = [(d.id, d.text) for d in own + others]
        retrieved = [(c.id, c.page_content) for c in ranked.get(q.question, []) if c.metadata.get("doc_id") != gold.id]
        if raft["distractors"] == "near_duplicates":
            pool = near
        elif raft["distractors"] == "retrieved":
            pool = retrieved
        else:
            pool = [x for pair in zip(near, retrieved) for x in pair] + near[len(retrieved):] + retrieved[len(near):]
        chosen, seen = [], {gold.text.strip()}
        for cid, text in pool:
            if text.strip() not in seen and len(chosen) < n_dis:
                chosen.append((cid, text))
                seen.add(text.strip())
        if len(chosen) < n_dis:
            raise ValueError(f"raft k={k}: only {len(chosen)} distractors available for {q.id} from {raft['distractors']!r}; lower k")
        contexts = chosen + ([(gold.id, gold.text)] if with_oracle else [])
        rng.shuffle(contexts)
        target_text = raft_target(q.answer, gold.text, raft["cite"])
        prompt = make_prompt(tokenizer, q.question, [t for _, t in contexts], variant=variant)
        target = completion(tokenizer, target_text)
        n_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) + len(tokenizer(target, add_special_tokens=False)["input_ids"])
        if n_tokens > settings.max_length:
            raise ValueError(f"RAFT example {q.id} needs {n_tokens} tokens but max_length={settings.max_length}: it would be cut; raise max_length to >= {n_tokens} or lower k={k}")
        ex = qa_example(tokenizer, prompt, target, settings.max_length)
        n_labels = sum(1 for l in ex["labels"] if l != IGNORE_INDEX)
        records.append({"example": ex, "id": q.id, "question": q.question, "answer": q.answer, "target": target_text, "contexts": [t for _, t in contexts], "context_ids": [c for c, _ in contexts], "oracle": with_oracle, "gold_doc": gold.id, "tokens": len(ex["input_ids"]), "label_tokens": n_labels})
    random.Random(settings.seed).shuffle(records)
    if settings.max_examples is not None:
        records = records[: settings.max_examples]
    return records


def raft_examples(tokenizer, ks, settings: TrainingSettings, kb=None, client=None) -> list[dict]:
    """Tokenized RAFT training examples (``{"input_ids", "attention_mask", "labels"}``; labels only on
    the answer and its end-of-turn token) — :func:`raft_records` without the metadata.

    Called by :func:`lorag_nb.training.build_examples` when ``settings.context == "raft"``.

    Raises:
        ValueError: as :func:`raft_records`.
    """
    return [r["example"] for r in raft_records(tokenizer, ks, settings, kb=kb, client=client)]


def raft_preview(tokenizer, settings: TrainingSettings, kb=None, client=None, max_chars: int = 90):
    """Two RAFT examples side by side — the first with the oracle document, the first without — as a
    DataFrame (rows: question, contexts (document ids, gold marked), oracle in prompt, target (the
    label tokens, decoded), prompt tokens, label tokens)."""
    import pandas as pd

    from .knowledge import load_knowledge
    from .training import IGNORE_INDEX

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


# --------------------------------------------------------------------------- running the hybrids


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; valid: one of {METHODS}")
    return method


def adapter_settings_for(method: str, adapter_settings: TrainingSettings | None = None, rag_settings: RagSettings | None = None) -> TrainingSettings | None:
    """The adapter a method uses: None for ``"rag"``; ``adapter_settings`` if given; else notebook 02's
    LoRA (naive) or :func:`raft_settings` with the RAG chain's prompt variant (RAFT)."""
    _check_method(method)
    if method == "rag":
        return None
    if adapter_settings is not None:
        return adapter_settings
    if method == "naive_hybrid":
        return naive_settings()
    return raft_settings(prompt_variant=(rag_settings or RagSettings()).prompt_variant)


def adapter_eval(adapter: TrainingSettings, eval_settings: EvalSettings | None = None) -> EvalSettings:
    """Evaluation of an adapter's training run: ``eval_settings`` if given, else notebook 02's
    (``training.default_eval(n_entities)``), so the naive adapter is notebook 02's stored LoRA run."""
    from .training import default_eval

    return eval_settings if eval_settings is not None else default_eval(adapter.n_entities)


def train_adapter(adapter: TrainingSettings, store=None, model=None, tokenizer=None, progress: bool = False, eval_settings: EvalSettings | None = None):
    """The adapter's training Result (``training.run_training`` with :func:`adapter_eval`; read from the
    store if trained before, without loading anything)."""
    from .training import find_training, run_training

    ev = adapter_eval(adapter, eval_settings)
    hit = find_training(adapter, store, ev)
    if hit is not None:
        return hit
    if model is None:
        from .rag import get_model

        model, tokenizer = get_model(adapter.model)
    return run_training(adapter, store=store, eval_settings=ev, model=model, tokenizer=tokenizer, progress=progress)


_MERGED: dict[str, tuple[Any, Any]] = {}


def merged_model(train_result, store=None, model=None, tokenizer=None):
    """``(model, tokenizer)``: the base model with the stored adapter of ``train_result`` loaded
    (``adapters.load_adapter`` on a copy of the base) and merged (``merge_and_unload``); kept per process."""
    from .adapters import load_adapter
    from .experiments import ResultsStore
    from .training import ADAPTER_DIR, settings_of

    if train_result.key in _MERGED:
        return _MERGED[train_result.key]
    store = store or ResultsStore()
    settings, _ = settings_of(train_result)
    if model is None:
        from .rag import get_model

        model, tokenizer = get_model(settings.model)
    folder = store.artifact_dir("train", train_result.key) / ADAPTER_DIR
    merged = load_adapter(model, folder, copy_base=True).merge_and_unload()
    merged.eval()
    _MERGED[train_result.key] = (merged, tokenizer)
    return merged, tokenizer


def hybrid_model_name(method: str, base_model: str, train_key: str | None) -> str:
    """The ``model_name`` a method's RAG runs are stored under: the base model's name for ``"rag"``,
    ``"<base>+<method>:<adapter key>"`` for a hybrid (distinct store keys per adapter)."""
    return base_model if train_key is None else f"{base_model}+{method}:{train_key}"


def adapter_summary(train_result) -> dict:
    """Cost of an adapter (from its training Result): key, method, trainable_params, total_params,
    seconds, cpu_seconds, steps, tokens_per_second, peak_memory_bytes, artifact_bytes, n_examples,
    loss_last_epoch; plus its closed-book test metrics."""
    if train_result is None:
        return {"key": None, "method": None, "trainable_params": 0, "total_params": None, "seconds": 0.0, "cpu_seconds": 0.0, "steps": 0, "tokens_per_second": None, "peak_memory_bytes": None, "artifact_bytes": 0, "n_examples": 0, "loss_last_epoch": None, "closed_book_test": None}
    tr = train_result.metrics["training"]
    return {
        "key": train_result.key,
        "method": train_result.metrics.get("method"),
        **{k: tr.get(k) for k in ("trainable_params", "total_params", "seconds", "cpu_seconds", "steps", "tokens_per_second", "peak_memory_bytes", "artifact_bytes", "n_examples", "loss_last_epoch")},
        "closed_book_test": train_result.metrics.get("test"),
    }


def _forgetting(train_result) -> dict:
    if train_result is None:
        return {"control_drop": 0.0, "perplexity_change": 0.0}
    fg = train_result.metrics.get("forgetting") or {}
    return {"control_drop": fg.get("control_drop", 0.0), "perplexity_change": fg.get("perplexity_change", 0.0)}


def _run(method, rag_settings, adapter_settings, store, eval_settings, model, tokenizer, client, multiple_choice, knowledge: str, force: bool = False, progress: bool = False, model_name: str = "embedded", adapter_eval_settings: EvalSettings | None = None):
    from . import rag
    from .experiments import Result, ResultsStore
    from .knowledge import load_knowledge
    from .training import stale_rate

    _check_method(method)
    store = store or ResultsStore()
    ev = eval_settings or default_hybrid_eval()
    settings = (rag_settings or default_rag_settings(store=store, model=model, tokenizer=tokenizer, client=client)).replace(knowledge=knowledge)
    adapter = adapter_settings_for(method, adapter_settings, settings)
    base_name = adapter.model if adapter is not None else model_name
    train_result = train_adapter(adapter, store, model, tokenizer, progress=progress, eval_settings=adapter_eval_settings) if adapter is not None else None
    name = hybrid_model_name(method, base_name, train_result.key if train_result else None)
    key = {"method": method, "rag": settings.to_dict(), "eval": ev.to_dict(), "model": name, "adapter": train_result.key if train_result else None, "multiple_choice": multiple_choice}

    def compute(_artifacts: Path):
        m, tok = model, tokenizer
        # a run stored with multiple choice holds everything a run without it measures
        r = rag._stored_rag(store, settings, ev, name, True) if not multiple_choice else None
        if r is None and rag._stored_rag(store, settings, ev, name, multiple_choice) is None:
            if train_result is not None:
                m, tok = merged_model(train_result, store, model, tokenizer)
            elif m is None:
                m, tok = rag.get_model(base_name)
        r = r or rag.run_rag(settings, store, ev, model_name=name, model=m, tokenizer=tok, client=client, multiple_choice=multiple_choice)
        metrics = dict(r.metrics)
        metrics.update(method=method, rag_key=r.key, adapter=adapter_summary(train_result), forgetting=_forgetting(train_result))
        rows = r.details.get("rows", [])
        if knowledge == "revised":
            ks = load_knowledge(n_entities=ev.n_entities)
            trained = set(_trained_entities(adapter))
            by_id = {q.id: q for q in ks.revised_test_qa}
            metrics["stale_rate"] = stale_rate(rows, ks.revised_test_qa)
            mem = [x for x in rows if by_id.get(x["id"]) is not None and by_id[x["id"]].entity_id in trained]
            metrics["trained_entities"] = sorted(trained)
            metrics["answers_trained"] = _subset_metrics(mem, ks.revised_test_qa)
            rows = [dict(x, old_answer=by_id[x["id"]].old_answer if x["id"] in by_id else None, trained_entity=x in mem) for x in rows]
        return metrics, {"rows": rows}

    return store.cached("hybrid", key, compute, force=force)


def _trained_entities(adapter: TrainingSettings | None, default_n: int = 2) -> list[str]:
    """Entity ids an adapter was trained on (for "rag": those of notebook 02's adapter, for comparison)."""
    from .knowledge import load_knowledge

    n = adapter.n_entities if adapter is not None else default_n
    return [e["id"] for e in load_knowledge(n_entities=n).entities]


def _subset_metrics(rows: Sequence[dict], revised_qas) -> dict:
    from .training import stale_rate

    n = len(rows)
    if not n:
        return {"n": 0, "contains": None, "exact_match": None, "stale_rate": None}
    return {"n": n, "contains": sum(r["contains"] for r in rows) / n, "exact_match": sum(r["em"] for r in rows) / n, "stale_rate": stale_rate(rows, revised_qas)}


def run_hybrid(method: str, rag_settings: RagSettings | None = None, adapter_settings: TrainingSettings | None = None, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, client=None, multiple_choice: bool = True, force: bool = False, progress: bool = False, adapter_eval_settings: EvalSettings | None = None, model_name: str = "embedded"):
    """Measure one method in the RAG chain on the test questions (cached: kind ``"hybrid"``).

    Args:
        method: ``"rag"`` (base model), ``"naive_hybrid"`` (notebook 02's closed-book LoRA, merged, in
            the chain) or ``"raft_hybrid"`` (the RAFT adapter, merged, in the chain).
        rag_settings: retriever and prompt (default :func:`default_rag_settings`).
        adapter_settings: the adapter's ``TrainingSettings`` (default: :func:`naive_settings` /
            :func:`raft_settings` with the chain's prompt variant). Trained (``training.run_training``,
            evaluation ``training.default_eval``) if not stored.
        eval_settings: questions and generation budget (default :func:`default_hybrid_eval`).
        model, tokenizer: the loaded base model (loaded once per process if None).
        client: a ``chromadb`` client (tests: ``EphemeralClient``).
        multiple_choice: also score the 4 options with the retrieved context (4 forward passes per question).
        force: measure again even if stored (the adapter is not retrained).
        progress: tqdm bar while training an adapter.
        adapter_eval_settings: the adapter training run's evaluation (default :func:`adapter_eval`).
        model_name: the base model of the ``"rag"`` method (hybrids use their adapter settings' ``model``).

    Returns:
        :class:`~lorag_nb.experiments.Result` (kind ``"hybrid"``) whose metrics are those of
        :func:`lorag_nb.rag.run_rag` (``answers``, ``latency_ms``, ``retrieval``, ``top_k``, …) plus
        ``method``, ``rag_key``, ``adapter`` (:func:`adapter_summary`: key, trainable_params, seconds,
        tokens_per_second, peak_memory_bytes, artifact_bytes, …; zeros for ``"rag"``) and
        ``forgetting`` (the adapter's control_drop / perplexity_change; zeros for ``"rag"``).
        Details: ``rows`` (per question: prediction, scores, retrieved chunk ids, sources, latencies).

    Raises:
        ValueError: an unknown method, bad settings.
    """
    return _run(method, rag_settings, adapter_settings, store, eval_settings, model, tokenizer, client, multiple_choice, "original", force, progress, model_name, adapter_eval_settings)


def run_seeds(method: str, seeds: Sequence[int], adapter_settings: TrainingSettings | None = None, rag_settings: RagSettings | None = None, **kw) -> dict[int, Any]:
    """:func:`run_hybrid` once per training seed of the method's adapter: ``{seed: Result}``.

    The adapter of each seed is ``adapter_settings.replace(seed=s)`` (trained if not stored), so the
    seed that notebook 04's main comparison used is a results-store hit. For ``"rag"`` (no adapter)
    every seed is the same run. ``kw`` are :func:`run_hybrid`'s other arguments.

    Raises:
        ValueError: no seeds, repeated seeds, an unknown method.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={list(seeds)!r}: need a non-empty list of distinct ints")
    base = adapter_settings_for(_check_method(method), adapter_settings, rag_settings)
    return {s: run_hybrid(method, rag_settings, base.replace(seed=s) if base is not None else None, **kw) for s in seeds}


def run_hybrid_revised(method: str, rag_settings: RagSettings | None = None, adapter_settings: TrainingSettings | None = None, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, client=None, multiple_choice: bool = True, force: bool = False, progress: bool = False, adapter_eval_settings: EvalSettings | None = None, model_name: str = "embedded"):
    """:func:`run_hybrid` on the revised-facts questions, against the revised knowledge base (the swap
    experiment: the documents say the new facts; the adapters were trained on the old ones).

    Returns:
        :class:`~lorag_nb.experiments.Result` (kind ``"hybrid"``) with run_hybrid's metrics plus
        ``stale_rate`` (share of answers stating the OLD fact: :func:`lorag_nb.training.stale_rate`),
        ``trained_entities`` and ``answers_trained`` (n, contains, exact_match, stale_rate on the
        revised questions about the entities the adapters were trained on — where memory and
        knowledge base disagree). Rows carry ``old_answer`` and ``trained_entity``.
    """
    return _run(method, rag_settings, adapter_settings, store, eval_settings, model, tokenizer, client, multiple_choice, "revised", force, progress, model_name, adapter_eval_settings)


def sweep_k(methods: Sequence[str] = METHODS, ks: Sequence[int] = (1, 3, 5, 10), rag_settings: RagSettings | None = None, store=None, eval_settings: EvalSettings | None = None, model=None, tokenizer=None, client=None, multiple_choice: bool = False, adapters: dict | None = None, progress: bool = False, adapter_eval_settings: EvalSettings | None = None, model_name: str = "embedded") -> dict[str, dict[int, Any]]:
    """:func:`run_hybrid` for every method at every test-time ``top_k``: ``{method: {k: Result}}`` (each cached).

    ``adapters`` maps a method to its adapter settings (default per :func:`adapter_settings_for`).
    """
    settings = rag_settings or default_rag_settings(store=store, model=model, tokenizer=tokenizer, client=client)
    out: dict[str, dict[int, Any]] = {}
    for method in methods:
        out[method] = {}
        for k in ks:
            out[method][int(k)] = run_hybrid(method, settings.replace(top_k=int(k)), (adapters or {}).get(method), store, eval_settings, model, tokenizer, client, multiple_choice, progress=progress, adapter_eval_settings=adapter_eval_settings, model_name=model_name)
    return out


# --------------------------------------------------------------------------- tables


def sweep_table(sweep: dict[str, dict[int, Any]], metric: str = "contains"):
    """``metric`` (an answers metric: contains, f1, exact_match) per method (rows) and top_k (columns)."""
    import pandas as pd

    return pd.DataFrame({k: {METHOD_LABELS.get(m, m): r.metrics["answers"][metric] for m, runs in sweep.items() for kk, r in runs.items() if kk == k} for k in sorted({k for runs in sweep.values() for k in runs})})


def sweep_series(sweep: dict[str, dict[int, Any]], metric: str = "contains", intervals: bool = False) -> dict[str, tuple]:
    """``{method label: (ks, values)}`` for :func:`lorag_nb.plots.lines_figure`; with ``intervals``,
    ``(ks, values, lows, highs)``: each value is the mean over facts of the per-question ``metric``
    (``contains``/``f1``/``em`` rows) with its 95% bootstrap interval over facts
    (:func:`lorag_nb.claims.mean_estimate`)."""
    from . import claims as C

    out = {}
    for m, runs in sweep.items():
        ks = sorted(runs)
        if not intervals:
            out[METHOD_LABELS.get(m, m)] = (ks, [runs[k].metrics["answers"][metric] for k in ks])
            continue
        row_metric = {"exact_match": "em"}.get(metric, metric)
        est = [C.mean_estimate(C.scores(runs[k].details["rows"], row_metric, METHOD_LABELS.get(m, m))) for k in ks]
        out[METHOD_LABELS.get(m, m)] = (ks, [e.value for e in est], [e.low for e in est], [e.high for e in est])
    return out


def series_colors() -> dict[str, str]:
    """Method label → colour (``plots.METHOD_COLORS``)."""
    from .plots import METHOD_COLORS

    return {METHOD_LABELS[m]: METHOD_COLORS[METHOD_COLOR_KEYS[m]] for m in METHODS}


def comparison_table(main: dict[str, Any], closed_book: dict[str, Any] | None = None):
    """The methods at the main top_k, plus closed-book references (label → training Result or a metrics
    dict with ``test``, e.g. ``lora.metrics["baseline"]``): n, exact match, F1, contains, MC accuracy,
    answer latency (ms, p50; the whole chain for RAG methods) and the adapter's trainable parameters."""
    import pandas as pd

    rows = []
    for label, r in (closed_book or {}).items():
        m = r.metrics if hasattr(r, "metrics") else r
        t = m["test"]
        rows.append({"method": label, "n": t["n"], "exact_match": t["exact_match"], "f1": t["f1"], "contains": t["contains"], "mc_accuracy": t.get("mc_accuracy"), "latency_ms": t.get("latency_ms_p50"), "trainable_params": (m.get("training") or {}).get("trainable_params", 0)})
    for m, r in main.items():
        a = r.metrics["answers"]
        rows.append({"method": METHOD_LABELS.get(m, m) + f", top_k={r.metrics['top_k']}", "n": a["n"], "exact_match": a["exact_match"], "f1": a["f1"], "contains": a["contains"], "mc_accuracy": a.get("mc_accuracy"), "latency_ms": r.metrics["latency_ms"]["total_p50"], "trainable_params": r.metrics["adapter"]["trainable_params"]})
    return pd.DataFrame(rows).set_index("method")


def seeds_table(seeds: dict[str, dict[int, Any]]):
    """Each training seed's scores at the main top_k (method, seed → n, gold contained, MC accuracy) and,
    per method, the seed spread (largest − smallest MC accuracy): the noise floor of retraining."""
    import pandas as pd

    rows = []
    for m, runs in seeds.items():
        mc = [r.metrics["answers"].get("mc_accuracy") for r in runs.values()]
        for s, r in runs.items():
            a = r.metrics["answers"]
            rows.append({"method": METHOD_LABELS.get(m, m), "seed": s, "n": a["n"], "contains": a["contains"], "mc_accuracy": a.get("mc_accuracy")})
        ok = [v for v in mc if v is not None]
        rows.append({"method": METHOD_LABELS.get(m, m), "seed": "spread (max − min)", "n": None, "contains": None, "mc_accuracy": (max(ok) - min(ok)) if len(ok) > 1 else None})
    return pd.DataFrame(rows).set_index(["method", "seed"])


def sweep_references(closed_book_lora, metric: str = "contains") -> dict[str, float]:
    """Dashed reference lines for the accuracy-vs-k chart: the closed-book LoRA adapter and the closed-book
    base model (from the LoRA training run's measurements on the same test questions)."""
    m = closed_book_lora.metrics
    out = {f"closed-book LoRA {m['test'][metric]:.2f}": m["test"][metric]}
    if "baseline" in m:
        out[f"base model, closed book {m['baseline']['test'][metric]:.2f}"] = m["baseline"]["test"][metric]
    return out


def cost_table(runs: dict[str, Any]):
    """Training cost per adapter (label → training Result): trainable params, steps, training s, CPU s,
    tokens/s, peak memory (MiB), artifact (MiB), training examples, mean tokens per example."""
    import pandas as pd

    rows = []
    for label, r in runs.items():
        tr = r.metrics["training"]
        rows.append({
            "adapter": label,
            "trainable params": tr["trainable_params"],
            "steps": tr["steps"],
            "training s": tr["seconds"],
            "CPU s": tr.get("cpu_seconds"),
            "tokens/s": tr["tokens_per_second"],
            "peak memory MiB": tr["peak_memory_bytes"] / 2**20,
            "artifact MiB": tr["artifact_bytes"] / 2**20,
            "examples": tr["n_examples"],
            "tokens per example": tr["tokens"] / max(1, tr["n_examples"] * max(1.0, r.settings["training"].get("epochs", 1))) if r.settings["training"].get("max_steps", -1) <= 0 else None,
        })
    return pd.DataFrame(rows).set_index("adapter")


def latency_table(main: dict[str, Any]):
    """Per-question latency (ms, mean) of each method's chain: embedding, search, generation, total; prompt tokens."""
    import pandas as pd

    rows = []
    for m, r in main.items():
        lat = r.metrics["latency_ms"]
        rows.append({"method": METHOD_LABELS.get(m, m), "top_k": r.metrics["top_k"], "embedding ms": lat["embedding"], "search ms": lat["search"], "generation ms": lat["generation"], "total ms": lat["total"], "total p50 ms": lat["total_p50"], "prompt tokens": r.metrics.get("prompt_tokens_mean")})
    return pd.DataFrame(rows).set_index("method")


def revised_table(revised: dict[str, Any], closed_book: dict[str, Any] | None = None):
    """Revised-facts questions per method, with the revised knowledge base: contains (the NEW fact),
    says old fact (stale rate), on all revised questions and on those about the trained entities.

    ``closed_book``: label → training Result of an adapter used closed book (its ``revised`` split
    and ``revised_stale``), for reference.
    """
    import pandas as pd

    rows = []
    for label, r in (closed_book or {}).items():
        rv = r.metrics.get("revised") or {}
        rows.append({"method": label, "knowledge base": "none (closed book)", "n": rv.get("n"), "new fact (contains)": rv.get("contains"), "old fact (stale)": r.metrics.get("revised_stale"), "n trained entities": None, "new fact, trained entities": None, "old fact, trained entities": None})
    for m, r in revised.items():
        a, t = r.metrics["answers"], r.metrics["answers_trained"]
        rows.append({"method": METHOD_LABELS.get(m, m), "knowledge base": "revised", "n": a["n"], "new fact (contains)": a["contains"], "old fact (stale)": r.metrics["stale_rate"], "n trained entities": t["n"], "new fact, trained entities": t["contains"], "old fact, trained entities": t["stale_rate"]})
    return pd.DataFrame(rows).set_index("method")


def revised_examples(revised: dict[str, Any], n: int = 4):
    """The first ``n`` revised questions about trained entities: new fact, old fact, each method's answer."""
    import pandas as pd

    methods = list(revised)
    first = next(iter(revised.values())).details["rows"]
    picked = [r for r in first if r.get("trained_entity")][:n] or first[:n]
    by = {m: {x["id"]: x["prediction"] for x in revised[m].details["rows"]} for m in methods}
    return pd.DataFrame([{"question": r["question"], "new fact": r["gold"], "old fact": r.get("old_answer"), **{METHOD_LABELS.get(m, m): by[m].get(r["id"]) for m in methods}} for r in picked])


# --------------------------------------------------------------------------- findings




_ROW_KEYS = {"exact_match": "em", "f1": "f1", "contains": "contains", "mc_accuracy": "mc_correct"}


def closed_book_score(train_result, question_ids: Sequence[str], metric: str = "contains") -> float | None:
    """A training run's closed-book ``metric`` on exactly ``question_ids`` (from its per-question test rows;
    its whole test metric if a question is missing). None without a run."""
    if train_result is None:
        return None
    rows = {r["id"]: r for r in (train_result.details.get("rows") or {}).get("test", [])}
    vals = [rows[q].get(_ROW_KEYS.get(metric, metric)) for q in question_ids if q in rows]
    if question_ids and len(vals) == len(question_ids) and all(v is not None for v in vals):
        return sum(float(v) for v in vals) / len(vals)
    return train_result.metrics["test"].get(metric)


def robustness(sweep: dict[str, dict[int, Any]], metric: str = "contains") -> dict[str, dict]:
    """Per method: accuracy at the smallest and largest k, the best k and value, and the drop from the
    best to the largest k (≥ 0): how much extra retrieved chunks hurt."""
    out = {}
    for m, runs in sweep.items():
        ks = sorted(runs)
        vals = [runs[k].metrics["answers"][metric] for k in ks]
        best = max(vals)
        out[m] = {"ks": ks, "values": vals, "first": vals[0], "last": vals[-1], "best": best, "best_k": ks[vals.index(best)], "drop": best - vals[-1], "n": runs[ks[0]].metrics["answers"]["n"]}
    return out


def verdicts(sweep: dict[str, dict[int, Any]], main: dict[str, Any], revised: dict[str, Any], closed_book_lora=None, condition: str = "", seeds: dict[str, dict[int, Any]] | None = None) -> list:
    """Notebook 04's claims, judged by the one claims engine (:mod:`lorag_nb.claims`) on per-fact scores:

    - *combine both* (``hybrid_best``): the best hybrid − the best of its parts (RAG, and the
      closed-book LoRA on the same questions), multiple-choice accuracy where every side has it, else
      gold contained;
    - *RAFT reads passages better than RAG* (``raft_beats_rag``): gold contained at the main top_k;
    - *RAFT is robust to distractors* (``raft_robust``): RAFT's change from the smallest to the largest
      top_k of the sweep − RAG's change, per fact;
    - *a hybrid updates by re-indexing* (``hybrid_update``): naive hybrid − RAG on the revised facts.

    ``seeds`` (``{method: {seed: Result}}``, :func:`run_seeds` at the main top_k) replaces a method's
    main rows by the per-fact mean over its training seeds in the first two claims.

    Returns:
        ``[lorag_nb.claims.Verdict]``.
    """
    from . import claims as C

    out = []
    rows = {m: r.details.get("rows", []) for m, r in main.items()}
    ids = {r["id"] for r in next(iter(rows.values()), [])}
    seeded = {m: {int(s): r.details.get("rows", []) for s, r in runs.items()} for m, runs in (seeds or {}).items() if m in rows and len(runs) > 1}
    cb = [r for r in ((closed_book_lora.details.get("rows") or {}).get("test", []) if closed_book_lora is not None else []) if r["id"] in ids]
    metric = "mc_correct" if all(any(r.get("mc_correct") is not None for r in rs) for rs in [*rows.values(), *([cb] if cb else [])]) else "contains"
    S = {m: C.scores(seeded.get(m, rs), metric, METHOD_LABELS[m]) for m, rs in rows.items() if rs}
    parts = {m: S[m] for m in ("rag",) if m in S}
    if cb:
        parts["closed_book"] = C.scores(cb, metric, "closed-book LoRA")
    hyb = {m: S[m] for m in ("naive_hybrid", "raft_hybrid") if m in S}
    if hyb and parts:
        hb = max(hyb, key=lambda m: hyb[m].mean)
        pb = max(parts, key=lambda m: parts[m].mean)
        out.append(C.compare_scores("hybrid_best", hyb[hb], parts[pb], f"{metric.replace('_', ' ')}: the most accurate hybrid against the most accurate of its parts", condition))
    if "raft_hybrid" in rows and "rag" in rows:
        out.append(C.compare_scores("raft_beats_rag", C.scores(seeded.get("raft_hybrid", rows["raft_hybrid"]), "contains", METHOD_LABELS["raft_hybrid"]), C.scores(rows["rag"], "contains", METHOD_LABELS["rag"]),
                                    f"the same retrieved chunks at top_k={next(iter(main.values())).metrics['top_k']}, gold contained", condition))
    if "raft_hybrid" in sweep and "rag" in sweep and len(sweep["rag"]) >= 2:
        ks = sorted(set(sweep["raft_hybrid"]) & set(sweep["rag"]))
        if len(ks) >= 2:
            ch = {m: C.scores(sweep[m][ks[-1]].details["rows"], "contains", m).minus(C.scores(sweep[m][ks[0]].details["rows"], "contains", m), f"{METHOD_LABELS[m]}, k={ks[-1]} − k={ks[0]}") for m in ("raft_hybrid", "rag")}
            out.append(C.compare_scores("raft_robust", ch["raft_hybrid"], ch["rag"], f"change in gold contained from top_k={ks[0]} to top_k={ks[-1]}", condition))
    if "naive_hybrid" in revised and "rag" in revised:
        out.append(C.compare_scores("hybrid_update", C.scores(revised["naive_hybrid"].details["rows"], "contains", METHOD_LABELS["naive_hybrid"]), C.scores(revised["rag"].details["rows"], "contains", METHOD_LABELS["rag"]),
                                    f"revised facts answered with the new value after re-indexing; the naive hybrid is said to update by re-indexing when at most {100 * C.MATCH_MARGIN:.0f} points below RAG", condition))
    return out


def findings(sweep: dict[str, dict[int, Any]], main: dict[str, Any], revised: dict[str, Any], closed_book_lora=None, metric: str = "contains", seeds: dict[str, dict[int, Any]] | None = None) -> str:
    """Markdown: the verdicts of :func:`verdicts` (intervals, n, seeds), the revised-facts numbers and the costs."""
    from . import claims as C

    lines = []
    if revised:
        parts = []
        for m, r in revised.items():
            t = r.metrics["answers_trained"]
            parts.append(f"{METHOD_LABELS[m]}: new fact {_pct(r.metrics['answers']['contains'])}, old fact {_pct(r.metrics['stale_rate'])}"
                         + (f" (trained entities, {t['n']} questions: new {_pct(t['contains'])}, old {_pct(t['stale_rate'])})" if t["n"] else ""))
        lines.append("- **Revised facts** (revised knowledge base): " + "; ".join(parts) + ".")
    # costs
    cost = [f"{METHOD_LABELS[m]}: {r.metrics['adapter']['trainable_params']:,} trainable parameters, {r.metrics['adapter']['seconds']:.0f} s of training, {r.metrics['latency_ms']['total']:.0f} ms per answer"
            + (f", control-set drop {_pct(r.metrics['forgetting']['control_drop'])}" if r.metrics["adapter"]["key"] else "") for m, r in main.items()]
    lines.append("- **Costs**: " + "; ".join(cost) + ". A merged adapter adds no inference cost: latency differs only through the answers' lengths.")
    vs = verdicts(sweep, main, revised, closed_book_lora, seeds=seeds)
    return C.markdown(vs, links=False) + "\n\n" + C.summary(vs) + "\n\n" + "\n".join(lines)


# --------------------------------------------------------------------------- explorer data


def explorer_data(sweep: dict[str, dict[int, Any]], rag_settings: RagSettings, eval_settings: EvalSettings | None = None, client=None, n_examples: int | None = None, metric: str = "contains") -> dict:
    """Everything :class:`lorag_nb.widgets.HybridExplorer` draws, from stored sweep results.

    Returns:
        ``{"ks", "metric", "series": {method: [value per k]}, "examples": [{"id", "question", "gold",
        "gold_doc", "ranked": [{"rank", "chunk", "doc_id", "distance", "text", "gold"}] (up to max k),
        "answers": {method: {k: answer}}, "correct": {method: {k: bool}}}]}``.
    """
    from . import rag
    from .experiments import _cap
    from .knowledge import load_knowledge

    ev = eval_settings or default_hybrid_eval()
    ks_all = sorted({k for runs in sweep.values() for k in runs})
    ks = load_knowledge(n_entities=ev.n_entities)
    qas = _cap(rag.questions_for(ks, rag_settings), ev.max_questions)
    if n_examples is not None:
        qas = qas[:n_examples]
    kb, _ = rag.open_knowledge_base(rag_settings, ks, ev.n_entities, client=client)
    ranked_all = kb.rank([q.question for q in qas], max(ks_all), rag_settings.search_type, rag_settings.fetch_k, rag_settings.lambda_mult)
    preds = {m: {k: {r["id"]: r for r in runs[k].details.get("rows", [])} for k in runs} for m, runs in sweep.items()}
    examples = []
    for q, ranked in zip(qas, ranked_all):
        examples.append({
            "id": q.id,
            "question": q.question,
            "gold": q.answer,
            "gold_doc": q.doc_id,
            "ranked": [{"rank": i + 1, "chunk": d.id, "doc_id": d.metadata.get("doc_id"), "distance": None, "text": d.page_content, "gold": d.metadata.get("doc_id") == q.doc_id} for i, d in enumerate(ranked)],
            "answers": {m: {k: preds[m][k].get(q.id, {}).get("prediction") for k in preds[m]} for m in preds},
            "correct": {m: {k: bool(preds[m][k].get(q.id, {}).get(metric)) for k in preds[m]} for m in preds},
        })
    return {"ks": ks_all, "metric": metric, "series": {m: [runs[k].metrics["answers"][metric] for k in sorted(runs)] for m, runs in sweep.items()}, "series_ks": {m: sorted(runs) for m, runs in sweep.items()}, "examples": examples}
