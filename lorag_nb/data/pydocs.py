"""Real text: Python's reference documentation (``pydoc_data.topics``, shipped with every CPython) as
documents for a real-text knowledge base (:func:`load_python_docs`) and as fixed texts for perplexity
(:func:`perplexity_texts`). Re-exported by :mod:`lorag_nb.data.knowledge`.
"""
from __future__ import annotations

from lorag_nb.data.records import Document


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
