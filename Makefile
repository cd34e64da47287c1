# Two entry points for a fresh machine; each sets up its own virtual environment first.
#   make run   - the main job (`dawm run` on the built-in default)
#   make test  - the whole test suite
# TORCH selects the torch build: the default pins the CPU wheel this project's machines carry;
# on a CUDA machine use e.g. `make run TORCH=torch`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup run test

$(BIN)/dawm: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/dawm

setup: $(BIN)/dawm

run: setup
	$(BIN)/dawm run

test: setup
	$(BIN)/python -m pytest
