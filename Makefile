# The two commands in the README: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHROMIUM := /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test demo setup db lint bench clean browser scan install-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Front-end packages (Bootstrap, htmx, bpmn-js, Chart.js) from the npm registry, served from node_modules.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Debian's chromium for the browser tests (never a browser downloaded by a test tool).
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null

setup: $(STAMP) $(NODE_STAMP)

browser: $(CHROMIUM)

# Migrate the database.
db: setup
	$(BIN)/motcua db upgrade

# The main job on the embedded default: SQLite file under instance/, the demo organisation and
# sample procedures, two weeks of demo dossiers worked up to now (only into a database without
# dossiers), then the web app with the in-process scheduler on http://127.0.0.1:8000/.
# `motcua demo load` refuses, writing nothing, a database that holds a real organisation's officers.
run: db
	$(BIN)/motcua demo load --count 150
	$(BIN)/motcua serve --host $(HOST) --port $(PORT)

# A production install checked as a host would get it: the wheel built from this checkout into a
# fresh virtual environment outside it, then a page and a front-end file requested (docs/deploy.md).
install-check: setup
	$(BIN)/python scripts/install_check.py

# The suite in parallel pytest-xdist workers (one per CPU; each has a PostgreSQL database and a
# SQLite template of its own, see tests/conftest.py), then the tests marked `serial` alone (one
# restarts PostgreSQL). Both passes always run; a failure in either fails the target.
TEST_WORKERS ?= auto
test: setup browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	status=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not serial" || status=1; \
	$(BIN)/python -m pytest -p no:xdist -m serial || status=1; \
	exit $$status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench.engine_step --db both

# A web vulnerability scan with Debian's wapiti (not part of `make test`): a local instance on a
# scratch SQLite database with demo data, scanned anonymously and signed in as officers for a
# bounded time each; reports in test-artifacts/scan/, triage in docs/security.md.
SCAN_SECONDS ?= 150
scan: setup
	command -v wapiti >/dev/null || { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wapiti >/dev/null; }
	$(BIN)/python -m tests.security_scan --seconds $(SCAN_SECONDS)

clean:
	rm -rf instance .pytest_cache .mypy_cache .hypothesis test-artifacts
