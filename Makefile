# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs assay and every plugin, runs the demo on bundled real data
#   make test   the same install plus the test extras, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every distribution in the tree: the host, the sandboxes, each plugin. A new plugin folder is picked up as is.
DISTS := . $(patsubst %/pyproject.toml,%,$(wildcard sandboxes/pyproject.toml)) $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
PYPROJECTS := pyproject.toml $(wildcard sandboxes/pyproject.toml plugins/*/pyproject.toml)
EDITABLES = $(foreach d,$(DISTS),-e '$(patsubst %/,%,$(d))[$(1)]')
# verl, whose reward loaders and managers the verl adapter is tested inside (tests/test_integrations_verl.py).
# Installed without its declared dependencies, which conflict with the pinned torch and transformers: the
# modules it imports on CPU are in the `test` extra (pyproject.toml).
VERL := verl==0.9.1

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(VENV)/.installed: $(BIN)/python $(PYPROJECTS)
	$(BIN)/python -m pip install --quiet $(call EDITABLES,test)
	$(BIN)/python -m pip install --quiet --no-deps '$(VERL)'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py

# The suite starts with the linters: the code stays ruff- and mypy-clean, or the tests fail. The fault
# handler stays on until the interpreter exits, so a crash at shutdown still prints where it happened.
test: lint
	PYTHONFAULTHANDLER=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check core plugins sandboxes tests benchmarks examples conftest.py
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
