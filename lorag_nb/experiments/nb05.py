"""Every method side by side (notebook 05): one table, the article's claims with verdicts, a decision guide.

One mechanism: :func:`gather` asks each method's own runner for its result — the same functions and
the same default settings notebooks 00–04 use (``measure.run_baseline``, ``training.run_training`` with
:func:`~lorag_nb.experiments.nb01.default_full_ft` / :func:`~lorag_nb.experiments.nb02.default_lora`,
``rag.run_rag`` / :func:`~lorag_nb.experiments.nb03.swap_experiment`, ``hybrid.run_hybrid`` /
``hybrid.run_hybrid_revised``) — so after ``make demo`` every call is a results-store hit, and run alone
it trains and measures whatever is missing. :meth:`Comparison.from_results` then turns the stored
results into numbers without running anything (tests feed it synthetic records).

Methods (rows): the base model (closed book), full fine-tuning, LoRA (the rank with the best
multiple-choice accuracy on the **dev** questions: :func:`best_lora_rank`), RAG, the naive hybrid
(notebook 02's closed-book adapter inside the RAG chain) and the RAFT hybrid (an adapter trained to
answer from retrieved passages with distractors; Zhang et al. 2024, *RAFT*). Every method is scored
on the same test questions (:func:`check_same_questions` raises otherwise).

Claims and verdicts (:func:`claims`) come from the one claims engine (:mod:`lorag_nb.core.claims`):
per-fact scores, a paired 95% bootstrap interval for each difference, one rule per claim; the RAG
claims are judged by notebook 03's own :func:`~lorag_nb.experiments.nb03.article_claims`, so the two
notebooks agree on the same numbers. Each verdict carries the condition it was measured under (model
size, facts, steps, questions, device).

Where it lives: this module holds what notebook 05 shows (:func:`compare`, the headline, the Ovadia
table, the column help); the settings and :func:`gather` are :mod:`lorag_nb.experiments.comparison`, the
table :mod:`lorag_nb.experiments.comparison_table`, the claims and the decision guide
:mod:`lorag_nb.experiments.verdicts`, the methods (ids, labels, colours, traits) :mod:`lorag_nb.core.catalog`.
Their public names stay importable from here (``nb05.claims``, ``nb05.Comparison`` …).
"""
from __future__ import annotations

from typing import Sequence

from lorag_nb.core import claims as C
from lorag_nb.core.config import json_ready
from lorag_nb.core.fmt import pct, seconds

# the names notebook 05, the README and the tests use as nb05.*: one definition each, in the modules above
from lorag_nb.experiments.attached import (  # noqa: F401
    HEADLINE_KEY,
    attached_output,
    headline_from_notebook,
)
from lorag_nb.experiments.comparison import NOT_SETTINGS, CompareSettings, gather  # noqa: F401
from lorag_nb.experiments.comparison_table import (  # noqa: F401
    COLORS,
    COLUMN_HELP,
    COLUMNS,
    HIGHER_IS_BETTER,
    HYBRID_METHODS,
    LABELS,
    METHODS,
    NO_WEIGHT_CHANGE,
    OVADIA_ARMS,
    Comparison,
    check_same_questions,
    method_samples,
    pareto_front,
    scored_question_ids,
    test_rows,
)
from lorag_nb.experiments.verdicts import (  # noqa: F401
    SCALE_PARAGRAPH,
    SECTIONS,
    anchor,
    best_by,
    claims,
    claims_frame,
    claims_markdown,
    closed_book_latency,
    decision_guide,
    notebook_headings,
    section_links,
    verdict_counts,
)
from lorag_nb.experiments.method_claims import general_knowledge_frame, reversal_examples, reversal_table, unknown_examples, unknown_table
from lorag_nb.methods.rag import folder_bytes, measure_index  # noqa: F401
from lorag_nb.methods.rank_choice import best_lora_rank, lora_dev_accuracy  # noqa: F401


# --------------------------------------------------------------------------- one call for the notebook


def compare(settings: CompareSettings = CompareSettings(), store=None, model=None, tokenizer=None, progress: bool = False) -> Comparison:
    """:func:`gather` then :meth:`Comparison.from_results`: the comparison of every method (trains what is missing)."""
    results = gather(settings, store, model, tokenizer, progress=progress)
    comp = Comparison.from_results(results, settings)
    comp.extra["results"] = {k: v.key for k, v in results.items() if hasattr(v, "key")}
    return comp


def headline_markdown(comp: Comparison) -> str:
    """One line per method with the key numbers (the same numbers ``index.html`` shows)."""
    out = []
    for h in comp.headline():
        out.append(
            f"- **{h['method']}**: test MC {pct(h['test MC acc'])}, EM {pct(h['test EM'])}, revised facts {pct(h['revised acc'])}, "
            f"control drop {pct(h['control drop'])}, set-up {seconds(h['setup s'])}, update {seconds(h['update s'])}, p50 {h['p50 latency ms'] or 0:.0f} ms"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------- charts (builders live in plots.py)


def ovadia_table(comp: Comparison):
    """Ovadia et al.'s arms beside RAG and the QA-trained LoRA: held-out MC accuracy with its 95% interval
    over facts, training seconds (a DataFrame; empty when the arm was not run)."""
    import pandas as pd

    rows = []
    for m, label in (("rag", comp.label("rag")), ("lora", comp.label("lora") + " on the QA pairs"), *OVADIA_ARMS.items()):
        smp = (comp.samples.get(m) or {}).get("mc")
        if smp is None:
            continue
        e = C.mean_estimate(smp)
        secs = comp.rows[m].get("train s") if m in comp.rows else (comp.extra.get(m) or {}).get("train s")
        rows.append({"method": label, "test MC acc [95% CI]": e.text(), "n facts": e.n_facts, "train s": None if secs is None else round(secs, 1)})
    return pd.DataFrame(rows).set_index("method") if rows else pd.DataFrame()


# --------------------------------------------------------------------------- beyond the taught facts


def unknown_answers(comp: Comparison):
    """Per method, how the answers about unknown entities split: abstain, state a taught value, assert another
    value (shares), and the share cut at the budget (:func:`lorag_nb.experiments.method_claims.unknown_table`)."""
    return unknown_table(comp.extra.get("unknown"))


def unknown_answer_examples(comp: Comparison, n: int = 6):
    """A few questions about unknown entities with the base model's and LoRA's answers (taught-value answers first)."""
    return unknown_examples(comp.extra.get("unknown"), n)


def general_knowledge_table(comp: Comparison, n_examples: int = 6):
    """The control questions closed book vs with retrieval (:func:`lorag_nb.experiments.method_claims.general_knowledge_frame`)."""
    return general_knowledge_frame(comp.extra.get("control_probe"), n_examples)


def reversal_accuracy(comp: Comparison):
    """Per method, multiple-choice accuracy on the same facts asked forward and reversed, with the paired
    reversed − forward difference (:func:`lorag_nb.experiments.method_claims.reversal_table`; Berglund et al. 2023)."""
    return reversal_table(comp.extra.get("reversal"), comp.label)


def reversal_answer_examples(comp: Comparison, n: int = 6):
    """A few reversed questions, the taught question of the same fact, and each method's choice
    (:func:`lorag_nb.experiments.method_claims.reversal_examples`)."""
    return reversal_examples(comp.extra.get("reversal"), n, comp.label)


def verdict_summary(verdicts: Sequence, condition: str = "") -> str:
    """The verdict counts (:func:`lorag_nb.core.claims.summary`) and how many keep their word after Holm–Bonferroni
    (:func:`lorag_nb.core.claims.holm_summary`), both computed."""
    return " ".join(x for x in (C.summary(verdicts, condition), C.holm_summary(verdicts)) if x)


# --------------------------------------------------------------------------- notebook and index helpers


def columns_markdown(columns: Sequence[str] = COLUMNS) -> str:
    """Markdown list explaining each column of the table (:data:`COLUMN_HELP`)."""
    return "\n".join(f"- **{c}**: {COLUMN_HELP[c]}" for c in columns)


def display_headline(comp: Comparison) -> None:
    """Show :func:`headline_markdown` and attach the numbers to the output's metadata
    (``metadata[HEADLINE_KEY]`` = :meth:`Comparison.headline` rows), where ``lorag-nb run`` finds them
    for ``index.html``."""
    from IPython.display import Markdown, display


    display(Markdown(headline_markdown(comp)), metadata={HEADLINE_KEY: json_ready({"condition": comp.condition(), "rows": comp.headline()})})
