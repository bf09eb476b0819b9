"""Shared fixtures. Tests never write into the user's results store: LORAG_NB_RESULTS points at a
session temp folder. The converted embedded model stays in the normal cache (converted once)."""
from __future__ import annotations

import os

# OpenMP threads that spin while waiting make torch 5-10x slower when another process shares the 2 cores
# (measured: a 4x64 forward 6.5 s spinning vs 0.5 s passive). Set before torch is imported; papermill
# kernels inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Under pytest-xdist each worker (and every kernel it starts) gets its share of the cores as torch threads: two
# workers with 2 threads each on 2 cores oversubscribe. Measured on the 2-core Xeon (two processes at once, 8 training
# steps 4x64 / 3 batched generations): 2 threads each, passive 21.0 s / 0.9 s; 1 thread each 20.0 s / 0.5 s (spinning,
# without OMP_WAIT_POLICY: 220 s / 11 s). A plain run (TEST_WORKERS=0) keeps torch's default.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))
os.environ.pop("LORAG_NB_KNOWLEDGE", None)  # tests choose their knowledge folder themselves (knowledge.use_knowledge)

import pytest  # noqa: E402


# ----------------------------------------------------------------------------------------- parallel runs
# ``make test`` runs pytest-xdist with two workers: the suite spends much of its time in single-threaded work (kernel
# starts, model loads, tokenization, Chroma, the browser), so a second worker uses the idle core. Tests that share an
# expensive fixture must run on one worker, or the fixture is built twice. xdist's own ``--dist loadgroup`` marks do
# not work with pytest 9.2 (xdist 3.8 renames ``item._nodeid``, which pytest 9.2 no longer reads), so the grouping is
# a scheduler of our own (``pytest_xdist_make_scheduler``) that reads the table below; the controller sees only node
# ids, so the table is by file (and test), and the workers check it against the fixtures each test really uses.
#: Test file, or ``file::test``, → its xdist group; any other test is grouped by its file (module fixtures built once).
XDIST_GROUPS = {
    "test_browser.py": "smoke_store", "test_nb05.py": "smoke_store", "test_notebooks.py": "smoke_store",
    "test_hybrid.py": "hybrid", "test_nb04.py": "hybrid",
    "test_own_knowledge.py::test_every_notebook_runs_on_a_gallery_folder": "gallery_sequence",
    "test_own_knowledge.py::test_notebook_05_on_a_second_folder_gives_verdicts_on_its_facts": "second_folder",
}
#: Expensive shared fixtures → the group every test that uses one (directly or through another fixture) must be in.
SHARED_FIXTURE_GROUPS = {"smoke_store": "smoke_store", "example_run": "gallery_sequence", "hybrid_runs": "hybrid", "hybrid_base": "hybrid"}
#: Groups handed out first, longest first (the scheduler sends groups in collection order), so the longest chains
#: start at once instead of last.
LONG_GROUPS = ("smoke_store", "gallery_sequence", "second_folder", "hybrid")


def xdist_group_of(nodeid: str) -> str:
    """The xdist group of a test node id (``tests/test_x.py::test_y[param]``): :data:`XDIST_GROUPS` by
    ``file::test`` then by file, else the file itself."""
    path, _, rest = nodeid.partition("::")
    name = path.rsplit("/", 1)[-1]
    test = rest.split("[", 1)[0]
    return XDIST_GROUPS.get(f"{name}::{test}") or XDIST_GROUPS.get(name) or path


def pytest_xdist_make_scheduler(config, log):
    """Load balancing by :func:`xdist_group_of` (a group is one unit of work, sent whole to one worker)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    wrong = [f"{item.nodeid} uses {f} but is in group {xdist_group_of(item.nodeid)!r}, not {g!r}"
             for item in items for f, g in SHARED_FIXTURE_GROUPS.items() if f in item.fixturenames and xdist_group_of(item.nodeid) != g]
    if wrong:
        raise pytest.UsageError("tests/conftest.py XDIST_GROUPS: " + "; ".join(wrong[:5]) + " (add the test or its file to that group)")
    if hasattr(config, "workerinput"):  # an xdist worker: the long groups first (a plain run keeps the file order)
        rank = {g: i for i, g in enumerate(LONG_GROUPS)}
        items.sort(key=lambda item: rank.get(xdist_group_of(item.nodeid), len(rank)))  # stable: the order inside a group is kept


@pytest.fixture(scope="session", autouse=True)
def _isolated_results(tmp_path_factory):
    """Per test session (per xdist worker): a results store and a lorag_nb cache of its own (Chroma's persistent
    stores are not safe for two processes writing one folder). The cache's ``models/`` links to the real cache,
    so the converted embedded model is shared (its conversion holds a file lock)."""
    from lorag_nb.core.paths import cache_dir

    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    path = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    (cache / "models").symlink_to(models, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORAG_NB_RESULTS", str(path))
        mp.setenv("LORAG_NB_CACHE", str(cache))
        yield path


@pytest.fixture
def fp32(monkeypatch):
    """Compute in fp32 for this test (``LORAG_NB_PRECISION=fp32``): tests of two computations that are equal in exact
    arithmetic (a fast path against the plain one, to 1e-4). On a CPU with native bf16, autocast rounds each path
    differently (measured: 0.3 nats between the shared-prompt and per-sequence scores of one option);
    ``tests/test_precision.py`` checks what bf16 changes."""
    monkeypatch.setenv("LORAG_NB_PRECISION", "fp32")


@pytest.fixture(scope="session")
def embedded():
    """The embedded model and tokenizer, loaded once per test session: ``(model, tokenizer)``."""
    from lorag_nb.methods.models import load_model

    return load_model("embedded")


@pytest.fixture(scope="module")
def client():
    """An in-memory Chroma client (``retrieval.make_client("ephemeral")``); one per test module."""
    from lorag_nb.methods.retrieval import make_client

    return make_client("ephemeral")


@pytest.fixture(scope="session")
def hybrid_base():
    """A float32 copy of the embedded model for the hybrid tests (their adapters are merged into a copy)."""
    from lorag_nb.methods.models import load_model

    return load_model("embedded", dtype="float32")


@pytest.fixture(scope="session")
def hybrid_runs(hybrid_base, tmp_path_factory):
    """Every hybrid method once, tiny (2 questions, 2 optimizer steps per adapter, an in-memory Chroma), shared by
    test_hybrid.py (the methods) and test_nb04.py (notebook 04's tables and verdicts on them)."""
    import chromadb

    from lorag_nb.core.config import EvalSettings, RagSettings
    from lorag_nb.core.store import ResultsStore
    from lorag_nb.experiments import nb04
    from lorag_nb.methods import hybrid
    from lorag_nb.methods.retrieval import chroma_settings

    model, tokenizer = hybrid_base
    store = ResultsStore(tmp_path_factory.mktemp("hybrid-store"))
    client = chromadb.EphemeralClient(settings=chroma_settings())
    ev = EvalSettings(n_entities=4, max_questions=2, max_new_tokens=6, batch_size=4)
    adapter_ev = EvalSettings(n_entities=2, max_questions=2, max_new_tokens=4, batch_size=4, perplexity_texts=1, perplexity_tokens=32)
    rs = RagSettings(top_k=2, prompt_variant="context_then_question")
    adapters = {
        "naive_hybrid": nb04.naive_settings(n_entities=2, max_steps=2),
        "raft_hybrid": nb04.raft_settings(n_entities=2, max_steps=2, k=2, kb_entities=4, prompt_variant="context_then_question"),
    }
    kw = dict(store=store, eval_settings=ev, model=model, tokenizer=tokenizer, client=client, adapter_eval_settings=adapter_ev)
    main = {m: hybrid.run_hybrid(m, rs, adapters.get(m), multiple_choice=True, **kw) for m in hybrid.METHODS}
    sweep = hybrid.sweep_k(hybrid.METHODS, (1, 2), rs, adapters=adapters, multiple_choice=False, **kw)  # k=2 reuses main's runs
    revised = {m: hybrid.run_hybrid_revised(m, rs, adapters.get(m), multiple_choice=False, **kw) for m in hybrid.METHODS}
    return dict(store=store, client=client, ev=ev, rs=rs, adapters=adapters, kw=kw, sweep=sweep, main=main, revised=revised)


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory):
    """Notebook 05 executed at smoke size against an EMPTY results store, where it trains and measures every
    method itself: ``(executed notebook, store folder)``. The notebook tests of 00–04 (tests/test_notebooks.py)
    and the browser tests then run against this store: at the aligned smoke sizes
    (``recipes.SMOKE_CHANGES``) they find notebook 05's runs there, as a reader's later notebooks do."""
    import time

    import papermill as pm

    from lorag_nb.infra.runner import NOTEBOOKS_DIR, smoke_parameters

    tmp = tmp_path_factory.mktemp("smoke-store")
    store = tmp / "store"
    store.mkdir()
    path = NOTEBOOKS_DIR / "05_comparison.ipynb"
    out = tmp / path.name
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORAG_NB_RESULTS", str(store))  # the papermill kernel inherits it
        t0 = time.perf_counter()
        pm.execute_notebook(str(path), str(out), parameters=smoke_parameters(path), kernel_name="python3", cwd=str(path.parent), progress_bar=False, execution_timeout=1200)
        print(f"notebook 05 (smoke) from an empty store: {time.perf_counter() - t0:.0f} s")
    return out, store
