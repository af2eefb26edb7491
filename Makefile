# Two commands for a fresh machine: `make setup`, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BLINDFACE_DATA ?= $(abspath ../shared/data)
export BLINDFACE_DATA

.PHONY: setup test lint docs bench reproduce

setup:  ## create the virtual environment and install blindface with its extras (versions: constraints.txt)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"

test:  ## run the whole test suite (integration tests read $(BLINDFACE_DATA))
	$(VENV)/bin/python -m pytest -q

lint:  ## what .pre-commit-config.yaml runs (ruff, ruff format, codespell), and pyright (standard)
	$(VENV)/bin/ruff check src tests benchmarks docs
	$(VENV)/bin/ruff format --check src tests benchmarks docs
	$(VENV)/bin/codespell src tests benchmarks docs README.md CHANGELOG.md
	$(VENV)/bin/pyright

docs:  ## docs/cli/*.md from the --help, README's results from docs/results/results.json (tests check both)
	$(VENV)/bin/python docs/cli/generate.py
	$(VENV)/bin/python docs/readme_results.py

bench:  ## the speed benchmarks; they write benchmarks/results/*.json
	$(VENV)/bin/python benchmarks/embed_throughput.py
	$(VENV)/bin/python benchmarks/blinding_speed.py

reproduce:  ## the whole study on $(BLINDFACE_DATA); writes docs/results/
	$(VENV)/bin/blindface reproduce --data-root $(BLINDFACE_DATA) --out docs/results
