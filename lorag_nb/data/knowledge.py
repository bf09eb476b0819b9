"""The knowledge set: documents and question-answer pairs, from ``data/`` or from the user's own files.

Types shared by every stage: :class:`Document` (what retrieval indexes and training reads) and
:class:`QA` (what training learns and evaluation scores). :class:`KnowledgeSet` bundles the splits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "files"


@dataclass(frozen=True)
class Document:
    """One source document.

    Attributes:
        id: stable id (e.g. ``"doc-e007"``); chunk ids in retrieval derive from it.
        text: the full text (plain prose or markdown).
        title: a short title (entity name, file name, topic name).
        metadata: flat JSON-able values: ``entity_id``, ``kind``, ``source`` (``"world"``,
            ``"distractor"``, ``"revised"``, ``"pydoc"``, ``"file"``), ``path`` …
    """

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class QA:
    """One question with its gold answer.

    Attributes:
        id: stable id.
        question: the question text.
        answer: the gold short answer (exact match / F1 compare against it and ``aliases``).
        entity_id: the fictional entity it is about (``None`` for control / user QA).
        relation: the attribute asked about (e.g. ``"founder"``).
        doc_id: id of the gold document (the "oracle" context), if any.
        options: multiple-choice options (4 for test/dev questions), empty if none.
        answer_index: index of the gold answer in ``options``.
        aliases: other accepted answers.
        old_answer: for revised-facts questions, the answer before the revision.
        template: index of the question wording (paraphrase) used.
    """

    id: str
    question: str
    answer: str
    entity_id: str | None = None
    relation: str | None = None
    doc_id: str | None = None
    options: tuple[str, ...] = ()
    answer_index: int | None = None
    aliases: tuple[str, ...] = ()
    old_answer: str | None = None
    template: int | None = None

    @property
    def golds(self) -> list[str]:
        """The answer followed by its aliases."""
        return [self.answer, *self.aliases]

    @property
    def fact(self) -> str:
        """The fact this question asks about, ``"<entity_id>/<relation>"`` (the statistical unit of every
        verdict, :mod:`lorag_nb.core.claims`); the question's own id when it has no entity (control, user QA)."""
        return f"{self.entity_id}/{self.relation}" if self.entity_id and self.relation else self.id


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _to_document(row: dict) -> Document:
    return Document(id=row["id"], text=row["text"], title=row.get("title", ""), metadata=dict(row.get("metadata", {})))


def _to_qa(row: dict) -> QA:
    return QA(
        id=row["id"],
        question=row["question"],
        answer=row["answer"],
        entity_id=row.get("entity_id"),
        relation=row.get("relation"),
        doc_id=row.get("doc_id"),
        options=tuple(row.get("options", ())),
        answer_index=row.get("answer_index"),
        aliases=tuple(row.get("aliases", ())),
        old_answer=row.get("old_answer"),
        template=row.get("template"),
    )


class KnowledgeError(ValueError):
    """A knowledge file or folder that cannot be used; the message names the file (and line)."""


# ------------------------------------------------------------------------------------------------
# The generated knowledge set in data/

_SPLIT_FILES = {
    "entities": "entities.jsonl",
    "documents": "documents.jsonl",
    "distractors": "distractors.jsonl",
    "revised_documents": "revised_documents.jsonl",
    "train_qa": "qa_train.jsonl",
    "dev_qa": "qa_dev.jsonl",
    "test_qa": "qa_test.jsonl",
    "revised_test_qa": "revised_qa_test.jsonl",
    "control_qa": "control.jsonl",
    "revised_facts": "revised_facts.jsonl",
}


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

    @property
    def n_facts(self) -> int:
        """Number of (entity, relation, value) facts."""
        return sum(len(e["attributes"]) for e in self.entities)

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


def load_knowledge(n_entities: int | None = None, data_dir: Path | None = None) -> KnowledgeSet:
    """Load the generated knowledge set, optionally restricted to its first ``n_entities`` entities.

    Args:
        n_entities: keep the first N entities of ``entities.jsonl`` (kinds are interleaved, so any N
            gives a mix of kinds) and only the documents, distractors, questions and revisions about
            them. ``None`` keeps all. The control set is always returned whole.
        data_dir: folder with the JSON Lines files written by ``python -m lorag_nb.data.worldgen``;
            default :data:`DATA_DIR` (``data/`` at the repository root).

    Returns:
        A :class:`KnowledgeSet`.

    Raises:
        ValueError: ``n_entities`` is below 1 or above the number of entities available (the message
            names the value and the valid range).
        KnowledgeError: a file is missing (the message says how to regenerate it) or is not valid
            JSON Lines (the message names file and line).
    """
    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    rows: dict[str, list[dict]] = {}
    for key, name in _SPLIT_FILES.items():
        path = data_dir / name
        if not path.is_file():
            raise KnowledgeError(
                f"{path} is missing: the knowledge set is incomplete. Regenerate it with "
                f"`python -m lorag_nb.data.worldgen --out {data_dir}`."
            )
        rows[key] = _read_jsonl_checked(path)
    entities = rows["entities"]
    if n_entities is not None:
        if isinstance(n_entities, bool) or not isinstance(n_entities, int):
            raise ValueError(f"n_entities={n_entities!r} must be an int from 1 to {len(entities)} (or None for all)")
        if not 1 <= n_entities <= len(entities):
            raise ValueError(f"n_entities={n_entities} is out of range: valid values are 1 to {len(entities)} (or None for all)")
        entities = entities[:n_entities]
    keep = {e["id"] for e in entities}

    def docs(key: str, field_name: str = "entity_id") -> list[Document]:
        return [_to_document(r) for r in rows[key] if r.get("metadata", {}).get(field_name) in keep]

    def qas(key: str) -> list[QA]:
        return [_to_qa(r) for r in rows[key] if r.get("entity_id") in keep]

    return KnowledgeSet(
        entities=entities,
        documents=docs("documents"),
        distractors=docs("distractors", "imitates"),
        revised_documents=docs("revised_documents"),
        train_qa=qas("train_qa"),
        dev_qa=qas("dev_qa"),
        test_qa=qas("test_qa"),
        revised_test_qa=qas("revised_test_qa"),
        control_qa=[_to_qa(r) for r in rows["control_qa"]],
        revised_facts=[r for r in rows["revised_facts"] if r["entity_id"] in keep],
    )


def documents_by_id(ks: KnowledgeSet) -> dict[str, Document]:
    """Every document of ``ks`` (world, distractor and revised) keyed by its id."""
    return {d.id: d for d in [*ks.documents, *ks.distractors, *ks.revised_documents]}


def document_for(ks: KnowledgeSet, qa: QA) -> Document:
    """The gold ("oracle") document of ``qa``: the document whose id is ``qa.doc_id``.

    Raises:
        KeyError: ``qa`` has no ``doc_id`` (control or user questions) or its document is not in ``ks``
            (e.g. a question from a larger slice than ``ks``).
    """
    if not qa.doc_id:
        raise KeyError(f"question {qa.id!r} has no gold document (doc_id is empty)")
    try:
        return documents_by_id(ks)[qa.doc_id]
    except KeyError:
        raise KeyError(f"document {qa.doc_id!r} of question {qa.id!r} is not in this knowledge set") from None


def _iter_jsonl_lines(path: Path):
    """Yield ``(line number, object)`` for each non-blank line, in file order; a line that is not UTF-8,
    not JSON or not an object raises :class:`KnowledgeError` naming the file and line when it is reached
    (so a caller that checks each row as it comes reports the first bad line of the file first)."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise KnowledgeError(f"{path}, line {lineno}: not UTF-8 text ({err.reason})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise KnowledgeError(f"{path}, line {lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(row, dict):
                raise KnowledgeError(f"{path}, line {lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def _read_jsonl_lines(path: Path) -> list[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line; errors name the file and line."""
    return list(_iter_jsonl_lines(path))


def _read_jsonl_checked(path: Path) -> list[dict]:
    """Like :func:`_read_jsonl`, but errors name the file and line."""
    return [row for _lineno, row in _read_jsonl_lines(path)]


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
    ``doc_id``, ``entity_id``, ``relation``. Blank lines are skipped.

    Raises:
        KnowledgeError: (naming the file, and the line where there is one) the file is missing, not
            UTF-8, or has no question; a line is not valid JSON or not an object; ``"question"`` or
            ``"answer"`` is missing, not a string, or empty; an optional field has the wrong type.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise KnowledgeError(f"question file {p} does not exist")
    qas = []
    for lineno, row in _iter_jsonl_lines(p):  # each line checked as it is read: the first bad line is reported
        where = f"{p}, line {lineno}"
        for key in ("question", "answer"):
            if key not in row:
                raise KnowledgeError(f"{where}: missing \"{key}\" (each line needs \"question\" and \"answer\")")
            if not isinstance(row[key], str):
                raise KnowledgeError(f"{where}: \"{key}\" must be a string, got {type(row[key]).__name__}")
            if not row[key].strip():
                raise KnowledgeError(f"{where}: \"{key}\" is empty")
        for key in ("aliases", "options"):
            value = row.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise KnowledgeError(f"{where}: \"{key}\" must be a list of strings")
        for key in ("id", "doc_id", "entity_id", "relation"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise KnowledgeError(f"{where}: \"{key}\" must be a string")
        options = row.get("options", [])
        answer_index = row.get("answer_index")
        if answer_index is None and options and row["answer"] in options:
            answer_index = options.index(row["answer"])
        if answer_index is not None and (isinstance(answer_index, bool) or not isinstance(answer_index, int)
                                         or not 0 <= answer_index < len(options)):
            raise KnowledgeError(f"{where}: \"answer_index\" must be an index into \"options\"")
        qas.append(QA(
            id=row.get("id") or f"{p.stem}-{lineno}",
            question=row["question"].strip(),
            answer=row["answer"].strip(),
            entity_id=row.get("entity_id"),
            relation=row.get("relation"),
            doc_id=row.get("doc_id"),
            options=tuple(options),
            answer_index=answer_index,
            aliases=tuple(row.get("aliases", [])),
        ))
    if not qas:
        raise KnowledgeError(f"question file {p} is empty: expected one {{\"question\", \"answer\"}} object per line")
    return qas


# ------------------------------------------------------------------------------------------------
# Real text: Python's reference documentation (pydoc_data.topics, shipped with every CPython)


def load_python_docs(n: int | None = None, min_chars: int = 200) -> list[Document]:
    """Python's reference documentation topics as documents, a real-text knowledge base.

    Source: ``pydoc_data.topics.topics`` (topic name → plain text), part of the standard library and
    under the PSF licence; read at run time, never copied into ``data/``. Its content follows the
    running Python version.

    Args:
        n: keep the first ``n`` topics (after sorting and filtering); ``None`` keeps all.
        min_chars: drop topics whose stripped text is shorter than this many characters.

    Returns:
        Documents sorted by topic name: ``id`` = ``"pydoc-<topic>"``, ``title`` = the topic,
        ``text`` = the stripped text, ``metadata`` = ``{"source": "pydoc", "topic": <topic>}``.

    Raises:
        ValueError: ``n`` is below 1 or ``min_chars`` is negative.
    """
    if n is not None and n < 1:
        raise ValueError(f"n={n} must be at least 1 (or None for all topics)")
    if min_chars < 0:
        raise ValueError(f"min_chars={min_chars} must be >= 0")
    from pydoc_data.topics import topics

    docs = [
        Document(id=f"pydoc-{name}", text=text.strip(), title=name, metadata={"source": "pydoc", "topic": name})
        for name, text in sorted(topics.items())
        if len(text.strip()) >= min_chars
    ]
    return docs if n is None else docs[:n]


def perplexity_texts(n_texts: int = 8, max_chars: int = 2000) -> list[str]:
    """A fixed, deterministic slice of Python's reference documentation for perplexity.

    Takes ``n_texts`` topics evenly spaced through the alphabetically sorted topics that have at least
    ``max_chars`` characters, and cuts each to at most ``max_chars`` characters at the last whitespace
    (so no word is split). Same Python version → same texts.

    Raises:
        ValueError: ``n_texts`` or ``max_chars`` is below 1, or fewer than ``n_texts`` topics are long
            enough.
    """
    if n_texts < 1 or max_chars < 1:
        raise ValueError(f"n_texts={n_texts} and max_chars={max_chars} must both be at least 1")
    docs = load_python_docs(min_chars=max_chars)
    if len(docs) < n_texts:
        raise ValueError(f"n_texts={n_texts}: only {len(docs)} topics have at least {max_chars} characters")
    step = len(docs) / n_texts
    texts = []
    for i in range(n_texts):
        text = docs[int(i * step)].text
        if len(text) > max_chars:
            cut = text[:max_chars]
            space = max(cut.rfind(" "), cut.rfind("\n"))
            text = cut[:space] if space > 0 else cut
        texts.append(text.rstrip())
    return texts


def sample_card(ks: KnowledgeSet, index: int = 0, max_train: int = 4) -> str:
    """Markdown card for one entity: its document, its facts, and the questions asked about one fact
    (training wordings, then the held-out test wording with its 4 options).

    Raises:
        IndexError: ``index`` is outside ``0 .. len(ks.entities) - 1``.
    """
    if not 0 <= index < len(ks.entities):
        raise IndexError(f"index={index} is out of range: valid 0 to {len(ks.entities) - 1}")
    entity = ks.entities[index]
    doc = next(d for d in ks.documents if d.metadata.get("entity_id") == entity["id"])
    facts = ", ".join(f"*{k}*: {v}" for k, v in entity["attributes"].items())
    test = next(q for q in ks.test_qa if q.entity_id == entity["id"])
    train = [q for q in ks.train_qa if q.entity_id == entity["id"] and q.relation == test.relation][:max_train]
    lines = [f"**{entity['name']}** ({entity['kind']}, `{doc.id}`)", "", f"> {doc.text}", "", f"Facts: {facts}", "",
             f"Questions about *{test.relation}* (answer: **{test.answer}**):", ""]
    lines += [f"- train: {q.question}" for q in train]
    lines.append(f"- test (held out): {test.question} — options: {', '.join(test.options)}")
    return "\n".join(lines)
