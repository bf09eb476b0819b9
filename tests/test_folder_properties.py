"""Property-based tests (Hypothesis) of everything that takes a reader's knowledge folder.

A strategy writes random *valid* folders (:func:`build_folder`: a number of documents, feature switches and a seed):
1–60 documents under ``docs/`` (sub-folders, ``.md``/``.txt``/``.MD``, UTF-8 with or without a byte-order mark, LF or
CRLF, decomposed text or file names, with or without a ``#`` heading, syllable names with accents, hyphens or two
words, some longer than a chunk), 1–5 training and 1–5 test questions per document whose answers occur in the
document, optional ``"doc"``, ``"fact"``, ``"relation"``, ``"aliases"`` and ``"id"`` fields, optional
``qa_dev.jsonl``, ``control.jsonl`` and ``revised/``, and files the loader must ignore (hidden files, a checkpoint
folder, a picture). Every folder is written to a fresh temporary directory (the loader caches per path and
fingerprint). A failure prints the ``build_folder(...)`` call that writes the folder again, and notes its files.

Properties: (1) the loader: counts, links, nothing written into the folder, determinism; (2) the linker: a question
naming one document links to it, an ambiguous one to none; (3) ``check_folder``/``format_check``/``use_knowledge``;
(4) ``n_entities`` slices; (5) the run profiles on a folder; (6) one ``KnowledgeError`` naming the file (and line)
for broken input; (7) the stage functions at tiny sizes with the real embedded model; (8) the claims engine refuses
comparisons that cut-off answers (> 10%) or a floor/ceiling (equal on every fact within ``FLOOR_SHARE`` of 0 or 1)
explain. The ``@example`` folders are the smallest ones found for bugs seen so far.

Hypothesis keeps no example database in the checkout (``database=None``). ``LORAG_NB_PROPERTY_SCALE=10`` multiplies
every test's number of examples for a deeper search than the suite's (about a minute on 2 cores).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, note, reject, settings
from hypothesis import strategies as st

from lorag_nb.data import knowledge, linking
from lorag_nb.data.knowledge import KnowledgeError

# --------------------------------------------------------------------------------------------------
# Settings

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.large_base_example]


def _settings(n: int, shrink: bool = True):
    n = n * int(os.environ.get("LORAG_NB_PROPERTY_SCALE", "1"))  # e.g. 10 for a deeper search than the suite's
    phases = None if shrink else (Phase.explicit, Phase.generate)
    return settings(max_examples=n, deadline=None, suppress_health_check=_SUPPRESS, database=None, **({"phases": phases} if phases else {}))


# --------------------------------------------------------------------------------------------------
# What a folder is made of

#: Relations: the sentence stating the value, named question wordings (train, dev and test never share one), and one
#: wording that names no document (an "ambiguous" question when two documents hold the same value).
RELATIONS: dict[str, dict] = {
    "colour": dict(
        sentence="The lamp of {n} glows {v}.",
        train=["What colour does the lamp of {n} glow?", "Which colour is the lamp at {n}?"],
        test=["Name the colour of the lamp of {n}.", "What is {n}'s lamp colour?"],
        dev=["Tell me which colour the lamp of {n} has."],
        generic_train="Which colour does the lamp glow?", generic_test="Name the colour of the lamp.",
    ),
    "towers": dict(
        sentence="{n} has {v} towers.",
        train=["How many towers does {n} have?", "Count the towers of {n}."],
        test=["What is the number of towers at {n}?", "{n} has how many towers?"],
        dev=["Tell me how many towers {n} has."],
        generic_train="How many towers are there?", generic_test="What is the number of towers?",
    ),
    "year": dict(
        sentence="{n} was founded in {v}.",
        train=["When was {n} founded?", "In which year was {n} founded?"],
        test=["What year saw the founding of {n}?", "{n} dates from which year?"],
        dev=["Tell me when {n} was founded."],
        generic_train="When was it founded?", generic_test="Which year saw the founding?",
    ),
    "height": dict(
        sentence="The harbour wall of {n} is {v} high.",
        train=["How high is the harbour wall of {n}?", "What height is the harbour wall at {n}?"],
        test=["Give the height of the {n} harbour wall.", "The harbour wall of {n} rises how high?"],
        dev=["Tell me how high the harbour wall of {n} is."],
        generic_train="How high is the harbour wall?", generic_test="Give the height of the harbour wall.",
    ),
    "keeper": dict(
        sentence="The keeper of {n} is {v}.",
        train=["Who keeps {n}?", "Who is the keeper of {n}?"],
        test=["Tell me the keeper at {n}.", "{n} is kept by whom?"],
        dev=["Tell me who keeps {n}."],
        generic_train="Who is the keeper?", generic_test="Tell me the keeper.",
    ),
    "sight": dict(
        sentence="Visitors to {n} remember the {v}.",
        train=["What do visitors to {n} remember?", "Which sight do visitors to {n} remember?"],
        test=["Which sight stays with people who visit {n}?", "What sight of {n} do people recall?"],
        dev=["Tell me what visitors to {n} remember."],
        generic_train="What do visitors remember?", generic_test="What sight do people recall?",
    ),
}
REL_NAMES = sorted(RELATIONS)
FILLERS = ["It lies beyond the outer ridge.", "Few travellers linger long.", "Roads are quiet in winter.",
           "Fog rolls in from the sea most evenings.", "Its archives were partly lost."]
HEADINGS = ["# {n}", "# The {n} system", "# Notes on {n}", "## {n}", "### A survey of {n}"]
MENTION = "It trades with {m}."
CONTROL = [{"question": "What is the capital of France?", "answer": "Paris"},
           {"question": "How many legs does a spider have?", "answer": "eight"},
           {"question": "What gas do plants take in?", "answer": "carbon dioxide"},
           {"question": "Which planet is closest to the Sun?", "answer": "Mercury"}]
SUBFOLDERS = ["", "", "", "spring/", "north/", "été/", "a b/", "deep/er/"]
SYLLABLES = ("ka", "ro", "vel", "mi", "dra", "thu", "zen", "qui", "lor", "bas", "ne", "tor", "sa", "li", "gho", "pra",
             "vu", "mel", "ix", "dor", "fen", "yr", "os", "bel", "cai", "ul", "wyn", "zar")
ACCENTS = {"a": "áàäå", "e": "éèë", "o": "óöø", "u": "úü", "i": "íï", "z": "ž", "n": "ñ", "s": "šß", "r": "ř", "l": "ł"}


def fold(text: str) -> str:
    """Lower case, compatibility-decomposed, without combining marks: how a reader expects names to compare."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", fold(text)))


#: Every word the templates, sentences, headings, fillers and values use: names never collide with them.
VOCAB = set()
for _r in RELATIONS.values():
    for _t in [_r["sentence"], *_r["train"], *_r["dev"], *_r["test"], _r["generic_train"], _r["generic_test"]]:
        VOCAB |= words(_t.replace("{n}", "").replace("{v}", ""))
for _t in [*FILLERS, *HEADINGS, MENTION, "Details", "Bastian Lorr Mira Quell Odo Fenwick Ines Tarr metres",
           "orange blue crimson pale green silver grey amber reed beds north gate salt market old ferry copper bell"]:
    VOCAB |= words(_t.replace("{n}", "").replace("{m}", ""))
STOPWORDS = set(getattr(linking, "_STOPWORDS", ())) | {"the", "of", "and", "is", "in", "on", "to", "a"}


def _check_vocabulary() -> None:
    """A generic question's words occur in no sentence but its own relation's: two documents that hold the same
    value for a relation then share exactly the same question words, and no linking rule can tell them apart."""
    others = {r: set() for r in RELATIONS}
    for r in RELATIONS:
        for r2, spec in RELATIONS.items():
            if r2 != r:
                others[r] |= words(spec["sentence"].replace("{n}", "").replace("{v}", ""))
        for t in [*FILLERS, *HEADINGS, MENTION, "Details"]:
            others[r] |= words(t.replace("{n}", "").replace("{m}", ""))
    for r, spec in RELATIONS.items():
        for g in (spec["generic_train"], spec["generic_test"]):
            clash = (words(g) - STOPWORDS) & others[r]
            assert not clash, (r, g, clash)


_check_vocabulary()


# --------------------------------------------------------------------------------------------------
# The folder as data, and how it is written


@dataclass
class Doc:
    rel: str  # path under docs/, "/" separators
    name: str  # the entity's name as questions write it
    facts: dict  # relation -> value
    text: str  # the document text (what the loader returns, before stripping)
    data: bytes  # the file's bytes

    @property
    def basename(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return Path(self.basename).stem


@dataclass
class Line:
    obj: dict | None  # None: a blank line
    own: int | None = None  # index of the document the line is about (None: control)
    ambiguous: bool = False  # the same question and answer for two documents, naming neither
    raw: str | bytes | None = None  # written as is (broken input)

    @property
    def doc(self) -> str | None:
        return None if self.obj is None else self.obj.get("doc")


@dataclass
class JsonlFile:
    lines: list[Line]
    bom: bool = False
    crlf: bool = False
    final_newline: bool = True
    ascii_json: bool = True

    def encode(self) -> bytes:
        parts = []
        for ln in self.lines:
            if isinstance(ln.raw, bytes):
                parts.append(ln.raw)
            elif ln.raw is not None:
                parts.append(ln.raw.encode("utf-8"))
            else:
                parts.append(b"" if ln.obj is None else json.dumps(ln.obj, ensure_ascii=self.ascii_json).encode("utf-8"))
        nl = b"\r\n" if self.crlf else b"\n"
        return (b"\xef\xbb\xbf" if self.bom else b"") + nl.join(parts) + (nl if self.final_newline else b"")

    def ids(self, stem: str) -> list[str]:
        """The question ids the loader gives the non-blank lines: ``"id"`` or ``"<stem>-<line>"``."""
        return [ln.obj.get("id") or f"{stem}-{i}" for i, ln in enumerate(self.lines, start=1) if ln.obj is not None]

    def questions(self, stem: str) -> list[tuple[str, Line]]:
        return list(zip(self.ids(stem), [ln for ln in self.lines if ln.obj is not None]))


class Folder:
    """A folder to write: documents, JSONL files, revised documents, files to ignore (a plain class, so that Hypothesis
    prints a falsifying folder as the ``build_folder`` call that makes it)."""

    def __init__(self, docs: list[Doc], files: dict, revised_docs: dict | None = None, junk: dict | None = None, origin: tuple = ()):
        self.docs = docs
        self.files = files  # "qa_train.jsonl" etc. -> JsonlFile
        self.revised_docs = revised_docs or {}  # rel -> (Doc index, bytes)
        self.junk = junk or {}  # path under the folder -> bytes (never read as a document)
        self.origin = origin  # (documents, features switched on, seed, max_questions)

    def __repr__(self) -> str:
        n, on, seed, max_q = self.origin
        return f"build_folder({n}, {{f: f in {sorted(on)!r} for f in FEATURES}}, seed={seed}, max_questions={max_q})"

    @property
    def doc_ids(self) -> list[str]:
        return sorted(d.rel for d in self.docs)

    def index(self, rel: str) -> int:
        return next(i for i, d in enumerate(self.docs) if d.rel == rel)

    def write(self, root: Path) -> Path:
        (root / "docs").mkdir(parents=True)
        for d in self.docs:
            p = root / "docs" / d.rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(d.data)
        for name, f in self.files.items():
            p = root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(f.encode())
        for rel, (_i, data) in self.revised_docs.items():
            p = root / "revised" / "docs" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        for rel, data in self.junk.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return root

    def unique_name(self, i: int) -> bool:
        """Document ``i``'s name words occur in no other document (its text, heading or file name)."""
        mine = words(self.docs[i].name)
        return not any(mine & (words(d.text) | words(d.rel)) for j, d in enumerate(self.docs) if j != i)

    def describe(self) -> str:
        out = []
        for d in self.docs:
            out.append(f"docs/{d.rel}: {d.data!r}")
        for rel, (_i, data) in self.revised_docs.items():
            out.append(f"revised/docs/{rel}: {data!r}")
        for name, f in self.files.items():
            out.append(f"{name}: {f.encode()!r}")
        for rel, data in self.junk.items():
            out.append(f"{rel}: {data!r}")
        return "\n".join(out)


QA_FILES = ("qa_train.jsonl", "qa_dev.jsonl", "qa_test.jsonl")


def _stem(name: str) -> str:
    return Path(name).stem


# --------------------------------------------------------------------------------------------------
# Strategies
#
# A folder is drawn as its number of documents, a set of feature switches (each shrinks to off: the simplest folder)
# and a seed for the details (names, facts, which lines carry which field). Few choices per folder keep 60-document
# folders cheap to draw, and a failure shrinks to the fewest documents and the features it needs.

FEATURES = (
    "accents",  # accented letters in names (é, ø, ř, ß …)
    "two_word_names",  # "Kel Varo"
    "hyphen_names",  # "Kel-Varo"
    "long_docs",  # documents of several 500-character chunks (the facts anywhere in them)
    "curly_quotes",  # "What is Kelvar’s lamp colour?"
    "headings",  # "# The X system", "# Notes on X", "## X" … (else the title is the file name)
    "details",  # a "## Details" section heading (the title of a document without its own heading)
    "fillers",  # sentences that state no fact
    "mentions",  # "It trades with Y.": another document's name in the text
    "subfolders",  # docs/north/x.md, docs/été/x.md, docs/a b/x.md
    "file_names",  # file names with "-" or " ", accents kept or folded, .txt / .MD
    "bom", "crlf", "no_final_newline", "nfd",  # how documents and JSONL files are saved
    "lower_names",  # questions that write the name in lower case
    "nfd_file_names",  # file names saved decomposed (macOS: "e" + U+0301), while "doc" fields are typed composed
    "doc_field", "relation_field", "fact_field", "ids", "aliases",  # optional JSONL fields
    "padding",  # questions and answers with spaces around them
    "blank_lines", "unicode_json",  # blank lines in JSONL files; JSON with raw UTF-8 (not \u escapes)
    "ambiguous_pair",  # two documents share a fact, and a question about it names neither
    "dev_file", "control", "revised", "junk",  # optional files; files the loader must ignore
)
JUNK = [("docs/.DS_Store", b"\x00\x00\x00\x01Bud1\xff\xfe"), ("docs/figure.png", b"\x89PNG\r\n\x1a\n\xff\x00"),
        ("docs/README", b"not a document: no .md/.txt suffix\n"), ("docs/.hidden.md", b"# Hidden\n\xff not read\n"),
        (".notes.txt", b"reader's own scratch file\n")]


def _name_word(rng, accent_rng, accents: bool) -> str:
    w = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
    if accents and accent_rng.random() < 0.5:
        spots = [i for i, c in enumerate(w) if c in ACCENTS]
        if spots:
            i = accent_rng.choice(spots)
            w = w[:i] + accent_rng.choice(ACCENTS[w[i]]) + w[i + 1:]
    return w.capitalize()


def _good_word(w: str) -> bool:
    f = fold(w)
    return len(f) > 1 and re.fullmatch(r"\w+", f) is not None and f not in VOCAB and f not in STOPWORDS


def _value(rng, relation: str) -> str:
    return {"colour": lambda: rng.choice(["orange", "blue", "crimson", "pale green", "silver grey", "amber"]),
            "towers": lambda: str(rng.randint(2, 12)),
            "year": lambda: str(rng.randint(1000, 2099)),
            "height": lambda: f"{rng.randint(3, 40)} metres",
            "keeper": lambda: rng.choice(["Bastian Lorr", "Mira Quell", "Odo Fenwick", "Ines Tarr"]),
            "sight": lambda: rng.choice(["reed beds", "north gate", "salt market", "old ferry", "copper bell"])}[relation]()


def _render(name: str, facts: dict, layout: dict) -> str:
    sentences = []
    for kind, value in layout["order"]:
        if kind == "fact" and value in facts:
            sentences.append(RELATIONS[value]["sentence"].format(n=name, v=facts[value]))
        elif kind == "filler":
            sentences.append(value)
        elif kind == "mention":
            sentences.append(MENTION.format(m=value))
    head = [layout["heading"].format(n=name), ""] if layout["heading"] else []
    return "\n".join(head + (["## Details", ""] if layout["details"] else []) + [layout["joiner"].join(sentences)])


def _encode_doc(text: str, bom: bool, crlf: bool, final_newline: bool, nfd: bool) -> tuple[str, bytes]:
    if nfd:
        text = unicodedata.normalize("NFD", text)
    if crlf:
        text = text.replace("\n", "\r\n")
    if final_newline:
        text += "\r\n" if crlf else "\n"
    return text, (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def build_folder(n: int, on: dict, seed: int, max_questions: int = 5) -> Folder:
    """A valid folder of ``n`` documents with the features switched ``on``, its details drawn from ``seed``.

    Each feature draws from its own random stream, so switching one off (as Hypothesis does when it shrinks a
    failure) leaves every other decision as it was."""
    import random

    streams: dict = {}

    def rng(aspect: str) -> random.Random:
        if aspect not in streams:
            streams[aspect] = random.Random(f"{seed}/{aspect}")
        return streams[aspect]

    def some(feature: str, p: float = 0.4) -> bool:
        return on[feature] and rng(feature).random() < p

    # names: every word distinct (accents folded) from every other name's words and from the templates' words
    seen: set = set()
    names = []
    for _ in range(n):
        parts = []
        for stream in ["names"] + (["two_word_names"] if some("two_word_names") else []):
            while True:
                w = _name_word(rng(stream), rng("accents"), on["accents"])
                if _good_word(w) and fold(w) not in seen:
                    break
            seen.add(fold(w))
            parts.append(w)
        names.append(("-" if some("hyphen_names", 0.5) else " ").join(parts))

    facts = [{r: _value(rng("facts"), r) for r in rng("facts").sample(REL_NAMES, rng("facts").randint(1, 4))} for _ in range(n)]
    pair = None
    if on["ambiguous_pair"] and n >= 2:
        r_ = rng("ambiguous_pair")
        i, j = r_.sample(range(n), 2)
        r = r_.choice(REL_NAMES)
        facts[i][r] = facts[j][r] = _value(r_, r)
        pair = (i, j, r, facts[i][r], r_.choice(["qa_train.jsonl", "qa_test.jsonl"]))

    docs: list[Doc] = []
    layouts = []
    for i, name in enumerate(names):
        fillers = rng("fillers").sample(FILLERS, rng("fillers").randint(0, 2)) if on["fillers"] else []
        if some("long_docs", 0.6):
            fillers += [rng("long_docs").choice(FILLERS) for _ in range(rng("long_docs").randint(15, 60))]
        mentions = [names[rng("mentions").choice([m for m in range(n) if m != i])]] if n > 1 and some("mentions") else []
        order = [("fact", r) for r in REL_NAMES] + [("filler", f) for f in fillers] + [("mention", m) for m in mentions]
        rng("order").shuffle(order)
        layout = dict(order=order, heading=rng("headings").choice(HEADINGS + [None]) if on["headings"] else None, details=some("details"),
                      joiner=rng("joiner").choice([" ", "\n", "\n\n"]),
                      enc=dict(bom=some("bom", 0.5), crlf=some("crlf", 0.5), final_newline=not some("no_final_newline", 0.5), nfd=some("nfd", 0.5)))
        slug = name.lower().split()
        sep, suffix = "_", ".md"
        if on["file_names"]:
            if rng("file_names").random() < 0.5:
                slug = name.lower().replace("-", " ").split()
            sep, suffix = rng("file_names").choice(["_", "-", " "]), rng("file_names").choice([".md", ".txt", ".MD"])
            if rng("file_names").random() < 0.5:
                slug = [fold(w) for w in slug]
        rel = f"{rng('subfolders').choice(SUBFOLDERS) if on['subfolders'] else ''}{sep.join(slug)}{suffix}"
        if some("nfd_file_names", 0.5):
            rel = unicodedata.normalize("NFD", rel)
        text, data = _encode_doc(_render(name, facts[i], layout), **layout["enc"])
        docs.append(Doc(rel, name, facts[i], text, data))
        layouts.append(layout)

    def line(i: int, template: str, relation: str, value: str, doc_field: float = 0.4) -> Line:
        d = docs[i]
        obj = {"question": template.format(n=d.name.lower() if some("lower_names", 0.3) else d.name), "answer": value}
        if some("curly_quotes", 0.5):
            obj["question"] = obj["question"].replace("'", "’")
        if some("padding", 0.3):
            obj = {"question": f"  {obj['question']} ", "answer": f" {value}  "}
        if some("aliases", 0.3):
            obj["aliases"] = [value.upper()]
        if some("doc_field", doc_field):
            obj["doc"] = unicodedata.normalize("NFC", rng("doc_field").choice([d.rel, d.basename, d.stem]))
        if some("relation_field"):
            obj["relation"] = relation
        if some("fact_field"):
            obj["fact"] = f"{d.rel}#{relation}"
        return Line(obj, own=i)

    train, test, dev = [], [], []
    for i, d in enumerate(docs):
        for split, out in (("train", train), ("test", test)):
            options = [(r, t) for r in sorted(d.facts) for t in RELATIONS[r][split]]
            for r, t in rng("questions").sample(options, rng("questions").randint(1, min(max_questions, len(options)))):
                out.append(line(i, t, r, d.facts[r]))
    if pair:
        i, j, r, v, where = pair
        key = "generic_train" if where == "qa_train.jsonl" else "generic_test"
        for x in (i, j):
            (train if where == "qa_train.jsonl" else test).append(Line({"question": RELATIONS[r][key], "answer": v}, own=x, ambiguous=True))
    if not on["dev_file"] and len(train) < 2:  # without qa_dev.jsonl, one training question is too few (README)
        asked = {ln.obj["question"] for ln in train}
        r = sorted(docs[0].facts)[0]
        t = next(t.format(n=docs[0].name) for t in RELATIONS[r]["train"] if t.format(n=docs[0].name) not in asked and t.format(n=docs[0].name.lower()) not in asked)
        train.append(Line({"question": t, "answer": docs[0].facts[r]}, own=0))
    rng("order").shuffle(train)
    rng("order").shuffle(test)
    if on["dev_file"]:
        for i in rng("dev_file").sample(range(n), rng("dev_file").randint(1, min(n, 4))):
            r = rng("dev_file").choice(sorted(docs[i].facts))
            dev.append(line(i, RELATIONS[r]["dev"][0], r, docs[i].facts[r]))

    def jsonl(lines: list[Line], id_prefix: str) -> JsonlFile:
        out = []
        for k, ln in enumerate(lines):
            if some("blank_lines", 0.1):
                out.append(Line(None, raw=rng("blank_lines").choice(["", "   ", "\t"])))
            if some("ids", 0.3):
                ln.obj["id"] = f"{id_prefix}{k}"
            out.append(ln)
        return JsonlFile(out, bom=some("bom", 0.5), crlf=some("crlf", 0.5), final_newline=not some("no_final_newline", 0.5),
                         ascii_json=not some("unicode_json", 0.7))

    files = {"qa_train.jsonl": jsonl(train, "t"), "qa_test.jsonl": jsonl(test, "t")}  # the same explicit ids in both: distinct per file only
    if dev:
        files["qa_dev.jsonl"] = jsonl(dev, "d")
    if on["control"]:
        files["control.jsonl"] = jsonl([Line(dict(c)) for c in rng("control").sample(CONTROL, rng("control").randint(1, len(CONTROL)))], "c")

    revised: dict = {}
    if on["revised"]:
        r_ = rng("revised")
        questions = []
        for i in r_.sample(range(n), r_.randint(1, min(n, 3))):
            d = docs[i]
            r = r_.choice(sorted(d.facts))
            old = new = d.facts[r]
            while fold(new) == fold(old) or old in new or new in old:
                new = _value(r_, r)
            revised[d.rel] = (i, _encode_doc(_render(d.name, {**d.facts, r: new}, layouts[i]), **layouts[i]["enc"])[1])
            questions.append(line(i, r_.choice(RELATIONS[r]["test"]), r, new, doc_field=0.6))
            questions[-1].obj["old_answer"] = old
        files["revised/qa_test.jsonl"] = jsonl(questions, "r")

    junk = {}
    if on["junk"]:
        junk = dict(rng("junk").sample(JUNK, rng("junk").randint(1, len(JUNK))))
        if rng("junk").random() < 0.5:  # a Jupyter checkpoint copy of a document: a hidden folder, never read
            junk[f"docs/.ipynb_checkpoints/{docs[0].stem}-checkpoint{Path(docs[0].basename).suffix}"] = docs[0].data
    return Folder(docs, files, revised, junk, (n, {k for k, v in on.items() if v}, seed, max_questions))


@st.composite
def folders(draw, min_docs: int = 1, max_docs: int = 60, max_questions: int = 5, features: tuple = FEATURES) -> Folder:
    n = draw(st.integers(min_docs, max_docs))
    on = {f: (draw(st.booleans()) if f in features else False) for f in FEATURES}
    seed = draw(st.integers(0, 2**32 - 1))
    return build_folder(n, on, seed, max_questions)


# --------------------------------------------------------------------------------------------------
# Helpers


def snapshot(root: Path) -> dict:
    """Every file (bytes) and folder under ``root``, hidden ones included."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "<dir>"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def load_quietly(path, n_entities=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return knowledge.load_folder(path, n_entities)


def loaded_or_rejected(path):
    """The folder loaded, or the example rejected: for the properties whose premise is a folder that loads (a folder
    the loader refuses although it is valid fails the loader's own properties, 1, 3 and 4)."""
    try:
        return load_quietly(path)
    except KnowledgeError as err:
        note(f"not loaded (a loader failure, reported by the loader's properties): {err}")
        reject()


def check_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return knowledge.check_folder(path)


class written:
    """``with written(folder) as root``: the folder in a fresh temporary directory (removed afterwards), and a check
    that nothing under it changed while the block ran (nothing is ever written into a reader's folder)."""

    def __init__(self, folder: Folder):
        self.folder = folder

    def __enter__(self) -> Path:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = self.folder.write(Path(self._tmp.name) / "kb")
        self.before = snapshot(self.root)
        note(self.folder.describe())
        return self.root

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                after = snapshot(self.root)
                added = sorted(set(after) - set(self.before))
                changed = sorted(k for k in self.before if after.get(k) != self.before[k])
                assert not added and not changed, f"the folder was written to: added {added}, changed or removed {changed}"
        finally:
            self._tmp.cleanup()
        return False


def expected_questions(folder: Folder) -> dict[str, list[tuple[str, Line]]]:
    return {name: folder.files[name].questions(_stem(name)) for name in folder.files}


def loaded_questions(ks, folder: Folder) -> list[tuple[str, object]]:
    """``(file the line came from, QA)`` for every train, dev and test question of ``ks`` (an automatic dev split
    comes from ``qa_train.jsonl``)."""
    dev_file = "qa_dev.jsonl" if "qa_dev.jsonl" in folder.files else "qa_train.jsonl"
    return [(f, q) for f, split in (("qa_train.jsonl", ks.train_qa), (dev_file, ks.dev_qa), ("qa_test.jsonl", ks.test_qa)) for q in split]


def expected_lines(folder: Folder) -> dict[tuple[str, str], Line]:
    """``(file, question id) -> Line`` for the train, dev and test files."""
    return {(f, i): ln for f in QA_FILES if f in folder.files for i, ln in folder.files[f].questions(_stem(f))}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def link_total(text: str) -> int:
    """The number of questions ``link_counts``'s text counts ("12 by doc field, 2 unlinked" -> 14)."""
    return sum(int(m) for m in re.findall(r"(\d+) (?:by [^,]+|unlinked)", text))


# --------------------------------------------------------------------------------------------------
# 1. The loader


def _on(*features: str) -> dict:
    return {f: f in features for f in FEATURES}


@_settings(60)
@given(folder=folders())
@example(folder=build_folder(1, _on("doc_field", "revised", "subfolders"), seed=8, max_questions=1))  # "doc" = a path under docs/ in revised/qa_test.jsonl
@example(folder=build_folder(1, _on("accents", "doc_field", "nfd_file_names"), seed=5, max_questions=1))  # a decomposed file name, a composed "doc"
def test_load_folder_counts_links_and_writes_nothing(folder):
    with written(folder) as root:
        ks = load_quietly(root)
        qs = expected_questions(folder)
        ids = set(folder.doc_ids)

        # documents: every .md/.txt file that is not hidden, sorted by path, its text without BOM and outer whitespace
        assert [d.id for d in ks.documents] == folder.doc_ids
        by_rel = {d.rel: d for d in folder.docs}
        for d in ks.documents:
            assert d.text == by_rel[d.id].text.lstrip("\ufeff").strip()
        assert [e["id"] for e in ks.entities] == folder.doc_ids
        assert ks.fingerprint == knowledge.folder_fingerprint(root) and ks.source == "folder"

        # questions: every line of its file, in one split
        n_train = len(qs["qa_train.jsonl"])
        if "qa_dev.jsonl" in folder.files:
            assert (len(ks.train_qa), len(ks.dev_qa)) == (n_train, len(qs["qa_dev.jsonl"]))
            assert [q.id for q in ks.dev_qa] == [i for i, _ in qs["qa_dev.jsonl"]]
        else:
            assert len(ks.train_qa) + len(ks.dev_qa) == n_train and ks.train_qa and ks.dev_qa
            assert {q.id for q in ks.train_qa} | {q.id for q in ks.dev_qa} == {i for i, _ in qs["qa_train.jsonl"]}
            assert not {q.id for q in ks.train_qa} & {q.id for q in ks.dev_qa}
        assert [q.id for q in ks.test_qa] == [i for i, _ in qs["qa_test.jsonl"]]
        if "control.jsonl" in folder.files:
            assert [q.question for q in ks.control_qa] == [ln.obj["question"] for _, ln in qs["control.jsonl"]]
        assert len(ks.revised_test_qa) == len(qs.get("revised/qa_test.jsonl", []))

        # links: a document of the folder or none; a "doc" field is followed exactly, by rule "doc field"
        report = check_quietly(root)
        rules = {(l["file"], l["id"]): (l["doc"], l["rule"]) for l in report["links"]}
        lines = expected_lines(folder)
        loaded = loaded_questions(ks, folder)
        assert len(rules) == len(report["links"]) == len(loaded)
        for f, q in loaded:
            ln = lines[(f, q.id)]
            assert q.doc_id is None or q.doc_id in ids, (f, q.id, q.doc_id)
            assert q.entity_id == q.doc_id
            assert (q.question, q.answer) == (ln.obj["question"].strip(), ln.obj["answer"].strip())
            assert rules[(f, q.id)][0] == q.doc_id
            if ln.doc is not None:
                assert (q.doc_id, rules[(f, q.id)][1]) == (folder.docs[ln.own].rel, "doc field"), (f, q.id, ln.obj)
            if ln.obj.get("fact"):
                assert q.fact == ln.obj["fact"]
        for q, (_i, ln) in zip(ks.revised_test_qa, qs.get("revised/qa_test.jsonl", [])):
            own = folder.docs[ln.own].rel
            assert q.old_answer == ln.obj["old_answer"] and q.answer == ln.obj["answer"].strip()
            assert q.doc_id in (None, f"revised/{own}") and q.entity_id in (None, own)
            if ln.doc is not None:
                assert q.doc_id == f"revised/{own}", (ln.obj, q.doc_id)
        for d in ks.revised_documents:
            assert d.id == f"revised/{d.metadata['entity_id']}" and d.metadata["entity_id"] in ids
        assert bool(ks.revised_documents) == bool(folder.revised_docs)
        assert any("swap experiment skipped" in n for n in ks.notes) == (not folder.revised_docs)

        # generated options: 4 distinct options holding the gold answer once, or none when the folder has fewer than 4 answers
        pool = {_norm(q.answer) for q in ks.train_qa + ks.dev_qa + ks.test_qa}
        for q in ks.dev_qa + ks.test_qa:
            if q.options:
                assert len(q.options) == 4 and q.options[q.answer_index] == q.answer and q.generated_options
                assert len({_norm(o) for o in q.options}) == 4
            else:
                assert q.answer_index is None and not q.generated_options
            assert bool(q.options) == (len(pool) >= 4), (q.id, q.options, sorted(pool))

        # determinism: loaded again, and a byte-identical copy elsewhere, give the same knowledge set
        assert load_quietly(root) == ks
        copy = Path(str(root) + "-copy")
        shutil.copytree(root, copy)
        other = load_quietly(copy)
        croot = str(copy.resolve())
        assert other.fingerprint == ks.fingerprint
        assert dataclasses.replace(other, root=ks.root, notes=[n.replace(croot, ks.root) for n in other.notes]) == ks
        # an edited document is read again: the cache follows the fingerprint
        edited = copy / "docs" / folder.docs[0].rel
        edited.write_bytes(edited.read_bytes() + "\nAn added line.".encode())
        assert knowledge.folder_fingerprint(copy) != ks.fingerprint
        assert {d.id: d.text for d in load_quietly(copy).documents}[folder.docs[0].rel].endswith("An added line.")
        shutil.rmtree(copy)


# --------------------------------------------------------------------------------------------------
# 2. The linker


@_settings(50)
@given(folder=folders(), data=st.data())
def test_linker_names_ambiguity_and_counts(folder, data):
    with written(folder) as root:
        ks = loaded_or_rejected(root)
        linker = knowledge.Linker(ks.documents)
        lines = expected_lines(folder)
        for f, q in loaded_questions(ks, folder):
            ln = lines[(f, q.id)]
            own = folder.docs[ln.own].rel
            doc, rule = linker.link(ln.obj["question"].strip(), ln.doc, [ln.obj["answer"].strip(), *ln.obj.get("aliases", [])])
            assert doc == q.doc_id, (f, q.id, doc, q.doc_id)  # the loader links as the linker does
            assert (doc is None) == rule.startswith("unlinked"), (ln.obj, doc, rule)
            if ln.doc is not None:
                continue
            if ln.ambiguous:  # the same question and answer for two documents: either link would be wrong for one
                assert doc is None, f"{ln.obj} (asked of two documents) linked to {doc} by {rule!r}"
                continue
            assert doc in (None, own), f"{ln.obj['question']!r} (about {own}) linked to {doc} by {rule!r}"
            if folder.unique_name(ln.own):  # its name is in no other document: it links to its own
                assert doc == own, f"{ln.obj['question']!r} names {folder.docs[ln.own].name!r} (only {own} does) but is {rule!r}"
        # the function form gives what the class gives
        some = data.draw(st.sampled_from([ln for f in folder.files.values() for ln in f.lines if ln.obj is not None and ln.own is not None]))
        assert knowledge.link_question(some.obj["question"], None, ks.documents, [some.obj["answer"]]) == linker.link(some.obj["question"], None, [some.obj["answer"]])
        # a "doc" field naming a document by path, file name or stem links to it
        d = data.draw(st.sampled_from(folder.docs))
        for ref in (d.rel, d.basename, d.stem):
            assert linker.link("anything?", ref) == (d.rel, "doc field")
        # a question naming two documents never links to a third
        if len(folder.docs) >= 2:
            a, b = data.draw(st.lists(st.sampled_from(folder.docs), min_size=2, max_size=2, unique_by=lambda x: x.rel))
            doc, _rule = linker.link(f"Is {a.name} older than {b.name}?", None, [])
            assert doc in (None, a.rel, b.rel)
        # link_counts counts every question once
        report = check_quietly(root)
        assert link_total(knowledge.link_counts(report["links"])) == len(report["links"]) == len(ks.train_qa) + len(ks.dev_qa) + len(ks.test_qa)


# --------------------------------------------------------------------------------------------------
# 3. check_folder, format_check, use_knowledge, knowledge_summary


@_settings(40)
@given(folder=folders(), max_rows=st.integers(0, 25))
@example(folder=build_folder(1, _on("doc_field", "revised", "subfolders"), seed=8, max_questions=1), max_rows=20)
@example(folder=build_folder(1, _on("accents", "doc_field", "nfd_file_names"), seed=5, max_questions=1), max_rows=20)
def test_check_folder_and_summary(folder, max_rows):
    with written(folder) as root:
        report = check_quietly(root)
        text = knowledge.format_check(report, max_rows=max_rows)
        assert "linked to a document" in text and f"documents: {len(folder.docs)}" in text
        ks = load_quietly(root)
        assert (report["documents"], report["train_questions"], report["dev_questions"], report["test_questions"]) == (
            len(ks.documents), len(ks.train_qa), len(ks.dev_qa), len(ks.test_qa))
        assert report["unlinked"] == sum(1 for l in report["links"] if l["doc"] is None)
        assert report["answers_in_no_document"] == []  # every answer was written into its document
        assert report["test_answers_in_documents"] == len(ks.test_qa)
        assert report["duplicated_questions"] == []  # test wordings are never training wordings
        assert report["mc_generated"] + report["mc_na"] == len(ks.dev_qa) + len(ks.test_qa)
        assert report["revised_questions"] == len(ks.revised_test_qa)
        assert report["fingerprint"] == ks.fingerprint
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                active = knowledge.use_knowledge(str(root))
            assert active == ks and knowledge.active_knowledge() == root.resolve()
            assert knowledge.knowledge_fingerprint() == ks.fingerprint
            summary = knowledge.knowledge_summary(active)
            assert str(root.resolve()) in summary and f"{len(ks.documents)} documents" in summary
            assert knowledge.load_knowledge() == ks
        finally:
            knowledge.use_knowledge("builtin")
        assert knowledge.active_knowledge() is None and knowledge.KNOWLEDGE_ENV not in os.environ


# --------------------------------------------------------------------------------------------------
# 4. n_entities: the first N documents


@_settings(40)
@given(folder=folders(), pick=st.integers(0, 61))
@example(folder=build_folder(1, _on("accents", "doc_field", "nfd_file_names"), seed=5, max_questions=1), pick=0)
def test_n_entities_keeps_the_first_documents_and_their_questions(folder, pick):
    with written(folder) as root:
        full = load_quietly(root)
        n_docs = len(full.documents)
        for n in sorted({1, n_docs, n_docs + 1, n_docs + 2, 1 + pick % (n_docs + 2)}):
            part = load_quietly(root, n_entities=n)
            if n >= n_docs:
                assert part == full
                continue
            keep = set(folder.doc_ids[:n])
            assert [d.id for d in part.documents] == folder.doc_ids[:n]
            for split in ("train_qa", "dev_qa", "test_qa"):
                got = getattr(part, split)
                assert all(q.doc_id in keep and q.entity_id in keep for q in got), split  # none unlinked, none of a later document
                assert got == [q for q in getattr(full, split) if q.doc_id in keep], split
            assert all(q.entity_id in keep for q in part.revised_test_qa)
            assert all(d.metadata["entity_id"] in keep for d in part.revised_documents)
            assert part.control_qa == full.control_qa and part.fingerprint == full.fingerprint
        for bad in (0, -1, True, 1.5):
            with pytest.raises(ValueError):
                knowledge.load_folder(root, n_entities=bad)


# --------------------------------------------------------------------------------------------------
# 5. Run profiles on a folder: one slice for every notebook


STEMS = ("00_overview_baseline", "01_full_finetuning", "02_lora", "03_rag", "04_hybrid", "05_comparison")


@_settings(30)
@given(folder=folders(max_docs=60, features=()), profile=st.sampled_from(["cpu", "gpu"]), reader_n=st.one_of(st.none(), st.integers(1, 120)))
@example(folder=build_folder(3, _on(), seed=0), profile="gpu", reader_n=None)  # notebook 02's sweep world on the GPU profile
def test_profiles_give_every_notebook_one_slice_of_the_folder(folder, profile, reader_n):
    from lorag_nb.experiments import profiles
    from lorag_nb.core.paths import NOTEBOOKS_DIR
    from lorag_nb.infra.runner import notebook_defaults

    with written(folder) as root:
        ks = load_quietly(root)
        n_docs = len(ks.documents)
        for stem in STEMS:
            params = notebook_defaults(NOTEBOOKS_DIR / f"{stem}.ipynb")
            default_n = params["n_entities"]
            if reader_n is not None:
                params["n_entities"] = reader_n
            choice = profiles.apply(stem, profile, params, folder=ks, cuda=profile == "gpu")
            values = {choice.values[k] for k in profiles.FOLDER_KNOBS[stem]}
            assert len(values) == 1, (stem, {k: choice.values[k] for k in profiles.FOLDER_KNOBS[stem]})
            (v,) = values
            assert 1 <= v <= n_docs
            if reader_n is None or reader_n == default_n:
                assert v == min(n_docs, profiles.FOLDER_DOCUMENTS[profile])
            else:
                assert v == min(reader_n, n_docs)
            no_folder = profiles.apply(stem, profile, params, cuda=profile == "gpu")
            for k in profiles.FOLDER_SWEEP_KNOBS.get(stem, ()):
                # the sweep world is the profile's own value, clamped to the slice
                assert choice.values[k] == min(no_folder.values.get(k, params[k]), v), (stem, profile, k, choice.values[k], no_folder.values.get(k, params[k]), v)
            # the choice says what it changed: every changed value is the value used, every other one is the notebook's
            for k, (before, after) in choice.changed.items():
                assert params[k] == before and choice.values[k] == after, (stem, profile, k, choice.changed[k], choice.values[k])
            for k, val in choice.values.items():
                if k not in choice.changed:
                    assert val == params[k], (stem, profile, k, val, params[k])


# --------------------------------------------------------------------------------------------------
# 6. Broken input: one KnowledgeError naming the file (and line)


BAD_JSON = ["{not json", '{"question": "Where?", "answer": }', "question, answer", "{'question': 'Where?', 'answer': 'here'}",
            '{"question": "Where?", "answer": "here"', "\ufeff{\"question\": \"Where?\", \"answer\": \"here\"}", "[1, 2]", "42", '"just a string"']


@_settings(120)
@given(folder=folders(max_docs=12), kind=st.sampled_from(["not json", "no answer", "no question", "answer not a string", "empty answer",
                                                          "doc names no file", "empty docs", "not utf-8 document", "utf-16 document",
                                                          "utf-16 question file", "not utf-8 question line"]), data=st.data())
def test_broken_input_gives_one_error_naming_file_and_line(folder, kind, data):
    with written(folder) as root:  # the folder before it is broken loads
        loaded_or_rejected(root)
    qa_files = sorted(folder.files)
    expect: list[str] = []
    if kind in ("not json", "no answer", "no question", "answer not a string", "empty answer", "not utf-8 question line"):
        name = data.draw(st.sampled_from(qa_files))
        f = folder.files[name]
        if kind == "not json":
            pos = data.draw(st.integers(0, len(f.lines)))
            bad = data.draw(st.sampled_from(BAD_JSON if pos or f.bom else BAD_JSON[:5] + BAD_JSON[6:]))  # a BOM only opens line 1
            f.lines.insert(pos, Line(None, raw=bad))
            lineno = pos + 1
        else:
            candidates = [k for k, ln in enumerate(f.lines) if ln.obj is not None]
            k = data.draw(st.sampled_from(candidates))
            ln = f.lines[k]
            obj = dict(ln.obj)
            if kind == "no answer":
                del obj["answer"]
            elif kind == "no question":
                del obj["question"]
            elif kind == "answer not a string":
                obj["answer"] = data.draw(st.sampled_from([1874, 3.5, None, ["a"], {"x": 1}, True]))
            elif kind == "empty answer":
                obj["answer"] = data.draw(st.sampled_from(["", "  "]))
            bad = json.dumps(obj, ensure_ascii=True).encode("utf-8")[:-1] + b', "note": "caf\xe9"}' if kind == "not utf-8 question line" else None
            f.lines[k] = Line(obj, own=ln.own, raw=bad)  # a Latin-1 "é" inside an otherwise valid line
            lineno = k + 1
        expect = [name.split("/")[-1], f"line {lineno}"]
        if name.startswith("revised/"):
            expect.append("revised")
    elif kind == "doc names no file":
        name = data.draw(st.sampled_from([n for n in qa_files if n != "control.jsonl"]))
        f = folder.files[name]
        k = data.draw(st.sampled_from([k for k, ln in enumerate(f.lines) if ln.obj is not None]))
        f.lines[k].obj["doc"] = data.draw(st.sampled_from(["no_such_document.md", "missing.txt", "nope"]))
        qid = f.lines[k].obj.get("id") or f"{_stem(name)}-{k + 1}"
        expect = [name.split("/")[-1], qid, "names no document"]
    elif kind == "empty docs":
        folder.docs = []
        expect = ["docs", "no .md or .txt files"]
    elif kind in ("not utf-8 document", "utf-16 document"):
        targets = [("docs", d.rel) for d in folder.docs] + [("revised/docs", rel) for rel in folder.revised_docs]
        where, rel = data.draw(st.sampled_from(targets))
        raw = folder.docs[folder.index(rel)].data if where == "docs" else folder.revised_docs[rel][1]
        if kind == "utf-16 document":
            text = raw.decode("utf-8-sig")
            new, lineno = text.encode("utf-16"), 1
        else:
            lines = raw.split(b"\n")
            idx = data.draw(st.integers(0, len(lines) - 1))
            at = data.draw(st.integers(0, len(lines[idx])))
            lines[idx] = lines[idx][:at] + b"\xff" + lines[idx][at:]
            new, lineno = b"\n".join(lines), idx + 1
        if where == "docs":
            folder.docs[folder.index(rel)].data = new
        else:
            folder.revised_docs[rel] = (folder.revised_docs[rel][0], new)
        expect = [f"{where}/{rel}", f"line {lineno}", "not UTF-8"]
    elif kind == "utf-16 question file":
        name = data.draw(st.sampled_from(qa_files))
        f = folder.files[name]
        f.bom = False
        folder.files[name] = _Utf16(f)
        expect = [name.split("/")[-1], "line 1", "not UTF-8"]

    with written(folder) as root:
        with pytest.raises(KnowledgeError) as err:
            load_quietly(root)
        message = str(err.value)
        for piece in expect:
            assert piece in message, f"{kind}: {piece!r} not in {message!r}"
        with pytest.raises(KnowledgeError) as again:
            check_quietly(root)
        assert str(again.value) == message
        try:  # a folder that does not load is never made the active knowledge
            with pytest.raises(KnowledgeError):
                knowledge.use_knowledge(str(root))
            assert knowledge.active_knowledge() is None and knowledge.KNOWLEDGE_ENV not in os.environ
        finally:
            knowledge.use_knowledge("builtin")


class _Utf16(JsonlFile):
    """A question file saved as UTF-16 (Windows Notepad's "Unicode")."""

    def __init__(self, f: JsonlFile):
        super().__init__(f.lines, False, f.crlf, f.final_newline, f.ascii_json)

    def encode(self) -> bytes:
        return super().encode().decode("utf-8").encode("utf-16")


# --------------------------------------------------------------------------------------------------
# 7. The stage functions on a folder, tiny, with the real embedded model


@_settings(6, shrink=False)  # one example costs seconds: a failure is reported as drawn (its build_folder call), not shrunk
@given(folder=folders(max_docs=5, max_questions=3), distractors=st.sampled_from(["near_duplicates", "retrieved", "both"]))
@example(folder=build_folder(2, _on("long_docs"), seed=0, max_questions=1), distractors="near_duplicates")  # documents longer than a chunk
def test_stage_functions_run_on_any_folder(folder, distractors, embedded, client):
    from lorag_nb.core.config import RaftSettings, TrainingSettings
    from lorag_nb.experiments import nb02
    from lorag_nb.methods import evaluation, retrieval, training
    from lorag_nb.methods.raft import raft_records

    model, tokenizer = embedded
    with written(folder) as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded_or_rejected(root)
        try:
            ks = knowledge.use_knowledge(str(root))
            n_docs = len(ks.documents)

            # training examples of a LoRA run on the first min(3, documents) documents
            n = min(3, n_docs)
            settings = nb02.default_lora(n_entities=n, max_length=256)
            part = knowledge.load_knowledge(n_entities=n)
            assert [d.id for d in part.documents] == [d.id for d in ks.documents[:n]]
            if part.train_qa:
                examples = training.build_examples(tokenizer, part, settings)
                assert len(examples) == len(part.train_qa)
                for ex in examples:
                    assert len(ex["input_ids"]) == len(ex["labels"]) <= 256 and any(l != -100 for l in ex["labels"])
            else:
                with pytest.raises(ValueError, match="no training examples"):
                    training.build_examples(tokenizer, part, settings)

            # retrieval over an in-memory Chroma collection of the folder's documents
            kb = retrieval.KnowledgeBase(f"prop-{uuid.uuid4().hex[:12]}", client=client)
            kb.ingest(ks.documents)
            assert kb.doc_ids() == {d.id for d in ks.documents}
            metrics, rows = retrieval.evaluate_retrieval(kb, ks.test_qa)
            linked = [q for q in ks.test_qa if q.doc_id]
            assert metrics["unlinked_left_out"] == len(ks.test_qa) - len(linked)
            assert [r["id"] for r in rows] == [q.id for q in linked]
            if kb.count() <= retrieval.MAX_K:  # every chunk is ranked: every gold document is found somewhere
                assert all(r["rank"] is not None for r in rows), rows
            if not linked:
                assert metrics["n"] == 0 and "not_measured" in metrics

            # closed-book and with-context answers at a 2-token budget: every row says whether it was cut
            qas = ks.test_qa[:3]
            passages = [c.page_content for c in kb.chunks()][:2]  # what RAG shows: chunks of the folder's documents
            for contexts in (None, [passages] * len(qas)):
                result = evaluation.evaluate_qa(model, tokenizer, qas, contexts=contexts, max_new_tokens=2, batch_size=4, multiple_choice=contexts is None)
                assert [r["id"] for r in result.rows] == [q.id for q in qas]
                assert all(isinstance(r["cut"], bool) and isinstance(r["truncated"], bool) and (r["truncated"] or not r["cut"]) for r in result.rows)
                assert result.metrics["truncated"] == sum(r["truncated"] for r in result.rows)
            if ks.dev_qa:
                from lorag_nb.data.prompts import make_prompt

                budget = evaluation.choose_budget(model, tokenizer, [make_prompt(tokenizer, q.question) for q in ks.dev_qa[:3]], cap=4, batch_size=4)
                assert 1 <= budget["max_new_tokens"] <= 4 and budget["n"] == min(3, len(ks.dev_qa))

            # RAFT examples: contexts from the folder's own documents, at most a chunk each (k = 2; fewer distractors
            # than k - 1 in a two-document folder is a warning, not an error)
            linked_train = [q for q in ks.train_qa if q.doc_id]
            if n_docs >= 2 and linked_train:
                from lorag_nb.core.config import RagSettings

                k = 2
                raft = TrainingSettings(n_entities=None, max_length=2048, context="raft", raft=RaftSettings(k=k, distractors=distractors, kb_entities=None))
                records = raft_records(tokenizer, ks, raft, kb=kb)
                assert sorted(r["id"] for r in records) == sorted(q.id for q in linked_train)
                doc_ids = {d.id for d in ks.documents}
                for r in records:
                    assert 1 <= len(r["contexts"]) <= k and r["gold_doc"] in doc_ids
                    if n_docs > k and distractors == "near_duplicates":
                        assert len(r["contexts"]) == k
                    assert all(len(c) <= RagSettings().chunk_size for c in r["contexts"])
                    sources = {c.split("#", 1)[0] for c in r["context_ids"]}
                    assert sources <= doc_ids, r["context_ids"]
                    # the gold document is in the prompt exactly when the example is an oracle one, and never as a distractor
                    assert r["context_ids"].count(r["gold_doc"]) == (1 if r["oracle"] else 0), (r["id"], r["oracle"], r["gold_doc"], r["context_ids"])
                    if r["oracle"]:  # the oracle passage holds the answer the example teaches
                        oracle = r["contexts"][r["context_ids"].index(r["gold_doc"])]
                        assert r["answer"].lower() in oracle.lower(), (r["answer"], oracle)
                    assert r["tokens"] <= raft.max_length
        finally:
            knowledge.use_knowledge("builtin")


# --------------------------------------------------------------------------------------------------
# 8. The claims engine: a comparison that an answer budget or a floor explains is undetermined


@st.composite
def paired_rows(draw, equal: bool):
    """Two methods' per-question rows on the same questions (``"contains"`` in {0, 1}, ``cut`` and ``truncated``); with
    ``equal`` both score the same on every fact."""
    n_facts = draw(st.integers(1, 30))
    per_fact = draw(st.lists(st.integers(1, 3), min_size=n_facts, max_size=n_facts))
    questions = [(f"q{f}-{w}", f"doc{f}.md/fact") for f, k in enumerate(per_fact) for w in range(k)]
    values = st.sampled_from(draw(st.sampled_from([[0.0], [1.0], [0.0, 1.0]])))  # at the floor, at the ceiling, or anywhere
    a_vals = draw(st.lists(values, min_size=len(questions), max_size=len(questions)))
    b_vals = list(a_vals) if equal else draw(st.lists(values, min_size=len(questions), max_size=len(questions)))
    if equal and draw(st.booleans()):  # the same per-fact means from other rows: each fact's values in another order
        by_fact: dict = {}
        for (_qid, fact), v in zip(questions, b_vals):
            by_fact.setdefault(fact, []).append(v)
        b_vals = [v for fact in dict.fromkeys(f for _, f in questions) for v in reversed(by_fact[fact])]

    def rows(vals):
        cuts = draw(st.sampled_from(["none", "some"]))
        out = []
        for (qid, fact), v in zip(questions, vals):
            cut = cuts == "some" and draw(st.booleans())
            out.append({"id": qid, "fact": fact, "contains": v, "cut": cut, "truncated": cut or draw(st.booleans())})
        return out

    return rows(a_vals), rows(b_vals)


@_settings(100)
@given(rows=st.one_of(paired_rows(equal=False), paired_rows(equal=True)), claim=st.sampled_from(["rag_grounded", "lora_matches", "raft_beats_rag", "full_learns"]),
       swap=st.booleans())
def test_cut_answers_or_a_floor_never_decide_a_claim(rows, claim, swap):
    """More than 10% of one side's answers cut off at the budget, or both sides equal on every fact at the floor or
    ceiling (within ``FLOOR_SHARE`` of 0 or 1): undetermined, never "holds" or "does not hold". Equal sides anywhere
    never show a difference greater than 0."""
    from lorag_nb.core import claims

    a_rows, b_rows = rows[::-1] if swap else rows
    a = claims.scores(a_rows, "contains", label="A")
    b = claims.scores(b_rows, "contains", label="B")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = claims.compare_scores(claim, a, b)
    cut_heavy = any(sum(r["cut"] for r in side) * 10 > len(side) for side in (a_rows, b_rows))
    common = sorted(set(a.by_fact) & set(b.by_fact))
    equal = all(a.by_fact[f] == b.by_fact[f] for f in common)
    level = sum(a.by_fact[f] for f in common) / len(common)
    floor = getattr(claims, "FLOOR_SHARE", 0.05)
    at_floor = equal and len(common) >= 2 and (level <= floor or level >= 1 - floor)
    note(f"cut shares {a.cut} {b.cut}; equal on every fact: {equal} at {level}; verdict {verdict.verdict}: {verdict.why}")
    if cut_heavy or at_floor:
        assert verdict.verdict == claims.UNDETERMINED, (verdict.verdict, verdict.why)
        assert claims.artefact(a, b) is not None
    _text, side, threshold, _what = claims.CLAIMS[claim]
    if equal and side == "greater" and threshold == 0:  # a difference of exactly 0 everywhere does not show "greater than 0"
        assert verdict.verdict != claims.HOLDS
    for r in a_rows:  # rows stored before "cut" existed: "truncated" stands in for it
        r.pop("cut")
    old = claims.scores(a_rows, "contains", label="A")
    assert old.cut == sum(r["truncated"] for r in a_rows) / len(a_rows)
