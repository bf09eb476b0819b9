"""Experiments and the results store: ``run(settings) -> Result``, cached by a hash of the settings.

One store serves every method. A record is one JSON file named ``<kind>-<key>.json`` under the store
folder (``$LORAG_NB_RESULTS`` or ``<cache>/results``); artifacts (adapters, checkpoints) go in a
folder of the same name. The key is the SHA-256 of the canonical JSON of (kind, settings, model,
data fingerprint, code version), so a rerun, a second notebook, or a widget moved back to a value
it had finds the stored result instead of recomputing it. Writes are atomic (temp file + rename), so
an interrupted run never leaves a half-written record. A record that cannot be read anyway (cut short
by a full disk, edited by hand, copied half-way) is moved aside as ``<name>.json.corrupt`` with a
warning naming the file, and counts as absent: the result is recomputed, never a crash.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lorag_nb import __version__
from lorag_nb.core.config import cpu_precision, json_ready
from lorag_nb.core.paths import cache_dir
from lorag_nb.data.knowledge import DATA_DIR, knowledge_fingerprint

#: Bump when a change to the code makes stored results stale.
RESULTS_VERSION = 1


def data_fingerprint(data_dir: Path = DATA_DIR) -> str:
    """SHA-256 (first 12 hex digits) over the names and bytes of ``data/*.jsonl``."""
    h = hashlib.sha256()
    for path in sorted(Path(data_dir).glob("*.jsonl")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def knowledge_key() -> str:
    """The data part of every store key: :func:`data_fingerprint` of ``data/`` for the generated world,
    ``"folder:<fingerprint>"`` while a user folder is active (:func:`lorag_nb.data.knowledge.use_knowledge`),
    so results on a user's files never mix with the world's, and editing a file of the folder changes every
    key that depends on the folder (the record of the old version stays in the store)."""
    fp = knowledge_fingerprint()
    return data_fingerprint() if fp is None else f"folder:{fp}"


def settings_key(kind: str, settings: dict) -> str:
    """Stable key (16 hex digits) for ``kind`` + ``settings`` + data fingerprint (:func:`knowledge_key`) + results version
    + the CPU precision when it is bf16 (:func:`lorag_nb.core.config.cpu_precision`; fp32 keys are the keys stored before
    the precision existed, so fp32 and bf16 results never share a key)."""
    payload = {"kind": kind, "settings": json_ready(settings), "data": knowledge_key(), "v": RESULTS_VERSION}
    precision = cpu_precision()
    if precision != "fp32":
        payload["precision"] = precision
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Result:
    """One stored experiment.

    Attributes:
        kind: ``"baseline"``, ``"train"``, ``"rag"``, …
        key: the settings hash.
        settings: the settings as a dict.
        metrics: flat or nested numbers (see each runner's docstring).
        details: larger payloads (loss history, per-question rows).
        created: UNIX time of the run (s).
        cached: True when this object came from the store rather than a fresh run.
    """

    kind: str
    key: str
    settings: dict
    metrics: dict
    details: dict = field(default_factory=dict)
    created: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict:
        return {"kind": self.kind, "key": self.key, "settings": self.settings, "metrics": self.metrics, "details": self.details, "created": self.created, "version": __version__}


def default_results_root() -> Path:
    """The default store folder: ``$LORAG_NB_RESULTS`` when set, else ``<lorag_nb cache>/results``; read at
    each call (absolute, ``~`` expanded)."""
    env = os.environ.get("LORAG_NB_RESULTS")
    return (Path(env) if env else cache_dir() / "results").expanduser().absolute()


class ResultsStore:
    """Folder of JSON records, one per (kind, settings).

    Args:
        root: folder; default ``$LORAG_NB_RESULTS`` or ``<lorag_nb cache>/results``.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_results_root()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, key: str) -> Path:
        return self.root / f"{kind}-{key}.json"

    def artifact_dir(self, kind: str, key: str) -> Path:
        """Folder for this record's files (created on demand by the caller)."""
        return self.root / f"{kind}-{key}"

    def get(self, kind: str, key: str) -> Result | None:
        """The stored result, or None.

        A record that cannot be read (not UTF-8, not JSON, not an object with ``kind``, ``key``,
        ``settings`` and ``metrics``) is moved aside to ``<record>.json.corrupt`` (replacing an older one)
        with a ``UserWarning`` naming both files, and None is returned, so the caller recomputes it.
        """
        path = self.path(kind, key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as err:
            return self._set_aside(path, f"not UTF-8 text ({err.reason})")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            return self._set_aside(path, f"invalid JSON ({err.msg} at line {err.lineno} column {err.colno})")
        missing = [k for k in ("kind", "key", "settings", "metrics") if not isinstance(raw, dict) or k not in raw]
        if missing:
            return self._set_aside(path, f"not a results record (missing {missing})")
        return Result(kind=raw["kind"], key=raw["key"], settings=raw["settings"], metrics=raw["metrics"], details=raw.get("details", {}), created=raw.get("created", 0.0), cached=True)

    def _set_aside(self, path: Path, why: str) -> None:
        """Move an unreadable record to ``<path>.corrupt`` and warn; returns None (the record is absent)."""
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
            where = f"moved to {aside}"
        except FileNotFoundError:  # another process moved it first
            where = f"already moved to {aside}"
        warnings.warn(f"results record {path} is unreadable: {why}; {where}, and the result will be recomputed", UserWarning, stacklevel=3)
        return None

    def put(self, result: Result) -> Path:
        """Write ``result`` atomically (replacing any record with the same kind and key)."""
        path = self.path(result.kind, result.key)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.root)
        with os.fdopen(fd, "w") as f:
            json.dump(json_ready(result.to_dict()), f, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return path

    def all(self, kind: str | None = None) -> list[Result]:
        """Every stored result (of ``kind`` if given), oldest first; unreadable records are skipped
        (moved aside with a warning, see :meth:`get`)."""
        out = []
        for path in sorted(self.root.glob(f"{kind or '*'}-*.json")):
            kind_, key = path.stem.rsplit("-", 1)
            r = self.get(kind_, key)
            if r is not None:
                out.append(r)
        return sorted(out, key=lambda r: r.created)

    def cached(self, kind: str, settings: dict, compute: Callable[[Path], tuple[dict, dict]], force: bool = False) -> Result:
        """Return the stored result for ``(kind, settings)``, or compute, store and return it.

        Args:
            compute: ``f(artifact_dir) -> (metrics, details)``; it may write files into artifact_dir.
                If it raises, nothing is stored.
            force: recompute even if stored.
        """
        key = settings_key(kind, settings)
        if not force:
            hit = self.get(kind, key)
            if hit is not None:
                return hit
        metrics, details = compute(self.artifact_dir(kind, key))
        result = Result(kind=kind, key=key, settings=json_ready(settings), metrics=metrics, details=details, created=time.time())
        self.put(result)
        return result
