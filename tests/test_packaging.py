"""A non-editable install finds the knowledge set: the JSONL files are package data
(``lorag_nb/data/files``; ``data/`` at the repository root links there), not files next to a checkout."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lorag_nb.core.paths import REPO_ROOT
from lorag_nb.data.knowledge import DATA_DIR


def test_data_dir_is_inside_the_package_and_the_root_data_folder_is_the_same_files():
    assert DATA_DIR.is_relative_to(REPO_ROOT / "lorag_nb")
    assert (REPO_ROOT / "data").resolve() == DATA_DIR.resolve()
    assert sorted(p.name for p in (REPO_ROOT / "data").glob("*.jsonl")) == sorted(p.name for p in DATA_DIR.glob("*.jsonl"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package built as a wheel (pip, no build isolation: offline) and installed into a bare folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(REPO_ROOT)], check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("lorag_nb-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "site"), str(wheel)], check=True, capture_output=True)
    return wheel, tmp / "site"


def test_the_wheel_carries_every_data_file(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in DATA_DIR.glob("*.jsonl"):
        assert f"lorag_nb/data/files/{path.name}" in names


def test_an_installed_copy_loads_the_knowledge_set_from_itself(installed, tmp_path):
    _, site = installed
    code = "from lorag_nb.data.knowledge import DATA_DIR, load_knowledge; ks = load_knowledge(n_entities=2); print(DATA_DIR); print(len(ks.test_qa))"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert Path(out[0]).is_relative_to(site)  # the installed copy, not the checkout
    assert int(out[1]) == 2 * 6 * 3  # 2 entities × 6 facts × 3 held-out wordings


def test_an_installed_copy_runs_from_the_current_checkout(installed, tmp_path):
    """Installed (not editable), the package has no checkout around it: lorag-nb uses the current
    folder's notebooks/ and runs/; in a checkout it uses the checkout's."""
    _, site = installed
    code = "from lorag_nb.core.paths import NOTEBOOKS_DIR, REPO_ROOT; print(REPO_ROOT); print(NOTEBOOKS_DIR)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, check=True, capture_output=True, text=True).stdout.split()
    assert Path(out[0]) == tmp_path.resolve() and Path(out[1]) == tmp_path.resolve() / "notebooks"
    assert (REPO_ROOT / "notebooks").is_dir()  # here, a checkout: its own notebooks
