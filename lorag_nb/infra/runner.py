"""The notebook runner behind ``lorag-nb run`` and the papermill tests: find, check and execute the
notebooks (papermill), export HTML (nbconvert) and write the run's ``index.html``."""
from __future__ import annotations

import ast
import datetime as _dt
import html
import json
import sys
import time
from pathlib import Path

from lorag_nb.experiments import profiles, recipes
from lorag_nb.core.paths import NOTEBOOKS_DIR, REPO_ROOT
from lorag_nb.data.knowledge import BUILTIN, load_folder, resolve_knowledge


def notebook_paths(folder: Path = NOTEBOOKS_DIR, prefixes: list[str] | None = None) -> list[Path]:
    """The ``*.ipynb`` files of ``folder`` in name order (checkpoints skipped), filtered by name prefix."""
    paths = sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(x) for x in prefixes)]
    return paths


def smoke_parameters(path: Path) -> dict:
    """The parameters notebook ``path`` runs with at smoke size (``lorag-nb run --smoke``, the notebook tests):
    its row of :data:`lorag_nb.experiments.recipes.SMOKE_CHANGES` (one small world shared by every notebook,
    so later notebooks find the earlier ones' runs in the results store); ``{}`` for a notebook the table
    does not know."""
    return recipes.smoke_changes(Path(path).stem)


def check_notebook(path: Path) -> list[str]:
    """Problems with a committed notebook's structure; an empty list means it is fine.

    Checks: kernelspec and language_info metadata (papermill needs them); exactly one cell tagged
    ``parameters`` (without it papermill injects values above the defaults, which then overwrite
    them silently); that cell holds only annotated assignments of literals, each with a trailing
    comment; no committed outputs or execution counts; the first code cell is the guarded Colab
    set-up cell; papermill recognizes every declared parameter (it warns "unknown parameter" and
    the value is still injected, but its inspection/help would be wrong).
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    problems = []
    meta = nb.get("metadata", {})
    if "kernelspec" not in meta or "language_info" not in meta:
        problems.append("metadata lacks kernelspec or language_info")
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    tagged = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"{len(tagged)} cells tagged 'parameters' (want exactly 1)")
    for cell in tagged[:1]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        try:
            tree = ast.parse(source)
        except SyntaxError as err:
            problems.append(f"parameters cell does not parse: {err}")
            tree = ast.Module(body=[], type_ignores=[])
        lines = source.splitlines()
        for node in tree.body:
            if not isinstance(node, ast.AnnAssign) or node.value is None:
                problems.append(f"parameters cell line {node.lineno}: not a typed assignment (name: type = literal)")
                continue
            try:
                ast.literal_eval(node.value)
            except ValueError:
                problems.append(f"parameters cell line {node.lineno}: value is not a literal")
            if "#" not in lines[node.end_lineno - 1]:
                problems.append(f"parameters cell line {node.lineno}: no trailing comment explaining it")
        declared = [n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
        try:
            import papermill as pm

            seen = set(pm.inspect_notebook(str(path)))
        except Exception as err:  # noqa: BLE001 - reported as a problem, not raised
            problems.append(f"papermill cannot read the parameters: {err}")
            seen = set(declared)
        missed = [n for n in declared if n not in seen]
        if missed:
            problems.append(f"papermill does not recognize parameter(s) {missed} (avoid '=' in their comments)")
    n_out = sum(len(c.get("outputs", [])) for c in code)
    if n_out or any(c.get("execution_count") for c in code):
        problems.append(f"committed with outputs ({n_out}) or execution counts: strip them")
    if not code or "google.colab" not in "".join(code[0]["source"]):
        problems.append("first code cell is not the guarded Colab set-up cell")
    return problems


def notebook_defaults(path: Path) -> dict:
    """The default values of a notebook's ``parameters`` cell: ``{name: literal}`` (papermill injects
    overrides after them).

    Raises:
        ValueError: no cell tagged ``parameters``, or a value that is not a literal.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{path}: no cell tagged 'parameters'")
    tree = ast.parse("".join(cells[0]["source"]))
    return {n.target.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def parse_parameter(text: str) -> tuple[str, object]:
    """``"name=value"`` → ``(name, value)``, the value read as a Python literal when it is one.

    Raises:
        ValueError: no ``=`` in ``text``.
    """
    if "=" not in text:
        raise ValueError(f"parameter {text!r} must look like name=value")
    name, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


def execute(path: Path, out_dir: Path, parameters: dict, kernel: str = "python3", html_export: bool = True, progress: bool = True) -> dict:
    """Execute one notebook with papermill into ``out_dir`` and export it to HTML beside it.

    Returns:
        ``{"notebook", "output", "html", "seconds", "error"}``; ``error`` is None on success, else the
        message of papermill's ``PapermillExecutionError`` (a cell raised), ``"kernel died: …"`` (the
        kernel process ended mid-cell: an out-of-memory kill, ``os._exit``, a crash), or the type and
        message of any other failure to execute (a kernel that does not start, a cell timeout). The
        executed notebook, with the outputs of the cells that ran, is still written when papermill got
        that far. Never raises for a failing notebook, so the rest of a run goes on.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    out = out_dir / path.name
    t0 = time.perf_counter()
    error = None
    try:
        pm.execute_notebook(str(path), str(out), parameters=parameters, kernel_name=kernel, cwd=str(path.parent), progress_bar=progress)
    except pm.PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue}"
    except DeadKernelError as err:
        error = f"kernel died: {err} (the kernel process ended during a cell, e.g. killed for lack of memory)"
    except Exception as err:  # noqa: BLE001 - recorded as this notebook's failure; the run goes on
        error = f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - t0
    if out.exists():
        drop_live_widgets(out)
    html_path = None
    if html_export and out.exists():
        html_path = export_html(out)
    return {"notebook": path.name, "output": str(out), "html": str(html_path) if html_path else None, "seconds": seconds, "error": error}


#: What an executed notebook shows where a live dashboard was: it needs a running kernel.
LIVE_NOTE = "live dashboard: open this notebook in JupyterLab and run it; the same charts follow as static figures"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def drop_live_widgets(notebook: Path) -> int:
    """Remove the saved ipywidgets state from an executed notebook, in place. Returns the bytes saved.

    The state (``metadata.widgets``: every control and each chart's figure JSON) cannot drive a dashboard
    without a kernel, and the static figures below each dashboard already show every chart; without it
    an executed notebook and its HTML carry each chart once and stay a few MB. A dashboard's output (a
    cell ending in ``.widget()``, the notebooks' one way to show one) becomes :data:`LIVE_NOTE`; any other
    widget output (a tqdm progress bar of a model load) keeps its plain-text form, or goes if it has none.
    """
    before = notebook.stat().st_size
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", [])) if isinstance(cell.get("source"), list) else cell.get("source", "")
        dashboard = source.rstrip().endswith(".widget()")
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                if dashboard:
                    out["data"] = {"text/plain": LIVE_NOTE}
                elif data.get("text/plain"):
                    out["data"] = {"text/plain": data["text/plain"]}
                else:
                    continue
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return before - notebook.stat().st_size


def export_html(notebook: Path) -> Path:
    """Export an executed notebook to ``<name>.html`` beside it (nbconvert ``HTMLExporter``, lab template)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def headline_html(records: list[dict]) -> str:
    """HTML of the headline numbers the executed notebooks attached to their outputs
    (:func:`lorag_nb.experiments.nb05.display_headline`: one row per method with the key metrics), or a note
    when no notebook of the run produced them (a failed or skipped comparison notebook). Never raises."""
    try:
        from lorag_nb.experiments.attached import headline_from_notebook
    except Exception as err:  # noqa: BLE001 - the index must still be written
        return f"<p>Headline numbers unavailable: {html.escape(str(err))}</p>"
    blocks = []
    for r in records:
        data = headline_from_notebook(r["output"]) if r.get("output") and not r.get("error") else None
        if not data or not data.get("rows"):
            continue
        cols = [c for c in data["rows"][0] if c != "method"]

        def cell(col, v):
            if v is None:
                return ""
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if col in ("test MC acc", "test EM", "test F1", "revised acc", "control drop"):
                    return f"{100 * v:.0f}%"
                return f"{v:.2f}" if abs(v) < 10 else f"{v:,.0f}"
            return html.escape(str(v))

        body = "".join("<tr><td>" + html.escape(str(row.get("method"))) + "</td>" + "".join(f"<td>{cell(c, row.get(c))}</td>" for c in cols) + "</tr>" for row in data["rows"])
        blocks.append(
            f"<h2>Headline numbers ({html.escape(r['notebook'])})</h2><p>{html.escape(str(data.get('condition', '')))}</p>"
            "<table border='1' cellpadding='4'><tr><th>method</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>" + body + "</table>"
        )
    if not blocks:
        return "<p>Headline numbers: none in this run (the comparison notebook did not run or failed).</p>"
    return "".join(blocks)


def write_index(out_dir: Path, records: list[dict]) -> Path:
    """``index.html`` linking every exported notebook in order, with its run time and status, then the
    headline numbers of the comparison (:func:`headline_html`)."""
    rows = []
    for r in records:
        name = html.escape(r["notebook"])
        link = f'<a href="{html.escape(Path(r["html"]).name)}">{name}</a>' if r.get("html") else name
        status = "ok" if not r.get("error") else f"error: {html.escape(r['error'])}"
        rows.append(f"<tr><td>{link}</td><td>{r['seconds']:.0f} s</td><td>{status}</td></tr>")
    page = (
        "<!doctype html><meta charset='utf-8'><title>lorag_nb run</title>"
        "<h1>lorag_nb — executed notebooks</h1>"
        f"<p>{html.escape(out_dir.name)}</p><table border='1' cellpadding='4'>"
        "<tr><th>notebook</th><th>time</th><th>status</th></tr>" + "".join(rows) + "</table>"
        + headline_html(records)
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_reference(out_dir: Path, records: list[dict], wall_seconds: float, parameters: dict | None = None, profile: str | None = None) -> Path | None:
    """Write ``reference.json`` in ``out_dir`` from the reference result the comparison notebook attached
    to its outputs (:func:`lorag_nb.experiments.reference.attach`), adding what only the runner knows:
    ``provenance.wall_seconds`` (the whole run, every notebook), ``provenance.notebooks`` (each one's
    seconds and error), the parameters given to every notebook and the ``--profile`` asked for.

    Returns:
        the path written, or None when no notebook of the run attached a reference (notebook 05 not
        selected, or failed before its last cells). Never raises for a missing reference.
    """
    from lorag_nb.experiments import reference  # lazy: it imports notebook 05's code (torch); checking notebooks stays light

    ref = None
    for r in records:
        if r.get("output") and not r.get("error"):
            ref = reference.from_notebook(r["output"]) or ref
    if ref is None:
        return None
    prov = ref.setdefault("provenance", {})
    prov["wall_seconds"] = round(float(wall_seconds), 1)
    prov["notebooks"] = [{"notebook": r["notebook"], "seconds": round(float(r["seconds"]), 1), "error": r.get("error")} for r in records]
    prov["run_parameters"] = dict(parameters or {})
    prov["asked_profile"] = profile
    path = out_dir / "reference.json"
    path.write_text(json.dumps(ref, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


#: A ``parameters`` cell's annotation → the Python types an override of it may have (``bool`` is no ``int`` here).
PARAMETER_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list,), "dict": (dict,)}


def check_overrides(paths: list[Path], overrides: dict) -> None:
    """Raise ``ValueError`` naming any override that no selected notebook's ``parameters`` cell defines
    (papermill would inject it silently and a typo would go unnoticed; the message lists the valid names),
    or whose value has another type than that cell declares (``-p n_entities='"abc"'`` would fail inside
    every notebook, one after the other)."""
    import papermill as pm

    if not overrides:
        return
    declared: dict[str, str] = {}
    for path in paths:
        for name, info in pm.inspect_notebook(str(path)).items():
            declared.setdefault(name, info.get("inferred_type_name") or "")
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ValueError(f"parameter(s) {unknown} are not defined by any selected notebook; valid: {sorted(declared)}")
    for name, value in overrides.items():
        types = PARAMETER_TYPES.get(declared[name])
        if types and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            raise ValueError(f"parameter {name}={value!r} is a {type(value).__name__}; valid: {'an' if declared[name] == 'int' else 'a'} {declared[name]}, as its notebooks declare it "
                             f"(-p takes a Python literal: {_literal_hint(declared[name], name)})")


def _literal_hint(type_name: str, name: str) -> str:
    """An example ``-p`` value of the declared type (``-p n_entities=20``, ``-p knowledge='"my_kb"'``)."""
    examples = {"int": "20", "float": "0.5", "bool": "True", "list": "[1, 2]", "str": "'\"text\"'"}
    example = examples.get(type_name, "'\"text\"'")
    return f"e.g. -p {name}={example}" + (" (strings in quotes)" if type_name == "str" else "")


def kernel_python(argv: list[str]) -> str | None:
    """The python a kernel command line runs, as jupyter_client will start it: a bare ``python``,
    ``python3`` or ``python3.X`` becomes this process's ``sys.executable`` (jupyter_client does that);
    None when the command is not a python."""
    if not argv:
        return None
    exe = argv[0]
    if exe in ("python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]):
        return sys.executable
    return exe if Path(exe).name.startswith("python") else None


def is_this_python(exe: str) -> bool:
    """True if ``exe`` is a python of this environment: it lies in the folder of ``sys.executable``
    (``.venv/bin``; folders compared after resolving symlinks, the file itself is not resolved, since
    every venv's python is a symlink to the same base interpreter)."""
    import os

    here = os.path.realpath(os.path.dirname(os.path.abspath(sys.executable)))
    return os.path.realpath(os.path.dirname(os.path.abspath(exe))) == here


def check_kernel(kernel: str) -> None:
    """Raise ``ValueError`` if the Jupyter kernel named ``kernel`` is not installed (lists the installed
    ones) or does not run this environment's python (a kernel registered by another checkout or
    environment would run that one's code; the message says how to register this one's)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(kernel)
    except NoSuchKernel:
        raise ValueError(f"kernel {kernel!r} is not installed; installed kernels: {sorted(manager.find_kernel_specs())}") from None
    exe = kernel_python(list(spec.argv))
    if exe is None or not is_this_python(exe):
        runs = spec.argv[0] if spec.argv else "nothing"
        raise ValueError(
            f"kernel {kernel!r} ({spec.resource_dir}) runs {runs}, not this environment's python ({sys.executable}); "
            f"register this one's with `{sys.executable} -m ipykernel install --sys-prefix --name {kernel}` (make setup does it for 'lorag-nb') or pick another with -k"
        )


def run_notebooks(out_dir: Path | None = None, smoke: bool = False, prefixes: list[str] | None = None, overrides: dict | None = None, kernel: str = "python3", folder: Path | None = None, profile: str | None = None) -> tuple[Path, list[dict]]:
    """Run the notebook sequence in order (a tqdm bar over notebooks, papermill's bar over cells).

    A notebook that fails (a cell raises, or its kernel dies) is recorded with its error and the
    next ones still run; ``index.html`` and ``run.json`` are written in every case.

    Args:
        out_dir: where executed notebooks and HTML go; default ``runs/<UTC timestamp>/``.
        smoke: use each notebook's smoke parameters (metadata) instead of its defaults.
        overrides: parameters applied to every notebook (after the smoke ones).
        profile: ``"auto"``, ``"cpu"`` or ``"gpu"`` (:mod:`lorag_nb.experiments.profiles`), given to every
            notebook as its ``profile`` parameter; None leaves each notebook's own (``"auto"``).
        kernel: Jupyter kernel name; it must run this environment's python (:func:`check_kernel`).
        folder: the notebooks' folder (default :data:`NOTEBOOKS_DIR`).

    When the comparison notebook attached a reference result, ``reference.json`` is written beside the
    executed notebooks (:func:`write_reference`).

    Returns:
        ``(out_dir, records)``, one record per notebook (see :func:`execute`).

    Raises:
        FileNotFoundError: no notebook matches ``prefixes``.
        ValueError: an override no selected notebook defines, an unknown profile or ``"gpu"`` without a
            CUDA device, a kernel that is not installed or runs another environment's python, or a
            ``knowledge`` folder that does not exist or cannot be used
            (:class:`~lorag_nb.data.knowledge.KnowledgeError`; checked before anything runs or is written).
    """
    from tqdm.auto import tqdm

    folder = Path(folder) if folder is not None else NOTEBOOKS_DIR
    paths = notebook_paths(folder, prefixes=prefixes)
    if not paths:
        raise FileNotFoundError(f"no notebooks match {prefixes} in {folder}")
    overrides = dict(overrides or {})
    if profile is not None:
        profiles.resolve(profile)  # an unknown profile, or gpu without CUDA, fails here, not in every notebook
        if "profile" in overrides and overrides["profile"] != profile:
            raise ValueError(f"--profile {profile!r} and -p profile={overrides['profile']!r} disagree; give one")
        overrides["profile"] = profile
    check_overrides(paths, overrides)
    check_kernel(kernel)
    if overrides.get("knowledge") not in (None, "", BUILTIN):  # the notebooks run in notebooks/: a relative folder is the caller's
        root = resolve_knowledge(overrides["knowledge"])  # KnowledgeError (a ValueError) names a missing folder before anything runs
        load_folder(root)  # …and a folder that cannot be used
        overrides["knowledge"] = str(root)
    if out_dir is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out_dir = REPO_ROOT / "runs" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    t0 = time.perf_counter()
    for path in tqdm(paths, desc="notebooks", unit="nb"):
        params = smoke_parameters(path) if smoke else {}
        params.update(overrides)
        records.append(execute(path, out_dir, params, kernel=kernel))
        write_index(out_dir, records)
    write_reference(out_dir, records, time.perf_counter() - t0, {**({"smoke": True} if smoke else {}), **overrides}, profile)
    (out_dir / "run.json").write_text(json.dumps(records, indent=1))
    return out_dir, records
