"""Notebook 02's experiment module (lorag_nb.experiments.nb02): its settings plan and the choice of the
runs its claims compare, and the notebooks' parameters against the package defaults (the runs themselves are
tested in test_training.py and by the notebook)."""
from __future__ import annotations

from lorag_nb.core.config import EvalSettings
from lorag_nb.core.store import Result
from lorag_nb.experiments import nb02


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


# The notebooks' parameters against the defaults: tests/test_recipes.py (one table of defaults).
