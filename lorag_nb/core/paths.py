"""Where things are: the repository (notebooks, runs), and the user cache (converted model, Chroma
stores, results store). Defined once here."""
from __future__ import annotations

import os
from pathlib import Path


def _repo_root() -> Path:
    """The checkout the package runs from (a source tree or an editable install); for a non-editable
    install (``pip install .``), the current folder: run ``lorag-nb`` from a checkout and it uses that
    checkout's ``notebooks/`` and ``runs/``."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "notebooks").is_dir() else Path.cwd()


#: The repository root (``notebooks/``, ``runs/`` live here): :func:`_repo_root`.
REPO_ROOT = _repo_root()
#: The numbered notebooks.
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def cache_dir() -> Path:
    """Folder for everything lorag_nb caches (converted model, Chroma stores, results store).

    ``$LORAG_NB_CACHE`` if set, else the platform user cache dir (``~/.cache/lorag_nb`` on Linux,
    via ``platformdirs``). Created if missing.
    """
    env = os.environ.get("LORAG_NB_CACHE")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("lorag_nb"))
    path.mkdir(parents=True, exist_ok=True)
    return path
