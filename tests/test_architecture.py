"""The package's layers, checked from the source: every import (top level and inside functions) goes to
an earlier layer or to a module of the same layer without a cycle, and no module imports another
module's private names. The layers, in order (a layer may import only the ones before it):

    data → core → methods → experiments → ui → infra

``data`` (knowledge set, world generator, prompts) depends on nothing; ``core`` (settings, results store,
claims engine, formatting) fingerprints the data; ``methods`` are the reusable library (models,
evaluation, training, retrieval, RAG, RAFT, hybrids), with no notebook text; ``experiments/nbXX`` are
what each notebook measures and concludes; ``ui`` are plots, charts and widgets; ``infra`` the command
line, the notebook runner and the benchmarks.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "lorag_nb"
LAYERS = ("data", "core", "methods", "experiments", "ui", "infra")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(PKG.parent))
    except ValueError:
        return str(path)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _imports(module: str) -> list[tuple[int, str, list[str]]]:
    """``(line, imported lorag_nb module, names)`` for every import in ``module``, nested ones included."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("lorag_nb")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("lorag_nb"):
                continue
            names = [a.name for a in node.names]
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            if subs:  # "from lorag_nb.methods import rag, training": each submodule is an import
                out += [(node.lineno, s, []) for s in subs]
            else:
                out.append((node.lineno, target, names))
    return out


def test_every_module_is_in_a_layer():
    stray = [m for m in MODULES if m != "lorag_nb" and _layer(m) is None]
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


def test_imports_follow_the_layer_order():
    bad = []
    for m in MODULES:
        for line, target, _ in _imports(m):
            lm, lt = _layer(m), _layer(target)
            if lm and lt and LAYERS.index(lt) > LAYERS.index(lm):
                bad.append(f"{_rel(MODULES[m])}:{line} ({lm}) imports {target} ({lt})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {m: {t for _, t, _ in _imports(m) if t in MODULES and t != m and not MODULES[t].name == "__init__.py"} for m in MODULES}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" → ".join(stack[stack.index(t):] + [t]))
            elif not state.get(t):
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_names_imported_from_another_module():
    bad = [f"{_rel(MODULES[m])}:{line} imports {n} from {t}" for m in MODULES for line, t, names in _imports(m) for n in names if n.startswith("_") and not n.startswith("__") and t != m]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_function_level_imports_of_the_package_are_guarded_or_explained():
    """Package imports go at the top of a module (there are no cycles to dodge); one inside a function
    is either guarded by ``try`` (an optional path) or says in a comment why it is lazy."""
    bad = []
    for m, path in MODULES.items():
        src = path.read_text()
        tree, lines = ast.parse(src), src.split("\n")
        parents = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                target = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if (target or "").startswith("lorag_nb") and not isinstance(parents.get(id(node)), ast.Try) and "#" not in lines[node.lineno - 1]:
                    bad.append(f"{_rel(path)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not bad, "function-level package imports without a reason:\n" + "\n".join(bad)


def test_no_method_imports_the_ui_or_a_notebook_experiment():
    """The rule the layers exist for, stated directly: a method module never imports plots, widgets or notebook text."""
    bad = [(m, t) for m in MODULES if _layer(m) == "methods" for _, t, _ in _imports(m) if _layer(t) in ("ui", "experiments", "infra")]
    assert not bad


@pytest.mark.parametrize("source", ["from lorag_nb.ui import plots\n", "from lorag_nb.experiments.nb03 import sweep_k\n"])
def test_the_checker_catches_a_method_importing_upwards(source, tmp_path, monkeypatch):
    """The checker itself can fail: a methods module that imports the ui or an experiment is reported."""
    fake = tmp_path / "lorag_nb" / "methods" / "fake.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"def f():\n    {source}")
    monkeypatch.setitem(MODULES, "lorag_nb.methods.fake", fake)
    found = [(line, t) for line, t, _ in _imports("lorag_nb.methods.fake")]
    assert found and _layer(found[0][1]) in ("ui", "experiments")
    with pytest.raises(AssertionError, match="against the layer order"):
        test_imports_follow_the_layer_order()


# --------------------------------------------------------------------------- notebooks' modules and the method catalog

NOTEBOOK_MODULE = __import__("re").compile(r"^lorag_nb\.experiments\.nb\d\d$")


def _notebook_imports(module: str) -> list[str]:
    return [f"{_rel(MODULES[module])}:{line} imports {t}" for line, t, _ in _imports(module) if NOTEBOOK_MODULE.match(t) and t != module]


def test_no_notebook_module_imports_another_and_no_ui_or_infra_imports_one():
    """``experiments/nbXX`` is what one notebook shows: what two notebooks share (studies, claims, defaults)
    lives in a module of its own (``rag_studies``, ``forgetting``, ``method_claims``, ``recipes`` …), so no
    ``nbXX`` imports another, and ``ui`` / ``infra`` import none (top-level or function-level imports)."""
    bad = [b for m in MODULES if NOTEBOOK_MODULE.match(m) or _layer(m) in ("ui", "infra") for b in _notebook_imports(m)]
    assert not bad, "imports of a notebook module (import the shared module instead):\n" + "\n".join(bad)


def _catalog_ids() -> set[str]:
    from lorag_nb.core.catalog import BY_ID  # lazy: the architecture checks above read source only

    return set(BY_ID)


def _id_literals(node: ast.AST, ids: set[str]) -> list[str]:
    """The catalog ids a literal (a string, or a tuple / list / set of strings) names; [] for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if node.value in ids else []
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in ids]
    return []


def method_name_tests(source: str, ids: set[str]) -> list[tuple[int, str]]:
    """``(line, source)`` of every test of a value against method ids written as literals.

    Checked: ``x == "rag"``, ``x != "base"``, ``x in ("base", "full", "lora")``, ``x not in {...}``, ``x is
    "rag"``, ``"rag" == x`` (a non-literal compared with a literal id, or a literal tuple / list / set
    holding one) and ``case "rag":`` in a ``match``. Not checked: ``"rag" in results`` (a literal id on
    the left of ``in``: a look-up of a stored result by its key, not a decision by kind), literal ids
    passed as arguments or used as dict keys (naming a claim's subject, ``_diff(comp, "lora", "full")``),
    and string values that are not catalog ids. So the guard finds the ladders the catalog replaced
    (deciding what a method *is* from its name) without forbidding a method's name as data.
    """
    tree = ast.parse(source)
    lines = source.split("\n")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for (a, op, b) in zip(operands, node.ops, operands[1:]):
                if not isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)):
                    continue
                literal_a, literal_b = _id_literals(a, ids), _id_literals(b, ids)
                if (literal_b and not isinstance(a, ast.Constant)) or (literal_a and isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)) and not _id_literals(b, ids) and not isinstance(b, ast.Constant)):
                    found.append((node.lineno, lines[node.lineno - 1].strip()))
                    break
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue) and _id_literals(node.pattern.value, ids):
            found.append((node.pattern.lineno, lines[node.pattern.lineno - 1].strip()))
    return found


def test_methods_are_told_apart_by_the_catalog_not_by_name():
    """In ``experiments/`` and ``ui/`` no code decides what a method is by comparing its name with a literal
    (``m in ("base", "full", "lora")``, ``m == "rag"``): it reads a trait of :mod:`lorag_nb.core.catalog`
    (``changes_weights``, ``retrieves``, ``closed_book``, ``hybrid`` …) or one of its id lists (see
    :func:`method_name_tests` for exactly what is checked)."""
    ids = _catalog_ids()
    bad = [f"{_rel(path)}:{line}: {text}" for m, path in MODULES.items() if _layer(m) in ("experiments", "ui") for line, text in method_name_tests(path.read_text(), ids)]
    assert not bad, "method-name comparisons outside the catalog (use a catalog trait):\n" + "\n".join(bad)


@pytest.mark.parametrize("source, caught", [
    ('if m in ("base", "full", "lora"):\n    pass\n', True),
    ('x = [m for m in ms if m != "rag"]\n', True),
    ('ok = "rag" == method\n', True),
    ('match m:\n    case "raft_hybrid":\n        pass\n', True),
    ('if "rag" in results:\n    pass\n', False),
    ('d = _diff(comp, "lora", "full")\n', False),
    ('if split == "test":\n    pass\n', False),
])
def test_the_method_name_guard_catches_a_ladder(source, caught):
    """The guard itself can fail: a name ladder is reported; a key look-up, a claim's subject and other strings are not."""
    assert bool(method_name_tests(source, _catalog_ids())) is caught
