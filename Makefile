# The two commands in the README: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo setup db lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Migrate the database, load the sample procedures and demo officers.
db: setup
	$(BIN)/motcua db upgrade
	$(BIN)/motcua load

# The main job on the embedded default (SQLite file under instance/).
run: db
	$(BIN)/motcua demo --count 300

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m bench.engine_step --db both

clean:
	rm -rf instance .pytest_cache .hypothesis
