# Plaza: `make run` serves the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/plaza
REDIS_TEST_URL ?= redis://127.0.0.1:6379/0
PYTEST_WORKERS ?= 2

.PHONY: run test install lint format bench migrate shell worker check-deploy browser clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@if [ ! -x $(PY) ]; then \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); $(PYTHON) -m venv --without-pip $(VENV) && \
	    $(PYTHON) -c "import urllib.request as u; u.urlretrieve('https://bootstrap.pypa.io/get-pip.py', '/tmp/get-pip.py')" && \
	    $(PY) /tmp/get-pip.py -q; }; \
	fi
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Plaza on http://127.0.0.1:$(PORT)  (web client /, API docs /api/docs/, admin /admin/)"
	$(PY) -m bin.serve --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install
	@bash bin/test.sh

bench: install
	$(PY) -m bench.run

check-deploy: install
	PLAZA_ENV=production DEBUG=false SECRET_KEY=$$(openssl rand -hex 40) ALLOWED_HOSTS=plaza.example \
	  MERCHANT_SECRET_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet;print(Fernet.generate_key().decode())') \
	  SMS_BACKEND=accounts.sms.HttpSmsBackend $(PY) manage.py check --deploy --fail-level WARNING

browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

worker: install
	$(VENV)/bin/celery -A config worker -B -l info --concurrency 2

shell: install
	$(PY) manage.py shell

clean:
	rm -rf var/*.sqlite3* var/celery-queue var/media var/static
