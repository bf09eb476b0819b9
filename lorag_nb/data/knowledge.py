"""The knowledge set: documents and question-answer pairs, from ``data/`` or from the user's own files.

Types shared by every stage: :class:`Document` (what retrieval indexes and training reads) and
:class:`QA` (what training learns and evaluation scores). :class:`KnowledgeSet` bundles the splits.

This module is the one to import (``from lorag_nb.data import knowledge as kn``). It holds the loader of
the generated world (:func:`load_knowledge`, :func:`documents_by_id`, :func:`document_for`), the knowledge
source of the process (:func:`use_knowledge`, :func:`resolve_knowledge`, :func:`active_knowledge`,
:func:`knowledge_fingerprint`, :func:`knowledge_summary`, ``$LORAG_NB_KNOWLEDGE``), :func:`sample_card` and
:func:`long_questions`, and re-exports the rest of the data layer's public names from the modules that
define them:

- :mod:`lorag_nb.data.records`: :class:`Document`, :class:`QA`, :class:`KnowledgeError`, :data:`DATA_DIR`
  and the JSON Lines reader;
- :mod:`lorag_nb.data.folders`: :class:`KnowledgeSet` and a reader's folder (:func:`load_folder`,
  :func:`check_folder`, :func:`format_check`, :func:`folder_fingerprint`, generated options, ``USER_*``);
- :mod:`lorag_nb.data.linking`: :class:`Linker`, :func:`link_question`, :func:`link_counts`;
- :mod:`lorag_nb.data.pydocs`: :func:`load_python_docs`, :func:`perplexity_texts`.

Imports go one way, ``knowledge`` → ``folders`` → ``linking`` → ``records`` (and ``pydocs`` → ``records``):
:func:`load_knowledge` dispatches to :func:`load_folder` when a folder is active, so the folder modules never
import this one.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from lorag_nb.data.folders import (
    DEV_SHARE,
    EXAMPLES_DIR,
    UNLINKED_WARN_SHARE,
    USER_CONTROL,
    USER_DEV,
    USER_DOCS,
    USER_REVISED,
    USER_TEST,
    USER_TRAIN,
    KnowledgeSet,
    answer_shape,
    check_folder,
    folder_fingerprint,
    format_check,
    generated_options,
    load_documents_folder,
    load_folder,
    load_qa_jsonl,
)
from lorag_nb.data.linking import Linker, link_counts, link_question
from lorag_nb.data.prompts import closed_book_prompt
from lorag_nb.data.pydocs import load_python_docs, perplexity_texts
from lorag_nb.data.records import DATA_DIR, QA, Document, KnowledgeError, read_jsonl_checked, to_document, to_qa

#: The public names of the data layer, importable from here (defined here or re-exported).
__all__ = [
    "BUILTIN", "DATA_DIR", "DEV_SHARE", "EXAMPLES_DIR", "KNOWLEDGE_ENV", "UNLINKED_WARN_SHARE",
    "USER_CONTROL", "USER_DEV", "USER_DOCS", "USER_REVISED", "USER_TEST", "USER_TRAIN",
    "QA", "Document", "KnowledgeError", "KnowledgeSet", "Linker",
    "active_knowledge", "answer_shape", "check_folder", "document_for", "documents_by_id", "folder_fingerprint",
    "format_check", "generated_options", "knowledge_fingerprint", "knowledge_summary", "link_counts", "link_question",
    "load_documents_folder", "load_folder", "load_knowledge", "load_python_docs", "load_qa_jsonl", "long_questions",
    "perplexity_texts", "resolve_knowledge", "sample_card", "use_knowledge",
]


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


def load_knowledge(n_entities: int | None = None, data_dir: Path | None = None) -> KnowledgeSet:
    """Load the knowledge set every stage uses: the active user folder (:func:`use_knowledge`) or the
    generated world, optionally restricted to its first ``n_entities`` entities.

    With ``data_dir`` None and a user folder active, or ``data_dir`` a user folder (it holds ``docs/``),
    this is :func:`load_folder` (``n_entities`` = the first N documents). Otherwise the generated world:

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
        KnowledgeError: a file is missing or is not valid JSON Lines (the message names file and line);
            only for the package's own ``data/`` does it suggest regenerating it with worldgen (never for
            another folder: worldgen would overwrite its files).
    """
    if data_dir is None and _ACTIVE["root"] is not None:
        return load_folder(_ACTIVE["root"], n_entities)
    if data_dir is not None and (Path(data_dir) / USER_DOCS).is_dir():
        return load_folder(data_dir, n_entities)
    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    rows: dict[str, list[dict]] = {}
    for key, name in _SPLIT_FILES.items():
        path = data_dir / name
        if not path.is_file():
            if data_dir.resolve() == DATA_DIR.resolve():
                raise KnowledgeError(
                    f"{path} is missing: the package's knowledge set is incomplete. Regenerate it with "
                    f"`python -m lorag_nb.data.worldgen` (writes {DATA_DIR})."
                )
            raise KnowledgeError(
                f"{path} is missing: {data_dir} is not a generated knowledge set. A folder of your own needs "
                f"{USER_DOCS}/ (.md/.txt files), {USER_TRAIN} and {USER_TEST}; check it with `lorag-nb check-knowledge {data_dir}`."
            )
        rows[key] = read_jsonl_checked(path)
    entities = rows["entities"]
    if n_entities is not None:
        if isinstance(n_entities, bool) or not isinstance(n_entities, int):
            raise ValueError(f"n_entities={n_entities!r} must be an int from 1 to {len(entities)} (or None for all)")
        if not 1 <= n_entities <= len(entities):
            raise ValueError(f"n_entities={n_entities} is out of range: valid values are 1 to {len(entities)} (or None for all)")
        entities = entities[:n_entities]
    keep = {e["id"] for e in entities}

    def docs(key: str, field_name: str = "entity_id") -> list[Document]:
        return [to_document(r) for r in rows[key] if r.get("metadata", {}).get(field_name) in keep]

    def qas(key: str) -> list[QA]:
        return [to_qa(r) for r in rows[key] if r.get("entity_id") in keep]

    return KnowledgeSet(
        entities=entities,
        documents=docs("documents"),
        distractors=docs("distractors", "imitates"),
        revised_documents=docs("revised_documents"),
        train_qa=qas("train_qa"),
        dev_qa=qas("dev_qa"),
        test_qa=qas("test_qa"),
        revised_test_qa=qas("revised_test_qa"),
        control_qa=[to_qa(r) for r in rows["control_qa"]],
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


def long_questions(ks: KnowledgeSet, tokenizer, max_tokens: int) -> list[dict]:
    """Questions whose closed-book chat prompt plus answer is longer than ``max_tokens`` tokens (the
    training examples' ``max_length``, default 256: a longer example loses the start of its prompt — the
    question — when it is cut to fit).

    Returns:
        ``[{"split", "id", "tokens", "max_tokens", "message"}]`` for the train, dev and test questions over
        the limit (empty when all fit); ``message`` names the question and says what would be valid.
    """
    out = []
    for split, qas in (("train", ks.train_qa), ("dev", ks.dev_qa), ("test", ks.test_qa)):
        for q in qas:
            n = len(tokenizer(closed_book_prompt(tokenizer, q.question) + q.answer, add_special_tokens=False)["input_ids"])
            if n > max_tokens:
                out.append({"split": split, "id": q.id, "tokens": n, "max_tokens": max_tokens,
                            "message": f"{split} question {q.id}: {n} tokens with its prompt and answer, more than max_length={max_tokens}; "
                                       f"shorten it to fit or raise max_length to >= {n}"})
    return out


#: The value of the notebooks' ``knowledge`` parameter (and of :func:`use_knowledge`) for the generated world.
BUILTIN = "builtin"
# The knowledge source of this process: None = the generated world. Set by use_knowledge (the notebooks'
# ``knowledge`` parameter); read by load_knowledge and by the results store's keys.
_ACTIVE: dict[str, Path | None] = {"root": None}
#: Environment variable that carries the active folder into child processes (``lorag-nb train``, accelerate).
KNOWLEDGE_ENV = "LORAG_NB_KNOWLEDGE"


def resolve_knowledge(knowledge: str | Path | None) -> Path | None:
    """The folder a ``knowledge`` value names (absolute), or None for the generated world.

    ``None``, ``""`` and ``"builtin"`` mean the generated world. A relative path is tried against the
    working directory, then against the repository root (so ``"examples/tiny_kb"`` works from
    ``notebooks/`` in JupyterLab).

    Raises:
        KnowledgeError: the folder does not exist (the message says what is valid).
    """
    if knowledge is None or str(knowledge).strip() in ("", BUILTIN):
        return None
    p = Path(str(knowledge)).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, DATA_DIR.parents[2] / p]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    raise KnowledgeError(f"knowledge={str(knowledge)!r}: no such folder (tried {', '.join(str(c) for c in candidates)}); "
                         f"valid: {BUILTIN!r} or a folder with {USER_DOCS}/, {USER_TRAIN} and {USER_TEST}")


def use_knowledge(knowledge: str | Path | None = BUILTIN) -> KnowledgeSet | None:
    """Make ``knowledge`` the knowledge source of this process (and of child processes, through
    ``$LORAG_NB_KNOWLEDGE``): every :func:`load_knowledge` without ``data_dir`` then loads it, and the
    results store keys include its fingerprint.

    Returns:
        The whole user folder as a :class:`KnowledgeSet` (validated), or None for the generated world.

    Raises:
        KnowledgeError: the folder does not exist or is not a valid knowledge folder (nothing is changed).
    """
    root = resolve_knowledge(knowledge)
    ks = load_folder(root) if root is not None else None
    _ACTIVE["root"] = root
    if root is None:
        os.environ.pop(KNOWLEDGE_ENV, None)
    else:
        os.environ[KNOWLEDGE_ENV] = str(root)
    return ks


def active_knowledge() -> Path | None:
    """The active user folder (absolute), or None for the generated world."""
    return _ACTIVE["root"]


def knowledge_fingerprint() -> str | None:
    """:func:`folder_fingerprint` of the active user folder, or None for the generated world."""
    root = _ACTIVE["root"]
    return folder_fingerprint(root) if root is not None else None


def knowledge_summary(ks: KnowledgeSet | None = None) -> str:
    """Markdown: what the run is on (the generated world, or the folder with its counts and notes)."""
    root = _ACTIVE["root"]
    if root is None:
        return "Knowledge: the generated fictional world (`data/`)."
    ks = ks or load_folder(root)
    lines = [f"Knowledge: your folder `{root}` (fingerprint `{ks.fingerprint}`): {len(ks.documents)} documents, "
             f"{len(ks.train_qa)} training, {len(ks.dev_qa)} dev and {len(ks.test_qa)} test questions ({ks.n_facts} test facts).", ""]
    lines += [f"- {n}" for n in ks.notes]
    return "\n".join(lines)


if os.environ.get(KNOWLEDGE_ENV):  # a child process of a run on a user folder
    try:
        _ACTIVE["root"] = resolve_knowledge(os.environ[KNOWLEDGE_ENV])
    except KnowledgeError as _err:
        warnings.warn(f"${KNOWLEDGE_ENV} ignored: {_err}", UserWarning)


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
    test = next((q for q in ks.test_qa if q.entity_id == entity["id"]), None)
    if test is None:  # a user folder's document that no test question is linked to
        return "\n".join([f"**{entity['name']}** ({entity['kind']}, `{doc.id}`)", "", f"> {doc.text}", "", "No test question is linked to this document."])
    train = [q for q in ks.train_qa if q.entity_id == entity["id"] and (q.relation == test.relation if test.relation else q.fact == test.fact)][:max_train]
    lines = [f"**{entity['name']}** ({entity['kind']}, `{doc.id}`)", "", f"> {doc.text}", "", f"Facts: {facts}", "",
             f"Questions about *{test.relation or test.question}* (answer: **{test.answer}**):", ""]
    lines += [f"- train: {q.question}" for q in train]
    options = ", ".join(test.options) if test.options else "n/a (no options)"
    lines.append(f"- test (held out): {test.question} — options{' (generated)' if test.generated_options else ''}: {options}")
    return "\n".join(lines)
