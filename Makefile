# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATASETS ?= ../shared/datasets
DEMO_OUT ?= demo-out
DEMO_BUDGET ?= 60

.PHONY: demo test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# A real search on a real dataset: adult from ../shared/datasets, or scikit-learn's
# bundled breast-cancer data when that folder is absent.
demo: install
	$(PY) -m benchmarks.demo --datasets $(DATASETS) --out $(DEMO_OUT) --time-budget $(DEMO_BUDGET)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
