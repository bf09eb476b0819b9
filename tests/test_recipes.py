"""The one table of defaults (lorag_nb.experiments.recipes): every notebook's ``parameters`` cell agrees with
it, the GPU profile changes only keys it has, the profiles and CompareSettings read it, and a notebook run
never falls back to a dataclass's plain default for the knobs the recipes size."""
from __future__ import annotations

import pytest

from lorag_nb.core.config import TrainingSettings
from lorag_nb.core.paths import NOTEBOOKS_DIR
from lorag_nb.experiments import profiles, recipes
from lorag_nb.infra.runner import notebook_defaults

STEMS = sorted(recipes.NOTEBOOKS)


def test_the_table_has_every_notebook():
    assert STEMS == sorted(p.stem for p in NOTEBOOKS_DIR.glob("0*.ipynb"))


@pytest.mark.parametrize("stem", STEMS)
def test_parameters_cell_is_the_table(stem):
    """A value is changed in one place: a cell that disagrees with the table (a value, a missing or an extra
    parameter) fails here, naming the parameter."""
    cell = notebook_defaults(NOTEBOOKS_DIR / f"{stem}.ipynb")
    table = recipes.NOTEBOOKS[stem]
    assert sorted(cell) == sorted(table), f"{stem}: cell only {sorted(set(cell) - set(table))}, table only {sorted(set(table) - set(cell))}"
    wrong = {k: (cell[k], table[k]) for k in table if not (cell[k] == table[k] and type(cell[k]) is type(table[k]))}
    assert not wrong, f"{stem}: parameter → (cell, table): {wrong}"


#: Notebook 05's knobs that are another notebook's (so notebook 05 at its defaults reads the runs 01–04 stored).
SAME_AS = {
    **{k: ("02_lora", k) for k in ("n_entities", "batch_size", "max_steps", "max_questions", "seeds", "speed_reps", "frontier_full_lrs", "frontier_lora_lrs", "frontier_checkpoints")},
    "naive_rank": ("02_lora", "r"), "frontier_entities": ("02_lora", "sweep_entities"), "frontier_epochs": ("02_lora", "sweep_epochs"),
    **{k: ("03_rag", k) for k in ("n_dev_questions", "top_k", "chunk_size", "chunk_overlap", "max_new_tokens", "latency_reps", "latency_questions", "chroma_url")},
    "rag_entities": ("03_rag", "n_entities"), "rag_questions": ("03_rag", "n_questions"), "rag_batch_size": ("03_rag", "batch_size"),
}


def test_shared_knobs_are_one_value():
    t = recipes.NOTEBOOKS
    for name, (stem, there) in SAME_AS.items():
        assert t["05_comparison"][name] == t[stem][there], (name, stem, there)
    assert t["05_comparison"]["lora_ranks"] == [t["02_lora"]["r"]]
    assert t["01_full_finetuning"]["seeds"] == t["02_lora"]["seeds"] == t["04_hybrid"]["seeds"] == t["05_comparison"]["seeds"]
    for k in ("n_entities", "train_on", "epochs", "batch_size", "max_questions"):  # notebook 02 compares LoRA with notebook 01's run
        assert t["01_full_finetuning"][k] == t["02_lora"][k], k
    from lorag_nb.methods import training

    assert (t["01_full_finetuning"]["max_questions"] or None) == training.DEFAULT_MAX_QUESTIONS  # 01 and 02 share training.default_eval's questions
    assert t["01_full_finetuning"]["seeds"] == list(training.DEFAULT_SEEDS)
    assert t["03_rag"]["reference_entities"] == t["04_hybrid"]["train_entities"] == t["02_lora"]["n_entities"]
    # notebook 00's baseline is the stored one 01-05 read (before, 00 measured its own with 8 perplexity passages)
    assert (t["00_overview_baseline"]["n_entities"], t["00_overview_baseline"]["max_questions"] or None) == (t["01_full_finetuning"]["n_entities"], training.DEFAULT_MAX_QUESTIONS)
    assert {k: t["00_overview_baseline"][k] for k in ("batch_size", "perplexity_texts")} == {k: training.DEFAULT_EVAL[k] for k in ("batch_size", "perplexity_texts")}
    for k in ("n_entities", "n_questions", "n_dev_questions", "top_k", "chunk_size", "chunk_overlap", "max_new_tokens", "batch_size", "answer_ks"):
        assert t["04_hybrid"][k] == t["03_rag"][k], k


def test_views_are_read_from_the_table():
    nb01, nb02, nb03, nb04 = (recipes.NOTEBOOKS[s] for s in ("01_full_finetuning", "02_lora", "03_rag", "04_hybrid"))
    assert {k: nb01[k] for k in ("n_entities", "train_on", "epochs", "learning_rate", "batch_size")} == {k: recipes.FULL_FT_DEFAULTS[k] for k in ("n_entities", "train_on", "epochs", "learning_rate", "batch_size")}
    assert {k: nb02[k] for k in ("n_entities", "train_on", "epochs", "learning_rate", "batch_size")} == {k: recipes.LORA_DEFAULTS[k] for k in ("n_entities", "train_on", "epochs", "learning_rate", "batch_size")}
    assert (recipes.LORA_DEFAULT_ADAPTER["r"], recipes.LORA_DEFAULT_ADAPTER["lora_alpha"]) == (nb02["r"], nb02["lora_alpha"])
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in recipes.SWEEP_DEFAULTS.items()} == {k: nb02[k] for k in recipes.SWEEP_DEFAULTS}
    assert recipes.RAG_DEFAULTS == {k: nb03[k] for k in recipes.RAG_DEFAULTS}
    assert recipes.RAFT_TRAINING["epochs"] == nb04["raft_epochs"]
    # the old homes are the same objects, not copies
    from lorag_nb.experiments import nb01 as m01, nb02 as m02, nb03 as m03, nb04 as m04

    assert m01.FULL_FT_DEFAULTS is recipes.FULL_FT_DEFAULTS and m01.default_full_ft is recipes.default_full_ft
    assert m02.LORA_DEFAULTS is recipes.LORA_DEFAULTS and m02.SWEEP_DEFAULTS is recipes.SWEEP_DEFAULTS and m02.default_lora is recipes.default_lora
    assert m03.RAG_DEFAULTS is recipes.RAG_DEFAULTS and m03.rag_settings is recipes.rag_settings
    assert m04.raft_settings is recipes.raft_settings and m04.default_hybrid_eval is recipes.default_hybrid_eval and m04.RAG_EVAL is recipes.RAG_EVAL


def test_gpu_changes_only_keys_of_the_table():
    for stem, changes in recipes.GPU_CHANGES.items():
        assert stem in recipes.NOTEBOOKS, stem
        unknown = sorted(set(changes) - set(recipes.NOTEBOOKS[stem]))
        assert not unknown, f"GPU_CHANGES[{stem!r}] changes parameters the table does not have: {unknown}"
        assert all(recipes.NOTEBOOKS[stem][k] != v for k, v in changes.items()), f"{stem}: a change equal to the default"
    with pytest.raises(ValueError, match="not a default"):
        recipes.override({"n_entities": 10}, {"n_entites": 80}, "typo")
    with pytest.raises(ValueError, match="type"):
        recipes.override({"seeds": [0, 1]}, {"seeds": 3}, "type")
    with pytest.raises(ValueError, match="default already"):
        recipes.override({"n_entities": 10}, {"n_entities": 10}, "no-op")
    assert recipes.override({"lr": 1e-3, "n": 2}, {"lr": 2e-3}) == {"lr": 2e-3, "n": 2}


def test_profiles_read_the_table():
    for stem in STEMS:
        assert profiles.CPU[stem] == {k: recipes.NOTEBOOKS[stem][k] for k in profiles.CPU[stem]}
        assert profiles.GPU[stem] == {k: recipes.GPU_CHANGES[stem].get(k, recipes.NOTEBOOKS[stem][k]) for k in profiles.CPU[stem]}
        assert set(recipes.GPU_CHANGES[stem]) <= set(profiles.CPU[stem])


def test_compare_settings_are_notebook_05s_defaults():
    from lorag_nb.experiments.comparison import CompareSettings

    cell = notebook_defaults(NOTEBOOKS_DIR / "05_comparison.ipynb")
    assert CompareSettings.from_parameters(**cell) == CompareSettings()
    assert CompareSettings().full_settings() == recipes.default_full_ft() and CompareSettings().lora_settings(8) == recipes.default_lora()


def test_notebook_runs_never_use_training_settings_plain_defaults():
    """``TrainingSettings``' numeric defaults are the library's plain values for direct calls; every notebook
    run is built by a recipe that sets each of them."""
    sized = {"n_entities", "epochs", "learning_rate", "batch_size", "max_length"}
    assert sized <= set(recipes.FULL_FT_DEFAULTS) and sized <= set(recipes.LORA_DEFAULTS)
    runs = {"full": (recipes.default_full_ft(), recipes.FULL_FT_DEFAULTS), "lora": (recipes.default_lora(), recipes.LORA_DEFAULTS),
            "naive": (recipes.naive_settings(), recipes.LORA_DEFAULTS), "raft": (recipes.raft_settings(), {**recipes.LORA_DEFAULTS, **recipes.RAFT_TRAINING})}
    for name, (s, recipe) in runs.items():
        assert {k: getattr(s, k) for k in sized} == {k: recipe[k] for k in sized}, name
    assert isinstance(s, TrainingSettings)


def test_rag_settings_take_any_retriever_knob_by_name():
    """A new RAG knob needs no factory edit: rag_settings passes any RagSettings field."""
    s = recipes.rag_settings(search_type="mmr", fetch_k=10)
    assert (s.top_k, s.search_type, s.fetch_k) == (recipes.NOTEBOOKS["03_rag"]["top_k"], "mmr", 10)
    with pytest.raises(ValueError, match="unknown knob"):
        recipes.rag_settings(topk=3)


def test_smoke_sizes_are_one_world_so_later_notebooks_reuse_earlier_runs():
    """At smoke size notebook 05's training, retrieval and evaluation knobs equal those of the notebook that
    runs each method (the same SAME_AS pairs as at the defaults), so after 01–04 it finds their runs; the
    runner injects exactly the table's changes and no notebook keeps a copy in its metadata."""
    import json

    from lorag_nb.infra.runner import smoke_parameters

    t = recipes.SMOKE
    for name, (stem, there) in SAME_AS.items():
        assert t["05_comparison"][name] == t[stem][there], (name, stem, there)
    assert t["05_comparison"]["lora_ranks"] == [t["02_lora"]["r"]] and t["02_lora"]["r"] in t["02_lora"]["ranks"]
    assert (t["05_comparison"]["frontier_entities"], t["05_comparison"]["frontier_epochs"]) == (t["02_lora"]["sweep_entities"], t["02_lora"]["sweep_epochs"])
    assert t["01_full_finetuning"]["seeds"] == t["02_lora"]["seeds"] == t["04_hybrid"]["seeds"] == t["05_comparison"]["seeds"]
    for k in ("n_entities", "train_on", "epochs", "batch_size", "max_steps", "max_questions"):
        assert t["01_full_finetuning"][k] == t["02_lora"][k], k
    assert t["03_rag"]["reference_entities"] == t["04_hybrid"]["train_entities"] == t["02_lora"]["n_entities"]
    assert t["03_rag"]["lora_max_steps"] == t["04_hybrid"]["lora_max_steps"] == t["04_hybrid"]["raft_max_steps"] == t["02_lora"]["max_steps"]
    for k in ("n_entities", "n_questions", "n_dev_questions", "top_k", "chunk_size", "chunk_overlap", "max_new_tokens", "batch_size", "answer_ks"):
        assert t["04_hybrid"][k] == t["03_rag"][k], k
    for stem in STEMS:
        path = NOTEBOOKS_DIR / f"{stem}.ipynb"
        assert smoke_parameters(path) == recipes.SMOKE_CHANGES[stem] and {**recipes.NOTEBOOKS[stem], **smoke_parameters(path)} == t[stem]
        assert "smoke_parameters" not in json.loads(path.read_text())["metadata"].get("lorag_nb", {}), f"{stem}: a second home for its smoke sizes"
    with pytest.raises(ValueError, match="default already"):
        recipes.override(recipes.NOTEBOOKS["01_full_finetuning"], {"batch_size": recipes.NOTEBOOKS["01_full_finetuning"]["batch_size"]}, "smoke")
