"""Notebook 02's experiment module (lorag_nb.experiments.nb02): its settings plan and the choice of the
runs its claims compare, and the notebooks' parameters against the package defaults (the runs themselves are
tested in test_training.py and by the notebook)."""
from __future__ import annotations

from lorag_nb.core.config import EvalSettings
from lorag_nb.core.paths import NOTEBOOKS_DIR
from lorag_nb.core.store import Result
from lorag_nb.experiments import nb01, nb02
from lorag_nb.methods import training


def _run(settings, key):
    return Result("train", key, {"training": settings.to_dict(), "eval": EvalSettings().to_dict()}, {}, {})


def test_plan_changes_only_what_is_asked():
    plan = nb02.LoraPlan(dict(model="embedded", n_entities=10, train_on="qa", epochs=1.0, batch_size=4, max_steps=-1, seed=0), r=8, lora_alpha=16, learning_rate=1e-3, sweep_entities=2, sweep_epochs=2.0)
    base = plan.lora()
    assert (base.lora.r, base.lora.lora_alpha, base.n_entities, base.learning_rate) == (8, 16, 10, 1e-3)
    r32 = plan.lora(r=32, use_rslora=True)
    assert (r32.lora.r, r32.lora.use_rslora, r32.n_entities) == (32, True, 10)
    sw = plan.sweep(paraphrases=1)
    assert (sw.n_entities, sw.epochs, sw.paraphrases, sw.lora.r) == (2, 2.0, 1, 8)


def test_paraphrase_claim_compares_with_all_wordings_on_the_same_world():
    plan = nb02.LoraPlan(dict(model="embedded", n_entities=10, train_on="qa", epochs=1.0, batch_size=4, max_steps=-1, seed=0), sweep_entities=2)
    one = _run(plan.sweep(paraphrases=1), "one")
    subset, every = _run(plan.sweep(max_examples=20), "b20"), _run(plan.sweep(), "b60")
    headline = _run(plan.lora(), "lora")  # another world (10 entities)
    # the largest budget (all examples) is the reference, not the first subset
    assert nb02.paraphrase_reference(one, {20: subset, 60: every}, headline).key == "b60"
    # without budgets, the headline run only if it is on the same world
    assert nb02.paraphrase_reference(one, None, headline) is None
    assert nb02.paraphrase_reference(_run(plan.lora(paraphrases=1), "one10"), None, headline).key == "lora"


def _parameters(name: str) -> dict:
    import nbformat

    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(cell.source, {}, values)
    return values


def test_notebook_defaults_match_package_defaults():
    p1, p2 = _parameters("01_full_finetuning.ipynb"), _parameters("02_lora.ipynb")
    for key in ("n_entities", "epochs", "learning_rate", "batch_size"):
        assert p1[key] == nb01.FULL_FT_DEFAULTS[key], key
        assert p2[key] == nb02.LORA_DEFAULTS[key], key
    assert p2["r"] == nb02.LORA_DEFAULT_ADAPTER["r"] and p2["lora_alpha"] == nb02.LORA_DEFAULT_ADAPTER["lora_alpha"]
    # the same evaluation in both notebooks, so notebook 02 finds notebook 01's full fine-tuning run
    assert (p1["max_questions"] or None) == (p2["max_questions"] or None) == training.DEFAULT_MAX_QUESTIONS
    # the same headline seeds in 01, 02 and 05, so 05 reads the runs 01 and 02 trained
    from lorag_nb.experiments.nb05 import CompareSettings

    p5 = _parameters("05_comparison.ipynb")
    assert p1["seeds"] == p2["seeds"] == p5["seeds"] == list(training.DEFAULT_SEEDS) == list(CompareSettings().seeds)
    assert p5["n_entities"] == p1["n_entities"] == CompareSettings().n_entities
