# The two commands a fresh clone needs: `make demo` and `make test`.
# Everything is installed into .venv by these targets; nothing by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_DIR ?= .grounded-demo

.PHONY: demo test install install-test lint typecheck unit eval-smoke bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamp files re-run pip only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The browser tests drive Debian's chromium through Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium and set CHROMIUM=/path/to/it"; exit 1; }
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	DEMO_DIR=$(DEMO_DIR) BIN=$(BIN) bash scripts/demo.sh

lint: install-test
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: install-test
	$(BIN)/pyright src

unit: install-test $(CHROMIUM)
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q

# The smoke evaluation: a fresh index of the sample corpus (bundled embedder), every
# golden item answered extractively, gated by the thresholds in evals/smoke.yaml.
eval-smoke: install-test
	rm -rf .eval-smoke
	$(BIN)/grounded --data-dir .eval-smoke/data ingest sample-corpus --collection handbook --tenant acme
	$(BIN)/grounded --data-dir .eval-smoke/data eval run evals/smoke.yaml --gate --quiet --out .eval-smoke/runs

# What CI runs (.ci/run calls this).
test: lint typecheck unit eval-smoke

# The benchmarks (minutes to an hour; see docs/benchmarks.md for each command).
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/embedders.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/vector_scaling.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/guards.py
	$(BIN)/python bench/evals.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .eval-smoke .pytest_cache .ruff_cache
