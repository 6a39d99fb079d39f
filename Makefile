# rawlive: `make test` and (from the `send` issue on) `make demo` do all the
# set-up on a fresh machine. Everything installs into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint format schemas bench clean

install: $(STAMP)

# Re-install only when the project's metadata changed: fast when done.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check rawlive tests bench
	$(BIN)/ruff format --check rawlive tests bench
	$(BIN)/mypy --strict rawlive

format: install
	$(BIN)/ruff check --fix rawlive tests bench
	$(BIN)/ruff format rawlive tests bench

schemas: install
	$(BIN)/python -m rawlive.schema schemas

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
