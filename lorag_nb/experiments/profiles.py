"""Run profiles: the laptop sizes every notebook defaults to, and the full world on a GPU.

Every notebook has ``profile: str = "auto"``. Its set-up cell calls :func:`apply`, which resolves the
profile (``"auto"``: ``"gpu"`` when torch sees a CUDA device, else ``"cpu"``) and, for ``"gpu"``, replaces
the parameters that are still at their CPU defaults by :data:`GPU` values: the whole fictional world
(80 entities, every test question: 80 × 6 facts × 3 wordings = 1,440), 3 seeds for the headline methods,
larger batches, the sweeps on 10 entities. A parameter the reader changed (in the cell, by papermill or
``lorag-nb run -p``) is kept. bf16 follows from the device (``TrainingSettings.bf16`` is used on CUDA
only). ``"cpu"`` changes nothing: today's sizes.

The values are not written here: :data:`CPU` and :data:`GPU` are read from the one table of defaults,
:mod:`lorag_nb.experiments.recipes` (its ``NOTEBOOKS`` and the GPU profile's ``GPU_CHANGES``, which holds only
what differs). This module is the mechanism (resolve a profile, apply it, slice a reader's folder).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from lorag_nb.experiments import recipes

PROFILES = ("auto", "cpu", "gpu")
ALL_TEST_QUESTIONS = recipes.ALL_TEST_QUESTIONS

#: Each notebook's parameters a profile sets: ``n_entities`` (the slice a reader's folder takes) and those the
#: GPU profile changes (:data:`lorag_nb.experiments.recipes.GPU_CHANGES`).
KNOBS: dict[str, tuple[str, ...]] = {stem: ("n_entities", *(k for k in recipes.GPU_CHANGES.get(stem, {}) if k != "n_entities")) for stem in recipes.NOTEBOOKS}
#: Each notebook's CPU defaults of :data:`KNOBS` (read from the table of defaults = its ``parameters`` cell).
CPU: dict[str, dict[str, Any]] = {stem: {k: recipes.NOTEBOOKS[stem][k] for k in knobs} for stem, knobs in KNOBS.items()}
#: The GPU profile's values of :data:`KNOBS` (the table's defaults with :data:`~lorag_nb.experiments.recipes.GPU_CHANGES`).
GPU: dict[str, dict[str, Any]] = {stem: {k: recipes.GPU[stem][k] for k in knobs} for stem, knobs in KNOBS.items()}


#: On a reader's folder, the documents (the first N, sorted by path) every notebook uses when its ``n_entities``
#: is left at its default: one slice that is taught, tested and indexed everywhere, so notebooks 01–05 judge the
#: same facts. Per profile; a folder with fewer documents uses all of them.
FOLDER_DOCUMENTS: dict[str, int] = {"cpu": 40, "gpu": 400}
#: Each notebook's parameters that count a folder's documents; on a folder they all take ``n_entities``'s slice
#: (the built-in world keeps them apart: a knowledge base of 80 entities, 10 of them taught).
FOLDER_KNOBS: dict[str, tuple[str, ...]] = {
    "00_overview_baseline": ("n_entities",),
    "01_full_finetuning": ("n_entities",),
    "02_lora": ("n_entities",),
    "03_rag": ("n_entities", "reference_entities"),
    "04_hybrid": ("n_entities", "train_entities"),
    "05_comparison": ("n_entities", "rag_entities"),
}
#: Smaller worlds of a notebook's sweeps: on a folder they are clamped to the slice (never more documents than it).
FOLDER_SWEEP_KNOBS: dict[str, tuple[str, ...]] = {"02_lora": ("sweep_entities",), "05_comparison": ("frontier_entities",)}


@dataclass(frozen=True)
class Choice:
    """The profile a notebook runs with.

    Attributes:
        name: ``"cpu"`` or ``"gpu"``.
        why: one sentence: what was asked and what the device is.
        changed: parameter → ``(before, after)`` for every value the profile replaced.
        values: every profile parameter's value to use (changed or not).
    """

    name: str
    why: str
    changed: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    def __str__(self) -> str:
        moved = ", ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in self.changed.items())
        return f"profile {self.name}: {self.why}" + (f"; changed {moved}" if moved else "; no parameter changed")


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (False when torch is missing)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def resolve(profile: str, cuda: bool | None = None) -> tuple[str, str]:
    """``(name, why)``: ``"auto"`` → ``"gpu"`` on CUDA, else ``"cpu"``; an explicit name is kept.

    Args:
        cuda: whether a CUDA device is there (default :func:`cuda_available`; tests force it).

    Raises:
        ValueError: an unknown profile, or ``"gpu"`` without a CUDA device.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid; valid: one of {PROFILES}")
    cuda = cuda_available() if cuda is None else bool(cuda)
    if profile == "auto":
        return ("gpu", "auto, and torch sees a CUDA device") if cuda else ("cpu", "auto, and torch sees no CUDA device")
    if profile == "gpu" and not cuda:
        raise ValueError("profile='gpu' needs a CUDA device, and torch sees none (torch.cuda.is_available() is False); valid here: 'auto' or 'cpu'")
    return profile, f"{profile}, as asked" + (" (a CUDA device is there)" if cuda else "")


def apply(notebook: str, profile: str, params: Mapping[str, Any], folder=None, cuda: bool | None = None) -> Choice:
    """The profile's values for ``notebook``'s parameters.

    Args:
        notebook: the notebook's stem (``"02_lora"``).
        params: the notebook's current parameter values (``globals()`` works).
        folder: the reader's knowledge set (``knowledge.use_knowledge``'s result; anything with ``.documents``),
            or None for the built-in world. On a folder, every parameter of :data:`FOLDER_KNOBS` takes one
            slice: ``n_entities`` if the reader set it, else ``min(documents, FOLDER_DOCUMENTS[profile])``;
            the sweep worlds of :data:`FOLDER_SWEEP_KNOBS` are clamped to it.

    Returns:
        :class:`Choice`; ``.values`` holds every profile parameter (the notebook assigns them back).
        Under ``"gpu"`` a parameter is replaced only if it still has its CPU default.

    Raises:
        ValueError: an unknown notebook or profile, ``"gpu"`` without CUDA, or ``params`` lacking one of
            the notebook's profile parameters.
    """
    if notebook not in CPU:
        raise ValueError(f"notebook={notebook!r} has no profile; valid: {sorted(CPU)}")
    missing = sorted(k for k in CPU[notebook] if k not in params)
    if missing:
        raise ValueError(f"{notebook}: parameters {missing} are missing; the profile changes {sorted(CPU[notebook])}")
    name, why = resolve(profile, cuda)
    values = {k: params[k] for k in CPU[notebook]}
    changed = {}
    if name == "gpu":
        for k, gpu_value in GPU[notebook].items():
            if values[k] == CPU[notebook][k] and gpu_value != values[k]:
                changed[k] = (values[k], gpu_value)
                values[k] = gpu_value
    if folder is not None:
        n_docs = len(folder.documents)
        chosen = params["n_entities"] if params["n_entities"] != CPU[notebook]["n_entities"] else min(n_docs, FOLDER_DOCUMENTS[name])
        chosen = min(chosen, n_docs)
        for k in FOLDER_KNOBS[notebook] + FOLDER_SWEEP_KNOBS.get(notebook, ()):
            current = values.get(k, params[k])  # the profile's value where it set one (GPU), else the parameter
            after = chosen if k in FOLDER_KNOBS[notebook] else min(current, chosen)
            values[k] = after
            changed.pop(k, None)
            if after != params[k]:
                changed[k] = (params[k], after)
        why += f"; your folder: the first {chosen} of its {n_docs} documents are taught, tested and indexed in every notebook (n_entities)"
    return Choice(name, why, changed, values)
