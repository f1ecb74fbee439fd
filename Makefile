# Two commands set everything up on a machine with only Python >= 3.10, git and make:
#   make run    environment from the lock file, then both servers in the foreground
#   make test   environment from the lock file, then lint, types and tests
# uv is bootstrapped into .tools/ with the interpreter already on the machine,
# so nothing is downloaded but packages from the registry.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --frozen --no-sync
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: all run run-sync run-async test lint typecheck pytest fleet-test hadolint format docs bench replot images clean

all: test

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked
	@touch $@

## Start both servers (sync on :8001, async on :8002); Ctrl-C stops both.
run: $(VENV)/.synced
	$(RUN) webduo serve --mode both

run-sync: $(VENV)/.synced
	$(RUN) webduo serve --mode sync

run-async: $(VENV)/.synced
	$(RUN) webduo serve --mode async

## Lint, types and the whole test suite: what CI runs.
test: lint typecheck hadolint pytest

lint: $(VENV)/.synced
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: $(VENV)/.synced
	$(RUN) mypy

hadolint: $(VENV)/.synced
	$(RUN) hadolint Dockerfile.sync Dockerfile.async

# Two workers, one a core: most tests wait on servers they started, so the other worker runs meanwhile.
# Two workers for the tests that mostly wait on servers; then, alone, the ones that load both
# cores flat out (the fleet, locust runs), whose timing bounds another worker's load would break.
pytest: $(VENV)/.synced
	$(RUN) pytest -n 2 -m "not load"
	$(RUN) pytest -m load

## nginx in front of two replicas per engine, with Redis, on loopback (~45 s; part of pytest too).
## Needs Debian's nginx and redis-server: apt-get install nginx redis-server (.ci/run does it).
fleet-test: $(VENV)/.synced
	$(RUN) pytest tests/fleet

format: $(VENV)/.synced
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

## The docs generated from the code: docs/settings.md's table and the flags' help (webduo/settings_help.py).
docs: $(VENV)/.synced
	$(RUN) python -m webduo.docs

## The bounded locust runs behind docs/bench/ (every scenario, both servers; ~5 min).
bench: $(VENV)/.synced
	bench/run-docs.sh docs/bench

## Redraw docs/bench/'s plots from its reports' tables, without running the load again.
replot: $(VENV)/.synced
	$(RUN) python -m webduo.bench.replot docs/bench

images:
	bash scripts/build-images.sh

clean:
	rm -rf $(TOOLS) $(VENV) .mypy_cache .ruff_cache .pytest_cache
