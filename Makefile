# expert-draw: `make serve` and `make test` are the two commands of a fresh machine.
# Everything runs from the project's virtualenv (.venv), created and updated here.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ../shared/data
VAR ?= var
PYTEST_ARGS ?=

.PHONY: venv serve lint test test-slow test-container proto proto-check proto-deps check-readme bench ci clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

serve: venv
	@$(BIN)/expert-draw dev init --var $(VAR) --data-dir $(DATA_DIR)
	@$(BIN)/expert-draw db upgrade --config $(VAR)/expert-draw.toml
	@echo "expert-draw: serving on 127.0.0.1:50051 (mTLS; health on 127.0.0.1:50052). In another shell:"
	@echo "  $(BIN)/expert-draw classification search 电气          # as admin (var/client.toml)"
	@echo "  $(BIN)/expert-draw classification get A080105 -p supervisor"
	@exec $(BIN)/expert-draw serve --config $(VAR)/expert-draw.toml

proto-deps: venv
	@$(BIN)/python scripts/gen_protos.py --deps

lint: venv proto-deps
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/buf lint
	$(BIN)/python scripts/gen_protos.py --check

test: venv
	$(BIN)/python -m pytest -m "not slow and not container" $(PYTEST_ARGS)

test-slow: venv
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-container: venv
	$(BIN)/python -m pytest -m container $(PYTEST_ARGS)

proto: venv
	$(BIN)/python scripts/gen_protos.py

proto-check: venv
	$(BIN)/python scripts/gen_protos.py --check

check-readme: venv
	$(BIN)/python -m pytest tests/test_readme.py -q

ci: lint test

clean:
	rm -rf $(VENV) .proto-deps .mypy_cache .ruff_cache .pytest_cache .hypothesis
