"""A reader's own folder as a knowledge set, and the :class:`KnowledgeSet` type itself.

:class:`KnowledgeSet` bundles the splits every stage uses; it is defined here, next to the folder loader,
because :meth:`KnowledgeSet.from_folder` calls :func:`load_folder` and the loader builds knowledge sets (one
module, no import cycle); :func:`lorag_nb.data.knowledge.load_knowledge` builds the generated world's.
Here: reading a folder's documents and JSON Lines questions with errors that name the file and line
(:func:`load_documents_folder`, :func:`load_qa_jsonl`), the folder layout (``USER_*``), its fingerprint,
generated multiple-choice options, linking every question (:mod:`lorag_nb.data.linking`), the dev split,
the revised folder, and the check a reader runs first (:func:`check_folder`, :func:`format_check`).
Import the public names from :mod:`lorag_nb.data.knowledge`, which re-exports them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from lorag_nb.data.linking import Linker, link_counts, title_of
from lorag_nb.data.records import DATA_DIR, QA, Document, KnowledgeError, iter_jsonl_lines, read_jsonl_checked, to_qa


@dataclass
class KnowledgeSet:
    """The fictional world and its questions, as loaded by :func:`load_knowledge`.

    Attributes:
        entities: ``{"id", "name", "kind", "attributes": {relation: value}}`` dicts, in file order
            (kinds interleaved: person, city, company, creature, person, …).
        documents: one prose :class:`Document` per entity (``doc-eNNN``, source ``"world"``).
        distractors: near-duplicate documents about look-alike entities (``dis-eNNN``, source
            ``"distractor"``, ``metadata["imitates"]`` is the imitated entity id).
        revised_documents: every document rewritten with the revised facts (``rev-eNNN``).
        train_qa: training questions, several wordings per fact (no options).
        dev_qa: one question per fact, dev wordings, 4 options.
        test_qa: one question per fact, wordings never used in training or dev, 4 options.
        revised_test_qa: test-wording questions about revised facts: ``answer`` is the new value,
            ``old_answer`` the old one, ``doc_id`` the revised document.
        control_qa: real general-knowledge questions the base model answers closed book (forgetting).
        revised_facts: ``{"entity_id", "relation", "old", "new"}`` dicts.
        source: ``"builtin"`` (the generated world) or ``"folder"`` (a user folder, :meth:`from_folder`).
        root: the user folder (absolute path), ``None`` for the built-in world.
        fingerprint: :func:`folder_fingerprint` of the user folder, ``None`` for the built-in world.
        notes: what a reader of a run on this set must know (generated options, dev split, control set,
            no revised/ folder, unlinked questions), one sentence each.
    """

    entities: list[dict]
    documents: list[Document]
    distractors: list[Document]
    revised_documents: list[Document]
    train_qa: list[QA]
    dev_qa: list[QA]
    test_qa: list[QA]
    revised_test_qa: list[QA]
    control_qa: list[QA]
    revised_facts: list[dict]
    source: str = "builtin"
    root: str | None = None
    fingerprint: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_facts(self) -> int:
        """Number of (entity, relation, value) facts; for a user folder, the distinct facts of its test questions."""
        if self.source != "builtin":
            return len({q.fact for q in self.test_qa})
        return sum(len(e["attributes"]) for e in self.entities)

    @classmethod
    def from_folder(cls, path: str | Path, n_entities: int | None = None) -> "KnowledgeSet":
        """A user folder of documents and questions as a knowledge set (see :func:`load_folder`)."""
        return load_folder(path, n_entities)

    def summary(self) -> dict[str, int]:
        """Counts: entities, kinds, relations, facts, and the length of every list."""
        return {
            "entities": len(self.entities),
            "kinds": len({e["kind"] for e in self.entities}),
            "relations": len({r for e in self.entities for r in e["attributes"]}),
            "facts": self.n_facts,
            "documents": len(self.documents),
            "distractors": len(self.distractors),
            "revised_documents": len(self.revised_documents),
            "train_qa": len(self.train_qa),
            "dev_qa": len(self.dev_qa),
            "test_qa": len(self.test_qa),
            "revised_facts": len(self.revised_facts),
            "revised_test_qa": len(self.revised_test_qa),
            "control_qa": len(self.control_qa),
        }

    def facts_table(self):
        """A pandas DataFrame with one row per fact: ``entity_id, entity, kind, relation, value``.

        Rows are in entity order, relations in the entity's (alphabetical) attribute order.
        """
        import pandas as pd

        rows = [
            {"entity_id": e["id"], "entity": e["name"], "kind": e["kind"], "relation": rel, "value": value}
            for e in self.entities
            for rel, value in e["attributes"].items()
        ]
        return pd.DataFrame(rows, columns=["entity_id", "entity", "kind", "relation", "value"])


# ------------------------------------------------------------------------------------------------
# Bring your own documents and questions

_TEXT_SUFFIXES = (".md", ".txt")


def _line_of_byte(path: Path, offset: int) -> int:
    """1-based line number of byte ``offset`` in ``path`` (for decoding errors)."""
    return Path(path).read_bytes()[:offset].count(b"\n") + 1


def load_documents_folder(path: str | Path) -> list[Document]:
    """Read every ``.md`` and ``.txt`` file under a folder (recursively) as one :class:`Document` each.

    Files are sorted by their path relative to the folder; hidden files and folders (name starting
    with ``.``, e.g. ``.ipynb_checkpoints``) are skipped. Each document has ``id`` = the relative path
    with ``/`` separators (e.g. ``"notes/intro.md"``), ``title`` = the file name without suffix, the
    file's text (UTF-8, surrounding whitespace stripped), and ``metadata`` = ``{"source": "file",
    "path": <relative path>}``.

    Raises:
        KnowledgeError: (one message naming the folder or the file) the folder does not exist or is not
            a folder; it holds no ``.md``/``.txt`` file; a file is not UTF-8 (with the line of the first
            bad byte); a file is empty or only whitespace.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise KnowledgeError(f"document folder {root} does not exist")
    if not root.is_dir():
        raise KnowledgeError(f"{root} is not a folder: pass a folder of .md/.txt files")
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _TEXT_SUFFIXES
         and not any(part.startswith(".") for part in p.relative_to(root).parts)),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        raise KnowledgeError(f"document folder {root} has no .md or .txt files")
    docs = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        data = p.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise KnowledgeError(f"{p}, line {line}: not UTF-8 text ({err.reason}); save it as UTF-8") from None
        text = text.lstrip("\ufeff").strip()
        if not text:
            raise KnowledgeError(f"{p} is empty: remove it or add text")
        docs.append(Document(id=rel, text=text, title=p.stem, metadata={"source": "file", "path": rel}))
    return docs


def load_qa_jsonl(path: str | Path) -> list[QA]:
    """Read questions from a JSON Lines file: one ``{"question": str, "answer": str}`` object a line.

    Optional fields: ``id`` (default ``"<file stem>-<line>"``), ``aliases`` (list of str), ``options``
    (list of str) with ``answer_index`` (int; default: the position of ``answer`` in ``options``),
    ``doc`` (the file name of the question's document; kept in ``doc_id`` until
    :meth:`KnowledgeSet.from_folder` resolves it), ``doc_id``, ``entity_id``, ``relation``, ``fact``
    (questions with the same ``fact`` ask about one fact: ``QA.fact_id``), ``old_answer`` (revised
    questions). Blank lines are skipped.

    Raises:
        KnowledgeError: (naming the file, and the line where there is one) the file is missing, not
            UTF-8, or has no question; a line is not valid JSON or not an object; ``"question"`` or
            ``"answer"`` is missing, not a string, or empty; an optional field has the wrong type.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise KnowledgeError(f"question file {p} does not exist")
    qas = []
    linenos: list[int] = []
    for lineno, row in iter_jsonl_lines(p):  # each line checked as it is read: the first bad line is reported
        where = f"{p}, line {lineno}"
        for key in ("question", "answer"):
            if key not in row:
                near = [k for k in row if isinstance(k, str) and k.strip().lower() == key and k != key]
                hint = f"; found {near[0]!r}: keys are lower case" if near else ""
                raise KnowledgeError(f"{where}: missing \"{key}\" (each line needs \"question\" and \"answer\"){hint}")
            if not isinstance(row[key], str):
                raise KnowledgeError(f"{where}: \"{key}\" must be a string, got {type(row[key]).__name__}")
            if not row[key].strip():
                raise KnowledgeError(f"{where}: \"{key}\" is empty")
        for key in ("aliases", "options"):
            value = row.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise KnowledgeError(f"{where}: \"{key}\" must be a list of strings")
        for key in ("id", "doc", "doc_id", "entity_id", "relation", "fact", "old_answer"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise KnowledgeError(f"{where}: \"{key}\" must be a string")
        options = row.get("options", [])
        answer_index = row.get("answer_index")
        if answer_index is None and options and row["answer"] in options:
            answer_index = options.index(row["answer"])
        if answer_index is not None and (isinstance(answer_index, bool) or not isinstance(answer_index, int)
                                         or not 0 <= answer_index < len(options)):
            raise KnowledgeError(f"{where}: \"answer_index\" must be an index into \"options\"")
        linenos.append(lineno)
        qas.append(QA(
            id=row.get("id") or f"{p.stem}-{lineno}",
            question=row["question"].strip(),
            answer=row["answer"].strip(),
            entity_id=row.get("entity_id"),
            relation=row.get("relation"),
            doc_id=row.get("doc") or row.get("doc_id"),
            options=tuple(options),
            answer_index=answer_index,
            aliases=tuple(row.get("aliases", [])),
            old_answer=row.get("old_answer"),
            fact_id=row.get("fact"),
        ))
    if not qas:
        raise KnowledgeError(f"question file {p} is empty: expected one {{\"question\", \"answer\"}} object per line")
    seen: dict[str, int] = {}
    for lineno, q in zip(linenos, qas):
        if q.id in seen:
            raise KnowledgeError(f"{p}, line {lineno}: \"id\" {q.id!r} is also on line {seen[q.id]}; valid: a distinct id per question (or no id)")
        seen[q.id] = lineno
    return qas


# ------------------------------------------------------------------------------------------------
# A user folder as a knowledge set: docs/ + qa_train.jsonl + qa_test.jsonl (+ qa_dev.jsonl, control.jsonl,
# revised/docs/ + revised/qa_test.jsonl)

USER_DOCS = "docs"
USER_TRAIN = "qa_train.jsonl"
USER_TEST = "qa_test.jsonl"
USER_DEV = "qa_dev.jsonl"
USER_CONTROL = "control.jsonl"
USER_REVISED = "revised"
#: Example knowledge folders of a checkout (repository data, outside the package): ``examples/lighthouses``.
EXAMPLES_DIR = DATA_DIR.parents[2] / "examples"
#: Share of a user folder's training questions held out as the dev split when it has no qa_dev.jsonl.
DEV_SHARE = 0.2
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})$")
_NUMBER = re.compile(r"^[-+]?[0-9][0-9.,]*$")


def folder_fingerprint(path: str | Path) -> str:
    """SHA-256 (first 12 hex digits) over the relative path and bytes of every file under ``path``
    (hidden files and folders skipped, sorted by path): editing, adding, removing or renaming a file
    changes it; touching a file (same bytes) does not.

    Raises:
        KnowledgeError: ``path`` is not a folder.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise KnowledgeError(f"knowledge folder {root} does not exist or is not a folder")
    h = hashlib.sha256()
    for p in sorted((p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)),
                    key=lambda p: p.relative_to(root).as_posix()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]


def answer_shape(answer: str) -> str:
    """``"year"`` (4 digits, 1000-2099), ``"number"`` (digits with ``.``/``,``) or ``"text"``: the shape
    :func:`generated_options` matches distractors on."""
    a = answer.strip()
    return "year" if _YEAR.match(a) else "number" if _NUMBER.match(a) else "text"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def generated_options(qa: QA, pool: Sequence[QA], n_options: int = 4, must_include: Sequence[str] = ()) -> tuple[tuple[str, ...], int | None]:
    """Multiple-choice options for a question that has none: the gold answer plus ``n_options - 1``
    distractors drawn from the answers of other questions, seeded by the question id (same question,
    same pool → same options).

    Distractors are answers of ``pool`` that differ from the gold answer and its aliases (compared
    lowercase, spaces collapsed), taken in tiers until there are enough: ``must_include`` first (e.g. a
    revised question's old answer), then answers of questions with the same ``relation`` (when the
    question has one) and the same :func:`answer_shape`, then the same shape, then any answer. Within a
    tier the draw is ``random.Random("options:" + qa.id)``; the gold answer's position is drawn too.

    Returns:
        ``(options, answer_index)``; ``((), None)`` when the pool has fewer than ``n_options - 1``
        distinct other answers (multiple choice is then "n/a (no options)" for this question).
    """
    rng = random.Random(f"options:{qa.id}")
    gold = {_norm(g) for g in qa.golds}
    shape = answer_shape(qa.answer)
    answers: dict[str, tuple[str, str | None, str]] = {}
    for q in pool:
        key = _norm(q.answer)
        if key not in gold and key not in answers:
            answers[key] = (q.answer, q.relation, answer_shape(q.answer))
    tiers = [
        [a for a in dict.fromkeys(must_include) if _norm(a) not in gold],
        sorted(a for a, rel, sh in answers.values() if qa.relation and rel == qa.relation and sh == shape),
        sorted(a for a, _rel, sh in answers.values() if sh == shape),
        sorted(a for a, _rel, _sh in answers.values()),
    ]
    chosen: list[str] = []
    seen = set(gold)
    for tier in tiers:
        tier = [a for a in tier if _norm(a) not in seen]
        rng.shuffle(tier)
        for a in tier:
            if len(chosen) < n_options - 1 and _norm(a) not in seen:
                chosen.append(a)
                seen.add(_norm(a))
    if len(chosen) < n_options - 1:
        return (), None
    index = rng.randrange(n_options)
    options = chosen[:index] + [qa.answer] + chosen[index:]
    return tuple(options), index


def _link_all(qas: list[QA], docs: Sequence[Document], path: Path, entity_of=None, linker: "Linker | None" = None) -> tuple[list[QA], list[dict]]:
    """Resolve ``doc_id`` of every question (see :class:`Linker`); ``fact_id`` defaults to the id."""
    linker = linker or Linker(docs)
    out, links = [], []
    for q in qas:
        try:
            doc_id, rule = linker.link(q.question, q.doc_id, q.golds)
        except KnowledgeError as err:
            raise KnowledgeError(f"{path}, question {q.id}: {err}") from None
        entity = entity_of(doc_id) if entity_of and doc_id else doc_id
        # without a "fact" field, the wordings of one fact are the questions about one document with one answer
        fact = q.fact_id or (f"{doc_id}/{_norm(q.answer)}" if doc_id else q.id)
        out.append(dataclasses.replace(q, doc_id=doc_id, entity_id=entity, fact_id=fact))
        links.append({"file": path.name, "id": q.id, "question": q.question, "doc": doc_id, "rule": rule})
    return out, links


#: Share of a folder's questions that may stay unlinked before the loader warns (``"doc"`` fields fix it).
UNLINKED_WARN_SHARE = 0.1


def _with_options(qas: list[QA], pool: Sequence[QA], old_answers: bool = False) -> list[QA]:
    out = []
    for q in qas:
        if q.options:
            out.append(q)
            continue
        opts, idx = generated_options(q, pool, must_include=[q.old_answer] if old_answers and q.old_answer else ())
        out.append(dataclasses.replace(q, options=opts, answer_index=idx, generated_options=bool(opts)))
    return out


_FOLDER_CACHE: dict[tuple[str, str], tuple[KnowledgeSet, dict]] = {}


def _read_folder(root: Path) -> tuple[KnowledgeSet, dict]:
    """The whole folder as a knowledge set plus the facts :func:`check_folder` reports (cached per
    folder and fingerprint)."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise KnowledgeError(f"knowledge folder {root} does not exist; valid: a folder with {USER_DOCS}/, {USER_TRAIN} and {USER_TEST}")
    fp = folder_fingerprint(root)
    hit = _FOLDER_CACHE.get((str(root), fp))
    if hit is not None:
        return hit
    for name in (USER_DOCS,):
        if not (root / name).is_dir():
            raise KnowledgeError(f"{root / name} is missing: a knowledge folder needs {USER_DOCS}/ (.md/.txt documents), {USER_TRAIN} and {USER_TEST}")
    for name in (USER_TRAIN, USER_TEST):
        if not (root / name).is_file():
            raise KnowledgeError(f"{root / name} is missing: a knowledge folder needs {USER_DOCS}/ (.md/.txt documents), {USER_TRAIN} and {USER_TEST} "
                                 "(JSON Lines, one {\"question\", \"answer\"} object a line)")
    docs = load_documents_folder(root / USER_DOCS)
    docs = [dataclasses.replace(d, title=title_of(d), metadata={**d.metadata, "entity_id": d.id, "source": "file"}) for d in docs]
    notes, warns = [], []
    skipped = sorted(q.relative_to(root / USER_DOCS).as_posix() for q in (root / USER_DOCS).rglob("*") if q.is_file() and q.suffix.lower() not in _TEXT_SUFFIXES
                     and not any(part.startswith(".") for part in q.relative_to(root / USER_DOCS).parts))
    if skipped:
        notes.append(f"{len(skipped)} files under {USER_DOCS}/ are not .md/.txt and are left out (e.g. {', '.join(skipped[:3])}): save them as text to include them")
    linker = Linker(docs)
    train, train_links = _link_all(load_qa_jsonl(root / USER_TRAIN), docs, root / USER_TRAIN, linker=linker)
    test, test_links = _link_all(load_qa_jsonl(root / USER_TEST), docs, root / USER_TEST, linker=linker)
    if (root / USER_DEV).is_file():
        dev, dev_links = _link_all(load_qa_jsonl(root / USER_DEV), docs, root / USER_DEV, linker=linker)
        notes.append(f"dev split: {USER_DEV} ({len(dev)} questions)")
    else:
        rng = random.Random("dev-split")
        by_fact: dict[str, list[str]] = {}
        for q in train:
            by_fact.setdefault(q.fact, []).append(q.id)
        several = sorted(f for f, ids in by_fact.items() if len(ids) > 1)  # every fact keeps a training wording
        n_dev = min(len(several), max(1, round(DEV_SHARE * len(train))))
        dev_ids = {rng.choice(by_fact[f]) for f in rng.sample(several, n_dev)}
        if not several and len(train) > 1:
            # no fact has two wordings (no "fact" fields: every question is its own fact): hold out whole training
            # questions, first those whose fact no test question asks about, so every tested fact stays taught
            tested = {q.fact for q in test}
            pool = sorted(f for f in by_fact if f not in tested) or sorted(by_fact)
            n_dev = min(len(pool), len(train) - 1, max(1, round(DEV_SHARE * len(train))))
            dev_ids = {by_fact[f][0] for f in rng.sample(pool, n_dev)}
            notes.append(f"dev split: no {USER_DEV} and no fact has two training wordings, so {n_dev} of the {len(train)} training questions (seeded) are held out "
                         f"as the dev split; {sum(1 for f in (q.fact for q in train if q.id in dev_ids) if f in tested)} of them ask about a tested fact")
        dev = [q for q in train if q.id in dev_ids]
        train = [q for q in train if q.id not in dev_ids]
        dev_links = [l for l in train_links if l["id"] in dev_ids]
        train_links = [l for l in train_links if l["id"] not in dev_ids]  # each question listed once, in its split
        if several:
            notes.append(f"dev split: no {USER_DEV}, so {len(dev)} of the {len(dev) + len(train)} training questions (one wording of as many facts "
                         "with several wordings, seeded) are the dev split")
        if not dev:
            raise KnowledgeError(f"{root / USER_TRAIN}: one training question is too few to hold out a dev split; add {USER_DEV}, "
                                 "more training questions, or a second wording (same \"fact\") of some")
    pool = [*train, *dev, *test]
    n_given = sum(1 for q in [*dev, *test] if q.options)
    dev, test = _with_options(dev, pool), _with_options(test, pool)
    n_gen = sum(1 for q in [*dev, *test] if q.generated_options)
    n_na = sum(1 for q in [*dev, *test] if not q.options)
    if n_gen:
        notes.append(f"generated options: {n_gen} dev/test questions have 4 multiple-choice options generated from other questions' answers "
                     "(same relation and answer shape first, seeded by the question id)" + (f"; {n_given} have their own" if n_given else ""))
    if n_na:
        notes.append(f"multiple choice: n/a (no options) for {n_na} questions (fewer than 4 distinct answers)")
    train_text = {_norm(q.question): q for q in train}
    for q in test:
        if _norm(q.question) in train_text:
            warns.append(f"{root / USER_TEST}, question {q.id}: also in {USER_TRAIN} ({train_text[_norm(q.question)].id}): "
                         f"{q.question!r} is not held out; reword it or remove it from one file")
    if (root / USER_CONTROL).is_file():
        control = _with_options(load_qa_jsonl(root / USER_CONTROL), load_qa_jsonl(root / USER_CONTROL))
        notes.append(f"control set (forgetting): {USER_CONTROL} of the folder ({len(control)} questions)")
    else:
        control = [to_qa(r) for r in read_jsonl_checked(DATA_DIR / "control.jsonl")]
        notes.append(f"control set (forgetting): the package's {len(control)} general-knowledge questions (the folder has no {USER_CONTROL})")
    revised_docs: list[Document] = []
    revised_qa: list[QA] = []
    revised_facts: list[dict] = []
    rev = root / USER_REVISED
    if rev.is_dir():
        if not (rev / USER_DOCS).is_dir() or not (rev / USER_TEST).is_file():
            raise KnowledgeError(f"{rev} needs {USER_DOCS}/ (the revised documents) and {USER_TEST} (questions with \"answer\" = the new value and \"old_answer\")")
        changed = {d.id: d for d in load_documents_folder(rev / USER_DOCS)}
        unknown = sorted(set(changed) - {d.id for d in docs})
        if unknown:
            raise KnowledgeError(f"{rev / USER_DOCS}: {', '.join(unknown[:5])} {'is' if len(unknown) == 1 else 'are'} not in {root / USER_DOCS}; "
                                 f"valid: a changed copy of a document, under the same path ({', '.join(d.id for d in docs[:5])}{' …' if len(docs) > 5 else ''})")
        revised_docs = [Document(id=f"{USER_REVISED}/{d.id}", text=changed.get(d.id, d).text, title=title_of(changed.get(d.id, d)),
                                 metadata={"path": d.id, "entity_id": d.id, "source": "revised"}) for d in docs]
        revised_docs += [Document(id=f"{USER_REVISED}/{i}", text=d.text, title=title_of(d), metadata={"path": i, "entity_id": f"{USER_REVISED}/{i}", "source": "revised"})
                         for i, d in changed.items() if i not in {x.id for x in docs}]
        raw = load_qa_jsonl(rev / USER_TEST)
        for q in raw:
            if not q.old_answer:
                raise KnowledgeError(f"{rev / USER_TEST}, question {q.id}: missing \"old_answer\" (each revised question needs \"answer\" = new value and \"old_answer\")")
        revised_qa, _ = _link_all(raw, revised_docs, rev / USER_TEST, entity_of=lambda did: next(d.metadata["entity_id"] for d in revised_docs if d.id == did))
        revised_qa = [dataclasses.replace(q, id=f"{USER_REVISED}/{q.id}", fact_id=f"{USER_REVISED}/{q.fact_id}") for q in revised_qa]
        revised_qa = _with_options(revised_qa, [*pool, *revised_qa], old_answers=True)
        revised_facts = [{"entity_id": q.entity_id, "relation": q.relation or q.fact, "old": q.old_answer, "new": q.answer} for q in revised_qa]
        notes.append(f"revised facts: {USER_REVISED}/ changes {len(changed)} documents (the others are unchanged in the revised knowledge base) "
                     f"and has {len(revised_qa)} questions")
    else:
        notes.append(f"swap experiment skipped: {root} has no {USER_REVISED}/ folder")
    all_links = [*train_links, *dev_links, *test_links]
    notes.append("links: " + link_counts(all_links))
    unlinked = [l for l in all_links if l["doc"] is None]
    if unlinked:
        notes.append(f"{len(unlinked)} of {len(all_links)} questions are linked to no document (see `lorag-nb check-knowledge` for each one's reason): "
                     "retrieval metrics (hit@k, MRR) and RAFT leave them out; every other measurement uses them")
    if len(unlinked) > UNLINKED_WARN_SHARE * len(all_links):
        warns.append(f"{root}: {len(unlinked)} of {len(all_links)} questions ({len(unlinked) / len(all_links):.0%}) are linked to no document; "
                     "add a \"doc\" field (the document's file name) to those lines, e.g. "
                     + ", ".join(f"{l['file']} {l['id']}" for l in unlinked[:3]))
    entities = []
    for d in docs:
        attrs = {}
        for q in test:
            if q.entity_id == d.id:
                attrs[q.relation or q.fact] = q.answer
        entities.append({"id": d.id, "name": d.title, "kind": "document", "attributes": attrs})
    ks = KnowledgeSet(entities=entities, documents=docs, distractors=[], revised_documents=revised_docs, train_qa=train, dev_qa=dev,
                      test_qa=test, revised_test_qa=revised_qa, control_qa=control, revised_facts=revised_facts,
                      source="folder", root=str(root), fingerprint=fp, notes=notes)
    info = {"links": [*train_links, *dev_links, *test_links], "warnings": warns}
    for w in warns:
        warnings.warn(w, UserWarning, stacklevel=3)
    _FOLDER_CACHE[(str(root), fp)] = (ks, info)
    return ks, info


def load_folder(path: str | Path, n_entities: int | None = None) -> KnowledgeSet:
    """A user folder as a :class:`KnowledgeSet` that every method runs on unchanged.

    Layout (``DIR``)::

        docs/*.md|*.txt        the documents (recursively; one pseudo-entity per document, kind "document")
        qa_train.jsonl         {"question", "answer"} a line; optional "doc" (file name), "fact", "relation",
                               "aliases", "id"
        qa_test.jsonl          the held-out questions, same fields
        qa_dev.jsonl           optional; else one training wording of a seeded 20% of the facts with several
                               wordings (moved out of training; every fact keeps a training wording)
        control.jsonl          optional control set for forgetting; else the package's general-knowledge set
        revised/docs/, revised/qa_test.jsonl   optional: the changed documents (same file names; the revised
                               knowledge base is docs/ with these replaced) and questions with "old_answer"
                               (the swap experiment; without it the notebooks skip it and say why)

    Each question's ``doc_id`` comes from :func:`link_question`; ``fact_id`` is its ``"fact"`` field or its
    own id; dev/test questions without options get :func:`generated_options`. There are no distractor
    documents (RAG and RAFT draw distractors from the folder's other documents). Nothing is ever written
    into the folder. Loaded folders are cached per (path, :func:`folder_fingerprint`).

    Args:
        n_entities: keep the first N documents (sorted by path) and the questions linked to them; None, or
            N at least the number of documents, keeps everything (unlinked questions included).

    Raises:
        KnowledgeError: naming the file (and line or question): a missing ``docs/``, ``qa_train.jsonl`` or
            ``qa_test.jsonl``; a bad document or JSONL line (see :func:`load_documents_folder`,
            :func:`load_qa_jsonl`); a ``"doc"`` that names no document; a revised question without ``old_answer``.
        ValueError: ``n_entities`` below 1 or not an int.
    """
    ks, _info = _read_folder(Path(path))
    if n_entities is not None:
        if isinstance(n_entities, bool) or not isinstance(n_entities, int) or n_entities < 1:
            raise ValueError(f"n_entities={n_entities!r} must be an int >= 1 (the first N documents) or None for all")
    if n_entities is None or n_entities >= len(ks.documents):
        return dataclasses.replace(ks, **{f: list(getattr(ks, f)) for f in _LIST_FIELDS})
    keep = {d.id for d in ks.documents[:n_entities]}
    return dataclasses.replace(
        ks,
        entities=[e for e in ks.entities if e["id"] in keep],
        documents=[d for d in ks.documents if d.id in keep],
        distractors=[],
        revised_documents=[d for d in ks.revised_documents if d.metadata.get("entity_id") in keep],
        train_qa=[q for q in ks.train_qa if q.entity_id in keep],
        dev_qa=[q for q in ks.dev_qa if q.entity_id in keep],
        test_qa=[q for q in ks.test_qa if q.entity_id in keep],
        revised_test_qa=[q for q in ks.revised_test_qa if q.entity_id in keep],
        control_qa=list(ks.control_qa),
        revised_facts=[r for r in ks.revised_facts if r["entity_id"] in keep],
        notes=list(ks.notes),
    )


_LIST_FIELDS = ("entities", "documents", "distractors", "revised_documents", "train_qa", "dev_qa", "test_qa", "revised_test_qa",
                "control_qa", "revised_facts", "notes")


def check_folder(path: str | Path) -> dict:
    """Validate a knowledge folder and report what was found (``lorag-nb check-knowledge DIR``).

    Returns:
        ``{"root", "fingerprint", "documents", "train_questions", "dev_questions", "test_questions",
        "test_facts", "test_answers_in_documents" (test questions whose answer or an alias occurs verbatim,
        case-insensitively, in some document: the upper bound of what RAG can quote), "duplicated_questions"
        (test questions also in training, each ``{"test", "train", "question"}``), "answers_in_no_document"
        (``{"file", "id", "answer"}`` for every question whose answer is in no document), "links" (per
        question: file, id, question, doc, rule), "unlinked", "mc_generated", "mc_na", "revised_questions",
        "notes", "warnings"}``.

    Raises:
        KnowledgeError: as :func:`load_folder`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ks, info = _read_folder(Path(path))
    texts = [" ".join(d.text.lower().split()) for d in ks.documents]  # an answer wrapped over two lines still counts

    def in_docs(q: QA) -> bool:
        return any(" ".join(g.lower().split()) in t for g in q.golds for t in texts)

    train = {_norm(q.question): q.id for q in ks.train_qa + ks.dev_qa}
    dups = [{"test": q.id, "train": train[_norm(q.question)], "question": q.question} for q in ks.test_qa if _norm(q.question) in train]
    files = [(USER_TRAIN, ks.train_qa), (USER_DEV, ks.dev_qa), (USER_TEST, ks.test_qa)]
    return {
        "root": ks.root, "fingerprint": ks.fingerprint, "documents": len(ks.documents),
        "train_questions": len(ks.train_qa), "dev_questions": len(ks.dev_qa), "test_questions": len(ks.test_qa),
        "test_facts": ks.n_facts,
        "test_answers_in_documents": sum(in_docs(q) for q in ks.test_qa),
        "duplicated_questions": dups,
        "answers_in_no_document": [{"file": f, "id": q.id, "answer": q.answer} for f, qs in files for q in qs if not in_docs(q)],
        "links": info["links"], "unlinked": sum(1 for l in info["links"] if l["doc"] is None),
        "mc_generated": sum(q.generated_options for q in ks.dev_qa + ks.test_qa),
        "mc_na": sum(1 for q in ks.dev_qa + ks.test_qa if not q.options),
        "revised_questions": len(ks.revised_test_qa),
        "notes": list(ks.notes), "warnings": list(info["warnings"]),
    }


def format_check(report: dict, max_rows: int = 20) -> str:
    """Plain-text rendering of :func:`check_folder`'s report (what ``lorag-nb check-knowledge`` prints)."""
    r = report
    lines = [
        f"knowledge folder {r['root']} (fingerprint {r['fingerprint']})",
        f"  documents: {r['documents']}",
        f"  questions: {r['train_questions']} train, {r['dev_questions']} dev, {r['test_questions']} test ({r['test_facts']} test facts)",
        f"  test answers found verbatim in some document: {r['test_answers_in_documents']} of {r['test_questions']} (upper bound of the RAG ceiling)",
        f"  test questions also in training: {len(r['duplicated_questions'])}",
    ]
    lines += [f"    {d['test']} = {d['train']}: {d['question']}" for d in r["duplicated_questions"][:max_rows]]
    lines.append(f"  questions whose answer is in no document: {len(r['answers_in_no_document'])}")
    lines += [f"    {a['file']} {a['id']}: {a['answer']!r}" for a in r["answers_in_no_document"][:max_rows]]
    lines.append(f"  multiple choice: {r['mc_generated']} generated options, {r['mc_na']} n/a (no options)")
    lines.append(f"  linked to a document: {len(r['links']) - r['unlinked']} of {len(r['links'])} questions ({link_counts(r['links'])})")
    for l in r["links"][:max_rows]:
        lines.append(f"    {l['file']} {l['id']}: {l['doc'] or '-'} ({l['rule']})")
    if len(r["links"]) > max_rows:
        lines.append(f"    … {len(r['links']) - max_rows} more")
    lines += [f"  note: {n}" for n in r["notes"]]
    lines += [f"  WARNING: {w}" for w in r["warnings"]]
    return "\n".join(lines)
