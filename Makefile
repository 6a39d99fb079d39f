# rawlive: `make test` and (from the `send` issue on) `make demo` do all the
# set-up on a fresh machine. Everything installs into .venv.

SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test fuzz soak lint format schemas bench readme clean

install: $(STAMP)

# Re-install only when the project's metadata changed: fast when done.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The main job on the embedded emulator: stream a spoken question, print the
# transcripts, leave the spoken answer in reply.wav and the transcript in
# transcript.txt.
demo: install
	set -o pipefail; $(BIN)/rawlive send fixtures/audio/weather-16k-mono.wav --emulator \
		--emulator-script fixtures/scripts/demo.toml --out reply.wav | tee transcript.txt

test: install
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest -q
	$(BIN)/python -m coverage combine -q
	$(BIN)/python -m coverage report --fail-under=90

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
	$(BIN)/ruff check rawlive tests bench
	$(BIN)/ruff format --check rawlive tests bench
	$(BIN)/mypy --strict rawlive

format: install
	$(BIN)/ruff check --fix rawlive tests bench
	$(BIN)/ruff format rawlive tests bench

schemas: install
	$(BIN)/python -m rawlive.schema schemas

# Every benchmark; the report goes to bench/RESULTS.md and the README's table.
bench: install
	$(BIN)/python -m bench --results bench/RESULTS.md --readme README.md

# The README's CLI reference, from the commands' own help.
readme: install
	$(BIN)/python -m rawlive.clidoc README.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
