# EVSCallPro — `make demo` and `make test` are the contract: each sets itself up on a fresh
# machine (virtualenv + pip, npm for the browser assets, Debian's Chromium for browser tests).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
SYS_STAMP := $(VENV)/.system-deps

.PHONY: demo test lint typecheck pytest bench bench-quick bench-all setup clean sim

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(SYS_STAMP): scripts/install-system-deps.sh | $(STAMP)
	sh scripts/install-system-deps.sh
	touch $(SYS_STAMP)

setup: $(STAMP) $(NODE_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict core actors

pytest: setup $(SYS_STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

sim: $(STAMP)
	$(BIN)/evscallpro sim

demo: setup
	$(BIN)/evscallpro demo

# The standard scenarios of issue 12 (< 15 min on 2 cores); rewrites BENCHMARKS.md's section.
bench: setup
	$(BIN)/python load-tests/standard.py

bench-quick: setup
	$(BIN)/python load-tests/standard.py --quick

# Every *_bench.py script, one after another (analytics, statistics, gateway...).
bench-all: setup
	$(BIN)/python load-tests/run_all.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
