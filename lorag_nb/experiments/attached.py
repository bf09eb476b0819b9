"""Numbers an executed notebook hands to the runner: a dict attached to an output's metadata under a key
(:data:`HEADLINE_KEY` for notebook 05's headline, :data:`lorag_nb.experiments.reference.METADATA_KEY` for
the reference results), and reading them back from the ``.ipynb`` file. Its own module so the
runner (:mod:`lorag_nb.infra.runner`) and :mod:`lorag_nb.experiments.reference` need no ``nbXX`` module.
"""
from __future__ import annotations

import json
from pathlib import Path

#: Key of the output metadata that carries the headline numbers of an executed notebook (read by
#: :func:`lorag_nb.infra.runner.write_index`).
HEADLINE_KEY = "lorag_nb_headline"


def attached_output(path: str | Path, key: str, accept=lambda data: True) -> dict | None:
    """The first dict an executed notebook's outputs carry under ``metadata[key]`` for which ``accept`` is
    true, or None (no such output, unreadable file). How notebook 05 hands numbers to the runner
    (:func:`lorag_nb.experiments.nb05.display_headline`, :func:`lorag_nb.experiments.reference.attach`)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = (out.get("metadata") or {}).get(key)
            if isinstance(data, dict) and accept(data):
                return data
    return None


def headline_from_notebook(path: str | Path) -> dict | None:
    """The headline numbers an executed notebook attached with :func:`lorag_nb.experiments.nb05.display_headline`, or None
    (no such output, unreadable file)."""
    return attached_output(path, HEADLINE_KEY, lambda data: isinstance(data.get("rows"), list))
