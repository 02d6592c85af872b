# dnnmap: the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
# Test files run on this many parallel workers (pytest-xdist); the demo and SLURM tests go first.
TEST_WORKERS ?= 2
PYTEST_WORKERS = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
SNAKEMAKE := $(BIN)/snakemake --snakefile workflow/Snakefile

.PHONY: venv demo test test-fast lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "dnnmap needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(SNAKEMAKE) --profile profiles/local --cores $(CORES)
	$(SNAKEMAKE) --profile profiles/local --report results/report.html
	@echo "report: results/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

# The developer loop: every test but the `slow` ones (demo end to end, SLURM), then lint.
test-fast: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_WORKERS) -m "not slow" -q
	$(MAKE) lint

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(SNAKEMAKE) --lint

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt workflow

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks -s

clean:
	rm -rf results logs .snakemake
