"""The one table of defaults: every notebook's parameter values, the settings built from them, and the GPU
profile as a short list of changes.

Why "recipes": a notebook's defaults are a recipe (how many entities, which learning rate, how many seeds),
and the functions here turn a recipe into the settings objects of a run (``TrainingSettings``,
``RagSettings``, ``EvalSettings``). Sizes and choices of the *experiments* live here; the *types* and their
checks live two floors down in :mod:`lorag_nb.core.config`.

The shape (nanoGPT's ``configurator.py`` + ``config/*.py`` is the model):

- :data:`NOTEBOOKS` — notebook stem → ``{parameter: default}``, exactly the values of that notebook's
  ``parameters`` cell (``tests/test_recipes.py`` fails when a cell and this table disagree). A value that
  two notebooks share is written once and the other notebook names it (notebook 05's ``seeds`` *is*
  notebook 01's), so notebooks 01–05 run, and find in the results store, the same settings.
- :data:`FIXED` — the recipe values no cell exposes (training ``max_length``, the RAFT adapter's longer
  examples, the hybrids' direct-call evaluation).
- :data:`GPU_CHANGES` — notebook → only the parameters the GPU profile changes; :func:`override` checks
  that each key exists in :data:`NOTEBOOKS` (an unknown key raises, like nanoGPT's configurator), that
  its type matches, and that it really changes something. :mod:`lorag_nb.experiments.profiles` applies it.
- The views the notebooks' modules used to define themselves (``FULL_FT_DEFAULTS``, ``LORA_DEFAULTS``,
  ``LORA_DEFAULT_ADAPTER``, ``SWEEP_DEFAULTS``, ``RAG_DEFAULTS``, ``RAG_EVAL``, ``RAFT_TRAINING``,
  ``DEV_QUESTIONS``) are read from the table, and the factories (:func:`default_full_ft`,
  :func:`default_lora`, :func:`rag_settings`, :func:`raft_settings`, :func:`naive_settings`,
  :func:`default_hybrid_eval`) build settings from them. ``nb01``–``nb04`` import them from here.

Where a method's own knob has the same default in every notebook (the retriever's ``top_k`` 3,
``chunk_size`` 500, ``chunk_overlap`` 50; RAFT's P 0.8, K 3, distractors ``"both"``; LoRA's ``target_modules``
``"all-linear"``; the headline seeds of :data:`lorag_nb.methods.training.DEFAULT_SEEDS`), the number
stays with its type in the layer below (``RagSettings.top_k``…) and this table names it, so it is still
written once. ``TrainingSettings``' own defaults (epochs 3, lr 1e-4, batch 8, max_length 256) are the
library's plain defaults for direct calls (``lorag-nb check``, the benchmarks): every notebook run is built
here and sets each of them (``tests/test_recipes.py`` checks), so none of those numbers reaches a notebook.

A new RAG knob, walked through (say MMR search, ``search_type``, exposed to notebook 03's reader):

1. ``core/config.py``: the ``RagSettings`` field (type, default, check) — nothing to do for a knob that is
   already a field (``search_type``, ``fetch_k``, ``lambda_mult``…); a brand-new knob is one field here;
2. this table: ``"search_type": RagSettings.search_type`` in ``NOTEBOOKS["03_rag"]``;
3. notebook 03: ``search_type: str = "similarity"`` in its ``parameters`` cell, and its settings cell passes it
   (``nb03.rag_settings(top_k, chunk_size, chunk_overlap, chroma_url, search_type=search_type)``:
   :func:`rag_settings` takes any ``RagSettings`` field by name, so the factory needs no edit).

So 2 files (3 for a new field). ``tests/test_recipes.py`` keeps the table and the cell in line; profiles and
factories need no edit (one line of :data:`GPU_CHANGES` if the GPU should change it). Carrying the knob into
notebook 04 adds the same entry to ``NOTEBOOKS["04_hybrid"]`` (``_NB03``'s value, by name), its cell, and one
keyword of ``nb04.setup`` (which names the notebook's parameters); into notebook 05, a ``CompareSettings``
field whose default is ``compare_default(name)`` and its entry in ``NOTEBOOKS["05_comparison"]``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from lorag_nb.core.config import (
    KB_ENTITIES,
    EvalSettings,
    LoraSettings,
    RaftSettings,
    RagSettings,
    TrainingSettings,
)
from lorag_nb.data.prompts import DEFAULT_CONTEXT_VARIANT
from lorag_nb.methods.retrieval import parse_chroma_url
from lorag_nb.methods.training import DEFAULT_EVAL, DEFAULT_MAX_QUESTIONS, DEFAULT_SEEDS

#: Every test question of the built-in world: 80 entities × 6 facts × 3 held-out wordings.
ALL_TEST_QUESTIONS = 1440

#: Parameters every notebook has, with the same default.
_COMMON: dict[str, Any] = {"model_name": "embedded", "knowledge": "builtin", "profile": "auto", "seed": 0}

# ----------------------------------------------------------------------------------------- the table

#: Notebook 00: the base model before any adaptation.
# notebook 00's baseline is the one notebooks 01-05 share (training.default_eval): one evaluation, stored once
_NB00: dict[str, Any] = {**_COMMON, "n_entities": 10, "max_questions": 0, "batch_size": DEFAULT_EVAL["batch_size"], "perplexity_texts": DEFAULT_EVAL["perplexity_texts"]}

#: Notebook 01: full fine-tuning. Sized so verdicts can decide on a 2-core CPU: 10 entities = 60 facts × 5
#: training wordings = 300 examples, one epoch in batches of 4 = 75 optimizer steps (every fact seen 5 times,
#: each time in another wording). Measured earlier: ~5.4 CPU-seconds per full fine-tuning step, ~4.4 per LoRA step.
_NB01: dict[str, Any] = {
    **_COMMON, "n_entities": 10, "train_on": "qa", "epochs": 1.0, "learning_rate": 5e-05, "batch_size": 4, "max_steps": -1,
    "max_questions": 0,  # 0 = every test question of the taught entities (training.DEFAULT_MAX_QUESTIONS: None)
    "keep_checkpoint": False, "seeds": list(DEFAULT_SEEDS),
}

#: Notebook 02: LoRA — notebook 01's world and budget, LoRA's learning rate, the adapter, and the sweeps
#: (the rank, data-budget and frontier sweeps train on 2 entities for 2 epochs).
_NB02: dict[str, Any] = {
    **_COMMON, **{k: _NB01[k] for k in ("n_entities", "train_on", "epochs", "batch_size", "max_steps", "max_questions", "seeds")},
    "learning_rate": 0.001, "r": LoraSettings.r, "lora_alpha": LoraSettings.lora_alpha, "module_name": "q_proj", "ranks": [2, 8, 32], "rslora_ranks": [32], "dora_rank": 2,
    "example_budgets": [20], "sweep_entities": 2, "sweep_epochs": 2.0, "speed_reps": 5,
    "frontier_full_lrs": [5e-05, 0.0002], "frontier_lora_lrs": [0.0002, 0.001], "frontier_checkpoints": 4,
}

#: Notebook 03: RAG. The knowledge base (``n_entities``: all 80), the test questions (the first 180: every
#: wording of the 10 entities the fine-tuned methods learn), the dev questions of the prompt-variant choice,
#: the answer budget (0: chosen on the dev split) and batch, the interleaved latency measurement.
_NB03: dict[str, Any] = {
    **_COMMON, "n_entities": KB_ENTITIES, "n_questions": 180, "n_dev_questions": 10,
    "top_k": RagSettings.top_k, "chunk_size": RagSettings.chunk_size, "chunk_overlap": RagSettings.chunk_overlap, "chroma_url": "",
    "answer_ks": [1, 2, 3, 5], "sweep_questions": 60, "latency_reps": 3, "latency_questions": 6, "sweep_multiple_choice": False,
    "explorer_chunk_sizes": [200, 500], "reference_entities": _NB02["n_entities"], "reference_questions": 0, "lora_max_steps": -1,
    "pydoc_topics": 40, "python_questions": ["What does the pass statement do?", "What does the global statement do?", "What is a lambda expression?"],
    "max_new_tokens": 0, "batch_size": EvalSettings.batch_size,
}

#: Notebook 04: LoRA + RAG — notebook 03's retriever and questions, notebook 02's adapter world, the RAFT knobs.
_NB04: dict[str, Any] = {
    **_COMMON, **{k: _NB03[k] for k in ("n_entities", "n_questions", "n_dev_questions", "top_k", "answer_ks", "sweep_questions", "chunk_size",
                                         "chunk_overlap", "chroma_url", "reference_questions", "lora_max_steps", "sweep_multiple_choice", "max_new_tokens", "batch_size")},
    "train_entities": _NB02["n_entities"],
    "raft_p_oracle": RaftSettings.p_oracle, "raft_k": RaftSettings.k, "raft_distractors": RaftSettings.distractors, "raft_cite": RaftSettings.cite,
    "raft_epochs": 1.0, "raft_max_steps": -1, "seeds": _NB01["seeds"],
}

#: Notebook 05: every method side by side — each knob is the value of the notebook that runs it, so at its
#: defaults notebook 05 reads the runs notebooks 01–04 stored.
_NB05: dict[str, Any] = {
    **_COMMON, **{k: _NB02[k] for k in ("n_entities", "max_questions", "batch_size", "max_steps", "speed_reps", "frontier_full_lrs", "frontier_lora_lrs", "frontier_checkpoints")},
    "lora_ranks": [_NB02["r"]], "naive_rank": _NB02["r"], "rag_entities": _NB03["n_entities"], "rag_questions": _NB03["n_questions"],
    **{k: _NB03[k] for k in ("n_dev_questions", "top_k", "chunk_size", "chunk_overlap", "chroma_url", "max_new_tokens", "latency_reps", "latency_questions")},
    "rag_batch_size": _NB03["batch_size"], "accuracy_metric": "test MC acc", "seeds": _NB01["seeds"],
    "frontier_entities": _NB02["sweep_entities"], "frontier_epochs": _NB02["sweep_epochs"], "ovadia": True, "docs_epochs": 5.0,
}

#: Notebook stem → its ``parameters`` cell's defaults (a test parses each cell and compares).
NOTEBOOKS: dict[str, dict[str, Any]] = {
    "00_overview_baseline": _NB00,
    "01_full_finetuning": _NB01,
    "02_lora": _NB02,
    "03_rag": _NB03,
    "04_hybrid": _NB04,
    "05_comparison": _NB05,
}

#: Recipe values no parameters cell exposes.
FIXED: dict[str, Any] = {
    "max_length": 128,  # training tokens per example of notebooks 01–02 (a QA example is under 100)
    # the RAFT adapter's examples carry k documents of ~110 tokens: more room; 2 of the 5 training wordings per
    # fact (one epoch) keep the cost of ~3.5× longer examples near that of the closed-book LoRA (60 facts: 120 examples)
    "raft_max_length": 512, "raft_paraphrases": 2,
    # the hybrids' evaluation for direct calls (the notebooks choose their questions and budget: rag.answer_budget)
    "hybrid_max_questions": 12, "hybrid_max_new_tokens": 16, "perplexity_texts": 4, "perplexity_tokens": 256,
}

#: The GPU profile: only what differs from :data:`NOTEBOOKS` (the whole fictional world — 80 entities, every
#: test question —, 3 seeds for the headline methods, larger batches, the sweeps on 10 entities).
GPU_CHANGES: dict[str, dict[str, Any]] = {
    "00_overview_baseline": {"n_entities": 80, "batch_size": 64},
    "01_full_finetuning": {"n_entities": 80, "batch_size": 16, "seeds": [0, 1, 2]},
    "02_lora": {"n_entities": 80, "batch_size": 16, "seeds": [0, 1, 2], "sweep_entities": 10},
    "03_rag": {"n_questions": ALL_TEST_QUESTIONS, "sweep_questions": 360, "reference_entities": 80, "batch_size": 64},
    "04_hybrid": {"n_questions": ALL_TEST_QUESTIONS, "sweep_questions": 360, "train_entities": 80, "batch_size": 64, "seeds": [0, 1, 2]},
    "05_comparison": {"n_entities": 80, "batch_size": 16, "rag_questions": ALL_TEST_QUESTIONS, "rag_batch_size": 64, "seeds": [0, 1, 2]},
}


def override(base: Mapping[str, Any], changes: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``base`` with ``changes`` applied, nanoGPT-configurator style: each key must exist in ``base``, keep its
    type (an int may become a float) and change the value.

    Raises:
        ValueError: an unknown key, a value of another type, or a "change" equal to the base value.
    """
    out = dict(base)
    for k, v in changes.items():
        if k not in base:
            raise ValueError(f"{where}: {k!r} is not a default of the table; valid: {sorted(base)}")
        old = base[k]
        if not (type(v) is type(old) or (isinstance(old, (int, float)) and isinstance(v, (int, float)) and not isinstance(v, bool) and not isinstance(old, bool))):
            raise ValueError(f"{where}: {k}={v!r} has type {type(v).__name__}; the default {old!r} is a {type(old).__name__}")
        if v == old:
            raise ValueError(f"{where}: {k}={v!r} is the default already: a change table holds only what differs")
        out[k] = v
    return out


#: Notebook stem → its defaults under the GPU profile (checked at import: a bad change key fails here).
GPU: dict[str, dict[str, Any]] = {stem: override(NOTEBOOKS[stem], GPU_CHANGES.get(stem, {}), f"GPU_CHANGES[{stem!r}]") for stem in NOTEBOOKS}
assert set(GPU_CHANGES) <= set(NOTEBOOKS), sorted(set(GPU_CHANGES) - set(NOTEBOOKS))

#: The smoke size (``lorag-nb run --smoke``, the notebook tests): one small world, written once, so every
#: notebook trains and measures the same runs and the later notebooks find the earlier ones' runs in the
#: results store (notebook 05 after 01–04 computes only what no other notebook has: the second LoRA seed is
#: not there because smoke has one seed). 2 entities = 12 facts; 2 optimizer steps of 4 examples; 2 test
#: questions; a knowledge base of 4 entities. RAG and the hybrids generate at their default batch (32 questions), as
#: the answer budget's choice does (up to ``rag.BUDGET_QUESTIONS`` = 40 questions at any size): at a batch of 4 that
#: choice took 7 batches of up to 96 tokens, a third of notebook 03's smoke time on a gallery folder.
_SMOKE: dict[str, Any] = {
    "n_entities": 2, "max_steps": 2, "batch_size": 4, "max_questions": 2, "seeds": [0], "kb_entities": 4, "questions": 2, "top_k": 2,
    "speed_reps": 2, "latency_reps": 2, "frontier_checkpoints": 2, "frontier_full_lrs": [5e-05], "frontier_lora_lrs": [0.001], "sweep_epochs": 1.0,
}
#: Notebook stem → the parameters smoke changes (checked like :data:`GPU_CHANGES`; :func:`smoke_changes` reads it).
SMOKE_CHANGES: dict[str, dict[str, Any]] = {
    "00_overview_baseline": {"n_entities": _SMOKE["kb_entities"], "max_questions": 12, "perplexity_texts": 2},
    "01_full_finetuning": {k: _SMOKE[k] for k in ("n_entities", "max_steps", "max_questions", "seeds")},
    "02_lora": {**{k: _SMOKE[k] for k in ("n_entities", "max_steps", "max_questions", "seeds", "speed_reps", "frontier_checkpoints", "frontier_full_lrs",
                                         "frontier_lora_lrs", "sweep_epochs")},
                "ranks": [_NB02["r"]], "rslora_ranks": [4], "dora_rank": 4, "example_budgets": []},
    "03_rag": {"n_entities": _SMOKE["kb_entities"], "n_questions": _SMOKE["questions"], "n_dev_questions": _SMOKE["questions"], "top_k": _SMOKE["top_k"],
               "answer_ks": [1, 2], "sweep_questions": _SMOKE["questions"], "latency_reps": _SMOKE["latency_reps"], "latency_questions": _SMOKE["questions"],
               "explorer_chunk_sizes": [500], "reference_entities": _SMOKE["n_entities"], "reference_questions": _SMOKE["questions"],
               "lora_max_steps": _SMOKE["max_steps"], "pydoc_topics": 5, "python_questions": ["What does the pass statement do?"]},
    "04_hybrid": {"n_entities": _SMOKE["kb_entities"], "n_questions": _SMOKE["questions"], "n_dev_questions": _SMOKE["questions"], "top_k": _SMOKE["top_k"],
                  "answer_ks": [1, 2], "sweep_questions": _SMOKE["questions"], "reference_questions": _SMOKE["questions"], "lora_max_steps": _SMOKE["max_steps"],
                  "train_entities": _SMOKE["n_entities"], "raft_max_steps": _SMOKE["max_steps"], "seeds": _SMOKE["seeds"]},
    "05_comparison": {**{k: _SMOKE[k] for k in ("n_entities", "max_steps", "max_questions", "seeds", "speed_reps", "latency_reps", "frontier_checkpoints",
                                               "frontier_full_lrs", "frontier_lora_lrs", "top_k")},
                      "rag_entities": _SMOKE["kb_entities"], "rag_questions": _SMOKE["questions"], "n_dev_questions": _SMOKE["questions"],
                      "latency_questions": _SMOKE["questions"], "frontier_epochs": _SMOKE["sweep_epochs"], "docs_epochs": 1.0},
}
#: Notebook stem → its parameters at smoke size (checked at import, like :data:`GPU`).
SMOKE: dict[str, dict[str, Any]] = {stem: override(NOTEBOOKS[stem], SMOKE_CHANGES.get(stem, {}), f"SMOKE_CHANGES[{stem!r}]") for stem in NOTEBOOKS}


def smoke_changes(stem: str) -> dict[str, Any]:
    """The parameters notebook ``stem`` runs with at smoke size, beyond its defaults (a copy of
    :data:`SMOKE_CHANGES`; ``{}`` for an unknown stem, e.g. a reader's own notebook in the folder)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in SMOKE_CHANGES.get(stem, {}).items()}


# ----------------------------------------------------------------------------------------- views

#: Full fine-tuning (notebook 01): the ``TrainingSettings`` fields of its recipe.
FULL_FT_DEFAULTS = dict(n_entities=_NB01["n_entities"], train_on=_NB01["train_on"], epochs=_NB01["epochs"], learning_rate=_NB01["learning_rate"],
                        batch_size=_NB01["batch_size"], max_length=FIXED["max_length"])
#: LoRA (notebook 02): the ``TrainingSettings`` fields of its recipe.
LORA_DEFAULTS = dict(n_entities=_NB02["n_entities"], train_on=_NB02["train_on"], epochs=_NB02["epochs"], learning_rate=_NB02["learning_rate"],
                     batch_size=_NB02["batch_size"], max_length=FIXED["max_length"])
#: Notebook 02's default adapter.
LORA_DEFAULT_ADAPTER = dict(r=_NB02["r"], lora_alpha=_NB02["lora_alpha"], target_modules=LoraSettings.target_modules)
#: Notebook 02's sweep world, the learning rates and checkpoints of its learning-vs-forgetting frontier, and
#: the interleaved repetitions of its speed measurement.
SWEEP_DEFAULTS = dict(sweep_entities=_NB02["sweep_entities"], sweep_epochs=_NB02["sweep_epochs"], frontier_full_lrs=tuple(_NB02["frontier_full_lrs"]),
                      frontier_lora_lrs=tuple(_NB02["frontier_lora_lrs"]), frontier_checkpoints=_NB02["frontier_checkpoints"], speed_reps=_NB02["speed_reps"])
#: Notebook 03's knowledge base, questions, answer budget and batch, and latency measurement (notebooks 04–05 read them).
RAG_DEFAULTS = {k: _NB03[k] for k in ("n_entities", "n_questions", "n_dev_questions", "max_new_tokens", "batch_size", "latency_reps", "latency_questions")}
#: Notebook 03's dev-split prompt comparison (its winner is the chain's prompt variant).
DEV_QUESTIONS = _NB03["n_dev_questions"]
#: The evaluation every hybrid and the plain RAG are compared on, for direct calls (:func:`default_hybrid_eval`).
RAG_EVAL = dict(n_entities=_NB03["n_entities"], max_questions=FIXED["hybrid_max_questions"], max_new_tokens=FIXED["hybrid_max_new_tokens"],
                batch_size=_NB03["batch_size"], perplexity_texts=FIXED["perplexity_texts"], perplexity_tokens=FIXED["perplexity_tokens"])
#: Training knobs of the RAFT adapter that differ from notebook 02's LoRA.
RAFT_TRAINING = dict(max_length=FIXED["raft_max_length"], epochs=_NB04["raft_epochs"], paraphrases=FIXED["raft_paraphrases"])

# ----------------------------------------------------------------------------------------- factories


def default_full_ft(**overrides) -> TrainingSettings:
    """Full fine-tuning settings of notebook 01, with ``overrides`` (any ``TrainingSettings`` field).

    Notebook 02 calls this too, so the full fine-tuning it compares LoRA against is the one notebook 01
    trained (the same settings → the same stored result).
    """
    kw = dict(FULL_FT_DEFAULTS)
    kw.update(overrides)
    kw["lora"] = None
    return TrainingSettings(**kw)


def default_lora(r: int | None = None, lora_alpha: float | None = None, target_modules: Any = None, use_rslora: bool = False, use_dora: bool = False, **overrides) -> TrainingSettings:
    """LoRA settings of notebook 02 (rank 8, lora_alpha 16, all linear layers, lr 1e-3), with overrides."""
    adapter = dict(LORA_DEFAULT_ADAPTER)
    for k, v in (("r", r), ("lora_alpha", lora_alpha), ("target_modules", target_modules)):
        if v is not None:
            adapter[k] = v
    kw = dict(LORA_DEFAULTS)
    kw.update(overrides)
    kw["lora"] = LoraSettings(**adapter, use_rslora=use_rslora, use_dora=use_dora)
    return TrainingSettings(**kw)


_RAG_FIELDS = {f.name for f in dataclasses.fields(RagSettings)}


def rag_settings(top_k: int = _NB03["top_k"], chunk_size: int = _NB03["chunk_size"], chunk_overlap: int = _NB03["chunk_overlap"], chroma_url: str = _NB03["chroma_url"], **knobs) -> RagSettings:
    """Notebook 03's retrieval settings from its parameters (same names); ``knobs``: any other ``RagSettings`` field.

    Args:
        chroma_url: ``"http://host:port"`` of a Chroma server (``chroma run --path DIR --host H --port P``)
            that holds the knowledge base, so a team shares one; ``""`` keeps the embedded store under
            the cache. Where the store runs is not part of a result's key (:func:`lorag_nb.methods.rag.key_dict`).

    Raises:
        ValueError: an invalid value, named (a ``chroma_url`` that is not ``http(s)://host[:port]``
            among them, before anything connects), or a knob that is not a ``RagSettings`` field.
    """
    unknown = sorted(set(knobs) - _RAG_FIELDS)
    if unknown:
        raise ValueError(f"rag_settings: unknown knob(s) {unknown}; valid: fields of RagSettings {sorted(_RAG_FIELDS)}")
    if chroma_url:
        parse_chroma_url(chroma_url)
    return RagSettings(top_k=top_k, chunk_size=chunk_size, chunk_overlap=chunk_overlap, chroma_url=chroma_url or None, **knobs)


def default_hybrid_eval(**overrides) -> EvalSettings:
    """The questions every hybrid and the plain RAG are compared on: notebook 03's evaluation
    (knowledge base of 80 entities, the first 12 test questions — those of the 2 trained entities —,
    16 new tokens), with ``overrides`` (any ``EvalSettings`` field)."""
    kw = dict(RAG_EVAL)
    kw.update(overrides)
    return EvalSettings(**kw)


def raft_settings(p_oracle: float = _NB04["raft_p_oracle"], k: int = _NB04["raft_k"], distractors: str = _NB04["raft_distractors"], cite: bool = _NB04["raft_cite"],
                  prompt_variant: str | None = None, kb_entities: int | None = _NB04["n_entities"], **overrides) -> TrainingSettings:
    """RAFT adapter settings: notebook 02's LoRA (:func:`default_lora`: r=8 on all linear layers, lr 1e-3,
    batch 4) with ``context="raft"``, the RAFT knobs, ``max_length`` 512, one epoch and 2 wordings per fact
    (:data:`RAFT_TRAINING`), and ``overrides`` (any ``TrainingSettings`` field).

    ``prompt_variant`` None means the default context variant of :mod:`lorag_nb.data.prompts`; pass the RAG
    chain's (``nb04.default_rag_settings().prompt_variant``) so training and test prompts match.

    Raises:
        ValueError: bad RAFT knobs (:class:`~lorag_nb.core.config.RaftSettings`) or training settings.
    """
    raft = RaftSettings(p_oracle=p_oracle, k=k, distractors=distractors, cite=cite, prompt_variant=prompt_variant or DEFAULT_CONTEXT_VARIANT, kb_entities=kb_entities)
    kw = dict(RAFT_TRAINING)
    kw.update(overrides)
    kw.update(context="raft", raft=raft)
    return default_lora(**kw)


def naive_settings(**overrides) -> TrainingSettings:
    """The naive hybrid's adapter: notebook 02's closed-book LoRA (:func:`default_lora` with ``overrides``)."""
    return default_lora(**overrides)


def compare_default(name: str) -> Any:
    """Notebook 05's default of ``name`` as a ``CompareSettings`` field holds it: lists as tuples, ``max_questions``
    0 and ``chroma_url`` "" as None (what ``CompareSettings.from_parameters`` makes of the cell)."""
    v = _NB05[name]
    if name == "max_questions":
        return v or DEFAULT_MAX_QUESTIONS
    if name == "chroma_url":
        return v or None
    return tuple(v) if isinstance(v, list) else v
