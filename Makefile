# The two commands a newcomer needs: `make run` and `make test`.
# Both set up a virtualenv in .venv first (re-done when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

# Demo secrets for `make run`: real-shaped webhooks from the README are signed
# with these. Set your own in the environment (or .env) for anything real.
export TWILIO_AUTH_TOKEN ?= demo-twilio-token
export AIRCALL_WEBHOOK_TOKEN ?= fake-webhook-token-0001
export VOICENTER_URL_TOKEN ?= demo-voicenter-token
export SETTLE_SECONDS_TWILIO ?= 15
export SETTLE_SECONDS_AIRCALL ?= 15

.PHONY: run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	PORT=$(PORT) $(BIN)/ringdesk serve

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
