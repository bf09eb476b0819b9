"""Every gallery folder through every notebook (smoke sizes), and notebooks 03–05 at a mid size (20 documents) on
one folder: the any-folder issue's closing run. About an hour on 2 cores, so it runs only when asked:

    LORAG_NB_GALLERY=1 .venv/bin/python -m pytest tests/test_gallery_slow.py -s

``make test`` runs the whole sequence on one gallery folder (tests/test_own_knowledge.py) and every folder through
the stage functions (tests/test_any_folder.py); this file is the rest of the matrix."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GALLERY = sorted(p.name for p in (REPO / "examples").iterdir() if (p / "docs").is_dir())
MID_FOLDER, MID_DOCUMENTS = "star_systems", 20

pytestmark = pytest.mark.skipif(os.environ.get("LORAG_NB_GALLERY") != "1", reason="the gallery matrix takes about an hour: set LORAG_NB_GALLERY=1")


def _errors(out: Path) -> list[str]:
    bad = []
    for nb_path in sorted(out.glob("0*.ipynb")):
        nb = json.loads(nb_path.read_text())
        bad += [f"{nb_path.name}: {o.get('ename')}: {o.get('evalue')}" for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    return bad


def _run(args: list[str], store: Path) -> tuple[int, float]:
    from lorag_nb.infra.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORAG_NB_RESULTS", str(store))
        t0 = time.perf_counter()
        rc = main(args)
        return rc, time.perf_counter() - t0


def _summary(folder: str, out: Path, store: Path, secs: float, documents: int | None = None) -> dict:
    """What the closing note reports per folder: documents, questions, links per rule, the chosen answer budget, the
    share of RAG answers cut mid-answer at it, and notebook 05's headline row (test MC accuracy per method)."""
    from collections import Counter

    from lorag_nb.data.folders import check_folder

    report = check_folder(REPO / "examples" / folder)
    rules = Counter(link.get("rule") or "unlinked" for link in report["links"])
    chosen = [json.loads(p.read_text()) for p in store.glob("budget-*.json")]

    def kind(settings: dict) -> str:  # the three stored choices: closed book, RAG through its retriever, the oracle arm
        return "closed book" if settings.get("closed_book") else "RAG" if "rag" in settings else "oracle"

    budgets = {kind(b["settings"]): f"{b['metrics']['max_new_tokens']} tokens ({100 * b['metrics']['cut_share']:.0f}% of "
               f"{b['metrics']['n']} cut)" for b in chosen}
    rows = [r for p in store.glob("rag-*.json") for r in json.loads(p.read_text())["details"].get("rows", [])]
    ref = out / "reference.json"
    headline = {m["label"]: m["intervals"]["test MC acc"]["text"] for m in json.loads(ref.read_text())["methods"].values()
                if "test MC acc" in m.get("intervals", {})} if ref.exists() else {}
    line = {"folder": folder, "seconds": round(secs), "documents": report["documents"], "documents_used": documents,
            "questions": {k: report[f"{k}_questions"] for k in ("train", "dev", "test")}, "links": dict(rules),
            "linked_share": round(1 - report["unlinked"] / max(1, len(report["links"])), 4), "budgets": budgets,
            "rag_answers": len(rows), "rag_cut_share": round(sum(bool(r.get("cut")) for r in rows) / max(1, len(rows)), 4), "headline_05": headline}
    print("GALLERY " + json.dumps(line))
    return line


@pytest.mark.parametrize("folder", GALLERY)
def test_every_notebook_at_smoke_size(folder, tmp_path):
    rc, secs = _run(["run", "--smoke", "-p", f'knowledge="examples/{folder}"', "-o", str(tmp_path / "out")], tmp_path / "store")
    print(f"{folder}: every notebook at smoke size in {secs:.0f} s")
    _summary(folder, tmp_path / "out", tmp_path / "store", secs)
    records = json.loads((tmp_path / "out" / "run.json").read_text())
    assert rc == 0 and [r["error"] for r in records] == [None] * 6 and not _errors(tmp_path / "out")


def test_notebooks_03_to_05_at_a_mid_size(tmp_path):
    args = ["run", "-n", "03", "-n", "04", "-n", "05", "-p", f'knowledge="examples/{MID_FOLDER}"', "-p", f"n_entities={MID_DOCUMENTS}", "-p", "seeds=[0]",
            "-o", str(tmp_path / "out")]
    rc, secs = _run(args, tmp_path / "store")
    print(f"{MID_FOLDER}: notebooks 03-05 with n_entities={MID_DOCUMENTS} in {secs:.0f} s")
    _summary(MID_FOLDER, tmp_path / "out", tmp_path / "store", secs, MID_DOCUMENTS)
    assert rc == 0 and not _errors(tmp_path / "out")
    budgets = [json.loads(p.read_text())["metrics"] for p in (tmp_path / "store").glob("budget-*.json")]
    assert budgets and all(b["cut_share"] <= 0.05 or b["max_new_tokens"] == b["cap"] for b in budgets)
