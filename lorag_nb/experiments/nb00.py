"""Notebook 00 (overview and baseline): the tables and findings of the base model's measurements."""
from __future__ import annotations

from lorag_nb.core.store import Result
from lorag_nb.methods.measure import BaselineSettings, run_baseline  # noqa: F401  (the notebook's entry points)


def metrics_table(results: dict) -> "pandas.DataFrame":  # noqa: F821
    """One row per (name → metrics dict from :func:`~lorag_nb.methods.measure.measure_model`): answer metrics per split,
    control accuracy and perplexity. Columns are fractions in [0, 1] except perplexity."""
    import pandas as pd

    rows = []
    for name, m in results.items():
        row = {"method": name}
        for split in ("test", "oracle", "revised"):
            if split in m:
                for key in ("exact_match", "f1", "contains", "mc_accuracy"):
                    row[f"{split} {key}"] = m[split].get(key)
        row["control accuracy"] = m.get("control_accuracy")
        row["perplexity"] = m.get("perplexity")
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def examples_table(result: Result, n: int = 8, splits: tuple[str, ...] = ("test", "oracle")) -> "pandas.DataFrame":  # noqa: F821
    """The first ``n`` questions side by side: gold answer and each split's prediction."""
    import pandas as pd

    first = result.details[splits[0]][:n]
    table = {"question": [r["question"] for r in first], "gold": [r["gold"] for r in first]}
    for split in splits:
        if split in result.details:
            by_id = {r["id"]: r["prediction"] for r in result.details[split]}
            table[f"{split} prediction"] = [by_id.get(r["id"], "") for r in first]
    return pd.DataFrame(table)


def baseline_findings(metrics: dict, chance: float = 0.25) -> str:
    """Markdown sentences stating what the baseline numbers show (computed, not hard-coded)."""
    t, o = metrics["test"], metrics.get("oracle")
    lines = [
        f"- **Closed book** the base model gets exact match {t['exact_match']:.1%}, gold-contained "
        f"{t['contains']:.1%} and multiple-choice accuracy {t['mc_accuracy']:.1%} (chance {chance:.0%}) "
        f"on {t['n']} questions: it {'does not know' if t['mc_accuracy'] < chance + 0.15 else 'seems to partly guess'} the fictional facts, as intended."
    ]
    if o:
        lines.append(
            f"- **With the oracle document** it reaches exact match {o['exact_match']:.1%}, gold-contained "
            f"{o['contains']:.1%} and MC accuracy {o['mc_accuracy']:.1%}: the ceiling RAG can reach with perfect retrieval."
        )
    lines.append(
        f"- **Forgetting baseline**: control-set accuracy {metrics['control_accuracy']:.1%} on "
        f"{metrics['control']['n']} general-knowledge questions, perplexity {metrics['perplexity']:.2f} on Python's docs."
    )
    return "\n".join(lines)
