"""Where a process's time goes: a stage timer with exclusive nesting, and token counters per stage.

``stage(name)`` is a context manager and a decorator. While a stage runs, its wall time
(``time.perf_counter``, seconds) and CPU time (``time.process_time``: every thread of the process,
seconds) accrue to ``name`` in one process-global table. Nesting is **exclusive**: entering a stage
pauses the one that is running and leaving it resumes that one, so a second spent inside an inner
stage counts for the inner stage only, and the stages' wall times add up to at most the process's
wall time. One stack serves every thread (only its top accrues), so a worker thread's stage — a
LangChain retriever run in a thread pool — pauses the stage of the thread that waits for it; a stage
left while it is not on top (threads interleaving) is simply removed, its time already counted.

:func:`add_tokens` counts tokens a stage processed, by kind (what a token costs in FLOPs is worked out
by the benchmark that reads the table, :mod:`lorag_nb.infra.bench_stages`):

- ``"forward"``: one forward pass with the output layer (perplexity, per-sequence option scoring,
  generated tokens);
- ``"prefill"``: one forward pass without the output layer's logits (prompt positions of generation
  and of the shared-prompt multiple-choice pass, which keep only the last position's logits);
- ``"train"``: forward and backward through every weight (full fine-tuning);
- ``"train_lora"``: forward and backward through frozen weights (LoRA, DoRA, the RAFT adapter).

:func:`snapshot` returns the table. When the environment variable ``LORAG_NB_STAGES`` names a file at
import, the table is written there as JSON when the interpreter exits (``atexit``; only if some stage
ran, so a child interpreter that timed nothing does not overwrite it) — how a papermill kernel hands
its numbers to ``lorag-nb bench notebooks``. Unset, nothing is written; the counting itself always
runs and costs a few microseconds per stage entered (two clock reads on enter, two on leave, a lock).

    with stage("retrieval"):
        kb.ingest(docs)

    @stage("generation")
    def generate(...): ...
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import threading
from pathlib import Path
from time import perf_counter, process_time
from typing import Any, Callable

#: The environment variable naming the JSON file the table is written to at exit.
ENV = "LORAG_NB_STAGES"

#: Token kinds :func:`add_tokens` accepts (see the module docstring).
TOKEN_KINDS = ("forward", "prefill", "train", "train_lora")

_LOCK = threading.Lock()
_TABLE: dict[str, dict[str, Any]] = {}
_STACK: list[list] = []  # frames [name, wall at last resume, cpu at last resume], innermost last
_T0 = perf_counter()


def _row(name: str) -> dict[str, Any]:
    row = _TABLE.get(name)
    if row is None:
        row = _TABLE[name] = {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0, "tokens": {}}
    return row


def _accrue(frame: list, wall: float, cpu: float) -> None:
    row = _row(frame[0])
    row["wall_s"] += wall - frame[1]
    row["cpu_s"] += cpu - frame[2]


class stage:
    """Time a block (``with stage(name):``) or every call of a function (``@stage(name)``) as stage ``name``.

    Exclusive nesting: time spent in a stage entered inside this one counts for that stage only.
    A stage may be entered again while it runs (recursion, the same name nested): its time is still
    counted once. Exceptions pass through; the time until the exception counts.
    """

    __slots__ = ("name", "_frames")

    def __init__(self, name: str):
        self.name = str(name)
        self._frames: list[list] = []

    def __enter__(self) -> "stage":
        wall, cpu = perf_counter(), process_time()
        with _LOCK:
            if _STACK:
                _accrue(_STACK[-1], wall, cpu)  # pause the running stage
            frame = [self.name, wall, cpu]
            _STACK.append(frame)
            _row(self.name)["calls"] += 1
        self._frames.append(frame)
        return self

    def __exit__(self, *exc) -> None:
        frame = self._frames.pop()
        wall, cpu = perf_counter(), process_time()
        with _LOCK:
            if _STACK and _STACK[-1] is frame:
                _accrue(frame, wall, cpu)
                _STACK.pop()
                if _STACK:  # resume the stage this one paused
                    _STACK[-1][1], _STACK[-1][2] = wall, cpu
            else:  # another thread's stage is on top: this one is paused, its time already counted
                for i, f in enumerate(_STACK):
                    if f is frame:
                        del _STACK[i]
                        break

    def __call__(self, fn: Callable) -> Callable:
        name = self.name

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            with stage(name):
                return fn(*args, **kwargs)

        return timed


def add_tokens(stage_name: str, n: int, kind: str = "forward") -> None:
    """Count ``n`` tokens of ``kind`` (one of :data:`TOKEN_KINDS`) for stage ``stage_name``.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind not in TOKEN_KINDS:
        raise ValueError(f"kind={kind!r} is invalid; valid: {list(TOKEN_KINDS)}")
    with _LOCK:
        tokens = _row(stage_name)["tokens"]
        tokens[kind] = tokens.get(kind, 0) + int(n)


def snapshot() -> dict[str, Any]:
    """The table now: ``{"stages": {name: {"wall_s", "cpu_s", "calls", "tokens": {kind: n}}}, "elapsed_s",
    "process_cpu_s", "pid"}`` (seconds; ``elapsed_s``: wall time since this module was imported;
    ``process_cpu_s``: the process's CPU time since it started, inside stages or not). Stages still
    running are counted up to now. A deep copy: later stages do not change it."""
    wall, cpu = perf_counter(), process_time()
    with _LOCK:
        table = {k: {**v, "tokens": dict(v["tokens"])} for k, v in _TABLE.items()}
        if _STACK:
            top = _STACK[-1]
            table.setdefault(top[0], {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0, "tokens": {}})
            table[top[0]]["wall_s"] += wall - top[1]
            table[top[0]]["cpu_s"] += cpu - top[2]
    return {"stages": table, "elapsed_s": wall - _T0, "process_cpu_s": cpu, "pid": os.getpid()}


def reset() -> None:
    """Empty the table (stages running now keep running and count from now on)."""
    wall, cpu = perf_counter(), process_time()
    with _LOCK:
        _TABLE.clear()
        for frame in _STACK:
            frame[1], frame[2] = wall, cpu


def write(path: str | Path) -> Path:
    """Write :func:`snapshot` as JSON to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot(), indent=1))
    return path


def _write_at_exit() -> None:
    target = os.environ.get(ENV)
    if target and _TABLE:
        try:
            write(target)
        except OSError:  # pragma: no cover - a profile must never break the process's exit
            pass


if os.environ.get(ENV):
    atexit.register(_write_at_exit)
