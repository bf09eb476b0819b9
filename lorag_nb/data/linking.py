"""Which document a question of a reader's folder is about: :class:`Linker` (its rules, built once per
folder), :func:`link_question` for one question, :func:`link_counts` (how many questions each rule took)
and :func:`title_of` (a document's name for linking). :mod:`lorag_nb.data.folders` links every question
of a folder with it; import the public names from :mod:`lorag_nb.data.knowledge`, which re-exports them.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Sequence

from lorag_nb.data.records import Document, KnowledgeError


def title_of(doc: Document) -> str:
    """A document's name for linking: its first Markdown heading (``# ...``), else the file name with
    ``_``/``-`` as spaces."""
    for line in doc.text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            if heading:
                return heading
    return re.sub(r"[_-]+", " ", Path(doc.id).stem).strip()


# Words too common to identify a document by themselves (English function words and generic nouns of titles).
_STOPWORDS = frozenset("""
a an the of at in on to for from by with and or but not no is are was were be been being do does did has have had
it its this that these those there their they them he she his her him we our you your i me my as if than then so
what which who whom whose when where why how many much more most some any each every all both one other another
into onto over under about after before between during through up down out off again also only very just can could
will would shall should may might must new old first last about per via vs
""".split())


def _fold(text: str) -> str:
    """Lower case, compatibility-normalised, without accents ("Ženíšek" → "zenisek"): how the linker compares words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(text: str) -> set[str]:
    """The distinct words of ``text`` for linking (:func:`_fold`-ed ``\\w+`` runs, stop words and 1-character
    words dropped, a possessive ``'s`` removed)."""
    return {w for w in re.findall(r"\w+", _fold(text).replace("'s", "").replace("’s", "")) if len(w) > 1 and w not in _STOPWORDS}


class Linker:
    """Links questions to documents with rules an ordinary folder satisfies; built once per folder.

    Rules, tried in order; the first that gives exactly one document wins, and each link records its rule:

    1. ``"doc field"``: the JSONL ``"doc"``/``"doc_id"`` names a document (relative path, file name, or stem).
    2. ``"title in question"``: a document's whole title (first ``#`` heading, else the file name with
       ``_``/``-`` as spaces) occurs in the question on word boundaries; the longest such title if it is the
       only one that long.
    3. ``"name in question"``: the question contains **distinctive words** of one document's title or file
       stem — words (accents folded, stop words dropped) that occur in no other document's title or stem and
       in the text of at most ``max(2, 10%)`` of the documents. The document with the most such words wins
       if no other has as many ("Which colour is the star of Aedrarix?" → "The Aedrarix system") and it holds the
       gold answer whenever some document does (else rule 4 decides).
    4. ``"answer + shared words"``: among the documents that contain the gold answer (or an alias;
       case- and accent-insensitive, on word boundaries), the one sharing the most rare question words (in at
       most half of the documents) with the document text, weighted by inverse document frequency (Spärck
       Jones 1972), if it shares at least one and outscores the runner-up by a clear margin (× 1.5).

    Everything else stays unlinked (``None`` and the reason): an ambiguous question is never guessed.
    """

    def __init__(self, docs: Sequence[Document]):
        import math

        self.docs = list(docs)
        n = len(self.docs)
        self._titles = [title_of(d) for d in self.docs]
        self._text = [" ".join(_fold(d.text).split()) for d in self.docs]  # a line-wrapped answer still matches
        self._text_words = [_words(d.text) | _words(t) for d, t in zip(self.docs, self._titles)]
        name_words = [_words(t) | _words(re.sub(r"[_\-.]+", " ", Path(d.id).stem)) for d, t in zip(self.docs, self._titles)]
        name_df: dict[str, int] = {}
        for ws in name_words:
            for w in ws:
                name_df[w] = name_df.get(w, 0) + 1
        self._df: dict[str, int] = {}
        for ws in self._text_words:
            for w in ws:
                self._df[w] = self._df.get(w, 0) + 1
        limit = max(2, int(0.1 * n))
        self._names = [{w for w in ws if name_df[w] == 1 and self._df.get(w, 0) <= limit} for ws in name_words]
        # rare words for rule 4: in at most half of the documents (a word of every document links nothing)
        self._idf = {w: math.log((n + 1) / (c + 0.5)) for w, c in self._df.items() if c <= max(1, n // 2)}

    def link(self, question: str, reference: str | None = None, answers: Sequence[str] = ()) -> tuple[str | None, str]:
        """``(doc_id, rule)`` for one question, or ``(None, "unlinked: <reason>")``; see the class docstring.

        Args:
            question: the question text.
            reference: its ``"doc"`` field, if any.
            answers: its gold answer and aliases (rule 4); empty skips rule 4.

        Raises:
            KnowledgeError: ``reference`` names no document or several (the message lists valid names).
        """
        docs = self.docs
        if reference:
            ref = unicodedata.normalize("NFC", reference)  # a name typed with "ñ" matches a file saved as "n" + U+0303 (macOS)

            def nfc(x) -> str:
                return unicodedata.normalize("NFC", str(x))

            # a document's names: its id, its path under docs/ (a revised document's id is "revised/<path>"), file name, stem
            named = [d.id for d in docs if ref in (nfc(d.id), nfc(d.metadata.get("path") or d.id))] or \
                    [d.id for d in docs if ref in (nfc(Path(d.id).name), nfc(Path(d.id).stem))]
            if len(named) > 1:
                raise KnowledgeError(f"\"doc\": {reference!r} is ambiguous: it names {', '.join(named)}; valid: the path under docs/ of one of them")
            if named:
                return named[0], "doc field"
            valid = ", ".join(Path(d.id).name for d in docs[:10]) + (" …" if len(docs) > 10 else "")
            raise KnowledgeError(f"\"doc\": {reference!r} names no document; valid: a file name under docs/ ({valid})")
        q = _fold(question)
        hits = []
        for d, title in zip(docs, self._titles):
            t = _fold(title)
            if t and re.search(r"(?<!\w)" + re.escape(t) + r"(?!\w)", q):
                hits.append((len(t), d.id))
        hits.sort(reverse=True)
        if hits and (len(hits) == 1 or hits[0][0] > hits[1][0]):
            return hits[0][1], "title in question"
        qwords = _words(question)
        golds = [" ".join(_fold(a).split()) for a in answers if a and a.strip()]
        holders = [i for i, t in enumerate(self._text) if any(re.search(r"(?<!\w)" + re.escape(g) + r"(?!\w)", t) for g in golds)]
        scored = sorted(((len(names & qwords), i) for i, names in enumerate(self._names) if names & qwords), reverse=True)
        # a name match is trusted unless its document lacks the answer that another document holds (a common word such
        # as "wheels" can be unique to one title: the answer then says which document the question is about)
        if scored and (len(scored) == 1 or scored[0][0] > scored[1][0]) and (not holders or scored[0][1] in holders):
            return docs[scored[0][1]].id, "name in question"
        named_tie = len(scored) > 1
        if holders:
            ranked = sorted(((sum(self._idf.get(w, 0.0) for w in qwords & self._text_words[i]), i) for i in holders), reverse=True)
            best, i = ranked[0]
            runner = ranked[1][0] if len(ranked) > 1 else 0.0
            if best > 0 and best >= 1.5 * runner and best > runner:
                return docs[i].id, "answer + shared words"
        if hits or named_tie:
            names = [h[1] for h in hits[:2]] if hits else [docs[s[1]].id for s in scored[:2]]
            return None, f"unlinked: {names[0]} and {names[1]} fit equally (add a \"doc\" field)"
        return None, "unlinked: no document's title or name occurs in the question and no single document holds the answer (add a \"doc\" field)"


def link_question(question: str, reference: str | None, docs: Sequence[Document], answers: Sequence[str] = ()) -> tuple[str | None, str]:
    """The document a user question is about and the rule that linked it: :meth:`Linker.link` on ``docs``
    (build a :class:`Linker` once to link many questions).

    Raises:
        KnowledgeError: ``reference`` names no document or several.
    """
    return Linker(docs).link(question, reference, answers)


def link_counts(links: Sequence[dict]) -> str:
    """``"12 by doc field, 30 by name in question, 2 unlinked"``: how many questions each linking rule took
    (``links`` as :func:`check_folder` reports them; every unlinked reason counts as "unlinked")."""
    counts: dict[str, int] = {}
    for l in links:
        rule = "unlinked" if l["doc"] is None else l["rule"]
        counts[rule] = counts.get(rule, 0) + 1
    order = ["doc field", "title in question", "name in question", "answer + shared words", "unlinked"]
    return ", ".join(f"{counts[r]} by {r}" if r != "unlinked" else f"{counts[r]} unlinked" for r in order if r in counts) or "no questions"
