# One command to set up and run the demo, one to set up and run the tests (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned to the CPU build this workplace keeps on disk; a GPU box can install its own.
# The dev environment includes the optional Ray extra so the scale-out tests run; `pip install
# musicgen-bridge` alone never pulls Ray in.
TORCH ?= torch==2.13.0

.PHONY: setup demo test lint typecheck wheel-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev,cluster]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/musicgen-bridge demo --out-dir demo-output

# The whole suite (doctests included: tests/test_doctests.py), then ruff and mypy; every check runs
# and the target fails if any of them failed.
test: setup
	@status=0; \
	$(PY) -m pytest || status=1; \
	$(PY) -m ruff check . || status=1; \
	.ci/typecheck $(PY) || status=1; \
	exit $$status

lint: setup
	$(PY) -m ruff check .

typecheck: setup
	.ci/typecheck $(PY)

# the built wheel, installed in a fresh venv outside the checkout, used from an empty folder
wheel-check: setup
	.ci/wheel-check $(PY)

clean:
	rm -rf $(VENV) demo-output .pytest_cache build
