"""Tests of the generated knowledge set (data/), its loader, and the bring-your-own loaders."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from lorag_nb.data import worldgen
from lorag_nb.data.knowledge import (
    DATA_DIR,
    QA,
    Document,
    KnowledgeError,
    KnowledgeSet,
    document_for,
    documents_by_id,
    load_documents_folder,
    load_knowledge,
    load_python_docs,
    load_qa_jsonl,
    perplexity_texts,
)


@pytest.fixture(scope="module")
def ks() -> KnowledgeSet:
    return load_knowledge()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("world")
    return out, worldgen.generate(out)


# ---------------------------------------------------------------------------------------------
# Generation


def test_regeneration_is_byte_identical(regenerated):
    out, counts = regenerated
    assert set(counts) == set(worldgen.OUTPUT_FILES)
    for name in worldgen.OUTPUT_FILES:
        committed = DATA_DIR / name
        assert committed.exists(), f"{committed} missing: run python -m lorag_nb.data.worldgen"
        assert (out / name).read_bytes() == committed.read_bytes(), f"{name} differs from a fresh generation"


def test_generate_returns_row_counts(regenerated):
    out, counts = regenerated
    for name, n in counts.items():
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == n
        for line in lines:  # one JSON object per line, keys sorted, non-ASCII kept
            row = json.loads(line)
            assert line == json.dumps(row, ensure_ascii=False, sort_keys=True)


def test_data_card_counts_match_files(regenerated):
    _, counts = regenerated
    card = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `([\w.]+\.jsonl)` \| (\d+) \|", card, flags=re.M))
    assert table, "no '| `file.jsonl` | N |' rows in data/README.md"
    assert {k: int(v) for k, v in table.items()} == counts


def test_other_seed_gives_other_world(tmp_path):
    worldgen.generate(tmp_path, seed="another seed")
    assert (tmp_path / "entities.jsonl").read_bytes() != (DATA_DIR / "entities.jsonl").read_bytes()


# ---------------------------------------------------------------------------------------------
# Shape of the world


def test_counts(ks):
    s = ks.summary()
    assert s["entities"] >= 60
    assert s["kinds"] >= 3
    assert all(len(e["attributes"]) >= 5 for e in ks.entities)
    assert s["facts"] >= 300 and s["facts"] == len(ks.facts_table())
    assert s["documents"] == s["entities"] == s["revised_documents"]
    assert s["dev_qa"] == s["facts"]
    # every fact is asked in every one of the (>= 3) held-out test wordings
    n_test = len(worldgen.SPLIT_TEMPLATES["test"])
    assert n_test >= 3 and s["test_qa"] == n_test * s["facts"]
    assert s["revised_test_qa"] == n_test * s["revised_facts"]
    per_fact = defaultdict(set)
    for q in ks.test_qa:
        per_fact[q.fact].add(q.template)
    assert len(per_fact) == s["facts"] and all(len(t) == n_test for t in per_fact.values())
    assert s["control_qa"] >= 40
    assert 0.15 <= s["distractors"] / s["entities"] <= 0.25


def test_train_has_at_least_four_wordings_per_relation(ks):
    wordings = defaultdict(set)
    per_fact = defaultdict(int)
    for q in ks.train_qa:
        wordings[q.relation].add(q.template)
        per_fact[(q.entity_id, q.relation)] += 1
    assert wordings and all(len(t) >= 4 for t in wordings.values())
    facts = {(e["id"], r) for e in ks.entities for r in e["attributes"]}
    assert set(per_fact) == facts
    assert min(per_fact.values()) >= 4


def test_kinds_are_interleaved(ks):
    kinds = {e["kind"] for e in ks.entities}
    assert {e["kind"] for e in ks.entities[: len(kinds)]} == kinds


def test_names_unique_and_not_substrings(ks):
    names = [e["name"] for e in ks.entities] + [d.title for d in ks.distractors]
    assert len(set(names)) == len(names)
    words = {w.lower() for n in names for w in n.split() if w not in worldgen.COMPANY_SUFFIXES}
    for a in words:
        for b in words:
            assert a == b or a not in b, f"name word {a!r} is inside {b!r}"


def test_values_short_and_not_substrings_within_relation(ks):
    by_rel = defaultdict(set)
    for e in ks.entities:
        for rel, v in e["attributes"].items():
            assert 1 <= len(v.split()) <= 3, (rel, v)
            by_rel[rel].add(v)
    for rel, values in by_rel.items():
        assert len(values) >= 4, f"{rel} has too few distinct values for multiple choice"
        for a in values:
            for b in values:
                assert a == b or a.lower() not in b.lower(), f"{rel}: {a!r} inside {b!r}"


def test_closed_value_sets_have_no_nested_values():
    for kind, rels in worldgen.RELATIONS.items():
        for rel, src in rels:
            if isinstance(src, tuple):
                assert len(set(src)) == len(src) >= 4, rel
                for a in src:
                    for b in src:
                        assert a == b or a.lower() not in b.lower(), f"{rel}: {a!r} inside {b!r}"


def test_documents_state_every_fact(ks):
    docs = {d.metadata["entity_id"]: d for d in ks.documents}
    for e in ks.entities:
        d = docs[e["id"]]
        assert d.id == f"doc-{e['id']}" and d.title == e["name"] and d.metadata["source"] == "world"
        assert d.metadata["kind"] == e["kind"]
        for v in e["attributes"].values():
            assert v in d.text, (e["id"], v)
        n_sentences = len(re.findall(r"[.!?](?:\s|$)", d.text))
        assert 4 <= n_sentences <= 8


def test_distractors_are_lookalikes(ks):
    ents = {e["id"]: e for e in ks.entities}
    for d in ks.distractors:
        e = ents[d.metadata["imitates"]]
        assert d.id == f"dis-{e['id']}"
        assert d.metadata["entity_id"] == f"{e['id']}-lookalike"
        assert d.metadata["kind"] == e["kind"] and d.metadata["source"] == "distractor"
        assert d.title != e["name"] and len(d.title.split()) == len(e["name"].split())
        # same prose: the distractor reuses the original's sentences, so the sentence counts match
        original = documents_by_id(ks)[f"doc-{e['id']}"].text
        assert len(re.findall(r"[.!?](?:\s|$)", d.text)) == len(re.findall(r"[.!?](?:\s|$)", original))
        # none of the original's values appears in the look-alike's text
        for v in e["attributes"].values():
            assert not re.search(rf"\b{re.escape(v)}\b", d.text), (d.id, v)


# ---------------------------------------------------------------------------------------------
# Questions


def test_test_and_dev_wordings_never_in_training(ks):
    train_questions = {q.question for q in ks.train_qa}
    train_templates = {(q.relation, q.template) for q in ks.train_qa}
    for split in (ks.dev_qa, ks.test_qa, ks.revised_test_qa):
        for q in split:
            assert q.question not in train_questions, q.question
            assert (q.relation, q.template) not in train_templates
    dev_templates = {(q.relation, q.template) for q in ks.dev_qa}
    assert not dev_templates & {(q.relation, q.template) for q in ks.test_qa}
    # and the wording itself (with the name removed) is never a training wording
    train_wordings = set(worldgen.QUESTIONS[r][t] for r, t in train_templates)
    for q in ks.test_qa:
        assert worldgen.QUESTIONS[q.relation][q.template] not in train_wordings


@pytest.mark.parametrize("split", ["dev_qa", "test_qa", "revised_test_qa"])
def test_multiple_choice(ks, split):
    ents = {e["id"]: e for e in ks.entities}
    values = defaultdict(set)
    for e in ks.entities:
        for rel, v in e["attributes"].items():
            values[rel].add(v)
    for q in getattr(ks, split):
        assert len(q.options) == 4 and len(set(q.options)) == 4, q.id
        assert q.options[q.answer_index] == q.answer
        if split != "revised_test_qa":
            assert q.answer == ents[q.entity_id]["attributes"][q.relation]
            # distractors are values of the same relation held by other entities
            assert set(q.options) <= values[q.relation]


def test_options_are_shuffled(ks):
    positions = {q.answer_index for q in ks.test_qa}
    assert positions == {0, 1, 2, 3}


def test_gold_answer_in_gold_document(ks):
    for q in ks.test_qa + ks.dev_qa:
        doc = document_for(ks, q)
        assert doc.metadata["entity_id"] == q.entity_id
        assert q.answer in doc.text, q.id


def test_revised_facts(ks):
    ratio = len(ks.revised_facts) / ks.n_facts
    assert 0.07 <= ratio <= 0.13
    ents = {e["id"]: e for e in ks.entities}
    values = defaultdict(set)
    for e in ks.entities:
        for rel, v in e["attributes"].items():
            values[rel].add(v)
    names_of_kind = defaultdict(set)
    for e in ks.entities:
        names_of_kind[e["kind"]].add(e["name"])
    sources = {rel: src for rels in worldgen.RELATIONS.values() for rel, src in rels}
    for f in ks.revised_facts:
        rel, new = f["relation"], f["new"]
        assert f["old"] == ents[f["entity_id"]]["attributes"][rel]
        assert new != f["old"]
        src = sources[rel]  # the new value comes from the relation's own value set
        if isinstance(src, tuple):
            assert new in src
        elif src == "years":
            lo, hi = worldgen.YEAR_RANGES[rel]
            assert lo <= int(new) <= hi
        elif src in names_of_kind:
            assert new in names_of_kind[src]
        else:  # made-up countries / rivers
            assert new in values[rel] or new[0].isupper()
    assert len(ks.revised_test_qa) == len(worldgen.SPLIT_TEMPLATES["test"]) * len(ks.revised_facts)
    revised = {(f["entity_id"], f["relation"]): f for f in ks.revised_facts}
    test_by_fact = {(q.entity_id, q.relation, q.template): q for q in ks.test_qa}
    for q in ks.revised_test_qa:
        f = revised[(q.entity_id, q.relation)]
        assert q.answer == f["new"] and q.old_answer == f["old"] and q.answer != q.old_answer
        assert q.old_answer in q.options
        assert q.question == test_by_fact[(q.entity_id, q.relation, q.template)].question
        doc = document_for(ks, q)
        assert doc.id == f"rev-{q.entity_id}" and doc.metadata["source"] == "revised"
        assert q.answer in doc.text
        assert not re.search(rf"\b{re.escape(q.old_answer)}\b", doc.text)


def test_revised_documents_differ_only_where_revised(ks):
    changed = {f["entity_id"] for f in ks.revised_facts}
    by_id = documents_by_id(ks)
    for e in ks.entities:
        same = by_id[f"doc-{e['id']}"].text == by_id[f"rev-{e['id']}"].text
        assert same == (e["id"] not in changed)


def test_control_set(ks):
    assert len(ks.control_qa) >= 40
    assert len({q.question for q in ks.control_qa}) == len(ks.control_qa)
    for q in ks.control_qa:
        assert q.entity_id is None and q.doc_id is None
        assert len(set(q.options)) == 4 and q.options[q.answer_index] == q.answer
        assert len(q.answer.split()) <= 3


def test_control_selection_record():
    questions = [c[0] for c in worldgen.CONTROL_CANDIDATES]
    assert len(set(questions)) == len(questions) == worldgen.CONTROL_SELECTION["candidates"]
    assert worldgen.CONTROL_KEPT <= set(questions)
    sel = worldgen.CONTROL_SELECTION
    assert len(worldgen.CONTROL) == len(worldgen.CONTROL_KEPT) == sel["kept"] == sel["passed"] - sel["dropped_by_hand"]
    for q, a, aliases, wrong in worldgen.CONTROL_CANDIDATES:
        assert len(set(wrong)) == 3 and a not in wrong
    for q, a, aliases, wrong in worldgen.CONTROL:  # a gold that normalizes to "" could never match
        assert all(worldgen.normalize(g) for g in (a, *aliases)), q
    card = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    rate = round(100 * sel["passed"] / sel["candidates"])
    assert f"{sel['passed']} of {sel['candidates']} candidates passed ({rate}%)" in card


# ---------------------------------------------------------------------------------------------
# load_knowledge


def test_load_knowledge_subset(ks):
    small = load_knowledge(n_entities=10)
    ids = [e["id"] for e in small.entities]
    assert ids == [e["id"] for e in ks.entities[:10]]
    keep = set(ids)
    assert len({e["kind"] for e in small.entities}) == len({e["kind"] for e in ks.entities})
    assert {d.metadata["entity_id"] for d in small.documents} == keep
    assert {d.metadata["entity_id"] for d in small.revised_documents} == keep
    assert {d.metadata["imitates"] for d in small.distractors} <= keep and small.distractors
    for split in ("train_qa", "dev_qa", "test_qa", "revised_test_qa"):
        qs = getattr(small, split)
        assert qs and {q.entity_id for q in qs} <= keep
        assert len(qs) == sum(1 for q in getattr(ks, split) if q.entity_id in keep)
    assert {f["entity_id"] for f in small.revised_facts} <= keep
    assert 0.07 <= len(small.revised_facts) / small.n_facts <= 0.13
    assert small.control_qa == ks.control_qa
    for q in small.test_qa + small.revised_test_qa:
        assert document_for(small, q).metadata["entity_id"] == q.entity_id
    s = small.summary()
    assert s["entities"] == 10 and s["facts"] == len(small.facts_table()) == s["test_qa"] // len(worldgen.SPLIT_TEMPLATES["test"])


@pytest.mark.parametrize("bad", [0, -3, 81, 10_000])
def test_load_knowledge_out_of_range(bad):
    with pytest.raises(ValueError, match=rf"n_entities={bad}.*1 to 80"):
        load_knowledge(n_entities=bad)


def test_load_knowledge_missing_data(tmp_path):
    # another folder than the package's data/: never suggest worldgen (it would overwrite the folder's files)
    with pytest.raises(KnowledgeError, match="is not a generated knowledge set") as err:
        load_knowledge(data_dir=tmp_path)
    assert "worldgen" not in str(err.value)


def test_load_knowledge_from_other_dir(regenerated):
    out, counts = regenerated
    other = load_knowledge(data_dir=out)
    assert len(other.train_qa) == counts["qa_train.jsonl"]


def test_facts_table(ks):
    df = ks.facts_table()
    assert list(df.columns) == ["entity_id", "entity", "kind", "relation", "value"]
    row = df.iloc[0]
    assert ks.entities[0]["attributes"][row["relation"]] == row["value"]


def test_sample_card(ks):
    from lorag_nb.data.knowledge import sample_card

    card = sample_card(ks, index=1)
    e = ks.entities[1]
    assert e["name"] in card and ks.documents[1].text in card
    test_q = next(q for q in ks.test_qa if q.entity_id == e["id"])
    assert test_q.question in card
    with pytest.raises(IndexError, match="0 to 79"):
        sample_card(ks, index=80)


def test_document_for_errors(ks):
    with pytest.raises(KeyError, match="no gold document"):
        document_for(ks, ks.control_qa[0])
    small = load_knowledge(n_entities=4)
    with pytest.raises(KeyError, match="not in this knowledge set"):
        document_for(small, ks.test_qa[-1])


# ---------------------------------------------------------------------------------------------
# Bring your own documents


def test_load_documents_folder(tmp_path):
    (tmp_path / "b.md").write_text("# B\n\nSecond file.\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("  First file, café.  ", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text("Nested.", encoding="utf-8")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a-checkpoint.txt").write_text("x", encoding="utf-8")
    docs = load_documents_folder(tmp_path)
    assert [d.id for d in docs] == ["a.txt", "b.md", "sub/c.md"]
    assert docs[0].text == "First file, café." and docs[0].title == "a"
    assert docs[2].metadata == {"source": "file", "path": "sub/c.md"}
    assert all(isinstance(d, Document) for d in docs)


def test_documents_folder_missing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(KnowledgeError, match=re.escape(str(missing)) + ".*does not exist"):
        load_documents_folder(missing)


def test_documents_folder_is_a_file(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="not a folder"):
        load_documents_folder(f)


def test_documents_folder_empty(tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(KnowledgeError, match=re.escape(str(tmp_path)) + ".*no .md or .txt"):
        load_documents_folder(tmp_path)


def test_documents_folder_not_utf8(tmp_path):
    (tmp_path / "good.md").write_text("fine", encoding="utf-8")
    bad = tmp_path / "latin.txt"
    bad.write_bytes("line one\nline two caf\xe9\n".encode("latin-1"))
    with pytest.raises(KnowledgeError, match=re.escape(str(bad)) + ", line 2: not UTF-8"):
        load_documents_folder(tmp_path)


def test_documents_folder_empty_file(tmp_path):
    (tmp_path / "good.md").write_text("fine", encoding="utf-8")
    empty = tmp_path / "empty.md"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=re.escape(str(empty)) + " is empty"):
        load_documents_folder(tmp_path)


# ---------------------------------------------------------------------------------------------
# Bring your own questions


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_qa_jsonl(tmp_path):
    p = _write_lines(tmp_path / "qa.jsonl", [
        json.dumps({"question": "Who wrote it?", "answer": "Ada"}),
        "",
        json.dumps({"question": "Colour?", "answer": "red", "id": "q7", "aliases": ["crimson"],
                    "options": ["blue", "red", "green", "black"], "doc_id": "notes.md"}),
    ])
    qas = load_qa_jsonl(p)
    assert [q.id for q in qas] == ["qa-1", "q7"]
    assert qas[0] == QA(id="qa-1", question="Who wrote it?", answer="Ada")
    assert qas[1].golds == ["red", "crimson"] and qas[1].answer_index == 1 and qas[1].doc_id == "notes.md"


@pytest.mark.parametrize("line, message", [
    ('{"question": "Q?", "answer": ', "line 2: invalid JSON"),
    ('{"answer": "A"}', 'line 2: missing "question"'),
    ('{"question": "Q?"}', 'line 2: missing "answer"'),
    ('{"question": "Q?", "answer": 42}', 'line 2: "answer" must be a string'),
    ('{"question": ["Q?"], "answer": "A"}', 'line 2: "question" must be a string'),
    ('["Q?", "A"]', "line 2: expected a JSON object"),
    ('{"question": "Q?", "answer": "A", "aliases": "B"}', 'line 2: "aliases" must be a list'),
])
def test_qa_jsonl_errors(tmp_path, line, message):
    p = _write_lines(tmp_path / "mine.jsonl", [json.dumps({"question": "ok?", "answer": "ok"}), line])
    with pytest.raises(KnowledgeError, match=re.escape(f"{p}, {message}")):
        load_qa_jsonl(p)


def test_qa_jsonl_empty(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=re.escape(str(p)) + " is empty"):
        load_qa_jsonl(p)


def test_qa_jsonl_missing_file(tmp_path):
    with pytest.raises(KnowledgeError, match="does not exist"):
        load_qa_jsonl(tmp_path / "nope.jsonl")


def test_qa_jsonl_not_utf8(tmp_path):
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"question": "ok?", "answer": "ok"}\n{"question": "caf\xe9?", "answer": "x"}\n')
    with pytest.raises(KnowledgeError, match=re.escape(f"{p}, line 2: not UTF-8")):
        load_qa_jsonl(p)


def test_knowledge_error_is_value_error():
    assert issubclass(KnowledgeError, ValueError)


# ---------------------------------------------------------------------------------------------
# Python's documentation


def test_load_python_docs():
    docs = load_python_docs()
    assert len(docs) > 50
    assert [d.title for d in docs] == sorted(d.title for d in docs)
    assert all(d.id == f"pydoc-{d.title}" and d.metadata["source"] == "pydoc" for d in docs)
    assert all(len(d.text) >= 200 for d in docs)
    assert [d.id for d in load_python_docs(n=5)] == [d.id for d in docs[:5]]
    assert len(load_python_docs(min_chars=5000)) < len(docs)
    with pytest.raises(ValueError, match="n=0"):
        load_python_docs(n=0)


def test_perplexity_texts():
    texts = perplexity_texts()
    assert len(texts) == 8 and texts == perplexity_texts()
    assert all(0 < len(t) <= 2000 for t in texts)
    assert len(set(texts)) == 8
    assert len(perplexity_texts(n_texts=3, max_chars=500)) == 3
    with pytest.raises(ValueError):
        perplexity_texts(n_texts=10_000)
