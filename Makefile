# rawlive: `make test` and (from the `send` issue on) `make demo` do all the
# set-up on a fresh machine. Everything installs into .venv.

SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# make test-lowest: the same tests in a venv of its own with the lowest version
# of every requirement pyproject.toml allows (constraints derived from it).
LOWEST       := .venv-lowest
LOWEST_BIN   := $(LOWEST)/bin
LOWEST_STAMP := $(LOWEST)/.installed

.PHONY: install install-lowest demo test test-lowest fuzz soak lint format schemas bench readme clean

install: $(STAMP)

# Re-install only when the project's metadata changed: fast when done. Every
# requirement at the newest version its range allows (--upgrade, eagerly), even
# in a venv that had older ones.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev,media,scenario,load]'
	@touch $(STAMP)

install-lowest: $(LOWEST_STAMP)

# Each requirement pinned to its floor; what they pull in comes at its newest.
$(LOWEST_STAMP): pyproject.toml .ci/lowest_constraints.py
	@test -x $(LOWEST_BIN)/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST_BIN)/python -m pip install --quiet --upgrade pip
	$(LOWEST_BIN)/python .ci/lowest_constraints.py pyproject.toml > $(LOWEST)/constraints.txt
	$(LOWEST_BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager \
		-c $(LOWEST)/constraints.txt -e '.[dev,media,scenario,load]'
	@touch $(LOWEST_STAMP)

# The main job on the embedded emulator: stream a spoken question, print the
# transcripts, leave the spoken answer in reply.wav and the transcript in
# transcript.txt.
demo: install
	set -o pipefail; $(BIN)/rawlive send fixtures/audio/weather-16k-mono.wav --emulator \
		--emulator-script fixtures/scripts/demo.toml --out reply.wav | tee transcript.txt

# The tests under coverage, with the python of the venv given ($(1)).
define run_tests
	$(1)/python -m coverage erase
	$(1)/python -m coverage run -m pytest -q
	$(1)/python -m coverage combine -q
	$(1)/python -m coverage report --fail-under=90
endef

test: install
	$(call run_tests,$(BIN))

test-lowest: install-lowest
	$(call run_tests,$(LOWEST_BIN))

# The fuzz tests' long run: thousands of random and mutated frames, cassettes
# and audio headers per target, random seeds, no deadline (a few minutes).
# `make test` runs the same tests with the short, derandomized `ci` profile.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

# The soak at full scale (not part of `make test`, which runs it in seconds):
# a 30-minute session (sent 6 times faster than real time; RAWLIVE_SOAK_SPEED
# to change) with a goAway every simulated minute, drops, late pongs and 1011s,
# with and without transparent mode and through the proxy; then 200 sessions
# for 5 minutes against one emulator, checked for leaks. About 20 minutes.
soak: install
	RAWLIVE_SOAK=long $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/test_soak.py

lint: install
	$(BIN)/ruff check rawlive tests bench .ci
	$(BIN)/ruff format --check rawlive tests bench .ci
	$(BIN)/mypy --strict rawlive .ci/lowest_constraints.py
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix rawlive tests bench .ci
	$(BIN)/ruff format rawlive tests bench .ci

schemas: install
	$(BIN)/python -m rawlive.tools.schema schemas

# Every benchmark; the report goes to bench/RESULTS.md and the README's table.
bench: install
	$(BIN)/python -m bench --results bench/RESULTS.md --readme README.md

# The README's CLI reference, from the commands' own help.
readme: install
	$(BIN)/python .ci/clidoc.py README.md

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
