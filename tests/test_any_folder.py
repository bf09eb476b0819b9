"""A reader's folder nobody here wrote (issue 23): linking rules that ordinary folders satisfy, the gallery
under examples/, facts inferred without a "fact" field, the stages that crashed on small or unlinked
folders, the answer budget chosen from evidence, and the claims engine refusing artefacts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorag_nb.core import claims as C
from lorag_nb.data import knowledge, linking
from lorag_nb.data.knowledge import Document, KnowledgeSet, Linker

REPO = Path(__file__).resolve().parents[1]
GALLERY = sorted(p for p in (REPO / "examples").iterdir() if (p / "docs").is_dir())


@pytest.fixture(autouse=True)
def _builtin_after():
    yield
    knowledge.use_knowledge(knowledge.BUILTIN)


def _jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _doc(id_: str, text: str) -> Document:
    d = Document(id=id_, text=text)
    return Document(id=id_, text=text, title=linking.title_of(d))


STARS = [_doc("aedrarix.md", "# The Aedrarix system\n\nAedrarix has an orange star and 10 planets. It was charted in 2315."),
         _doc("lunlunqua.md", "# The Lunlunqua system\n\nLunlunqua has a crimson star and 4 planets. It was charted in 2291."),
         _doc("zenisek.md", "# Ženíšek Kavárna — a café in Brno\n\nŽeníšek Kavárna has 14 tables and opened in 1987."),
         _doc("harrier.txt", "Field notes, week 7: the marsh harrier at Kelby Fen\n\nThe harrier nested in the reed beds and raised three chicks.")]


def test_name_in_question_links_a_title_that_is_not_the_bare_name():
    """The issue's case: "…the star of Aedrarix?" names the system but not its title "The Aedrarix system"."""
    linker = Linker(STARS)
    assert linker.link("Which colour is the star of Aedrarix?", None, ["orange"]) == ("aedrarix.md", "name in question")
    assert linker.link("How many planets does Lunlunqua's star hold?") == ("lunlunqua.md", "name in question")
    assert linker.link("How many tables does Zenisek Kavarna have?")[0] == "zenisek.md"  # accents folded
    assert linker.link("How many tables does ŽENÍŠEK have?")[0] == "zenisek.md"
    assert linker.link("Where did the harrier at Kelby Fen nest?", None, ["reed beds"])[0] == "harrier.txt"
    assert linker.link("what is the aedrarix system's star?") == ("aedrarix.md", "title in question")


def test_answer_rule_links_only_a_clear_winner_and_ambiguity_stays_unlinked():
    linker = Linker(STARS)
    # no name, but the answer is in one document that shares a rare word ("nested") with the question
    assert linker.link("Where was the nest of the bird that nested last spring?", None, ["reed beds"]) == ("harrier.txt", "answer + shared words")
    # two names: never guessed
    doc, rule = linker.link("Is Aedrarix older than Lunlunqua?", None, ["yes"])
    assert doc is None and rule.startswith("unlinked") and "add a \"doc\" field" in rule
    # stop words and words of every document link nothing
    assert linker.link("What is the year?", None, ["1999"])[0] is None
    # the doc field wins over everything, and a wrong one is an error naming what is valid
    assert linker.link("Which colour is the star of Aedrarix?", "lunlunqua", ["orange"]) == ("lunlunqua.md", "doc field")
    with pytest.raises(knowledge.KnowledgeError, match="names no document; valid"):
        linker.link("x", "nope.md")


def test_facts_without_a_fact_field_are_document_and_answer(tmp_path):
    """Two wordings about one document with one answer are one fact (the unit of every interval), so the dev
    split holds out a wording and the taught and tested facts overlap."""
    root = tmp_path / "kb"
    (root / "docs").mkdir(parents=True)
    for d in STARS[:2]:
        (root / "docs" / d.id).write_text(d.text, encoding="utf-8")
    _jsonl(root / "qa_train.jsonl", [{"question": "What colour is Aedrarix's star?", "answer": "orange"},
                                     {"question": "Aedrarix shines in which colour?", "answer": "Orange"},
                                     {"question": "How many planets circle Lunlunqua?", "answer": "4"}])
    _jsonl(root / "qa_test.jsonl", [{"question": "Name the colour of the Aedrarix star.", "answer": "orange"}])
    ks = KnowledgeSet.from_folder(root)
    assert ks.test_qa[0].fact == "aedrarix.md/orange"
    assert {q.fact for q in ks.train_qa + ks.dev_qa} == {"aedrarix.md/orange", "lunlunqua.md/4"}
    assert len(ks.dev_qa) == 1 and ks.dev_qa[0].fact == "aedrarix.md/orange"  # one wording held out, one still taught
    assert any(n.startswith("links: 4 by name in question") for n in ks.notes)


@pytest.mark.parametrize("folder", GALLERY, ids=[p.name for p in GALLERY])
def test_every_gallery_folder_loads_and_links_at_least_95_percent(folder):
    report = knowledge.check_folder(folder)
    linked = len(report["links"]) - report["unlinked"]
    print(f"{folder.name}: {report['documents']} documents, {report['train_questions']}/{report['dev_questions']}/{report['test_questions']} "
          f"train/dev/test, linked {linked}/{len(report['links'])} ({knowledge.link_counts(report['links'])})")
    assert report["documents"] >= 3 and report["test_questions"] >= 3
    assert linked >= 0.95 * len(report["links"])
    assert report["test_answers_in_documents"] == report["test_questions"]
    assert "linked to a document" in knowledge.format_check(report)


def test_the_gallery_is_small_and_unlike_the_builtin_world():
    size = sum(f.stat().st_size for p in GALLERY for f in p.rglob("*") if f.is_file())
    assert len(GALLERY) >= 6 and size <= 1_000_000
    shapes = {p.name: (knowledge.check_folder(p), KnowledgeSet.from_folder(p)) for p in GALLERY}
    assert any(not (p / "qa_dev.jsonl").exists() and not (p / "control.jsonl").exists() and not (p / "revised").exists() for p in GALLERY)
    assert any((p / "revised").is_dir() and (p / "control.jsonl").exists() for p in GALLERY)
    assert any(any(ord(c) > 127 for d in ks.documents for c in d.title) for _r, ks in shapes.values())  # Unicode names
    assert any(len(d.text) > 1500 for _r, ks in shapes.values() for d in ks.documents)  # several chunks per document
    assert any(r["documents"] >= 20 for r, _ks in shapes.values())  # the mid size of the slow run


def test_one_unlinked_share_warns_with_what_to_add(tmp_path):
    root = tmp_path / "kb"
    (root / "docs").mkdir(parents=True)
    for d in STARS[:2]:
        (root / "docs" / d.id).write_text(d.text, encoding="utf-8")
    _jsonl(root / "qa_train.jsonl", [{"question": f"Question {i} about nothing in particular?", "answer": "yes"} for i in range(4)])
    _jsonl(root / "qa_test.jsonl", [{"question": "Which colour is the star of Aedrarix?", "answer": "orange"}])
    with pytest.warns(UserWarning, match=r"are linked to no document; add a \"doc\" field"):
        KnowledgeSet.from_folder(root)
    report = knowledge.check_folder(root)
    assert report["unlinked"] == 4 and any("are linked to no document" in w for w in report["warnings"])


# --------------------------------------------------------------------------- claims engine artefacts


def _rows(values, cut=None):
    return [{"id": f"q{i}", "fact": f"f{i}", "contains": v, "cut": (cut[i] if cut else False)} for i, v in enumerate(values)]


def test_answers_cut_at_the_budget_cannot_decide_a_generation_claim():
    n = 40
    good = _rows([1.0] * 30 + [0.0] * 10)
    bad = _rows([0.0] * n)
    assert C.compare_scores("rag_grounded", C.scores(good, "contains", "RAG"), C.scores(bad, "contains", "base")).verdict == C.HOLDS
    cut = [i < 5 for i in range(n)]  # 12.5% of the base model's answers cut off
    v = C.compare_scores("rag_grounded", C.scores(good, "contains", "RAG"), C.scores(_rows([0.0] * n, cut), "contains", "base"))
    assert v.verdict == C.UNDETERMINED and "12% of base's answers cut off at the answer budget" in v.why
    assert C.scores(_rows([0.0] * n, cut), "contains").cut == pytest.approx(0.125)
    # multiple choice does not generate: cut answers do not block it
    mc = [{"id": r["id"], "fact": r["fact"], "mc_correct": r["contains"], "cut": True} for r in good]
    assert C.scores(mc, "mc_correct").cut is None
    # rows stored before "cut" existed fall back to "truncated"
    old = [{"id": f"q{i}", "fact": f"f{i}", "contains": 0.0, "truncated": True} for i in range(n)]
    assert C.scores(old, "contains").cut == 1.0


def test_a_zero_width_interval_at_the_floor_decides_nothing():
    """The issue's case: both methods right on the same 1 of 40 facts gave [0, 0] and "does not hold"."""
    same = _rows([1.0] + [0.0] * 39)
    v = C.compare_scores("raft_beats_rag", C.scores(same, "contains", "RAFT"), C.scores(same, "contains", "RAG"))
    assert (v.diff.low, v.diff.high) == (0.0, 0.0) and v.verdict == C.UNDETERMINED and "zero-width interval" in v.why
    # every fact moving by the same amount is a real effect, not a floor: it still decides
    v2 = C.compare_scores("raft_beats_rag", C.scores(_rows([1.0] * 40), "contains", "RAFT"), C.scores(_rows([0.0] * 40), "contains", "RAG"))
    assert v2.verdict == C.HOLDS


# --------------------------------------------------------------------------- stages that crashed


def test_retrieval_leaves_unlinked_questions_out_with_a_count(tmp_path):
    from lorag_nb.methods.retrieval import KnowledgeBase, evaluate_retrieval, make_client

    kb = KnowledgeBase("lorag-anyfolder-test", client=make_client("ephemeral"))
    kb.ingest(STARS)
    ks_q = [knowledge.QA(id="a", question="Which colour is the star of Aedrarix?", answer="orange", doc_id="aedrarix.md"),
            knowledge.QA(id="b", question="Is it old?", answer="yes", doc_id=None)]
    metrics, rows = evaluate_retrieval(kb, ks_q, 3)
    assert metrics["n"] == 1 and metrics["unlinked_left_out"] == 1 and [r["id"] for r in rows] == ["a"] and rows[0]["rank"] == 1
    none, no_rows = evaluate_retrieval(kb, ks_q[1:], 3)
    assert none["n"] == 0 and no_rows == [] and "none of the 1 questions is linked" in none["not_measured"]


def test_interleaved_speed_on_a_folder_smaller_than_its_batches(tmp_path, embedded):
    """Issue 23's IndexError: 3 training examples for (steps + 1) × batch = 6; the batches now cycle."""
    from lorag_nb.core.store import ResultsStore
    from lorag_nb.experiments import nb01, nb02
    from lorag_nb.methods import training

    knowledge.use_knowledge(REPO / "examples" / "tiny_recipes")
    kw = dict(n_entities=3, batch_size=2, max_length=96)
    model, tok = embedded
    r = training.interleaved_speed(nb01.default_full_ft(**kw), nb02.default_lora(r=2, **kw), ResultsStore(tmp_path), model, tok, reps=2, steps=2)
    m = r.metrics
    assert m["examples"] == 3 and m["examples_repeated"] is True and len(m["ratios"]) == 2 and all(x > 0 for x in m["ratios"])


def test_the_answer_budget_is_chosen_from_the_dev_answers(tmp_path, embedded):
    from lorag_nb.core.store import ResultsStore
    from lorag_nb.methods import evaluation, rag
    from lorag_nb.data.prompts import make_prompt

    model, tok = embedded
    prompts = [make_prompt(tok, q) for q in ("What is the capital of France?", "Describe the history of Rome in detail.")]
    chosen = evaluation.choose_budget(model, tok, prompts, cap=16)
    assert chosen["max_new_tokens"] in (8, 12, 16) and len(chosen["needs"]) == 2
    # the chosen budget leaves at most 5% of these answers cut, unless even the cap cuts them
    assert chosen["cut_share"] <= 0.05 or chosen["max_new_tokens"] == 16
    assert all(n <= chosen["max_new_tokens"] for n in chosen["needs"]) or chosen["max_new_tokens"] == 16
    store = ResultsStore(tmp_path)
    ks = knowledge.use_knowledge(REPO / "examples" / "tiny_recipes")
    tokens, why = rag.answer_budget(0, None, "embedded", model, tok, store=store)
    # 1 dev question is too few to choose on: the training questions fill up (answer lengths only, never scores)
    assert (len(ks.dev_qa), len(ks.train_qa)) == (1, 3) and tokens in evaluation.BUDGET_STEPS and why.startswith("chosen on 1 dev + 3 training questions with the gold document:")
    assert rag.answer_budget(0, None, "embedded", model, tok, store=store) == (tokens, why)  # stored: the same choice in 03, 04 and 05
    assert rag.answer_budget(24, None, "embedded", model, tok, store=store) == (24, "as set (max_new_tokens)")
    with pytest.raises(ValueError, match="max_new_tokens=-1 must be an int >= 1"):
        rag.answer_budget(-1)


def test_rags_budget_is_chosen_through_the_retriever(tmp_path, embedded, monkeypatch):
    """Issue 23: chosen with the gold document, RAG's budget (64) still cut 19 of 180 built-in test answers given three
    retrieved chunks. With ``settings`` each dev question is asked as RAG asks it: the top_k chunks its retriever returns."""
    from lorag_nb.core.config import RagSettings
    from lorag_nb.core.store import ResultsStore
    from lorag_nb.data.prompts import make_prompt
    from lorag_nb.methods import evaluation, rag

    model, tok = embedded
    ks = knowledge.use_knowledge(REPO / "examples" / "tiny_recipes")
    settings = RagSettings(top_k=2)
    asked = []
    real = rag.choose_budget
    monkeypatch.setattr(rag, "choose_budget", lambda m, t, prompts, **kw: asked.append(list(prompts)) or real(m, t, prompts, **kw))
    store = ResultsStore(tmp_path)
    tokens, why = rag.answer_budget(0, None, "embedded", model, tok, store=store, settings=settings)
    assert tokens in evaluation.BUDGET_STEPS and why.startswith("chosen on 1 dev + 3 training questions with the top 2 retrieved chunks")
    kb, _ = rag.open_knowledge_base(settings, ks)
    questions = (ks.dev_qa + ks.train_qa)[: rag.BUDGET_QUESTIONS]
    expected = [make_prompt(tok, q.question, rag.contexts_of(rag.retriever_for(kb, settings).invoke(q.question)), settings.prompt_variant) for q in questions]
    assert asked == [expected]
    # stored: notebooks 03-05 read the same choice back; the gold-document (oracle) choice is another stored result
    assert rag.answer_budget(0, None, "embedded", model, tok, store=store, settings=settings) == (tokens, why) and len(asked) == 1
    assert "with the gold document" in rag.answer_budget(0, None, "embedded", model, tok, store=store)[1] and len(asked) == 2
    assert len(store.all("budget")) == 2
    knowledge.use_knowledge(None)


def test_the_closed_book_budget_is_chosen_on_a_folder_and_on_the_built_in_world(embedded):
    """Issue 23 item 3: a fixed 16 tokens cut every closed-book answer of the base model on a gallery folder (field_notes),
    and 133 of 180 on the built-in world."""
    from lorag_nb.methods import evaluation, rag, training
    from lorag_nb.data.prompts import make_prompt

    model, tok = embedded
    knowledge.use_knowledge(None)
    builtin, why = training.closed_book_budget("embedded", model=model, tokenizer=tok)
    assert builtin in evaluation.BUDGET_STEPS and why.startswith(f"chosen on {rag.BUDGET_QUESTIONS} dev questions closed book")
    assert training.default_eval(10).max_new_tokens == builtin and training.default_eval(10, max_new_tokens=16).max_new_tokens == 16
    ks = knowledge.use_knowledge(REPO / "examples" / "tiny_recipes")  # 1 dev question: the 3 training questions fill up
    tokens, why = training.closed_book_budget("embedded", model=model, tokenizer=tok)
    assert tokens in evaluation.BUDGET_STEPS and why.startswith("chosen on 1 dev + 3 training questions closed book")
    # stored: default_eval (every notebook, any slice of the folder) reads the same choice back; an explicit budget wins
    assert training.default_eval(2, model_name="embedded").max_new_tokens == tokens and training.default_eval(2, max_new_tokens=8).max_new_tokens == 8
    # the oracle arm (gold document in the prompt) has its own stored choice
    oracle, why = training.oracle_budget("embedded", model=model, tokenizer=tok)
    assert training.default_eval(2).oracle_max_new_tokens == oracle and why.startswith("chosen on 1 dev + 3 training questions with the gold document")
    # it cuts at most 5% of those closed-book answers mid-answer, or it is the cap
    asked = (ks.dev_qa + ks.train_qa)[: rag.BUDGET_QUESTIONS]
    gens = evaluation.generate(model, tok, [make_prompt(tok, q.question) for q in asked], max_new_tokens=tokens)
    assert sum(g.cut_mid_answer for g in gens) <= 0.05 * len(gens) or tokens == evaluation.BUDGET_CAP
    knowledge.use_knowledge(None)


def test_prompt_variants_without_a_linked_dev_question_fall_back_to_the_default(tmp_path, embedded):
    """Issue 23: a folder whose qa_dev.jsonl questions link to no document crashed notebooks 03 and 04."""
    from lorag_nb.core.config import EvalSettings
    from lorag_nb.core.store import ResultsStore
    from lorag_nb.data.prompts import DEFAULT_CONTEXT_VARIANT
    from lorag_nb.experiments import nb03
    from lorag_nb.methods.retrieval import make_client
    from lorag_nb.ui import plots

    root = tmp_path / "kb"
    (root / "docs").mkdir(parents=True)
    for d in STARS[:2]:
        (root / "docs" / d.id).write_text(d.text, encoding="utf-8")
    _jsonl(root / "qa_train.jsonl", [{"question": "What colour is Aedrarix's star?", "answer": "orange"}, {"question": "How many planets has Lunlunqua?", "answer": "4"}])
    _jsonl(root / "qa_dev.jsonl", [{"question": "Is any of them old?", "answer": "yes"}])
    _jsonl(root / "qa_test.jsonl", [{"question": "Name the colour of the Aedrarix star.", "answer": "orange"}])
    knowledge.use_knowledge(root)
    model, tok = embedded
    table, best = nb03.compare_prompt_variants(nb03.rag_settings(2, 500, 50, ""), ResultsStore(tmp_path / "store"), EvalSettings(max_questions=2, max_new_tokens=4, batch_size=2),
                                               model=model, tokenizer=tok, client=make_client("ephemeral"))
    assert best == DEFAULT_CONTEXT_VARIANT and "no dev question linked to a document" in table["note"].iloc[0]
    assert "not measured" in plots.prompt_variants_figure(table, "f1", best).layout.title.text


# --------------------------------------------------------------------------- every gallery folder through the stages


@pytest.mark.parametrize("folder", GALLERY, ids=[p.name for p in GALLERY])
def test_every_gallery_folder_through_the_stage_functions(folder, embedded, tmp_path):
    """What every notebook calls, at tiny sizes, on each folder: the profile's slice, training examples (closed
    book and RAFT), an in-memory Chroma knowledge base with hit@k, generated answers with the cut flag, the
    sample card and the knowledge summary. Nothing is written into the folder."""
    from lorag_nb.experiments import profiles
    from lorag_nb.core.paths import NOTEBOOKS_DIR
    from lorag_nb.experiments import nb02, nb04
    from lorag_nb.infra.runner import notebook_defaults
    from lorag_nb.methods import evaluation, raft, rag, training
    from lorag_nb.methods.retrieval import KnowledgeBase, evaluate_retrieval, make_client

    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    whole = knowledge.use_knowledge(folder)
    slices = {stem: profiles.apply(stem, "cpu", notebook_defaults(NOTEBOOKS_DIR / f"{stem}.ipynb"), folder=whole).values["n_entities"] for stem in profiles.CPU}
    assert len(set(slices.values())) == 1 and slices["03_rag"] == min(len(whole.documents), profiles.FOLDER_DOCUMENTS["cpu"])
    n = min(3, len(whole.documents))
    ks = knowledge.load_knowledge(n_entities=n)
    model, tok = embedded
    assert training.build_examples(tok, ks, nb02.default_lora(n_entities=n, max_length=256))
    if sum(1 for q in ks.train_qa if q.doc_id) and len(ks.documents) >= 2:
        recs = raft.raft_records(tok, ks, nb04.raft_settings(k=2, distractors="near_duplicates", kb_entities=n, n_entities=n))
        assert recs and all(r["gold_doc"] in {d.id for d in ks.documents} for r in recs)
    kb = KnowledgeBase(f"lorag-gallery-{folder.name.replace('_', '-')}", client=make_client("ephemeral"))
    kb.ingest(rag.knowledge_documents(ks, "original"))
    metrics, rows = evaluate_retrieval(kb, ks.test_qa, 3)
    assert metrics["n"] + metrics["unlinked_left_out"] == len(ks.test_qa) and all(r["rank"] is None or r["rank"] >= 1 for r in rows)
    qa = evaluation.evaluate_qa(model, tok, ks.test_qa[:2], max_new_tokens=2, batch_size=2, multiple_choice=True)
    assert all("cut" in r and "truncated" in r for r in qa.rows)
    assert "None" not in knowledge.sample_card(ks, 0) and str(folder) in knowledge.knowledge_summary(whole)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before  # nothing written into the reader's folder


def test_a_stage_gives_one_truncation_warning(embedded):
    """Issue 23: the truncation warning printed 4-8 times per cell; a stage now warns once with its totals."""
    import warnings

    from lorag_nb.methods import evaluation

    model, tok = embedded
    qas = [knowledge.QA(id=f"q{i}", question=q, answer="x") for i, q in enumerate(("Describe Rome.", "Describe Paris."))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with evaluation.one_truncation_warning():
            for _ in range(3):
                evaluation.evaluate_qa(model, tok, qas, max_new_tokens=2, batch_size=2, multiple_choice=False)
    got = [str(w.message) for w in caught if issubclass(w.category, evaluation.AnswersTruncatedWarning)]
    assert len(got) == 1 and got[0].startswith("6 of 6 answers (over 3 evaluations) used all max_new_tokens=2")


def test_a_raft_passage_is_a_chunk_around_the_answer():
    from lorag_nb.methods.raft import passage

    text = "Intro words. " * 60 + "The answer is StopIteration, raised at the end. " + "Outro words. " * 60
    p = passage(text, "StopIteration", 200)
    assert "StopIteration" in p and len(p) <= 200 and not p.startswith("ntro")  # cut at a word boundary
    assert passage("short text", "x", 200) == "short text" and len(passage(text, None, 200)) <= 200


def test_a_first_time_users_wiki_links_every_question_to_the_right_document():
    """examples/coop_wiki came from a new user's try: the name rule once linked "…tools for wheels and tyres?" to the
    document titled "Getting wheels straight…" (a common word unique to one title) although another document held
    the answer; and an answer wrapped over two lines counted as "in no document"."""
    folder = REPO / "examples" / "coop_wiki"
    want = json.loads((REPO / "tests" / "data" / "coop_wiki_links.json").read_text(encoding="utf-8"))
    report = knowledge.check_folder(folder)
    got = {l["question"]: l["doc"] for l in report["links"]}
    wrong = {q: (got[q], d) for q, d in want.items() if got[q] != d}
    assert not wrong and len(want) == len(report["links"]) == 71
    assert report["answers_in_no_document"] == []


# --------------------------------------------------------------------------- a knowledge base smaller than k


def test_retrieval_at_k_beyond_a_small_folder_is_the_whole_collection_not_nan(tmp_path, client):
    """A folder of 2 one-chunk documents: notebook 03's retrieval table, its summary and the top_k sweep
    table read hit@5/10/20 as hit@2 (retrieving 5 of 2 chunks retrieves both) with a note saying the knowledge
    base has only 2 chunks — they showed "hit@5 nan" and NaN columns beside a larger knowledge base."""
    import math

    from lorag_nb.core.config import EvalSettings
    from lorag_nb.core.store import Result, ResultsStore
    from lorag_nb.experiments import nb03
    from lorag_nb.methods import rag, retrieval

    root = tmp_path / "kb"
    (root / "docs").mkdir(parents=True)
    for d in STARS[:2]:
        (root / "docs" / d.id).write_text(d.text, encoding="utf-8")
    _jsonl(root / "qa_train.jsonl", [{"question": "What colour is Aedrarix's star?", "answer": "orange"}, {"question": "How many planets has Lunlunqua?", "answer": "4"}])
    _jsonl(root / "qa_test.jsonl", [{"question": "Name the colour of the Aedrarix star.", "answer": "orange"},
                                    {"question": "How many planets circle Lunlunqua?", "answer": "4"}])
    knowledge.use_knowledge(root)
    ret = rag.run_retrieval(nb03.rag_settings(3, 500, 50, ""), ResultsStore(tmp_path / "store"), EvalSettings(max_questions=2), client=client)
    m = ret.metrics["retrieval"]
    assert m["collection_chunks"] == ret.metrics["chunks"]["chunks"] == 2 and retrieval.collection_chunks(m) == 2
    assert [retrieval.at_k(m, k) for k in (5, 10, 20)] == [m["hit@k"]["2"]] * 3
    assert retrieval.at_k(m, 7, "recall@k") == m["recall@k"]["2"]

    # beside a larger knowledge base (notebook 03's "Python docs vs your folder" table): every cell a number
    big = Result(kind="retrieval", key="b", settings={}, metrics={"retrieval": {"n": 3, "mrr": 0.5, "collection_chunks": 40, "ks": list(range(1, 21)),
                                                                                 "hit@k": {str(k): min(1.0, k / 10) for k in range(1, 21)}, "recall@k": {str(k): min(1.0, k / 10) for k in range(1, 21)}}})
    table = nb03.retrieval_table({"Python docs": big, "your folder": ret})
    cells = table[[c for c in table.columns if "@" in c]]
    assert not cells.isna().any().any(), table.to_dict("records")
    folder = table.set_index("setting").loc["your folder"]
    assert folder["hit@5"] == folder["hit@20"] == m["hit@k"]["2"]
    assert "only 2 chunks" in folder["note"] and table.set_index("setting").loc["Python docs", "note"] == ""

    # the summary's retrieval line and the top_k sweep table
    rag_r = Result(kind="rag", key="r", settings={}, metrics={"retrieval": m, "chunks": ret.metrics["chunks"], "top_k": 2,
                                                            "answers": {"n": 2, "contains": 0.5, "f1": 0.4, "exact_match": 0.0, "mc_accuracy": None},
                                                            "latency_ms": {"embedding": 5.0, "search": 1.0, "generation": 90.0, "total": 96.0}, "prompt_tokens_mean": 80.0})
    base = Result(kind="baseline", key="b0", settings={}, metrics={"test": {"contains": 0.0}, "oracle": {"contains": 1.0}})
    text = nb03.summary_markdown(rag_r, base, pydoc=rag_r)
    assert "nan" not in text.lower() and f"hit@5 {m['hit@k']['2']:.2f}" in text and "only 2 chunks" in text
    sweep = nb03.sweep_frame({5: rag_r, 10: rag_r})
    assert not any(math.isnan(v) for v in sweep["hit@k"]) and list(sweep["hit@k"]) == [m["hit@k"]["2"]] * 2

    # a k beyond what was measured on a larger collection is never made up
    with pytest.raises(ValueError, match="not measured"):
        retrieval.at_k(big.metrics["retrieval"], 25)


def test_the_baseline_chart_names_the_knowledge_it_shows():
    """A label true for the folder at hand: notebook 00's chart said "fictional-world" on a reader's folder."""
    from lorag_nb.ui import plots

    metrics = {"test": {"exact_match": 0.1, "f1": 0.2, "contains": 0.3, "mc_accuracy": 0.4}}
    knowledge.use_knowledge(None)
    assert plots.baseline_answers(metrics).layout.title.text == "Base model on the fictional-world test questions"
    knowledge.use_knowledge(REPO / "examples" / "tiny_recipes")
    assert plots.baseline_answers(metrics).layout.title.text == "Base model on your folder's test questions"
    knowledge.use_knowledge(None)
