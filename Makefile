# The two commands of the README: `make demo` and `make test`.
# Both create a virtual environment in .venv on first use.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint translations system-deps clean

$(BIN)/annotator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

## Build the demo project (SQLite) and serve it on http://127.0.0.1:5000/
demo: $(BIN)/annotator
	$(BIN)/annotator demo

## Install what the tests need, lint, and run every test (SQLite, PostgreSQL, browser)
test: $(BIN)/annotator system-deps lint
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(BIN)/annotator
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Extract the marked strings, merge them into each language's catalog, compile the catalogs
translations: $(BIN)/annotator
	PYBABEL=$(BIN)/pybabel bash scripts/update-translations.sh

## Debian packages the tests use (PostgreSQL server, Chromium, a Chinese font); needs root, skipped otherwise
system-deps:
	@bash scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
