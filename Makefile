PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test bench lint format migrations clean

$(VENV)/bin/activate:
	$(PYTHON) -c "import sys; assert sys.version_info >= (3, 11), \"Python 3.11+ is needed\""
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.local-installed: $(VENV)/bin/activate requirements/base.txt requirements/local.txt
	$(PIP) install --quiet -r requirements/local.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/bin/activate requirements/base.txt requirements/test.txt
	$(PIP) install --quiet -r requirements/test.txt
	touch $@

## make run: install, migrate, seed the demo and start web + worker + beat (Ctrl-C stops all).
run: $(VENV)/.local-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_candles --skip-loaded data/market/*.json.gz
	$(PY) manage.py seed_demo
	@echo
	@echo "Back office: http://127.0.0.1:8000/   admin: http://127.0.0.1:8000/admin/"
	@echo
	rm -rf var/prometheus && mkdir -p var/prometheus  # metrics of the previous run would be summed in
	$(VENV)/bin/honcho start -f Procfile

## make test: install, bring up PostgreSQL/Redis/Mosquitto if stopped, run the whole suite.
test: $(VENV)/.test-installed
	./scripts/ensure-services.sh
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y chromium)  # browser tests drive Debian's Chromium
	command -v promtool >/dev/null || (apt-get update -qq && apt-get install -y --no-install-recommends prometheus)  # checks deploy/prometheus
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest --create-db $(PYTEST_ARGS)

## make bench: every benchmark under bench/, one JSON line each.
bench: $(VENV)/.test-installed
	./scripts/ensure-services.sh
	@for b in bench/[!_]*.py; do echo "# $$b"; $(PY) $$b || exit 1; done

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(VENV)/.test-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations: $(VENV)/.test-installed
	$(PY) manage.py makemigrations

clean:
	rm -rf $(VENV) var staticfiles
