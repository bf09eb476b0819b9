"""Probes beyond the taught facts: what a model says about entities nobody taught it, and what retrieval does
to general knowledge. Both are evaluations of models and knowledge bases the suite already has (no training).

- :func:`unknown_probe`: questions about entities that exist nowhere (:func:`lorag_nb.data.worldgen.unknown_entities`),
  so every specific answer is made up. Each answer is classed (:func:`answer_kind`) as abstaining, stating a
  value **taught for another entity** (the fine-tuned facts leaking into unknown questions), or asserting some
  other value. Source: Gekhman et al. (2024), *Does Fine-Tuning LLMs on New Knowledge Encourage
  Hallucinations?*, arXiv 2405.05904; Kang et al. (2024), *Unfamiliar Finetuning Examples Control How Language
  Models Hallucinate*, arXiv 2403.05612.
- :func:`control_probe`: the general-knowledge control questions answered closed book and through the RAG
  chain (the same model, the retriever's ``top_k`` chunks of the knowledge base in front of each question),
  paired per question: does a retriever that finds nothing relevant hurt what the model already knew?
- :func:`reversal_probe`: the reversal curse (Berglund et al. 2023, *The Reversal Curse: LLMs trained on "A is B"
  fail to learn "B is A"*, arXiv 2309.12288). For the taught facts whose value identifies the entity
  (:func:`lorag_nb.data.worldgen.reversed_questions`), the same facts asked forward (their held-out test wordings)
  and reversed (the value given, the entity asked), both by multiple choice, paired per fact.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from lorag_nb.core.config import RagSettings
from lorag_nb.data import worldgen
from lorag_nb.data.knowledge import QA, active_knowledge, load_knowledge
from lorag_nb.data.prompts import DEFAULT_CONTEXT_VARIANT, make_prompt
from lorag_nb.methods.evaluation import gold_contained, generate, multiple_choice_scores, one_truncation_warning
from lorag_nb.methods.hybrid import merged_model
from lorag_nb.methods.rag import contexts_of, key_dict, open_knowledge_base, retriever_for, timed_retrieval
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.training import CHECKPOINT_DIRNAME, load_trained

#: An answer that declines to give a value (case-insensitive, anywhere in the answer).
ABSTAIN = re.compile(
    r"\b(i (do not|don't|cannot|can't|am not able to|'m not able to) (know|say|tell|find|provide|answer|determine)|not sure|unsure|unknown|"
    r"no (information|data|record|records|details|mention)|not (mentioned|provided|available|specified|found|given|known|stated)|"
    r"there is no|i'm not aware|i am not aware|cannot be determined|sorry|unclear)\b",
    re.IGNORECASE,
)
#: The classes of :func:`answer_kind`.
ABSTAINS, TAUGHT, ASSERTS = "abstains", "taught value", "asserts"


def answer_kind(prediction: str, taught_values: Sequence[str]) -> str:
    """Class of one answer to a question no one can know: :data:`ABSTAINS` (empty, or :data:`ABSTAIN` matches),
    :data:`TAUGHT` (it contains, after SQuAD normalisation, a value taught for another entity of the same
    relation: :func:`~lorag_nb.methods.evaluation.gold_contained`), else :data:`ASSERTS`.

    An abstention wins over a taught value ("I don't know, maybe blue" abstains).
    """
    text = (prediction or "").strip()
    if not text or ABSTAIN.search(text):
        return ABSTAINS
    if taught_values and gold_contained(text, list(taught_values)):
        return TAUGHT
    return ASSERTS


def taught_values(n_entities: int | None) -> dict[str, list[str]]:
    """relation → the distinct answers of the training questions of the first ``n_entities`` entities (the values
    a fine-tuned model was taught), sorted."""
    out: dict[str, set[str]] = {}
    for q in load_knowledge(n_entities=n_entities).train_qa:
        if q.relation:
            out.setdefault(q.relation, set()).add(q.answer)
    return {k: sorted(v) for k, v in out.items()}


def unknown_questions(per_kind: int = worldgen.UNKNOWN_PER_KIND) -> list[QA]:
    """:func:`lorag_nb.data.worldgen.unknown_entities` as :class:`~lorag_nb.data.knowledge.QA` (answer ``""``);
    each question is its own fact."""
    return [QA(id=r["id"], question=r["question"], answer="", entity_id=r["entity_id"], relation=r["relation"], fact_id=r["id"]) for r in worldgen.unknown_entities(per_kind)]


def _not_on_a_folder(what: str) -> None:
    if active_knowledge() is not None:
        raise ValueError(f"{what} needs the built-in world (its entities, relations and question wordings); the active knowledge is the folder "
                         f"{active_knowledge()}: call lorag_nb.data.knowledge.use_knowledge('builtin') first")


def _model_for(train_result, model_name: str, model, tokenizer, store=None):
    """The model a method answers with: the base model (``train_result`` None), a stored adapter merged
    (:func:`lorag_nb.methods.hybrid.merged_model`) or a full fine-tuning run's kept checkpoint."""
    if train_result is None:
        return RUNTIME.model(model_name, model, tokenizer)
    if (train_result.details or {}).get("artifact") == CHECKPOINT_DIRNAME:
        name = f"checkpoint {train_result.key}"
        return RUNTIME.model(name) if RUNTIME.holds(name) else RUNTIME.model(name, *load_trained(train_result, store))
    return merged_model(train_result, model=model, tokenizer=tokenizer)




def _retrieved(rag_settings: RagSettings | None, questions: Sequence[str], kb_entities: int | None, client=None) -> list[list[str]] | None:
    if rag_settings is None:
        return None
    kb, _report = open_knowledge_base(rag_settings, load_knowledge(n_entities=kb_entities), kb_entities, client=client)
    docs, _e, _s = timed_retrieval(kb, retriever_for(kb, rag_settings), list(questions))
    return [contexts_of(d) for d in docs]


#: The unknown-entities probe's answer budget: the base model states its made-up value in a long sentence, and an
#: answer cut before its value could hide a leak, so cut answers bound the verdict. Measured at the CPU defaults
#: (48 questions; LoRA seeds 0 and 1): at 16 tokens 81% of the base model's answers were cut, at 32 tokens 27%
#: (13 verbose fabrications and 1 loop: `finetune_leaks` undetermined, bound +10.4 [−9.1, +30.2] pts), at 64
#: tokens none of the base model's or LoRA's (the claim decided: +37.5 [+26.0, +51.0] pts).
UNKNOWN_MAX_NEW_TOKENS = 64


def unknown_probe(taught_entities: int, train_result=None, rag_settings: RagSettings | None = None, kb_entities: int | None = None, model_name: str = "embedded",
                  max_new_tokens: int = UNKNOWN_MAX_NEW_TOKENS, batch_size: int = 16, per_kind: int = worldgen.UNKNOWN_PER_KIND, max_questions: int | None = None,
                  store=None, model=None, tokenizer=None, client=None, force: bool = False):
    """Ask one method about the :func:`unknown_questions` and class every answer (:func:`answer_kind`); stored
    (kind ``"unknown_probe"``).

    Args:
        taught_entities: the fine-tuned runs' world (their first ``n_entities``): whose training answers count
            as taught values; for the base model and RAG the same set, so every method is checked for the same values.
        train_result: a stored LoRA run (its adapter is merged, :func:`lorag_nb.methods.hybrid.merged_model`), or
            None for the base model ``model_name``.
        rag_settings: retrieve ``top_k`` chunks of the knowledge base of ``kb_entities`` entities in front of each
            question (RAG, or a hybrid with ``train_result``), or None (closed book).
        max_questions: ask only the first this many questions (smoke sizes), or None (all).

    Returns:
        Result with metrics ``n`` (48 at the defaults: 8 entities × 6 relations), ``abstains``, ``taught``,
        ``asserts`` (shares, sum 1), ``cut`` (share cut off at the budget mid-answer; an answer that ends in a loop,
        :func:`lorag_nb.methods.evaluation.repeats_itself`, is complete) and rows (``id``, ``fact``, ``question``, ``relation``, ``prediction``,
        ``kind``, ``taught`` 0/1, ``abstains`` 0/1, ``cut``, ``loop``: at the budget in a loop).

    Raises:
        ValueError: a reader's folder is active (no entities are known to be absent from it).
    """
    _not_on_a_folder("the unknown-entities probe")
    store = RUNTIME.use_store(store)
    key = {"model": model_name, "train_key": getattr(train_result, "key", None), "taught_entities": taught_entities, "per_kind": per_kind,
           "rag": key_dict(rag_settings) if rag_settings is not None else None, "kb_entities": kb_entities if rag_settings is not None else None,
           "max_new_tokens": max_new_tokens, "batch_size": batch_size, "cut_rule": "loops complete", "max_questions": max_questions}

    def compute(_artifacts: Path):
        qas = unknown_questions(per_kind)[:max_questions]
        values = taught_values(taught_entities)
        m, tok = _model_for(train_result, model_name, model, tokenizer, store)
        contexts = _retrieved(rag_settings, [q.question for q in qas], kb_entities, client)
        variant = rag_settings.prompt_variant if rag_settings is not None else DEFAULT_CONTEXT_VARIANT
        prompts = [make_prompt(tok, q.question, None if contexts is None else contexts[i], variant) for i, q in enumerate(qas)]
        with one_truncation_warning():
            gens = generate(m, tok, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
        rows = []
        for q, g in zip(qas, gens):
            kind = answer_kind(g.text, values.get(q.relation, []))
            rows.append({"id": q.id, "fact": q.id, "question": q.question, "relation": q.relation, "prediction": g.text, "kind": kind,
                         "taught": float(kind == TAUGHT), "abstains": float(kind == ABSTAINS), "cut": g.cut_mid_answer,
                         "loop": g.loop})
        n = len(rows)
        metrics = {"n": n, "abstains": sum(r["abstains"] for r in rows) / n, "taught": sum(r["taught"] for r in rows) / n,
                   "asserts": sum(r["kind"] == ASSERTS for r in rows) / n, "cut": sum(bool(r["cut"]) for r in rows) / n}
        return metrics, {"rows": rows}

    return store.cached("unknown_probe", key, compute, force=force)


def control_probe(rag_settings: RagSettings, kb_entities: int | None, train_result=None, model_name: str = "embedded", batch_size: int = 16,
                  max_questions: int | None = None, store=None, model=None, tokenizer=None, client=None, force: bool = False):
    """The control (general-knowledge) questions answered by one model closed book and with retrieval, by
    multiple choice (the four options' length-normalised log-likelihood, :func:`~lorag_nb.methods.evaluation.multiple_choice_scores`),
    paired per question; stored (kind ``"control_probe"``). Multiple choice, not generation: a generated answer
    cut off at the budget would decide nothing (:func:`lorag_nb.core.claims.artefact`), a choice always completes.

    Args:
        rag_settings: the RAG chain's retrieval (``top_k``, chunking, prompt variant) over the knowledge base of
            ``kb_entities`` entities (built-in world or a reader's folder, whichever is active).
        train_result: a stored LoRA run (a hybrid's adapter, merged) or None for the base model ``model_name``.

    Returns:
        Result with metrics ``n`` and ``closed_book`` / ``with_retrieval`` (multiple-choice accuracy); details
        ``rows``: ``id``, ``question``, ``gold``, ``closed_book`` and ``with_retrieval`` (the option chosen),
        ``mc_closed_book`` / ``mc_with_retrieval`` (0/1), ``chunks`` (the retrieved passages' first 80 characters).

        With no control question that has options: ``n`` 0 and ``not_measured`` (the reason), no rows.
    """
    store = RUNTIME.use_store(store)
    key = {"model": model_name, "train_key": getattr(train_result, "key", None), "rag": key_dict(rag_settings), "kb_entities": kb_entities,
           "batch_size": batch_size, "max_questions": max_questions}

    def compute(_artifacts: Path):
        qas = [q for q in load_knowledge(n_entities=kb_entities).control_qa if q.options and q.answer_index is not None][:max_questions]
        if not qas:  # a reader's control.jsonl too small to give options: say so, never crash the notebook
            return {"n": 0, "not_measured": "the control set has no question with multiple-choice options"}, {"rows": []}
        m, tok = _model_for(train_result, model_name, model, tokenizer, store)
        contexts = _retrieved(rag_settings, [q.question for q in qas], kb_entities, client)
        options = [list(q.options) for q in qas]
        closed = multiple_choice_scores(m, tok, [make_prompt(tok, q.question) for q in qas], options, batch_size=batch_size)
        retrieved = multiple_choice_scores(m, tok, [make_prompt(tok, q.question, c, rag_settings.prompt_variant) for q, c in zip(qas, contexts)], options, batch_size=batch_size)
        rows = []
        for q, a, b, c in zip(qas, closed, retrieved, contexts):
            ia, ib = max(range(len(a)), key=a.__getitem__), max(range(len(b)), key=b.__getitem__)
            rows.append({"id": q.id, "question": q.question, "gold": q.answer, "closed_book": q.options[ia], "with_retrieval": q.options[ib],
                         "mc_closed_book": float(ia == q.answer_index), "mc_with_retrieval": float(ib == q.answer_index), "chunks": [x[:80] for x in c]})
        n = len(rows)
        metrics = {"n": n, "closed_book": sum(r["mc_closed_book"] for r in rows) / n, "with_retrieval": sum(r["mc_with_retrieval"] for r in rows) / n}
        return metrics, {"rows": rows}

    return store.cached("control_probe", key, compute, force=force)


# --------------------------------------------------------------------------- the reversal curse

#: Most reversed questions one :func:`reversal_probe` asks (whole facts, 2 wordings each, in world order): 48 = 24
#: facts. The first 10 entities have 17 reversible facts (34 questions), so the CPU defaults ask them all; the
#: GPU profile's 80 entities (129 facts) ask the first 24. Each reversed question costs one multiple-choice
#: scoring (4 options on one shared prompt), with retrieval for RAG and the hybrids.
REVERSAL_MAX_QUESTIONS = 48
#: The two directions a :func:`reversal_probe` row is asked in.
FORWARD, REVERSED = "forward", "reversed"


def reversed_qas(taught_entities: int | None, max_questions: int | None = REVERSAL_MAX_QUESTIONS) -> list[QA]:
    """:func:`lorag_nb.data.worldgen.reversed_questions` of the first ``taught_entities`` entities as
    :class:`~lorag_nb.data.knowledge.QA` (``fact_id`` = the forward fact, ``"e002/country"``), capped at
    ``max_questions`` (whole facts: a fact's wordings are never split; None: all)."""
    rows = worldgen.reversed_questions(taught_entities)
    if max_questions is not None:
        facts = list(dict.fromkeys(r["fact"] for r in rows))
        per_fact = len(worldgen.REVERSED_QUESTIONS[rows[0]["relation"]]) if rows else 1
        keep = set(facts[: max(0, max_questions // per_fact)])
        rows = [r for r in rows if r["fact"] in keep]
    return [QA(id=r["id"], question=r["question"], answer=r["answer"], entity_id=r["entity_id"], relation=r["relation"], options=tuple(r["options"]),
               answer_index=r["answer_index"], template=r["template"], fact_id=r["fact"]) for r in rows]


def has_weights(train_result, store=None) -> bool:
    """Whether :func:`reversal_probe` can load the model of ``train_result``: an adapter run (always kept), or a
    full fine-tuning run that kept its checkpoint (``run_training(..., keep_checkpoint=True)``; by default only its
    size is recorded, and retraining would cost minutes)."""
    art = (train_result.details or {}).get("artifact")
    if art is None:
        return False
    return (RUNTIME.use_store(store).artifact_dir(train_result.kind, train_result.key) / art).is_dir()


def reversal_probe(taught_entities: int, train_result=None, rag_settings: RagSettings | None = None, kb_entities: int | None = None, forward_rows: Sequence[dict] | None = None,
                   forward_key: str | None = None, model_name: str = "embedded", batch_size: int = 16, max_questions: int | None = REVERSAL_MAX_QUESTIONS,
                   store=None, model=None, tokenizer=None, client=None, force: bool = False):
    """The reversal curse for one method: the taught facts whose value identifies the entity, asked forward and
    reversed by multiple choice (length-normalised option log-likelihood,
    :func:`~lorag_nb.methods.evaluation.multiple_choice_scores`, the prompt of the method's own evaluation:
    :func:`~lorag_nb.data.prompts.make_prompt`, with the retrieved chunks for RAG and the hybrids); stored (kind
    ``"reversal_probe"``). Source: Berglund et al. (2023), arXiv 2309.12288.

    Forward = the fact's held-out test questions (3 wordings, their stored options). Their per-question rows are
    **reused** from ``forward_rows`` (the method's stored evaluation, e.g. a training run's test rows) where they
    carry ``mc_correct``; the rest are asked here. Reversed = :func:`reversed_qas` (2 wordings per fact).

    Args:
        taught_entities: the fine-tuned runs' world (their first ``n_entities``): whose facts are reversed.
        train_result: a stored LoRA/RAFT run (its adapter merged), a full fine-tuning run that kept its checkpoint
            (:func:`has_weights`), or None for the base model ``model_name``.
        rag_settings: retrieve ``top_k`` chunks of the knowledge base of ``kb_entities`` entities in front of each
            question (RAG, or a hybrid with ``train_result``), or None (closed book).
        forward_rows: per-question rows with ``id`` and ``mc_correct`` to reuse for the forward direction.
        forward_key: the store key of the result ``forward_rows`` come from (part of this probe's key).
        max_questions: cap on reversed questions (:data:`REVERSAL_MAX_QUESTIONS`, whole facts; None: all).

    Returns:
        Result with metrics ``n_facts``, ``n_forward`` / ``n_reversed`` (questions), ``forward`` / ``reversed``
        (multiple-choice accuracy over questions), ``forward_reused`` (forward questions taken from
        ``forward_rows``); details ``rows``: ``id``, ``fact``, ``direction`` (:data:`FORWARD` / :data:`REVERSED`),
        ``question``, ``gold``, ``choice`` (the option chosen; None for a reused row), ``mc_correct`` (0/1), ``reused``.
        With no reversible fact: ``n_facts`` 0 and ``not_measured`` (the reason), no rows.

    Raises:
        ValueError: a reader's folder is active (its facts have no entity to reverse to).
    """
    _not_on_a_folder("the reversal probe")
    store = RUNTIME.use_store(store)
    key = {"model": model_name, "train_key": getattr(train_result, "key", None), "taught_entities": taught_entities, "max_questions": max_questions,
           "rag": key_dict(rag_settings) if rag_settings is not None else None, "kb_entities": kb_entities if rag_settings is not None else None,
           "forward_from": forward_key, "batch_size": batch_size}

    def compute(_artifacts: Path):
        rev = reversed_qas(taught_entities, max_questions)
        if not rev:
            return {"n_facts": 0, "not_measured": f"no fact of the first {taught_entities} entities has a value no other entity holds"}, {"rows": []}
        facts = {q.fact for q in rev}
        fwd = [q for q in load_knowledge(n_entities=taught_entities).test_qa if q.fact in facts and q.options and q.answer_index is not None]
        stored = {r["id"]: r for r in (forward_rows or []) if r.get("mc_correct") is not None}
        ask = [q for q in fwd if q.id not in stored] + rev
        m, tok = _model_for(train_result, model_name, model, tokenizer, store)
        contexts = _retrieved(rag_settings, [q.question for q in ask], kb_entities, client)
        variant = rag_settings.prompt_variant if rag_settings is not None else DEFAULT_CONTEXT_VARIANT
        prompts = [make_prompt(tok, q.question, None if contexts is None else contexts[i], variant) for i, q in enumerate(ask)]
        scores = multiple_choice_scores(m, tok, prompts, [list(q.options) for q in ask], batch_size=batch_size)
        asked = {q.id: (q, max(range(len(s)), key=s.__getitem__)) for q, s in zip(ask, scores)}
        rows, rev_ids = [], {q.id for q in rev}
        for q in [*fwd, *rev]:
            direction = REVERSED if q.id in rev_ids else FORWARD
            if q.id in asked:
                _q, i = asked[q.id]
                rows.append({"id": q.id, "fact": q.fact, "direction": direction, "question": q.question, "gold": q.answer, "choice": q.options[i],
                             "mc_correct": float(i == q.answer_index), "reused": False})
            else:
                rows.append({"id": q.id, "fact": q.fact, "direction": direction, "question": q.question, "gold": q.answer, "choice": None,
                             "mc_correct": float(stored[q.id]["mc_correct"]), "reused": True})
        f_rows, r_rows = [r for r in rows if r["direction"] == FORWARD], [r for r in rows if r["direction"] == REVERSED]
        metrics = {"n_facts": len(facts), "n_forward": len(f_rows), "n_reversed": len(r_rows), "forward_reused": sum(r["reused"] for r in f_rows),
                   "forward": sum(r["mc_correct"] for r in f_rows) / max(1, len(f_rows)), "reversed": sum(r["mc_correct"] for r in r_rows) / len(r_rows)}
        return metrics, {"rows": rows}

    return store.cached("reversal_probe", key, compute, force=force)
