# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test install install-dev lint format migrations-check bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base-installed: requirements/base.txt | $(BIN)/python
	$(PIP) install -q --disable-pip-version-check -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/dev.txt | $(BIN)/python
	$(PIP) install -q --disable-pip-version-check -r requirements/dev.txt
	touch $(VENV)/.base-installed $@

install: $(VENV)/.base-installed
install-dev: $(VENV)/.dev-installed

## run: migrate, create the admin user, seed the sandbox, then web + worker + beat
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap
	$(BIN)/python manage.py runportal

## test: the whole suite (SQLite and an embedded broker unless DATABASE_URL etc. are set)
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: install-dev
	$(BIN)/python benchmarks/sync.py
	$(BIN)/python benchmarks/webhooks.py

## soak: the longer reliability runs: bigger webinars and fault rates, ten times the
## generated inputs, more deliveries through the restarts (set DATABASE_URL and
## CELERY_BROKER_URL for the PostgreSQL + Redis crash and scale-out suites)
SOAK_SUITES := tests/test_reliability_*.py tests/test_hostile_*.py \
	tests/test_security_*.py tests/test_scaleout_*.py
soak: install-dev
	SOAK=1 $(BIN)/python -m pytest $(SOAK_SUITES) $(PYTEST_ARGS)
	SOAK=1 $(BIN)/python -m pytest -m "slow" tests $(PYTEST_ARGS) || [ $$? -eq 5 ]

clean:
	rm -rf $(VENV) var
