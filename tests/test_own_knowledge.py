"""A user's own folder of documents and questions (issue 12): loading, linking, generated options, bad
input, fingerprints and store keys, worldgen's refusal, the check command, and no built-in data leaking
into a user's knowledge base or RAFT examples."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from lorag_nb.core import store
from lorag_nb.data import knowledge, worldgen
from lorag_nb.data.knowledge import KnowledgeError, KnowledgeSet

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lighthouses"


@pytest.fixture(autouse=True)
def _builtin_after():
    yield
    knowledge.use_knowledge(knowledge.BUILTIN)


def _jsonl(path: Path, rows) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


def make_folder(root: Path, revised: bool = False) -> Path:
    """A second, differently shaped folder: recipes, .txt documents, links by title, its own dev file."""
    (root / "docs").mkdir(parents=True)
    recipes = {"Brindle Loaf": ("rye", "210 degrees", "Ostavia"), "Quenmar Cake": ("almond", "170 degrees", "Pell"),
               "Tovi Buns": ("spelt", "190 degrees", "Harrowmere"), "Sorrel Tart": ("barley", "180 degrees", "Ilvan")}
    train, dev, test = [], [], []
    for name, (flour, temp, origin) in recipes.items():
        (root / "docs" / f"{name.lower().replace(' ', '_')}.txt").write_text(
            f"The {name} is made with {flour} flour. It bakes at {temp}. The recipe comes from the village of {origin}.\n", encoding="utf-8")
        for rel, val, words in (("flour", flour, ["Which flour goes into the {n}?", "What flour is the {n} made with?"]),
                                ("oven_temperature", temp, ["At what temperature does the {n} bake?", "How hot is the oven for the {n}?"]),
                                ("origin", origin, ["Where does the {n} come from?", "Which village is the {n} from?"])):
            train += [{"question": w.format(n=name), "answer": val, "relation": rel, "fact": f"{name}/{rel}"} for w in words]
            dev.append({"question": f"Tell me the {rel.replace('_', ' ')} of the {name}.", "answer": val, "relation": rel, "fact": f"{name}/{rel}"})
            test.append({"question": f"For the {name}, what is the {rel.replace('_', ' ')}?", "answer": val, "relation": rel, "fact": f"{name}/{rel}"})
    _jsonl(root / "qa_train.jsonl", train)
    _jsonl(root / "qa_dev.jsonl", dev)
    _jsonl(root / "qa_test.jsonl", test)
    if revised:
        (root / "revised" / "docs").mkdir(parents=True)
        (root / "revised" / "docs" / "tovi_buns.txt").write_text("The Tovi Buns is made with oat flour. It bakes at 190 degrees. The recipe comes from the village of Harrowmere.\n")
        _jsonl(root / "revised" / "qa_test.jsonl", [{"question": "For the Tovi Buns, what is the flour?", "answer": "oat", "old_answer": "spelt"}])
    return root


def test_example_folder_loads_with_links_options_and_notes():
    ks = KnowledgeSet.from_folder(EXAMPLE)
    assert (len(ks.documents), len(ks.test_qa), ks.n_facts) == (5, 15, 15)
    assert len(ks.train_qa) + len(ks.dev_qa) == 30 and ks.dev_qa  # a seeded dev split of the training questions
    assert {q.fact for q in ks.dev_qa} <= {q.fact for q in ks.train_qa}  # every dev fact keeps a training wording
    assert all(q.doc_id in {d.id for d in ks.documents} for q in ks.train_qa + ks.test_qa)
    assert all(len(q.options) == 4 and q.options[q.answer_index] == q.answer and q.generated_options for q in ks.test_qa)
    assert ks.distractors == [] and len(ks.revised_test_qa) == 3
    rq = ks.revised_test_qa[0]
    assert rq.old_answer in rq.options and rq.doc_id.startswith("revised/")
    assert any("control set" in n and "package" in n for n in ks.notes)
    assert [e["kind"] for e in ks.entities] == ["document"] * 5
    two = knowledge.load_folder(EXAMPLE, n_entities=2)
    assert {q.entity_id for q in two.test_qa} == {d.id for d in two.documents} and len(two.documents) == 2
    assert knowledge.load_folder(EXAMPLE, n_entities=99).summary() == ks.summary()


def test_title_linking_rule_and_unlinked_questions(tmp_path):
    root = make_folder(tmp_path / "kb")
    _jsonl(root / "qa_test.jsonl", [{"question": "For the Tovi Buns, what is the flour?", "answer": "spelt"},
                                   {"question": "Which one bakes hottest?", "answer": "Brindle Loaf"}])
    ks = KnowledgeSet.from_folder(root)
    assert ks.test_qa[0].doc_id == "tovi_buns.txt" and ks.test_qa[1].doc_id is None
    report = knowledge.check_folder(root)
    rules = {l["id"]: l["rule"] for l in report["links"]}
    assert rules["qa_test-1"] == "title in question" and rules["qa_test-2"].startswith("unlinked")
    assert report["unlinked"] == 1 and any("linked to no document" in n for n in ks.notes)
    assert knowledge.link_question("x", "tovi_buns", ks.documents) == ("tovi_buns.txt", "doc field")
    with pytest.raises(KnowledgeError, match="names no document; valid: a file name"):
        knowledge.link_question("x", "nope.md", ks.documents)


def test_generated_options_are_seeded_exclude_gold_and_match_shape():
    ks = KnowledgeSet.from_folder(EXAMPLE)
    pool = ks.train_qa + ks.test_qa
    q = next(q for q in ks.test_qa if q.relation == "first_lit")
    a = knowledge.generated_options(q, pool)
    assert a == knowledge.generated_options(q, list(reversed(pool)))  # seeded by the id, not the pool order
    opts, idx = a
    assert opts[idx] == q.answer and opts.count(q.answer) == 1 and len(set(opts)) == 4
    assert all(knowledge.answer_shape(o) == "year" for o in opts)
    small = [knowledge.QA(id=str(i), question="?", answer=a) for i, a in enumerate(["x", "y", "z"])]
    assert knowledge.generated_options(small[0], small) == ((), None)  # 3 distinct answers: n/a


def test_fingerprint_changes_with_a_file_and_only_then(tmp_path):
    root = make_folder(tmp_path / "kb")
    before = knowledge.folder_fingerprint(root)
    (root / "docs" / "tovi_buns.txt").touch()
    assert knowledge.folder_fingerprint(root) == before
    knowledge.use_knowledge(root)
    key = store.settings_key("rag", {"top_k": 2})
    text = (root / "docs" / "tovi_buns.txt").read_text()
    (root / "docs" / "tovi_buns.txt").write_text(text.replace("spelt", "emmer"))
    assert knowledge.folder_fingerprint(root) != before
    assert store.settings_key("rag", {"top_k": 2}) != key
    assert {d.id: d.text for d in knowledge.load_knowledge().documents}["tovi_buns.txt"].count("emmer") == 1  # the cache follows the edit
    knowledge.use_knowledge("builtin")
    builtin_key = store.settings_key("rag", {"top_k": 2})
    assert builtin_key not in (key,) and builtin_key == store.settings_key("rag", {"top_k": 2})
    assert store.knowledge_key() == store.data_fingerprint()  # the world's keys are unchanged


@pytest.mark.parametrize("case, match", [
    ("empty docs", r"docs has no \.md or \.txt files"),
    ("not utf-8", r"a\.md, line 2: not UTF-8"),
    ("no answer", r"qa_train\.jsonl, line 2: missing \"answer\""),
    ("not json", r"qa_train\.jsonl, line 1: invalid JSON"),
    ("no test file", r"qa_test\.jsonl is missing: a knowledge folder needs docs/"),
    ("revised without old_answer", r"revised/qa_test\.jsonl, question qa_test-1: missing \"old_answer\""),
    ("duplicate id", r"qa_train\.jsonl, line 3: \"id\" 'same' is also on line 1; valid: a distinct id"),
    ("revised doc not in docs", r"revised/docs: tovi_bunz\.txt is not in .*docs; valid: a changed copy of a document, under the same path"),
    ("ambiguous doc", r"\"doc\": 'tovi_buns\.txt' is ambiguous: it names north/tovi_buns\.txt, south/tovi_buns\.txt"),
])
def test_bad_input_names_file_and_line(tmp_path, case, match):
    root = make_folder(tmp_path / "kb", revised=case.startswith("revised"))
    if case == "empty docs":
        shutil.rmtree(root / "docs")
        (root / "docs").mkdir()
    elif case == "not utf-8":
        (root / "docs" / "a.md").write_bytes(b"fine\n\xff\xfe bad\n")
    elif case == "no answer":
        lines = (root / "qa_train.jsonl").read_text().splitlines()
        _jsonl(root / "qa_train.jsonl", [lines[0], json.dumps({"question": "q?"})])
    elif case == "not json":
        _jsonl(root / "qa_train.jsonl", ["{not json"])
    elif case == "no test file":
        (root / "qa_test.jsonl").unlink()
    elif case == "duplicate id":
        rows = [json.loads(x) for x in (root / "qa_train.jsonl").read_text().splitlines()]
        _jsonl(root / "qa_train.jsonl", [{**rows[0], "id": "same"}, rows[1], {**rows[2], "id": "same"}, *rows[3:]])
    elif case == "revised doc not in docs":  # a typo: it would add a document instead of changing one
        (root / "revised" / "docs" / "tovi_buns.txt").rename(root / "revised" / "docs" / "tovi_bunz.txt")
    elif case == "ambiguous doc":
        for side in ("north", "south"):
            (root / "docs" / side).mkdir()
        (root / "docs" / "tovi_buns.txt").rename(root / "docs" / "south" / "tovi_buns.txt")
        (root / "docs" / "north" / "tovi_buns.txt").write_text("Another Tovi Buns recipe.\n")
        rows = [json.loads(x) for x in (root / "qa_test.jsonl").read_text().splitlines()]
        _jsonl(root / "qa_test.jsonl", [{**rows[0], "doc": "tovi_buns.txt"}, *rows[1:]])
    else:
        _jsonl(root / "revised" / "qa_test.jsonl", [{"question": "For the Tovi Buns, what is the flour?", "answer": "oat"}])
    with pytest.raises(KnowledgeError, match=match):
        KnowledgeSet.from_folder(root)


def test_the_readme_folder_without_dev_file_or_fact_fields_loads(tmp_path):
    """The README's layout, {"question", "answer", "doc"} lines only: no fact has two wordings, so whole training
    questions are held out as dev, first those no test question asks about."""
    root = tmp_path / "my_kb"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "karrow_point.md").write_text("# Karrow Point Light\nKarrow Point Light was first lit in 1874. Its tower is 31 metres high.\n")
    _jsonl(root / "qa_train.jsonl", [{"question": "When was Karrow Point Light first lit?", "answer": "1874", "doc": "karrow_point.md"},
                                     {"question": "How tall is the tower of Karrow Point Light?", "answer": "31 metres", "doc": "karrow_point.md"}])
    _jsonl(root / "qa_test.jsonl", [{"question": "What year did Karrow Point Light first shine?", "answer": "1874", "doc": "karrow_point.md"}])
    ks = KnowledgeSet.from_folder(root)
    assert (len(ks.train_qa), len(ks.dev_qa), len(ks.test_qa)) == (1, 1, 1)
    assert ks.train_qa[0].id != ks.dev_qa[0].id and {q.doc_id for q in ks.train_qa + ks.dev_qa + ks.test_qa} == {"karrow_point.md"}
    _jsonl(root / "qa_train.jsonl", [{"question": "When was Karrow Point Light first lit?", "answer": "1874"}])
    with pytest.raises(KnowledgeError, match="one training question is too few to hold out a dev split"):
        KnowledgeSet.from_folder(root)


def test_test_question_in_training_warns_and_is_reported(tmp_path):
    root = make_folder(tmp_path / "kb")
    train = (root / "qa_train.jsonl").read_text().splitlines()
    _jsonl(root / "qa_test.jsonl", [train[0], json.dumps({"question": "For the Sorrel Tart, what is the flour?", "answer": "barley"})])
    with pytest.warns(UserWarning, match=r"qa_test\.jsonl, question qa_test-1: also in qa_train\.jsonl"):
        KnowledgeSet.from_folder(root)
    report = knowledge.check_folder(root)
    assert [d["test"] for d in report["duplicated_questions"]] == ["qa_test-1"]
    assert report["test_answers_in_documents"] == 2


def test_missing_file_in_a_user_folder_never_suggests_worldgen(tmp_path):
    (tmp_path / "entities.jsonl").write_text("")
    with pytest.raises(KnowledgeError) as err:
        knowledge.load_knowledge(data_dir=tmp_path)
    assert "worldgen" not in str(err.value) and "check-knowledge" in str(err.value)


def test_worldgen_refuses_a_folder_it_did_not_write(tmp_path):
    root = make_folder(tmp_path / "kb")
    before = (root / "qa_train.jsonl").read_bytes()
    with pytest.raises(FileExistsError, match="refusing to write into a folder that holds files worldgen did not write"):
        worldgen.generate(root)
    with pytest.raises(SystemExit):
        worldgen.main(["--out", str(root)])
    assert (root / "qa_train.jsonl").read_bytes() == before and not (root / "entities.jsonl").exists()
    worldgen.check_out_dir(tmp_path / "missing")  # a new folder is fine
    qa_only = tmp_path / "qa-only"  # a user's question files before their docs/ exist: worldgen's names, not worldgen's files
    qa_only.mkdir()
    for name in ("qa_train.jsonl", "qa_test.jsonl", "control.jsonl"):
        (qa_only / name).write_bytes((root / "qa_train.jsonl").read_bytes())
    with pytest.raises(FileExistsError, match=r"it would overwrite control\.jsonl, qa_test\.jsonl, qa_train\.jsonl"):
        worldgen.generate(qa_only)
    assert (qa_only / "qa_test.jsonl").read_bytes() == before
    ours = tmp_path / "world"
    worldgen.generate(ours)
    worldgen.generate(ours)  # a folder worldgen wrote is written again


def test_check_knowledge_command(tmp_path, capsys, monkeypatch):
    from lorag_nb.infra.cli import main

    assert main(["check-knowledge", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "documents: 5" in out and "15 test" in out and "15 of 15" in out and "generated options" in out
    assert main(["check-knowledge", str(tmp_path)]) == 2
    assert "docs is missing" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # a relative folder is found as the notebooks find it: here, then from the repository root
    assert main(["check-knowledge", "examples/lighthouses", "--max-length", "0"]) == 0 and "documents: 5" in capsys.readouterr().out
    assert main(["check-knowledge", "builtin"]) == 2 and "generated world" in capsys.readouterr().err
    assert main(["check-knowledge", "no/such/kb"]) == 2 and "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["check-knowledge", str(EXAMPLE), "--max-length", "-5"])
    assert bad.value.code == 2 and "-5 is negative" in capsys.readouterr().err


def test_a_byte_order_mark_at_the_start_of_a_jsonl_file_is_skipped(tmp_path):
    root = make_folder(tmp_path / "kb")
    test = root / "qa_test.jsonl"
    test.write_bytes(b"\xef\xbb\xbf" + test.read_bytes())  # saved as "UTF-8 with BOM"
    ks = KnowledgeSet.from_folder(root)
    assert len(ks.test_qa) == 12 and not ks.test_qa[0].question.startswith("\ufeff")
    (root / "qa_train.jsonl").write_bytes(b'{"question": "q", "answer": "a"}\n\xef\xbb\xbf{"question": "r", "answer": "b"}\n')
    with pytest.raises(knowledge.KnowledgeError, match="line 2: invalid JSON"):  # only the file's start may carry one
        KnowledgeSet.from_folder(root)


def test_no_builtin_data_in_a_user_knowledge_base_or_raft_examples(tmp_path, embedded):
    from lorag_nb.core.config import RaftSettings, TrainingSettings
    from lorag_nb.methods import rag
    from lorag_nb.methods.raft import raft_records

    builtin = knowledge.load_knowledge(data_dir=knowledge.DATA_DIR)
    builtin_ids = {d.id for d in knowledge.documents_by_id(builtin).values()}
    builtin_texts = {d.text for d in knowledge.documents_by_id(builtin).values()}
    root = make_folder(tmp_path / "kb")
    ks = KnowledgeSet.from_folder(root)  # not activated: RAFT must still use only this folder
    _model, tokenizer = embedded
    settings = TrainingSettings(n_entities=None, max_length=512, raft=RaftSettings(k=3, distractors="near_duplicates", kb_entities=None), context="raft")
    recs = raft_records(tokenizer, ks, settings)
    used = {c for r in recs for c in r["context_ids"]}
    assert used and used <= {d.id for d in ks.documents} and not used & builtin_ids
    assert not {t for r in recs for t in r["contexts"]} & builtin_texts
    knowledge.use_knowledge(root)
    docs = rag.knowledge_documents(knowledge.load_knowledge(), "original", include_distractors=True)
    assert {d.id for d in docs} == {d.id for d in ks.documents}
    assert f"-u{ks.fingerprint}-" in rag.collection_name(rag.RagSettings(), None)


# ------------------------------------------------------------------------------------------------
# The notebooks on a user's folder (papermill): every notebook on the example, notebook 05 on a second folder


def _outputs_text(nb: dict) -> str:
    parts = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            parts.append("".join(o.get("text", "")))
            for v in o.get("data", {}).values():
                parts.append(v if isinstance(v, str) else "".join(v) if isinstance(v, list) else "")
    return "\n".join(parts)


def _verdict_markdown(nb: dict) -> str:
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "claims_markdown" in "".join(c["source"])]
    return "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in cells for o in c.get("outputs", []))


#: The gallery folder that runs the whole sequence at smoke size in ``make test``: dev, control and revised/
#: files, titles that are not the entity's name and sub-folders (25 field notes). Every other gallery folder
#: (star_systems: no optional file, no "doc"/"fact" fields) runs the sequence in tests/test_gallery_slow.py
#: (LORAG_NB_GALLERY=1), and through the stage functions in tests/test_any_folder.py; a folder without
#: revised/ runs notebook 05 below (test_notebook_05_on_a_second_folder_gives_verdicts_on_its_facts).
SEQUENCE_FOLDERS = ("field_notes",)


@pytest.fixture(scope="module", params=SEQUENCE_FOLDERS)
def example_run(request, tmp_path_factory):
    """``lorag-nb run --smoke -p knowledge='"examples/<folder>"'``: every notebook, one results store."""
    import time

    from lorag_nb.infra.cli import main

    folder = request.param
    tmp = tmp_path_factory.mktemp(f"own-run-{folder}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORAG_NB_RESULTS", str(tmp / "store"))  # the kernels inherit it
        t0 = time.perf_counter()
        # no Ovadia arms in notebook 05: the run stays every notebook end to end, minutes cheaper (smoke has one seed)
        rc = main(["run", "--smoke", "-p", f'knowledge="examples/{folder}"', "-p", "ovadia=False", "-o", str(tmp / "out")])
        print(f"every notebook (smoke) on examples/{folder}: {time.perf_counter() - t0:.0f} s")
    return folder, rc, tmp / "out", tmp / "store"


def test_every_notebook_runs_on_a_gallery_folder(example_run):
    folder, rc, out, store_dir = example_run
    records = json.loads((out / "run.json").read_text())
    assert [r["error"] for r in records] == [None] * 6 and rc == 0
    root = REPO / "examples" / folder
    ks = KnowledgeSet.from_folder(root)
    user_ids = {q.id for q in ks.test_qa + ks.dev_qa + ks.revised_test_qa + ks.control_qa}
    for r in records:
        nb = json.loads(Path(r["output"]).read_text())
        text = _outputs_text(nb)
        assert f"examples/{folder}" in text and "doc-e0" not in text  # the run said what it ran on, and no world document showed
        assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert "Questions about *None*" not in text and "+ distractors" not in text  # labels true for a reader's folder
    rag = [json.loads(p.read_text()) for p in store_dir.glob("rag-*.json")]
    assert rag and all({row["id"] for row in rec["details"]["rows"]} <= user_ids for rec in rag)
    budgets = [json.loads(p.read_text()) for p in store_dir.glob("budget-*.json")]
    assert len(budgets) >= 1 and all(b["metrics"]["max_new_tokens"] >= 8 for b in budgets)  # chosen on the dev split (smoke: max_new_tokens=0)
    nb05 = json.loads(next(out.glob("05_*.ipynb")).read_text())
    shown = _verdict_markdown(nb05)
    assert "95% CI" in shown
    assert ("swap experiment skipped" in shown) == (not (root / "revised").is_dir())


def test_notebook_05_on_a_second_folder_gives_verdicts_on_its_facts(tmp_path):
    import time

    import papermill as pm

    from lorag_nb.infra.runner import NOTEBOOKS_DIR, smoke_parameters

    root = make_folder(tmp_path / "recipes")  # no revised/: the swap is skipped and says why
    ks = KnowledgeSet.from_folder(root)
    path = NOTEBOOKS_DIR / "05_comparison.ipynb"
    taught = knowledge.load_folder(root, n_entities=2)  # the first 2 documents: 6 facts, one test question each
    # max_questions caps every split: 6 = all test questions of the 2 taught documents (and 6 control questions)
    # one seed, no learning-vs-forgetting curves and no Ovadia arms: the verdicts that remain are enough, and cheaper
    params = {**smoke_parameters(path), "knowledge": str(root), "n_entities": 2, "rag_entities": 4, "max_questions": len(taught.test_qa), "rag_questions": len(taught.test_qa),
              "seeds": [0], "frontier_checkpoints": 0, "ovadia": False}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORAG_NB_RESULTS", str(tmp_path / "store"))  # the papermill kernel inherits it
        t0 = time.perf_counter()
        pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=params, kernel_name="python3", cwd=str(path.parent), progress_bar=False, execution_timeout=1800)
        print(f"notebook 05 (smoke) on a second folder: {time.perf_counter() - t0:.0f} s")
    nb = json.loads((tmp_path / path.name).read_text())
    text = _outputs_text(nb)
    assert "swap experiment skipped" in text and "has no revised/ folder" in text
    shown = _verdict_markdown(nb)
    assert "95% CI" in shown and (ks.n_facts, taught.n_facts) == (12, 6)
    assert re.search(rf"\| {taught.n_facts} · {len(taught.test_qa)} · 0[ ,|]", shown)  # accuracy verdicts over the taught documents' 6 facts, seed 0
    assert "not measured: swap experiment skipped" in shown


def test_a_question_too_long_for_the_training_context_is_named(tmp_path, embedded):
    _model, tokenizer = embedded
    root = make_folder(tmp_path / "kb")
    rows = (root / "qa_test.jsonl").read_text().splitlines()
    long_q = "For the Tovi Buns, " + "tell me everything again and again, " * 60 + "what is the flour?"
    _jsonl(root / "qa_test.jsonl", [rows[0], json.dumps({"question": long_q, "answer": "spelt"})])
    found = knowledge.long_questions(KnowledgeSet.from_folder(root), tokenizer, 256)
    assert [(q["split"], q["id"]) for q in found] == [("test", "qa_test-2")] and found[0]["tokens"] > 256
    assert "raise max_length to >=" in found[0]["message"]


def test_too_few_distinct_answers_leave_multiple_choice_na(tmp_path):
    root = tmp_path / "kb"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("# Alpha\n\nAlpha is red.\n")
    (root / "docs" / "b.md").write_text("# Beta\n\nBeta is blue.\n")
    _jsonl(root / "qa_train.jsonl", [{"question": "What colour is Alpha?", "answer": "red", "fact": "a"}, {"question": "Alpha has which colour?", "answer": "red", "fact": "a"},
                                     {"question": "What colour is Beta?", "answer": "blue", "fact": "b"}])
    _jsonl(root / "qa_test.jsonl", [{"question": "Name the colour of Alpha.", "answer": "red"}, {"question": "Name the colour of Beta.", "answer": "blue"}])
    ks = KnowledgeSet.from_folder(root)
    assert all(q.options == () and q.answer_index is None for q in ks.test_qa)  # 2 distinct answers: no 4 options
    report = knowledge.check_folder(root)
    assert report["mc_na"] == len(ks.test_qa) + len(ks.dev_qa) and report["mc_generated"] == 0
    assert any("n/a (no options)" in n for n in ks.notes)
    assert [q.doc_id for q in ks.test_qa] == ["a.md", "b.md"]  # linked by the heading in the question


def test_run_checks_the_knowledge_folder_before_anything_runs(tmp_path, capsys):
    from lorag_nb.infra.cli import main

    assert main(["run", "-n", "00", "-p", f'knowledge="{tmp_path / "nope"}"', "-o", str(tmp_path / "out")]) == 2
    assert "no such folder" in capsys.readouterr().err
    root = make_folder(tmp_path / "kb")
    (root / "qa_test.jsonl").unlink()
    assert main(["run", "-n", "00", "-p", f'knowledge="{root}"', "-o", str(tmp_path / "out")]) == 2
    assert "qa_test.jsonl is missing" in capsys.readouterr().err and not (tmp_path / "out").exists()
