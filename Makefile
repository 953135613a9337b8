# aether_web: `make run` serves the app at http://localhost:3000; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
BUN := .tools/node_modules/.bin/bun
AXE := .tools/node_modules/axe-core/axe.min.js
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export NPM_CONFIG_REGISTRY ?= https://registry.npmjs.org/
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup run test test-deps lint migrate clean bench lock

# The hash-locked files only (tools/lock_requirements.sh compiles them from the exact pins in
# requirements.txt and requirements-dev.in; `make lock` after changing a pin).
$(VENV)/.installed: requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

lock:
	bash tools/lock_requirements.sh

# One npm command for every tool: with --no-save, npm removes packages a later command omits.
$(BUN) $(AXE):
	npm install --prefix .tools --no-save --no-audit --no-fund bun@1.4.5 axe-core@4.10.3

setup: $(VENV)/.installed $(BUN) $(AXE)

migrate: setup
	$(PY) -m aether_web db upgrade

## Serve the app in prod mode on its embedded defaults (SQLite, Stripe emulator, simulated VMs).
run: migrate
	$(PY) -m tools.local_stack --port 3000

## Debian's chromium for the browser tests (never Playwright's own download).
test-deps: setup
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

## ruff, and the layering contract of pyproject.toml ([tool.importlinter]).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

## Every test: lint, unit + integration on SQLite, integration on PostgreSQL, end-to-end.
test: test-deps
	bash tools/run_tests.sh

## The benchmarks (they print their figures): hooks vs pgbench, and /billing load times.
bench: test-deps
	@command -v wrk >/dev/null || apt-get install -y -qq wrk
	$(PY) -m bench.hooks_bench
	$(PY) -m bench.billing_page_bench

clean:
	rm -rf .web .web-e2e .states var/log
