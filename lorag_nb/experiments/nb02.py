"""Notebook 02 (LoRA): its defaults, sweeps (rank, rsLoRA, DoRA, data budget), the learning-vs-forgetting
frontier at matched learning (Biderman et al. 2024) and its findings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from lorag_nb.core import claims as C
from lorag_nb.core.config import EvalSettings, TrainingSettings
from lorag_nb.core.fmt import pct
from lorag_nb.experiments.forgetting import (  # noqa: F401  (notebook 02 calls nb02.frontier_verdict etc.)
    CONTROL_SCORING,
    frontier_series,
    frontier_verdict,
    matched_forgetting,
)
from lorag_nb.experiments.method_claims import fine_tuning_verdicts
from lorag_nb.methods.training import final_loss, run_training, settings_of, sweep

# Notebook 02's defaults (LoRA recipe, default adapter, sweep world) and its settings factory live in the one
# table of defaults (re-exported here).
from lorag_nb.experiments.recipes import LORA_DEFAULT_ADAPTER, LORA_DEFAULTS, SWEEP_DEFAULTS, default_lora  # noqa: E402,F401

def sweep_series(results: dict) -> tuple[list, list, list]:
    """``(xs, last-epoch losses, held-out MC accuracies)`` of ``x → Result`` (sorted by x), for sweep charts."""
    xs = sorted(results)
    return xs, [final_loss(results[x]) for x in xs], [results[x].metrics["test"]["mc_accuracy"] for x in xs]


def _n_test(result) -> int:
    return int(result.metrics["test"].get("n") or 1)


def paraphrase_reference(one_wording, budgets: Mapping[int, Any] | None, lora=None):
    """The run the one-wording run is compared with: every training wording, on the same world — the
    budget run with the most examples (all of them), else ``lora`` if it is on that world; None if
    there is none.

    Args:
        one_wording: the LoRA run trained on one wording per fact (``paraphrases=1``).
        budgets: number of training examples → Result (:func:`data_efficiency`'s ``"budgets"``).
    """
    n = settings_of(one_wording)[0].n_entities
    same_world = {k: x for k, x in (budgets or {}).items() if x is not None and settings_of(x)[0].n_entities == n and settings_of(x)[0].paraphrases is None}
    if same_world:
        return same_world[max(same_world)]
    return lora if lora is not None and settings_of(lora)[0].n_entities == n else None


def lora_findings(lora, full, ranks: dict, attention=None, rslora: dict | None = None, dora: tuple | None = None, budgets: dict | None = None, one_paraphrase=None, one_paraphrase_same_steps=None,
                  full_runs: Mapping[int, Any] | None = None, lora_runs: Mapping[int, Any] | None = None, speed=None, store=None) -> str:
    """Markdown bullets stating what notebook 02 measured (numbers from the stored results), then the
    verdicts of :func:`fine_tuning_verdicts` with their 95% intervals, n and seeds. The sweeps (rank,
    rsLoRA, DoRA, budgets) run at a smaller world: their numbers are shown, and the sweep bullets make
    no verdict.

    Args:
        lora, full: the default LoRA run and the full fine-tuning run (Results).
        ranks: r → LoRA Result (all linear layers). attention: LoRA on attention only at ``lora``'s rank.
        rslora: r → rsLoRA Result (same lora_alpha). dora: ``(LoRA Result, DoRA Result)`` at one rank.
        budgets: number of training examples → Result. one_paraphrase: one wording per fact (same
        epochs, so fewer steps); one_paraphrase_same_steps: one wording, epochs raised to give as many
        optimizer steps as the all-wordings run (separates variety of wordings from amount of training).
        full_runs, lora_runs: ``{seed: Result}`` of the headline runs (default: ``{seed: full}``, ``{seed: lora}``).
        speed: :func:`~lorag_nb.methods.training.interleaved_speed` Result for the speed and memory verdicts.
    """

    lm, fm = lora.metrics, full.metrics
    lt, ft = lm["training"], fm["training"]
    n = _n_test(lora)
    base_mc = lm["baseline"]["test"]["mc_accuracy"]
    r = lora.settings["training"]["lora"]["r"]
    out = [
        f"- **Parameters and storage.** LoRA r={r} trains {lt['trainable_params']:,} parameters, {100 * lt['trainable_fraction']:.2f}% of "
        f"the {ft['total_params']:,} that full fine-tuning trains; its adapter takes {lt['artifact_bytes'] / 2**20:.1f} MiB on disk against "
        f"{ft['artifact_bytes'] / 2**20:.0f} MiB for a full checkpoint ({ft['artifact_bytes'] / max(1, lt['artifact_bytes']):.0f}× smaller).",
        f"- **Training cost.** {lt['seconds_per_step']:.2f} s/step for LoRA vs {ft['seconds_per_step']:.2f} s/step for full fine-tuning "
        f"(CPU seconds per step {lt.get('cpu_seconds', 0) / max(1, lt['steps']):.2f} vs {ft.get('cpu_seconds', 0) / max(1, ft['steps']):.2f}); peak memory "
        f"{lt['peak_memory_bytes'] / 2**30:.2f} vs {ft['peak_memory_bytes'] / 2**30:.2f} GiB. The forward and backward passes through the frozen "
        "model still run in full, so LoRA saves optimizer state and gradients, not the bulk of the compute.",
    ]
    lmc, fmc = lm["test"]["mc_accuracy"], fm["test"]["mc_accuracy"]
    out.append(
        f"- **Knowledge.** Held-out multiple-choice accuracy (seed {settings_of(lora)[0].seed}): base {pct(base_mc)}, full fine-tuning {pct(fmc)}, LoRA r={r} {pct(lmc)} "
        f"(exact match {pct(fm['test']['exact_match'])} vs {pct(lm['test']['exact_match'])}; {n} test questions). The verdicts below average the seeds per fact."
    )
    lf, ff = lm["forgetting"], fm["forgetting"]
    out.append(
        f"- **Forgetting.** Control-set drop {pct(lf['control_drop'])} for LoRA vs {pct(ff['control_drop'])} for full fine-tuning; "
        f"perplexity change {100 * lf['perplexity_change']:+.1f}% vs {100 * ff['perplexity_change']:+.1f}%"
        + f" (Biderman et al. 2024, *LoRA Learns Less and Forgets Less*, report less forgetting for LoRA; the learning rates here are "
        f"{lora.settings['training']['learning_rate']:g} for LoRA and {full.settings['training']['learning_rate']:g} for full fine-tuning.)"
    )
    if len(ranks) >= 2:
        xs, losses, accs = sweep_series(ranks)
        sn = _n_test(ranks[xs[0]])
        rank_verdict = f"on {sn} test questions a difference of one question is {100 / max(1, sn):.0f} points, so this sweep shows tendencies, not verdicts"
        out.append(
            f"- **Rank.** Over r ∈ {xs} ({', '.join(f'{p:,}' for p in [ranks[x].metrics['training']['trainable_params'] for x in xs])} trainable parameters), "
            f"held-out MC accuracy was {', '.join(pct(a) for a in accs)} and last-epoch loss {', '.join(f'{v:.3f}' for v in losses)}: {rank_verdict}. "
            "Hu et al. (2021) likewise found very low ranks sufficient for adaptation."
        )
    if attention is not None:
        am = attention.metrics
        ref_all = ranks.get(attention.settings["training"]["lora"]["r"], lora)
        out.append(
            f"- **Target modules.** Attention only ({am['training']['trainable_params']:,} parameters): MC accuracy {pct(am['test']['mc_accuracy'])}, "
            f"last-epoch loss {final_loss(attention):.3f}; all linear layers at the same rank and world ({ref_all.metrics['training']['trainable_params']:,}): "
            f"{pct(ref_all.metrics['test']['mc_accuracy'])}, {final_loss(ref_all):.3f}."
        )
    if rslora:
        parts = []
        for x in sorted(rslora):
            std = ranks.get(x)
            if std is not None:
                parts.append(f"r={x}: last-epoch loss {final_loss(std):.3f} standard vs {final_loss(rslora[x]):.3f} rsLoRA, "
                             f"MC accuracy {pct(std.metrics['test']['mc_accuracy'])} vs {pct(rslora[x].metrics['test']['mc_accuracy'])}")
        if parts:
            out.append("- **rsLoRA** (scale lora_alpha/√r instead of lora_alpha/r; Kalajdzievski 2023 predicts a lower loss at high rank): " + "; ".join(parts)
                       + ". One run per setting on the sweep world: read it as a measurement, not a verdict.")
    if dora:
        a, b = dora
        am_, bm = a.metrics, b.metrics
        out.append(
            f"- **DoRA** (Liu et al. 2024) at r={b.settings['training']['lora']['r']}: MC accuracy {pct(bm['test']['mc_accuracy'])} vs LoRA {pct(am_['test']['mc_accuracy'])}, "
            f"last-epoch loss {final_loss(b):.3f} vs {final_loss(a):.3f}, at {bm['training']['seconds_per_step']:.2f} vs "
            f"{am_['training']['seconds_per_step']:.2f} s/step (DoRA recomputes the weight norm at every step)."
        )
    if budgets and len(budgets) >= 2:
        xs, _, accs = sweep_series(budgets)
        out.append(f"- **Data efficiency.** With {', '.join(str(x) for x in xs)} training examples, held-out MC accuracy was {', '.join(pct(a) for a in accs)}.")
    # the reference for the paraphrase claim: every training wording, on the same world as the one-wording run
    # (the all-examples entry of the data budgets, else the headline LoRA run if it is on that world)
    ref = paraphrase_reference(one_paraphrase, budgets, lora) if one_paraphrase is not None else None
    if one_paraphrase is not None and ref is not None:
        om, rm = one_paraphrase.metrics, ref.metrics
        text = (f"- **Paraphrases** (Ovadia et al. 2023: facts seen in several wordings are learned better), on the same world: one training wording per fact "
                f"({om['training']['steps']} steps): MC accuracy {pct(om['test']['mc_accuracy'])}, exact match {pct(om['test']['exact_match'])}; "
                f"all wordings ({rm['training']['steps']} steps): {pct(rm['test']['mc_accuracy'])}, {pct(rm['test']['exact_match'])}.")
        if one_paraphrase_same_steps is not None:
            sm = one_paraphrase_same_steps.metrics
            text += (f" One wording repeated for as many steps ({sm['training']['steps']}): MC accuracy {pct(sm['test']['mc_accuracy'])}, exact match "
                     f"{pct(sm['test']['exact_match'])}.")
        out.append(text)
    verdicts = fine_tuning_verdicts(full_runs or {settings_of(full)[0].seed: full}, lora_runs or {settings_of(lora)[0].seed: lora}, store=store, speed=speed)
    if one_paraphrase is not None and ref is not None:
        verdicts.append(C.compare_scores("paraphrase_helps", C.scores(ref.details["rows"]["test"], "mc_correct", "all training wordings"),
                                         C.scores(one_paraphrase.details["rows"]["test"], "mc_correct", "one wording"), "the same epochs, so one wording also means fewer steps"))
        if one_paraphrase_same_steps is not None:  # variety vs amount: the same number of optimizer steps
            verdicts.append(C.compare_scores("paraphrase_helps_same_steps", C.scores(ref.details["rows"]["test"], "mc_correct", "all training wordings"),
                                             C.scores(one_paraphrase_same_steps.details["rows"]["test"], "mc_correct", "one wording, as many steps"),
                                             "the same number of optimizer steps: only the variety of wordings differs"))
    return "\n".join(out) + "\n\n" + C.markdown(verdicts, links=False) + "\n\n" + C.summary(verdicts)


@dataclass(frozen=True)
class LoraPlan:
    """Notebook 02's LoRA settings: its parameters once, then any adapter or training field changed.

    Attributes:
        common: the training fields every run of the notebook shares (model, n_entities, train_on,
            epochs, batch_size, max_steps, seed).
        r, lora_alpha, learning_rate: the default adapter and its learning rate.
        sweep_entities, sweep_epochs: the smaller world the sweeps train on.
    """

    common: dict
    r: int = LORA_DEFAULT_ADAPTER["r"]
    lora_alpha: float = LORA_DEFAULT_ADAPTER["lora_alpha"]
    learning_rate: float = LORA_DEFAULTS["learning_rate"]
    sweep_entities: int = SWEEP_DEFAULTS["sweep_entities"]
    sweep_epochs: float = SWEEP_DEFAULTS["sweep_epochs"]

    def lora(self, **changes) -> TrainingSettings:
        """The notebook's LoRA settings with ``changes`` (adapter fields ``r``, ``lora_alpha``,
        ``target_modules``, ``use_rslora``, ``use_dora``, or any ``TrainingSettings`` field)."""
        adapter = dict(r=self.r, lora_alpha=self.lora_alpha)
        adapter.update({k: changes.pop(k) for k in list(changes) if k in ("r", "lora_alpha", "target_modules", "use_rslora", "use_dora")})
        return default_lora(**adapter, **{**self.common, "learning_rate": self.learning_rate, **changes})

    def sweep(self, **changes) -> TrainingSettings:
        """The same, on the sweep world (``sweep_entities`` entities, ``sweep_epochs`` epochs)."""
        return self.lora(**{"n_entities": self.sweep_entities, "epochs": self.sweep_epochs, **changes})


def data_efficiency(plan: LoraPlan, example_budgets: Sequence[int], eval_settings: EvalSettings, model=None, tokenizer=None, progress: bool = False) -> dict:
    """The data-efficiency experiment on the sweep world: LoRA trained on random subsets of the training
    examples (``example_budgets``, plus all of them), on one wording per fact, and on one wording per fact
    for **as many optimizer steps** as the all-wordings run (variety of wordings vs amount of training).

    Returns:
        ``{"budgets": {n_examples: Result} (sorted), "all": Result, "one_wording": Result,
        "same_steps": Result}`` (each a results-store hit when stored).
    """
    kw = dict(eval_settings=eval_settings, model=model, tokenizer=tokenizer, progress=progress)
    every = run_training(plan.sweep(), **kw)
    n_all = every.metrics["training"]["n_examples"]
    budgets = sweep({b: plan.sweep(max_examples=b) for b in example_budgets if b < n_all}, **kw)
    budgets[n_all] = every
    one = run_training(plan.sweep(paraphrases=1), **kw)
    same = run_training(plan.sweep(paraphrases=1, epochs=plan.sweep_epochs * n_all / one.metrics["training"]["n_examples"]), **kw)
    return {"budgets": {k: budgets[k] for k in sorted(budgets)}, "all": every, "one_wording": one, "same_steps": same}
