"""Notebook 01 (full fine-tuning): its defaults, tables and findings; the fine-tuning verdicts notebooks 01
and 02 share (judged by :mod:`lorag_nb.core.claims`)."""
from __future__ import annotations

import math
from typing import Any, Mapping

from lorag_nb.core import claims as C
from lorag_nb.core.config import TrainingSettings
from lorag_nb.core.fmt import pct
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.experiments.method_claims import fine_tuning_verdicts, split_rows  # noqa: F401  (notebook 01 calls nb01.fine_tuning_verdicts)
from lorag_nb.methods.models import count_parameters
from lorag_nb.methods.runtime import RUNTIME
from lorag_nb.methods.training import (
    IGNORE_INDEX,
    build_examples,
    final_loss,
    settings_of,
)

# Notebook 01's defaults and settings factory live in the one table of defaults (re-exported here).
from lorag_nb.experiments.recipes import FULL_FT_DEFAULTS, default_full_ft  # noqa: E402,F401


def parameter_breakdown(model) -> "Any":
    """Parameters of ``model`` by role: a pandas DataFrame (part, parameters, share of total).

    Parts: token embeddings (tied with the output head when the model ties them), attention
    projections (q, k, v, o), MLP projections (gate, up, down), normalization weights, other.
    Tied weights are counted once, as ``model.parameters()`` does.
    """
    import pandas as pd

    parts: dict[str, int] = {}
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if "embed" in name or "lm_head" in name:
            part = "token embeddings (shared with the output head)" if getattr(model.config, "tie_word_embeddings", False) else ("token embeddings" if "embed" in name else "output head")
        elif any(k in name for k in ("q_proj", "k_proj", "v_proj", "o_proj")):
            part = "attention projections (q, k, v, o)"
        elif any(k in name for k in ("gate_proj", "up_proj", "down_proj")):
            part = "MLP projections (gate, up, down)"
        elif "norm" in name:
            part = "normalization weights"
        else:
            part = "other"
        parts[part] = parts.get(part, 0) + p.numel()
    total = sum(parts.values())
    rows = [{"part": k, "parameters": v, "share": v / total} for k, v in parts.items()]
    rows.append({"part": "total", "parameters": total, "share": 1.0})
    return pd.DataFrame(rows).set_index("part")


def example_preview(tokenizer, settings: TrainingSettings, n: int = 4) -> "Any":
    """The first ``n`` training examples of ``settings``: visible text, the tokens trained on, counts.

    Columns: ``end of input`` (the last 60 characters of the decoded input), ``label tokens``
    (decoded tokens whose label is not -100: the loss is computed on these only), ``tokens``,
    ``label count``. Shows that the prompt is masked and the end-of-turn token is learned.
    """
    import pandas as pd


    ks = load_knowledge(n_entities=settings.n_entities)
    rows = []
    for ex in build_examples(tokenizer, ks, settings)[:n]:
        learned = [i for i, l in zip(ex["input_ids"], ex["labels"]) if l != IGNORE_INDEX]
        text = tokenizer.decode(ex["input_ids"])
        rows.append({"end of input": "…" + text[-60:].replace("\n", "⏎"), "label tokens": tokenizer.decode(learned).replace("\n", "⏎")[:80], "tokens": len(ex["input_ids"]), "label count": len(learned)})
    return pd.DataFrame(rows)


def _m(metrics: dict, split: str, name: str):
    return (metrics.get(split) or {}).get(name)


def comparison_table(runs: dict, pretty: bool = False) -> "Any":
    """One row per run (label → :class:`~lorag_nb.core.store.Result` or a metrics dict), training cost and measurements.

    Columns: method, trainable params, train s, s/step, tokens/s, peak memory MiB, memory added MiB
    (peak minus the memory in use when training started), artifact MiB, last-epoch loss (mean
    training loss over the last epoch, :func:`final_loss`), test EM, test F1, test MC acc, revised MC acc, revised stale (answers the old value),
    control acc, control drop, perplexity, perplexity change. A base-model entry (no ``training``)
    has empty cost columns. ``pretty=True`` returns strings (thousands separators, 3 decimals, blanks
    for missing values) and puts runs in columns, for display.
    """
    import pandas as pd

    rows = []
    for label, r in runs.items():
        m = r.metrics if hasattr(r, "metrics") else r
        tr = m.get("training") or {}
        fg = m.get("forgetting") or {}
        rows.append(
            {
                "run": label,
                "method": m.get("method", "base"),
                "trainable params": tr.get("trainable_params"),
                "train s": tr.get("seconds"),
                "s/step": tr.get("seconds_per_step"),
                "tokens/s": tr.get("tokens_per_second"),
                "peak memory MiB": tr["peak_memory_bytes"] / 2**20 if tr else None,
                "memory added MiB": (tr["peak_memory_bytes"] - tr.get("memory_before_bytes", 0)) / 2**20 if tr else None,
                "artifact MiB": tr["artifact_bytes"] / 2**20 if tr else None,
                "last-epoch loss": final_loss(r) if hasattr(r, "details") and tr else None,
                "test EM": _m(m, "test", "exact_match"),
                "test F1": _m(m, "test", "f1"),
                "test MC acc": _m(m, "test", "mc_accuracy"),
                "revised MC acc": _m(m, "revised", "mc_accuracy"),
                "revised stale": m.get("revised_stale"),
                "control acc": m.get("control_accuracy"),
                "control drop": fg.get("control_drop"),
                "perplexity": m.get("perplexity"),
                "perplexity change": fg.get("perplexity_change"),
            }
        )
    df = pd.DataFrame(rows).set_index("run")
    if not pretty:
        return df

    def fmt(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, str):
            return v
        if float(v).is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.0f}"

    return df.T.apply(lambda col: col.map(fmt))


def answers_table(result, store=None, n: int = 8, split: str = "test") -> "Any":
    """Question, gold answer, the base model's answer and the trained model's answer (first ``n`` of
    ``split``: ``"test"``, ``"revised"`` or ``"control"``), with whether each is right (exact match;
    gold contained for the control set, whose gold answers are scored leniently)."""
    import pandas as pd


    store = RUNTIME.use_store(store)
    base = store.get("baseline", result.metrics.get("baseline_key", "")) if result.metrics.get("baseline_key") else None
    base_rows = {r["id"]: r for r in (base.details.get(split, []) if base else [])}
    score = "contains" if split == "control" else "em"
    rows = []
    for r in result.details["rows"].get(split, [])[:n]:
        b = base_rows.get(r["id"], {})
        rows.append({"question": r["question"], "gold": r["gold"], "base model": b.get("prediction"), "base right": bool(b.get(score)), "trained": r["prediction"], "trained right": bool(r[score])})
    return pd.DataFrame(rows)


def forgotten_examples(result, store=None, n: int = 2) -> list[tuple[str, str, str]]:
    """Up to ``n`` control questions the base model got right and the trained model got wrong:
    ``(question, base answer, trained answer)``."""

    store = RUNTIME.use_store(store)
    key = result.metrics.get("baseline_key")
    base = store.get("baseline", key) if key else None
    if base is None:
        return []
    before = {r["id"]: r for r in base.details.get("control", [])}
    out = []
    for r in result.details["rows"].get("control", []):
        b = before.get(r["id"])
        if b and b["contains"] and not r["contains"]:
            out.append((r["question"], b["prediction"], r["prediction"]))
    return out[:n]


def full_ft_findings(result, store=None, runs: Mapping[int, Any] | None = None) -> str:
    """Markdown for notebook 01: the measured cost, then the verdicts of :func:`fine_tuning_verdicts`
    (with their 95% intervals over facts, n and seeds) — no conclusion that the claims engine did not compute."""

    m, tr = result.metrics, result.metrics["training"]
    runs = runs or {settings_of(result)[0].seed: result}
    lines = [
        f"- **Cost.** All {tr['trainable_params']:,} parameters were updated for {tr['steps']} steps in {tr['seconds']:.0f} s "
        f"({tr['tokens_per_second']:.0f} tokens/s on {tr['device']}, {tr.get('threads')} threads, load as it was; peak memory {tr['peak_memory_bytes'] / 2**30:.2f} GiB). "
        f"The result is a full copy of the model: {tr['artifact_bytes'] / 2**20:.0f} MiB on disk per fine-tuned version.",
    ]
    stale = m.get("revised_stale")
    if stale is not None:
        n_rev = (m.get("revised") or {}).get("n", 0)
        lines.append(f"- **Frozen knowledge.** Of {n_rev} questions about facts revised after training (seed {next(iter(runs))}), {pct(stale)} were answered with the old, trained value "
                     f"(multiple-choice accuracy on the new value: {pct(_m(m, 'revised', 'mc_accuracy'))}).")
    examples = forgotten_examples(result, store)
    if examples:
        lines.append("- **Control answers that changed**: " + "; ".join(f"*{q}* — before “{a}”, after “{t}”" for q, a, t in examples) + ".")
    verdicts = fine_tuning_verdicts(runs, store=store)
    return "\n".join(lines) + "\n\n" + C.markdown(verdicts, links=False) + "\n\n" + C.summary(verdicts)


def parameter_sentence(model) -> str:
    """Markdown: how many numbers full fine-tuning trains in ``model`` and the memory that implies.

    AdamW keeps, per trained parameter, the weight, its gradient and two moment estimates (4 numbers);
    the sentence gives that floor in GiB for the model's dtype (activations come on top).
    """

    _, total = count_parameters(model)
    p = next(model.parameters())
    nbytes = total * p.element_size()
    return (
        f"Full fine-tuning trains **all {total:,} parameters** ({nbytes / 2**20:.0f} MiB as {str(p.dtype).replace('torch.', '')}). "
        f"With AdamW each trained number carries a gradient and two moment estimates, so training holds at least "
        f"4 × {nbytes / 2**20:.0f} MiB ≈ **{4 * nbytes / 2**30:.2f} GiB** before activations — and every fine-tuned "
        f"version is saved as a new {nbytes / 2**20:.0f} MiB checkpoint."
    )
