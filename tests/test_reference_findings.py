"""The committed reference run in notebooks 00–04's findings (``reference.findings``).

The reference is built by the real builder (``reference.reference_result``) from a small comparison whose
verdicts the real claims engine decides; "this run" is judged by the same engine on other numbers (fewer
facts, another LoRA), so every number of the reference differs from this run's and a mixed-up cell shows."""
from __future__ import annotations

import json

import pytest

from lorag_nb.core import catalog
from lorag_nb.core import claims as C
from lorag_nb.experiments import reference
from lorag_nb.experiments.comparison_table import Comparison
from lorag_nb.infra.runner import NOTEBOOKS_DIR

LABEL = "reference run (NVIDIA H200, 2026-12-04)"
HEAD = ["claim", f"{LABEL}: verdict", f"{LABEL}: difference [95% CI]", f"{LABEL}: n facts · questions · seeds"]
HOLM = f"{LABEL}: Holm (family-wise 5%)"


def _scores(label: str, right: int, n_facts: int, wordings: int = 3) -> C.Scores:
    """``right`` of ``n_facts`` facts answered, every wording of a fact alike (rows as evaluate_qa writes them)."""
    rows = [{"id": f"test-e{f:03d}-occupation-{w}", "mc_correct": f < right} for f in range(n_facts) for w in range(wordings)]
    return C.scores(rows, "mc_correct", label)


def _run(n_facts: int, base: int, full: int, lora: int):
    s = {"base": _scores("base model", base, n_facts), "full": _scores("full fine-tuning", full, n_facts), "lora": _scores("LoRA", lora, n_facts)}
    verdicts = [C.compare_scores("lora_matches", s["lora"], s["full"]), C.compare_scores("full_learns", s["full"], s["base"])]
    return s, verdicts


def _reference(knowledge: str | None = None, with_holm: bool = True) -> dict:
    """The reference: 20 facts × 3 wordings; base 5, full fine-tuning 18, LoRA r=8 18 right. LoRA matches
    full fine-tuning (holds), full fine-tuning teaches facts (holds). No ``lora_learns`` verdict."""
    s, verdicts = _run(20, base=5, full=18, lora=18)
    if with_holm:
        verdicts = C.holm(verdicts)
    rows = {m: {"test MC acc": sc.mean, **({"r": 8} if m == "lora" else {})} for m, sc in s.items()}
    context = {"model": "embedded", "total_params": 134_515_008, "n_entities": 20, "n_facts": 20, "steps": 40, "n_test": 60, "device": "cuda", "knowledge": knowledge}
    comp = Comparison(rows=rows, test_ids=[], revised_ids=[], context=context, samples={m: {"mc": sc, "contains": sc} for m, sc in s.items()})
    ref = reference.reference_result(comp, verdicts, profile="gpu")
    ref["provenance"].update(device="NVIDIA H200", date="2026-12-04T10:00:00+00:00", commit="0123456789abcdef", dirty=False)
    return json.loads(json.dumps(ref))  # what reference.load gives back


def _this_run() -> list[C.Verdict]:
    """This run: 12 facts; base 3, full fine-tuning 11, LoRA 4 right: LoRA does not match full fine-tuning,
    and it judges ``lora_learns``, which the reference lacks."""
    s, verdicts = _run(12, base=3, full=11, lora=4)
    return C.holm([*verdicts, C.compare_scores("lora_learns", s["lora"], s["base"])])


def _tables(md: str) -> list[tuple[list[str], dict[str, list[str]]]]:
    """Each Markdown table of ``md``: its header cells and ``{first cell: the other cells}``."""
    out, block = [], []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip()[1:-1].split(" | ")])
        elif block:
            out.append((block[0], {r[0]: r[1:] for r in block[2:]}))
            block = []
    return out


def test_the_reference_verdicts_come_from_the_reference_file_labelled_with_its_run():
    ref, this = _reference(), _this_run()
    stored = {v["id"]: v for v in ref["verdicts"]}
    md = reference.findings(ref, this)
    first = md.splitlines()[0]
    assert first.startswith(f"**{LABEL}**, commit 0123456789, profile gpu; measured at: ") and "20 entities (20 facts)" in first

    [(head, rows)] = _tables(md)
    assert head == [*HEAD, HOLM]
    assert list(rows) == [C.CLAIMS[c][0] for c in ("lora_matches", "full_learns", "lora_learns")]  # this notebook's order
    lm = rows[C.CLAIMS["lora_matches"][0]]
    # the reference: LoRA 18 = full 18 of 20 facts, holds; this run: LoRA 4 vs full 11 of 12, does not hold
    assert this[0].verdict == C.DOES_NOT_HOLD and stored["lora_matches"]["verdict"] == C.HOLDS
    assert lm[0] == "**✅ holds**"
    assert lm[1] == stored["lora_matches"]["difference"]["text"] and lm[1].startswith("+0.0 [")
    assert lm[2] == "20 · 60 · –"
    fl = rows[C.CLAIMS["full_learns"][0]]
    assert fl[0] == "**✅ holds**" and fl[1] == stored["full_learns"]["difference"]["text"] and fl[1].startswith("+65.0 [")
    assert fl[3] == stored["full_learns"]["holm"] and fl[3].startswith("keeps its word (Holm p")


def test_a_claim_the_reference_lacks_says_so_and_shows_no_number():
    md = reference.findings(_reference(), _this_run())
    [(_, rows)] = _tables(md)
    assert rows[C.CLAIMS["lora_learns"][0]] == [reference.NOT_IN_REFERENCE, "", "", ""]


def test_no_number_of_this_run_appears_in_the_reference_cells():
    this = _this_run()
    md = reference.findings(_reference(), this)
    for v in this:
        assert v.diff.text(signed=True) not in md  # e.g. "-58.3 [...] pts": this run's differences
        for est in v.measured.values():
            assert est.text() not in md  # this run's accuracies
    assert "12 · 36" not in md and C.DOES_NOT_HOLD not in md  # this run's sample size and its lora_matches verdict
    assert "undetermined" not in md


def test_claim_ids_and_verdicts_give_the_same_table_and_unknown_ids_raise():
    ref, this = _reference(), _this_run()
    assert reference.findings(ref, [v.id for v in this]) == reference.findings(ref, this) == reference.findings(ref, [*this, this[0].id])
    with pytest.raises(KeyError, match="unknown claim 'lora_is_magic'"):
        reference.findings(ref, ["lora_is_magic"])
    with pytest.raises(KeyError, match="unknown method 'gpt'"):
        reference.findings(None, methods=["gpt"])  # raised before the reference is looked at


def test_without_holm_results_the_holm_column_is_left_out():
    [(head, rows)] = _tables(reference.findings(_reference(with_holm=False), _this_run()))
    assert head == HEAD and len(rows[C.CLAIMS["full_learns"][0]]) == 3


def test_no_reference_is_one_line_on_how_to_make_one():
    text = reference.findings(None, _this_run(), knowledge="builtin")
    assert text == reference.describe(None)
    assert "No reference result" in text and "--profile gpu" in text and "reference/<name>.json" in text and "|" not in text


def test_a_readers_folder_is_not_shown_beside_the_built_in_reference(tmp_path):
    ref = _reference()
    text = reference.findings(ref, _this_run(), knowledge=str(tmp_path))
    assert text == f"The committed **{LABEL}** is of the built-in world, so it is not shown beside the numbers of your folder `{tmp_path.resolve()}`."
    for builtin in ("builtin", "", None):
        assert reference.findings(ref, _this_run(), knowledge=builtin).startswith(f"**{LABEL}**")


def test_a_reference_of_a_folder_is_shown_only_for_that_folder(tmp_path):
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.mkdir()
    other.mkdir()
    ref = _reference(knowledge=str(mine))
    assert reference.findings(ref, _this_run(), knowledge="builtin") == (
        f"The committed **{LABEL}** is of the folder `{mine}`, not of the built-in world, so it is not shown beside this run's numbers.")
    assert f"not of your folder `{other}`" in reference.findings(ref, _this_run(), knowledge=str(other))
    assert _tables(reference.findings(ref, _this_run(), knowledge=str(mine)))[0][0] == [*HEAD, HOLM]


def test_notebook_00s_accuracy_table_shows_the_reference_intervals_per_method():
    ref = _reference()
    md = reference.findings(ref, methods=catalog.TABLE_METHODS)
    [(head, rows)] = _tables(md)
    assert head == ["method", f"{LABEL}: test MC acc [95% CI]", f"{LABEL}: test gold contained [95% CI]", f"{LABEL}: facts"]
    assert list(rows)[:3] == ["base model", "full fine-tuning", "LoRA r=8"]  # the reference's order, its own labels
    assert rows["LoRA r=8"][0] == ref["methods"]["lora"]["intervals"]["test MC acc"]["text"] and rows["LoRA r=8"][0].startswith("90.0% [")
    assert rows["base model"][0].startswith("25.0% [") and rows["base model"][2] == "20"
    assert rows["RAG"] == [reference.NOT_IN_REFERENCE, "", ""]  # a method the reference run did not measure
    assert list(_tables(reference.findings(ref, methods=["lora", "lora"]))[0][1]) == ["LoRA r=8"]  # only the methods asked for, once


def test_notebooks_00_to_04_show_the_reference_after_their_findings():
    """One cell each, after the cell that shows the notebook's own verdicts (00: its baseline findings),
    passing what that cell computed and the notebook's ``knowledge``."""
    shown_after = {"00_overview_baseline": ("baseline_findings", "methods=catalog.TABLE_METHODS"), "01_full_finetuning": ("verdicts_figure(verdicts)", "newest(), verdicts,"),
                   "02_lora": ("verdicts_figure(ft_verdicts)", "[*frontier_verdicts, *ft_verdicts]"), "03_rag": ("verdicts_figure(verdicts)", "newest(), verdicts,"),
                   "04_hybrid": ("verdicts_figure(verdicts)", "newest(), verdicts,")}
    for stem, (before, passes) in shown_after.items():
        cells = json.loads((NOTEBOOKS_DIR / f"{stem}.ipynb").read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        at = [i for i, c in enumerate(code) if "reference.findings(" in c]
        assert len(at) == 1, stem
        assert passes in code[at[0]] and "knowledge=knowledge" in code[at[0]], stem
        assert any(before in c for c in code[: at[0]]), stem
