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
import importlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .config import EvalSettings, json_ready, seed_everything
from .knowledge import DATA_DIR

#: Bump when a change to the code makes stored results stale.
RESULTS_VERSION = 1


def data_fingerprint(data_dir: Path = DATA_DIR) -> str:
    """SHA-256 (first 12 hex digits) over the names and bytes of ``data/*.jsonl``."""
    h = hashlib.sha256()
    for path in sorted(Path(data_dir).glob("*.jsonl")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def settings_key(kind: str, settings: dict) -> str:
    """Stable key (16 hex digits) for ``kind`` + ``settings`` + data fingerprint + results version."""
    payload = {"kind": kind, "settings": json_ready(settings), "data": data_fingerprint(), "v": RESULTS_VERSION}
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


class ResultsStore:
    """Folder of JSON records, one per (kind, settings).

    Args:
        root: folder; default ``$LORAG_NB_RESULTS`` or ``<lorag_nb cache>/results``.
    """

    def __init__(self, root: str | Path | None = None):
        if root is None:
            env = os.environ.get("LORAG_NB_RESULTS")
            if env:
                root = Path(env)
            else:
                from .models import cache_dir

                root = cache_dir() / "results"
        self.root = Path(root).expanduser()
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


# --------------------------------------------------------------------------- baseline


@dataclass(frozen=True)
class BaselineSettings:
    """The base model before any adaptation: closed book, oracle context, control set, perplexity."""

    model: str = "embedded"
    eval: EvalSettings = field(default_factory=EvalSettings)
    seed: int = 0

    def __post_init__(self):
        from .config import _check, _check_int

        _check(isinstance(self.model, str) and bool(self.model.strip()), "model", self.model, "'embedded', a Hugging Face model id or a folder")
        _check(isinstance(self.eval, EvalSettings), "eval", self.eval, "an EvalSettings")
        _check_int(self, "seed", "an integer in [0, 2**32 - 1]", low=0, high=2**32 - 1)

    def to_dict(self) -> dict:
        return {"model": self.model, "eval": self.eval.to_dict(), "seed": self.seed}


def _cap(items: list, n: int | None) -> list:
    return items if n is None else items[:n]


def measure_model(model, tokenizer, ks, ev: EvalSettings, oracle: bool = True) -> tuple[dict, dict]:
    """Every standard measurement of one model on one knowledge set.

    Measures: test questions closed book (EM, F1, contains, MC accuracy), with the oracle (gold)
    document as context if ``oracle``, revised-facts questions closed book, control-set accuracy
    ("contains" on generated answers) and perplexity on real text (Python docs).

    Returns:
        ``(metrics, details)``: metrics ``{"test": {...}, "oracle": {...}, "revised": {...},
        "control_accuracy": float, "perplexity": float}``; details holds per-question rows.
    """
    from .evaluation import evaluate_qa, perplexity
    from .knowledge import document_for, perplexity_texts

    kw = dict(max_new_tokens=ev.max_new_tokens, batch_size=ev.batch_size)
    test = _cap(ks.test_qa, ev.max_questions)
    metrics, details = {}, {}
    r = evaluate_qa(model, tokenizer, test, **kw)
    metrics["test"], details["test"] = r.metrics, r.rows
    if oracle:
        ctx = [[document_for(ks, q).text] for q in test]
        r = evaluate_qa(model, tokenizer, test, contexts=ctx, **kw)
        metrics["oracle"], details["oracle"] = r.metrics, r.rows
    revised = _cap(ks.revised_test_qa, ev.max_questions)
    if revised:
        r = evaluate_qa(model, tokenizer, revised, **kw)
        metrics["revised"], details["revised"] = r.metrics, r.rows
    r = evaluate_qa(model, tokenizer, _cap(ks.control_qa, ev.max_questions), multiple_choice=False, **kw)
    metrics["control_accuracy"] = r.metrics["contains"]
    metrics["control"], details["control"] = r.metrics, r.rows
    metrics["perplexity"] = perplexity(model, tokenizer, perplexity_texts(n_texts=ev.perplexity_texts), max_tokens=ev.perplexity_tokens)
    return metrics, details


def run_baseline(settings: BaselineSettings = BaselineSettings(), store: ResultsStore | None = None, model=None, tokenizer=None, force: bool = False) -> Result:
    """Measure the base model (cached in the results store).

    Args:
        model, tokenizer: an already-loaded model to reuse (must be ``settings.model``); loaded if None.

    Returns:
        :class:`Result` of kind ``"baseline"`` with :func:`measure_model`'s metrics.
    """
    from .knowledge import load_knowledge
    from .models import load_model

    store = store or ResultsStore()

    def compute(_artifacts: Path):
        seed_everything(settings.seed)
        m, t = (model, tokenizer) if model is not None else load_model(settings.model)
        ks = load_knowledge(n_entities=settings.eval.n_entities)
        return measure_model(m, t, ks, settings.eval)

    return store.cached("baseline", settings.to_dict(), compute, force=force)


#: kind -> "module:function" implementing ``f(settings, store=..., **kw) -> Result``; imported lazily so
#: this module does not depend on the training or RAG stacks.
RUNNERS: dict[str, str] = {
    "BaselineSettings": "lorag_nb.experiments:run_baseline",
    "TrainingSettings": "lorag_nb.training:run_training",
    "RagSettings": "lorag_nb.rag:run_rag",
}


def run(settings: Any, store: ResultsStore | None = None, **kwargs) -> Result:
    """Run (or fetch from the store) the experiment that ``settings`` describes.

    Dispatches on the settings' type through :data:`RUNNERS`.

    Raises:
        TypeError: no runner for that settings type.
    """
    name = type(settings).__name__
    if name not in RUNNERS:
        raise TypeError(f"no experiment runner for {name}; known settings types: {sorted(RUNNERS)}")
    module, func = RUNNERS[name].split(":")
    return getattr(importlib.import_module(module), func)(settings, store=store, **kwargs)


# --------------------------------------------------------------------------- reporting


def metrics_table(results: dict) -> "pandas.DataFrame":  # noqa: F821
    """One row per (name → metrics dict from :func:`measure_model`): answer metrics per split,
    control accuracy and perplexity. Columns are fractions in [0, 1] except perplexity."""
    import pandas as pd

    rows = []
    for name, m in results.items():
        row = {"method": name}
        for split in ("test", "oracle", "revised"):
            if split in m:
                for key in ("exact_match", "f1", "contains", "mc_accuracy"):
                    row[f"{split} {key}"] = m[split].get(key)
        row["control accuracy"] = m.get("control_accuracy")
        row["perplexity"] = m.get("perplexity")
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def examples_table(result: Result, n: int = 8, splits: tuple[str, ...] = ("test", "oracle")) -> "pandas.DataFrame":  # noqa: F821
    """The first ``n`` questions side by side: gold answer and each split's prediction."""
    import pandas as pd

    first = result.details[splits[0]][:n]
    table = {"question": [r["question"] for r in first], "gold": [r["gold"] for r in first]}
    for split in splits:
        if split in result.details:
            by_id = {r["id"]: r["prediction"] for r in result.details[split]}
            table[f"{split} prediction"] = [by_id.get(r["id"], "") for r in first]
    return pd.DataFrame(table)


def baseline_findings(metrics: dict, chance: float = 0.25) -> str:
    """Markdown sentences stating what the baseline numbers show (computed, not hard-coded)."""
    t, o = metrics["test"], metrics.get("oracle")
    lines = [
        f"- **Closed book** the base model gets exact match {t['exact_match']:.1%}, gold-contained "
        f"{t['contains']:.1%} and multiple-choice accuracy {t['mc_accuracy']:.1%} (chance {chance:.0%}) "
        f"on {t['n']} questions: it {'does not know' if t['mc_accuracy'] < chance + 0.15 else 'seems to partly guess'} the fictional facts, as intended."
    ]
    if o:
        lines.append(
            f"- **With the oracle document** it reaches exact match {o['exact_match']:.1%}, gold-contained "
            f"{o['contains']:.1%} and MC accuracy {o['mc_accuracy']:.1%}: the ceiling RAG can reach with perfect retrieval."
        )
    lines.append(
        f"- **Forgetting baseline**: control-set accuracy {metrics['control_accuracy']:.1%} on "
        f"{metrics['control']['n']} general-knowledge questions, perplexity {metrics['perplexity']:.2f} on Python's docs."
    )
    return "\n".join(lines)
