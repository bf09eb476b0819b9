"""The session's shared pieces in one object, :data:`RUNTIME`: the results store and the models loaded by
name, so a notebook, its dashboards and every method reuse one of each instead of loading their own.

Every method still takes ``store=`` and ``model=`` / ``tokenizer=`` for a caller that holds its own (a
test's temporary store, a model already on the GPU); left out, they come from here:

- :attr:`Runtime.store`: the :class:`~lorag_nb.core.store.ResultsStore` of ``$LORAG_NB_RESULTS`` (else the
  cache's ``results/``). The variable is read at each use, so pointing it elsewhere (as the tests and
  ``lorag-nb bench`` do) takes effect at once; one store object per folder.
- :meth:`Runtime.model`: ``(model, tokenizer)`` loaded once per process per model name
  (:func:`lorag_nb.methods.models.load_model`), or a pair the caller already holds, remembered under its name
  (the hybrids' merged adapters are held this way, as ``"merged <run key>"``).

Chroma clients are not held here: ``chromadb`` already shares one system per persistent path, and an
in-memory client is one store per process (:func:`lorag_nb.methods.retrieval.make_client`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lorag_nb.core.store import ResultsStore, default_results_root
from lorag_nb.methods.models import load_model


class Runtime:
    """One process's results stores (one per folder) and loaded models (one per name)."""

    def __init__(self):
        self._stores: dict[Path, ResultsStore] = {}
        self._models: dict[str, tuple[Any, Any]] = {}

    @property
    def store(self) -> ResultsStore:
        """The store of ``$LORAG_NB_RESULTS`` (else ``<cache>/results``), created once per folder."""
        root = default_results_root()
        if root not in self._stores:
            self._stores[root] = ResultsStore(root)
        return self._stores[root]

    def use_store(self, store: ResultsStore | None = None) -> ResultsStore:
        """``store`` when given, else :attr:`store`: the one line every method starts with."""
        return store if store is not None else self.store

    def model(self, name: str = "embedded", model=None, tokenizer=None) -> tuple[Any, Any]:
        """``(model, tokenizer)`` for model ``name``: the given pair (remembered under ``name`` if none is yet),
        else the one already loaded, else :func:`~lorag_nb.methods.models.load_model` ``(name)`` once.

        Raises:
            whatever :func:`~lorag_nb.methods.models.load_model` raises for an unknown name (ValueError,
            OSError), and nothing is remembered then.
        """
        if model is not None and tokenizer is not None:
            self._models.setdefault(name, (model, tokenizer))
            return model, tokenizer
        if name not in self._models:
            self._models[name] = load_model(name)
        return self._models[name]

    def holds(self, name: str) -> bool:
        """Whether a model is held under ``name`` (a model name, or ``"merged <run key>"`` for an adapter
        merged into its base by :func:`lorag_nb.methods.hybrid.merged_model`)."""
        return name in self._models

    def loaded_models(self) -> list[str]:
        """Names of the models held, in load order."""
        return list(self._models)

    def release_models(self) -> None:
        """Drop every held model (their memory is freed once no caller holds them)."""
        self._models.clear()


#: The process's runtime: what every method falls back to.
RUNTIME = Runtime()
