# Two commands for a fresh machine: `make setup`, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BLINDFACE_DATA ?= $(abspath ../shared/data)
export BLINDFACE_DATA

.PHONY: setup test lint bench reproduce

setup:  ## create the virtual environment and install blindface with its dev and dlib extras
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet "torch==2.13.0"
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"

test:  ## run the whole test suite (integration tests read $(BLINDFACE_DATA))
	$(VENV)/bin/python -m pytest -q

lint:  ## ruff (lint + format) and pyright (basic mode) over src/
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/pyright

bench:  ## the speed benchmarks; they write benchmarks/results/*.json
	$(VENV)/bin/python benchmarks/embed_throughput.py
	$(VENV)/bin/python benchmarks/blinding_speed.py

reproduce:  ## the whole study on $(BLINDFACE_DATA); writes docs/results/
	$(VENV)/bin/blindface reproduce --data-root $(BLINDFACE_DATA) --out docs/results
