# The two commands a newcomer needs: `make run` and `make test`.
# Both set up a virtualenv in .venv first (re-done when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# --demo: the README's examples are signed with demo secrets, used wherever
# the environment and .env set none (and only while tickets go to the sandbox).
run: $(BIN)/.installed
	$(BIN)/ringdesk serve --demo

lint: $(BIN)/.installed
	$(BIN)/ruff check gateway mappings tests bench
	$(BIN)/ruff format --check gateway mappings tests bench
	$(BIN)/mypy gateway mappings

test: lint
	$(BIN)/pytest --cov=gateway --cov=mappings --cov-report=term-missing:skip-covered

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) ringdesk.db ringdesk.db-wal ringdesk.db-shm
