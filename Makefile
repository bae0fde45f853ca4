# One command to set up and run the demo, one to set up and run the tests (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned to the CPU build this workplace keeps on disk; a GPU box can install its own.
# The dev environment includes the optional Ray extra so the scale-out tests run; `pip install
# musicgen-bridge` alone never pulls Ray in.
TORCH ?= torch==2.13.0

.PHONY: setup demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev,cluster]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/musicgen-bridge demo --out-dir demo-output

test: setup
	$(PY) -m pytest

clean:
	rm -rf $(VENV) demo-output .pytest_cache
