# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATASETS ?= ../shared/datasets
DEMO_OUT ?= demo-out
DEMO_BUDGET ?= 60
TORCH_VERSION ?= 2.13.0

.PHONY: demo test install clean bench-autogluon gpu-prepare

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of torch lies on this disk; any other torch request would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)" "setuptools<81"
	$(PY) -m pip install --quiet -e ".[test,bench,torch,catboost]"
	touch $@

install: $(VENV)/.installed

# A real search on a real dataset: adult from ../shared/datasets, or scikit-learn's
# bundled breast-cancer data when that folder is absent.
demo: install
	$(PY) -m benchmarks.demo --datasets $(DATASETS) --out $(DEMO_OUT) --time-budget $(DEMO_BUDGET)

# AutoGluon-Tabular for `automl bench` in its own venv (its pins differ from ours; no torch).
AG_VENV := .venv-autogluon
AG_VERSION ?= 1.6.3

$(AG_VENV)/.installed:
	$(PYTHON) -m venv $(AG_VENV)
	$(AG_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AG_VENV)/bin/python -m pip install --quiet "autogluon.tabular[lightgbm,xgboost,catboost]==$(AG_VERSION)"
	touch $@

bench-autogluon: $(AG_VENV)/.installed

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# What the lent GPU machine (Python 3.12, torch with CUDA, no network) lacks, gathered into .gpu/ for a
# device call with carry [".gpu"]; see benchmarks/README.md ("GPU") for the command to run there.
GPU_WHEELS := skops==0.16.0 prettytable wcwidth click==8.5.1 rich==15.0.0 markdown-it-py mdurl pygments \
	safetensors==0.8.0 psutil==7.2.2 pytest pluggy iniconfig pytest-timeout

gpu-prepare:
	../shared/gpu/prepare.sh $(GPU_WHEELS)

clean:
	rm -rf $(VENV) $(AG_VENV) $(DEMO_OUT) .pytest_cache
