"""A run's compact **reference result**, and notebook 05's side-by-side view of this run and a reference run.

``lorag-nb run`` (typically ``--profile gpu`` on a big machine) writes ``reference.json`` next to the
executed notebooks: every method's metrics with their 95% intervals, the Pareto front and the
learning-vs-forgetting frontier, every claim's verdict, and where it was measured (git commit, device,
package versions, date, profile, parameters, wall time). Notebook 05 builds the dict
(:func:`reference_result`) and attaches it to an output (:func:`attach`); the runner reads it back
(:func:`from_notebook`), adds the run's wall time and writes the file.

A reference file committed under ``reference/`` in the repository is shown by notebook 05 beside this
run's numbers (:func:`side_by_side`), each column labelled with its run ("this run", "reference run
(device, date)"). The two runs' numbers are never combined: each verdict shown was decided by the claims
engine on its own run's numbers (this run's now, the reference's when it ran). Notebooks 00–04 show the
same reference in their findings (:func:`findings`): the reference's verdicts on the claims each one judges
(notebook 00: its accuracies), labelled with the run, beside, never mixed with, the notebook's own.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

from lorag_nb.core import catalog
from lorag_nb.core import claims as C
from lorag_nb.core.config import cpu_precision
from lorag_nb.core.paths import REPO_ROOT
from lorag_nb.data import knowledge as kn
from lorag_nb.experiments.attached import attached_output
from lorag_nb.experiments.comparison_table import COLUMNS, Comparison, pareto_front

#: Format version of ``reference.json``; :func:`load` refuses other versions.
FORMAT = 1
#: Where committed reference results live (``$LORAG_NB_REFERENCE`` overrides it).
REFERENCE_DIR = REPO_ROOT / "reference"
#: Key of the output metadata that carries the reference dict of an executed notebook 05.
METADATA_KEY = "lorag_nb_reference"
#: The accuracies whose 95% interval over facts is stored per method (row key → sample metric).
INTERVALS = {"test MC acc": "mc", "test gold contained": "contains"}
#: The packages whose versions a reference records.
PACKAGES = ("torch", "transformers", "peft", "accelerate", "langchain", "chromadb", "sentence-transformers")


def _finite(x: Any) -> Any:
    """JSON-safe: NaN/inf → None, tuples → lists, recursively; other values unchanged."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def estimate_dict(est: C.Estimate | None, signed: bool = False) -> dict | None:
    """An :class:`~lorag_nb.core.claims.Estimate` as a JSON-able dict (NaN → None), plus its ``text``
    (``signed``: a difference, as the verdict tables print it: ``"+3.3 [-1.0, 7.5] pts"``)."""
    if est is None:
        return None
    fields = {f.name: getattr(est, f.name) for f in dataclasses.fields(est) if f.name != "null"}  # not the bootstrap distribution
    return _finite({**fields, "text": est.text(signed=signed and est.unit == "fraction")})


def git_commit(root: Path = REPO_ROOT) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout at ``root`` (None outside git)."""
    import os

    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # a read: `git status` must not refresh (rewrite) the checkout's .git/index
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, env=env)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10, env=env)
        return {"commit": sha.stdout.strip(), "dirty": bool(st.stdout.strip()) if st.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def device_name() -> str:
    """The accelerator's name (``torch.cuda.get_device_name(0)``, e.g. ``"NVIDIA H200"``), else the CPU's
    model name from ``/proc/cpuinfo`` (or ``platform.processor()``) with its core count."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return f"CPU {name} ({os.cpu_count()} cores)"


def provenance(profile: str | None = None, parameters: Mapping | None = None) -> dict:
    """Where and how a run was measured: git commit (and whether the tree had uncommitted changes),
    device name, the CPU precision (:func:`~lorag_nb.core.config.cpu_precision`: fp32 or bf16), Python and package versions (:data:`PACKAGES`), UTC date, the profile and the parameters.
    The wall time is added by the runner, which alone knows it (``wall_seconds``)."""
    from importlib import metadata

    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return _finite({
        **git_commit(),
        "device": device_name(),
        "precision": cpu_precision(),
        "python": platform.python_version(),
        "versions": versions,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "profile": profile,
        "parameters": dict(parameters or {}),
    })


def reference_result(comp: Comparison, verdicts: Sequence[C.Verdict], profile: str | None = None, parameters: Mapping | None = None) -> dict:
    """The compact reference result of one comparison (notebook 05's ``comparison`` and ``claim_rows``).

    Returns:
        a JSON-able dict: ``format``, ``condition`` (the verdicts' condition), ``context``, ``method_order``
        (the table's row order: JSON readers and notebook metadata may sort object keys); ``methods``:
        method → ``{"label", "metrics": {column: value} (:data:`~lorag_nb.experiments.nb05.COLUMNS`, units
        in the names, fractions in [0, 1]), "intervals": {metric: Estimate dict}}`` (95% bootstrap over
        facts, :data:`INTERVALS`); ``frontier``: ``{"pareto": labels on the accuracy-vs-setup-cost
        front, cheapest first, "forgetting": label → {"learned", "forgetting"} of notebook 02's curves
        (empty when not run)}``; ``verdicts``: one dict per claim (id, claim, verdict, difference with its
        interval, threshold, side, measured estimates, facts needed, why); ``provenance``
        (:func:`provenance`). NaN and infinities become None.

    Raises:
        TypeError: a value that JSON cannot hold (raised here rather than when the runner writes the file).
    """
    methods = {}
    for m in comp.methods:
        row = comp.rows[m]
        intervals = {}
        for col, metric in INTERVALS.items():
            smp = (comp.samples.get(m) or {}).get(metric)
            if smp is not None:
                intervals[col] = estimate_dict(C.mean_estimate(smp))
        methods[m] = {"label": comp.label(m), "metrics": {c: row.get(c) for c in (*COLUMNS, "test gold contained")}, "intervals": intervals}
    series = comp.extra.get("frontier_series") or {}
    frontier = {
        "pareto": pareto_front({comp.label(m): (comp.rows[m].get("setup s"), comp.rows[m].get("test MC acc")) for m in comp.methods}),
        "pareto_axes": ["setup s", "test MC acc"],
        "forgetting": {label: {"learned": list(xs), "forgetting": list(ys)} for label, (xs, ys) in series.items()},
    }
    rows = []
    for v in verdicts:
        rows.append({
            "id": v.id, "claim": v.claim, "verdict": v.verdict, "verdict_text": v.verdict_text(), "compared": v.compared,
            "difference": estimate_dict(v.diff, signed=True), "threshold": v.threshold, "side": v.side,
            "measured": {k: estimate_dict(e) for k, e in v.measured.items()}, "facts_needed": v.facts_needed, "why": v.why,
            "p_value": v.p_value, "p_holm": v.p_holm, "holm": v.holm_text(),
        })
    context = {k: v for k, v in comp.context.items() if isinstance(v, (str, int, float, bool, list, tuple)) or v is None}
    out = {"format": FORMAT, "condition": comp.condition(), "context": context, "method_order": list(methods), "methods": methods, "frontier": frontier, "verdicts": rows,
           "provenance": provenance(profile, parameters)}
    out = _finite(out)
    json.dumps(out, allow_nan=False)  # raises here, not in the runner, if anything is not JSON
    return out


def attach(comp: Comparison, verdicts: Sequence[C.Verdict], profile: str | None = None, parameters: Mapping | None = None) -> None:
    """Show one line about the reference result and attach it (:func:`reference_result`) to the output's
    metadata (``metadata[METADATA_KEY]``), where ``lorag-nb run`` finds it and writes ``reference.json``
    (:func:`lorag_nb.infra.runner.write_reference`)."""
    from IPython.display import Markdown, display

    ref = reference_result(comp, verdicts, profile, parameters)
    p = ref["provenance"]
    display(Markdown(f"Reference result of this run: {len(ref['methods'])} methods, {len(ref['verdicts'])} verdicts; {p['device']}, profile {p['profile']}, "
                     f"commit {(p['commit'] or 'unknown')[:10]}{' (uncommitted changes)' if p['dirty'] else ''}. `lorag-nb run` writes it to `reference.json` in the run folder."),
            metadata={METADATA_KEY: ref})


def from_notebook(path: str | Path) -> dict | None:
    """The reference dict an executed notebook attached with :func:`attach`, or None (none, unreadable)."""
    return attached_output(path, METADATA_KEY, lambda data: data.get("format") == FORMAT)


def reference_dir() -> Path:
    """``$LORAG_NB_REFERENCE`` if set, else :data:`REFERENCE_DIR` (``reference/`` in the repository)."""
    env = os.environ.get("LORAG_NB_REFERENCE")
    return Path(env).expanduser() if env else REFERENCE_DIR


def load(path: str | Path) -> dict:
    """Read one reference file.

    Raises:
        ValueError: not JSON, or not a reference result of format :data:`FORMAT` (names the file and what
            it holds instead).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not JSON ({err}); valid: a reference.json written by `lorag-nb run`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("methods"), dict):
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path} is not a reference result of format {FORMAT} (format {got!r}); valid: a reference.json written by `lorag-nb run`")
    return data


def find(folder: str | Path | None = None) -> list[tuple[Path, dict]]:
    """Every ``*.json`` reference in ``folder`` (default :func:`reference_dir`), newest date first;
    ``[]`` when the folder does not exist. A file that is not a reference raises (:func:`load`)."""
    folder = Path(folder) if folder is not None else reference_dir()
    if not folder.is_dir():
        return []
    refs = [(p, load(p)) for p in sorted(folder.glob("*.json"))]
    return sorted(refs, key=lambda pr: str(pr[1].get("provenance", {}).get("date") or ""), reverse=True)


def run_label(ref: Mapping) -> str:
    """``"reference run (NVIDIA H200, 2026-12-04)"``: the device and the UTC date of a reference."""
    p = ref.get("provenance") or {}
    return f"reference run ({p.get('device') or 'unknown device'}, {str(p.get('date') or 'unknown date')[:10]})"


THIS_RUN = "this run"


def _interval_text(d: Mapping | None) -> str:
    if not d:
        return ""
    return str(d.get("text") or "")


def accuracy_table(comp: Comparison, ref: Mapping):
    """This run's and the reference run's accuracies, side by side, each column labelled with its run.

    One row per method of either run; columns ``"this run: test MC acc [95% CI]"``, ``"<reference
    label>: test MC acc [95% CI]"`` (:func:`run_label`), the same for gold contained, and each run's
    number of facts. This run's numbers come from ``comp``, the reference's as its file stored them.

    Returns:
        a pandas DataFrame indexed by method label.
    """
    import pandas as pd

    other = run_label(ref)
    ref_methods = ref.get("methods") or {}
    rows = []
    order = [m for m in ref.get("method_order") or sorted(ref_methods) if m in ref_methods]
    for m in [*comp.methods, *[m for m in order if m not in comp.rows]]:
        r = ref_methods.get(m) or {}
        row = {"method": comp.label(m) if m in comp.rows else r.get("label", m)}
        for col, metric in INTERVALS.items():
            mine = (comp.samples.get(m) or {}).get(metric) if m in comp.rows else None
            row[f"{THIS_RUN}: {col} [95% CI]"] = C.mean_estimate(mine).text() if mine is not None else ""
            row[f"{other}: {col} [95% CI]"] = _interval_text((r.get("intervals") or {}).get(col))
        mc = (comp.samples.get(m) or {}).get("mc") if m in comp.rows else None
        row[f"{THIS_RUN}: facts"] = mc.n_facts if mc is not None else None
        row[f"{other}: facts"] = ((r.get("intervals") or {}).get("test MC acc") or {}).get("n_facts")
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def verdict_table(verdicts: Sequence[C.Verdict], ref: Mapping):
    """Each claim's verdict and difference in this run beside the reference run's, each column labelled
    with its run. Each verdict was decided by the claims engine on its own run's numbers (this run's
    now, the reference's when it ran); nothing here combines the two.

    Returns:
        a pandas DataFrame indexed by claim.
    """
    import pandas as pd

    other = run_label(ref)
    mine = {v.id: v for v in verdicts}
    theirs = {v["id"]: v for v in ref.get("verdicts") or []}
    rows = []
    for cid in [*mine, *[c for c in theirs if c not in mine]]:
        a, b = mine.get(cid), theirs.get(cid)
        rows.append({
            "claim": a.claim if a else b.get("claim", cid),
            f"{THIS_RUN}: verdict": a.verdict_text() if a else "not judged",
            f"{THIS_RUN}: difference [95% CI]": a.diff.text(signed=a.diff.unit == "fraction") if a else "",
            f"{other}: verdict": b.get("verdict_text", b.get("verdict")) if b else "not judged",
            f"{other}: difference [95% CI]": _interval_text(b.get("difference")) if b else "",
        })
    return pd.DataFrame(rows).set_index("claim")


def describe(ref: Mapping | None, folder: str | Path | None = None) -> str:
    """Markdown: which reference run the side-by-side tables show (device, date, commit, profile, precision
    (fp32 for a reference written before the precision was recorded), versions, wall time, condition), or, for ``ref`` None, that none is committed and how one is made."""
    if ref is None:
        where = Path(folder) if folder is not None else reference_dir()
        return (f"No reference result in `{where}`: only this run's numbers are shown. `lorag-nb run --profile gpu` writes "
                "`reference.json` in its run folder; commit it as `reference/<name>.json` to see it here beside this run.")
    p = ref.get("provenance") or {}
    v = p.get("versions") or {}
    wall = p.get("wall_seconds")
    return (
        f"**{run_label(ref)}**: commit {(p.get('commit') or 'unknown')[:10]}{' (uncommitted changes)' if p.get('dirty') else ''}, profile {p.get('profile')}, "
        f"precision {p.get('precision') or 'fp32'}, torch {v.get('torch')}, transformers {v.get('transformers')}, peft {v.get('peft')}"
        + (f", whole run {wall / 60:.1f} min" if isinstance(wall, (int, float)) else "")
        + f"; measured at: {ref.get('condition', '')}. The tables below show its numbers and verdicts as that run computed them, "
        "beside this run's; no verdict mixes the two runs."
    )


def newest(folder: str | Path | None = None) -> dict | None:
    """The newest reference in ``folder`` (:func:`find`), or None."""
    refs = find(folder)
    return refs[0][1] if refs else None


#: What a row of :func:`findings` says for a claim or method this run has and the reference lacks.
NOT_IN_REFERENCE = "not in the reference run"


def _folder_of(knowledge: Any) -> str | None:
    """The folder a ``knowledge`` value names (absolute, as :func:`~lorag_nb.data.knowledge.resolve_knowledge`
    finds it; the value itself where no such folder exists), or None for the built-in world."""
    if knowledge is None or str(knowledge).strip() in ("", kn.BUILTIN):
        return None
    try:
        return str(kn.resolve_knowledge(knowledge))
    except kn.KnowledgeError:
        return str(knowledge)


def _claim_ids(claims: Sequence[C.Verdict | str] | str) -> list[str]:
    ids: list[str] = []
    for c in [claims] if isinstance(claims, str) else claims:
        cid = c if isinstance(c, str) else c.id  # of this run's verdict only its id is read: no number of it is shown
        if cid not in C.CLAIMS:
            raise KeyError(f"unknown claim {cid!r}; known: {sorted(C.CLAIMS)}")
        if cid not in ids:
            ids.append(cid)
    return ids


def _verdict_rows(ref: Mapping, ids: Sequence[str], label: str) -> list[str]:
    theirs = {v.get("id"): v for v in ref.get("verdicts") or [] if isinstance(v, Mapping)}
    holm = any(str(theirs[c].get("holm") or "–") != "–" for c in ids if c in theirs)
    head = ["claim", f"{label}: verdict", f"{label}: difference [95% CI]", f"{label}: n facts · questions · seeds"] + ([f"{label}: Holm (family-wise 5%)"] if holm else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cid in ids:
        v = theirs.get(cid)
        if v is None:
            cells = [C.CLAIMS[cid][0], NOT_IN_REFERENCE, "", ""] + ([""] if holm else [])
        else:
            d = v.get("difference") or {}
            n = (f"{d.get('n_facts')} · {d.get('n_questions')} · {', '.join(str(s) for s in d.get('seeds') or []) or '–'}"
                 if d.get("n_facts") is not None else "–")
            text = " ".join(x for x in (C.ICONS.get(v.get("verdict"), ""), str(v.get("verdict_text") or v.get("verdict") or "–")) if x)
            cells = [v.get("claim") or C.CLAIMS[cid][0], f"**{text}**", _interval_text(d) or "–", n] + ([str(v.get("holm") or "–")] if holm else [])
        lines.append("| " + " | ".join(C.md_cell(x) for x in cells) + " |")
    return lines


def _method_rows(ref: Mapping, methods: Sequence[str], label: str) -> list[str]:
    theirs = ref.get("methods") or {}
    ref_order = [m for m in ref.get("method_order") or list(theirs) if m in theirs]
    order = [m for m in ref_order if m in methods] + [m for m in methods if m not in ref_order]
    head = ["method", *(f"{label}: {col} [95% CI]" for col in INTERVALS), f"{label}: facts"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in order:
        r = theirs.get(m)
        if r is None:
            cells = [catalog.method(m).label, NOT_IN_REFERENCE, *([""] * len(INTERVALS))]
        else:
            iv = r.get("intervals") or {}
            facts = (iv.get("test MC acc") or iv.get("test gold contained") or {}).get("n_facts")
            cells = [r.get("label") or m, *(_interval_text(iv.get(col)) or "–" for col in INTERVALS), "–" if facts is None else facts]
        lines.append("| " + " | ".join(C.md_cell(x) for x in cells) + " |")
    return lines


def findings(ref: Mapping | None, claims: Sequence[C.Verdict | str] = (), knowledge: str | Path | None = None, methods: Sequence[str] | None = None) -> str:
    """Markdown: what a committed reference run (:func:`newest`) says on the claims a notebook judges, for
    the notebook's findings, so that a run at smoke size (or stopped early) still shows the decisive numbers.

    Every number shown is the reference file's, as that run computed it; of ``claims`` only the ids are read
    (this run's verdicts are shown by the notebook itself, above), so no cell holds a number of this run.

    Args:
        ref: a reference result (:func:`load`, :func:`newest`), or None (none committed).
        claims: the claims this notebook judges, as its :class:`~lorag_nb.core.claims.Verdict` list or as
            claim ids (:data:`~lorag_nb.core.claims.CLAIMS` keys), in the notebook's order; repeats are
            shown once.
        knowledge: the notebook's ``knowledge`` parameter: ``None``, ``""`` or ``"builtin"`` for the
            built-in world, else the reader's folder.
        methods: method ids (:data:`~lorag_nb.core.catalog.TABLE_METHODS`) whose accuracies to show with
            their 95% intervals, in the reference's order (notebook 00, which judges no claim); None: no
            accuracy table.

    Returns:
        ``ref`` None: :func:`describe`'s line that none is committed and how one is made. A reference of
        another knowledge set than this run's (the built-in world beside a folder, or another folder): one
        line saying so, with no number. Otherwise a block without heading: ``"**<run_label>**, commit …,
        profile …; measured at: <condition>. …"``, then a table ``claim | <label>: verdict | <label>:
        difference [95% CI] | <label>: n facts · questions · seeds`` (plus ``<label>: Holm (family-wise
        5%)`` where the reference stored a Holm result for one of these claims), one row per claim, the
        reference's verdict or ``"not in the reference run"``; then, for ``methods``, a table ``method |
        <label>: test MC acc [95% CI] | <label>: test gold contained [95% CI] | <label>: facts``.

    Raises:
        KeyError: a claim id that is not in :data:`~lorag_nb.core.claims.CLAIMS`, or a method id that is not
            in the catalog (:func:`lorag_nb.core.catalog.method`); nothing for valid ids and a reference
            :func:`load` accepts.
    """
    ids = _claim_ids(claims)
    if methods is not None:
        methods = list(dict.fromkeys(methods))
        for m in methods:
            catalog.method(m)  # KeyError for an id that is no method of the catalog
    if ref is None:
        return describe(None)
    label = run_label(ref)
    mine, theirs = _folder_of(knowledge), (ref.get("context") or {}).get("knowledge") or None
    if mine != theirs:
        if theirs is None:
            return f"The committed **{label}** is of the built-in world, so it is not shown beside the numbers of your folder `{mine}`."
        where = "the built-in world" if mine is None else f"your folder `{mine}`"
        return f"The committed **{label}** is of the folder `{theirs}`, not of {where}, so it is not shown beside this run's numbers."
    p = ref.get("provenance") or {}
    out = [f"**{label}**, commit {(p.get('commit') or 'unknown')[:10]}{' (uncommitted changes)' if p.get('dirty') else ''}, profile {p.get('profile')}"
           + (f"; measured at: {ref['condition']}" if ref.get("condition") else "")
           + ". Its numbers as that run computed them" + (" and its verdicts as it decided them on its own numbers" if ids else "") + "; no cell holds a number of this run."]
    if ids:
        out += ["", *_verdict_rows(ref, ids, label)]
    if methods is not None:
        out += ["", *_method_rows(ref, methods, label)]
    return "\n".join(out)
