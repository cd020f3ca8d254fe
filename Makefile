# `make run` serves the API; `make test` runs every test; `make bench` runs the
# benchmarks; `make lock` rewrites requirements.txt from pyproject.toml.  They
# create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test faults bench lint release lock clean

# The tests run on the versions production installs: requirements.txt
# constrains the install (the extras add their own packages beside it).
$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint requirements.txt -e '.[local,test]'
	touch $(STAMP)

run: $(STAMP)
	exec $(BIN)/python -m infra.local

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Long fault runs: FAULT_SECONDS of load per seed, with faults throughout, at
# a rate the embedded store sustains on two cores (FAULT_PAUSE_S per client).
FAULT_SECONDS ?= 600
FAULT_SEEDS ?= 1,2,3
FAULT_PAUSE_S ?= 0.3
faults: $(STAMP)
	FAULT_SECONDS=$(FAULT_SECONDS) FAULT_SEEDS=$(FAULT_SEEDS) FAULT_PAUSE_S=$(FAULT_PAUSE_S) \
		$(BIN)/python -m pytest tests/faults -s -p no:cacheprovider

# Every benchmark in turn (bench/, figures in docs/benchmarks.md): about an
# hour on two cores.  BENCHMARKS picks some (e.g. BENCHMARKS="accept lag").
# wrk (Debian) drives the HTTP load when installed; Python processes if not.
BENCHMARKS ?= accept endtoend peers lag drain rebuild snapshots
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --constraint requirements.txt -e '.[local,test,bench]'
	for name in $(BENCHMARKS); do $(BIN)/python -m bench.$$name || exit 1; done

# The runtime dependencies, pinned for the Python of .python-version on Linux:
# what a platform's Python buildpack and the Dockerfile install.  Pins already
# in requirements.txt are kept while they fit; LOCK_ARGS=--upgrade moves every
# pin to the newest release that fits.
# (Not through the install above: a lock that no longer fits pyproject.toml
# must not stop its own repair.)
lock:
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install --quiet uv; }
	$(BIN)/uv pip compile pyproject.toml --quiet --output-file requirements.txt \
		--python-version $$(cat .python-version) --python-platform x86_64-unknown-linux-gnu \
		--custom-compile-command 'make lock' $(LOCK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .data .pytest_cache
