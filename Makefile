# The two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup serve test test-unit test-fast test-e2e lint format bench soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# compat: a plain path in a .pth file, which mypy and IDEs follow (the default editable
	@# mode installs an import hook they cannot see through)
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

## Run the default project (fastly.toml here) on http://127.0.0.1:7676
serve: setup
	@bash scripts/serve-default

## Run the test suite (real sockets, a real Pushpin, Chromium; installs them when root)
## Layers (tests/support/layers.py): unit (no sockets, no processes), inprocess (sockets in the
## test's process), e2e (real processes); slow marks the soak and fuzz tests.
## Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set: the suite starts hundreds of
## Python processes, and each would compile compute-emu again.
PYTEST := PYTHONDONTWRITEBYTECODE= $(PY) -m pytest
## Three workers, each running whole test files: a module's shared processes stay in one
## worker, and every test still stops and checks its own children by PID. Three on two cores,
## because much of the suite waits on processes (Pushpin, servers, builds) rather than
## computing (on two cores: 387 s with two workers, 267 s with three). The files go out in the
## order tests/conftest.py gives them (longest first), not by test count.
XDIST := -n 3 --dist loadfile --no-loadscope-reorder

test: setup
	@bash scripts/test-deps
	@bash scripts/official-env
	COMPUTE_EMU_NO_SKIP=1 $(PYTEST) $(XDIST)

## The pure rules and units alone (about 10 s): no sockets, no processes, no soak or fuzz
test-unit: setup
	$(PYTEST) -m "unit and not slow"

## unit and inprocess: nothing but this process (no Pushpin, no Chromium), no soak or fuzz
test-fast: setup
	$(PYTEST) -m "(unit or inprocess) and not slow"

## The tests that start real processes: serve, Pushpin, Chromium, wheels, the official venv
test-e2e: setup
	@bash scripts/test-deps
	@bash scripts/official-env
	COMPUTE_EMU_NO_SKIP=1 $(PYTEST) $(XDIST) -m e2e

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy compute_emu

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Benchmarks: every scenario next to its baseline, in one run (bench/results/latest.md)
## (installs wrk and nginx-light when root, uvicorn and httptools from .[bench]; BENCH_PROFILE=1
## adds py-spy flame graphs of missed rows)
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[bench]' --config-settings editable_mode=compat
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } || \
		{ echo "make bench needs wrk: sudo apt-get install wrk (or brew install wrk)"; exit 1; }
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || \
		{ [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light; } || \
		{ echo "make bench needs nginx (the origin and the relay baseline): sudo apt-get install nginx-light"; exit 1; }
	@if [ -n "$(BENCH_PROFILE)" ] && [ "$(BENCH_PROFILE)" != 0 ]; then \
		$(PY) -m pip install --quiet py-spy; fi
	$(PY) -m bench.run

## Soak: 1,000 held streams, continuous publishing and pass-through requests for 10 minutes
## (SOAK_SECONDS, SOAK_STREAMS); fails if a message is lost or fds/threads/RSS grow
soak: setup $(BENCH_STAMP)
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .venv-official .venv-official-build build .test-tools *.egg-info .pytest_cache .ruff_cache .mypy_cache
