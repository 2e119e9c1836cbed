PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench lint typecheck clean api

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Tests drive the command line, and the demo is the command line: both need the cli extra.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[tests,cli]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The shipped example through the command line: a SAM template, three events, one of which
# fails through AWS's retries on virtual time, so the command's exit status is 1 by design.
DEMO_OUT := build/demo

demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(BIN)/lambda-destinations invoke --template examples/template.yaml \
		--events examples/events.jsonl --virtual-time --timeline --out-dir $(DEMO_OUT); \
		test $$? -eq 1
	@for f in $(DEMO_OUT)/*.jsonl; do echo "== $$f"; cat "$$f"; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis

# The peers (Dramatiq, Celery) are a bench-only extra, installed under a stamp of their own.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[tests,bench]'
	touch $(BENCH_STAMP)

# Pass flags through BENCH_FLAGS, e.g. make bench BENCH_FLAGS="--n 20000 --no-peers".
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_FLAGS)

# docs/api.md is generated from the code; a test fails when it is out of date.
api: $(STAMP)
	$(BIN)/python -m tools.api_reference
