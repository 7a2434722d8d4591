# The two commands of the README:
#   make run    install everything, create the SQLite database with demo data, start inbox on :8000
#   make test   install everything the tests need (Chromium, dovecot), lint, type-check, run the whole suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run install test lint typecheck unit i18n bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pybabel compile -d locales --statistics

run: install
	$(BIN)/inbox db upgrade
	$(BIN)/inbox demo
	$(BIN)/inbox serve --host $(HOST) --port $(PORT)

test: install
	bash scripts/test-deps.sh
	$(BIN)/ruff check inbox tests
	$(BIN)/mypy inbox
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check inbox tests
	$(BIN)/mypy inbox
	$(BIN)/lint-imports

i18n: $(BIN)/python
	$(BIN)/pybabel extract -F locales/babel.cfg -k _ -k gettext -k ngettext:1,2 -o locales/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-fuzzy-matching
	$(BIN)/pybabel compile -d locales

bench: install
	$(BIN)/python -m tests.perf.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts
