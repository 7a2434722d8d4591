# The two commands of the README:
#   make run    install what running needs, create the SQLite database with demo data, start inbox on :8000
#   make test   install everything the tests need (Chromium, dovecot), lint, type-check, run the whole suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for make test (each a whole test file at a time; 0 runs in one process)
TEST_WORKERS ?= 2

.PHONY: run install install-run test lint typecheck unit i18n bench wheel clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# What running needs (no test tools); the catalogs are compiled in the source tree.
install-run: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pybabel compile -d locales --statistics

# A development / test environment: the same plus pytest, Playwright, ruff, mypy.
install: install-run
	$(BIN)/pip install -q -e '.[test]'

run: install-run
	$(BIN)/inbox db upgrade
	$(BIN)/inbox demo --port $(PORT)
	$(BIN)/inbox serve --host $(HOST) --port $(PORT)

test: install
	bash scripts/test-deps.sh
	$(BIN)/ruff check inbox tests
	$(BIN)/mypy inbox
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check inbox tests
	$(BIN)/mypy inbox
	$(BIN)/lint-imports

i18n: $(BIN)/python
	$(BIN)/pybabel extract -F locales/babel.cfg -k _ -k N_ -k gettext -k ngettext:1,2 -o locales/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-fuzzy-matching
	$(BIN)/pybabel compile -d locales

bench: install
	$(BIN)/python -m tests.perf.run_all $(BENCH_ARGS)

# The installable package (catalogs compiled into it at build time) in dist/.
wheel: $(BIN)/python
	$(BIN)/pip wheel -q --no-deps -w dist .

clean:
	rm -rf dist build $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts
