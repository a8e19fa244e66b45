# Two commands that work on a fresh machine with Python 3.11:
#   make run    set up, migrate, seed the demo, start the WeChat sandbox and the app
#   make test   set up and run the whole suite (DATABASE_URL=postgresql://... for PostgreSQL)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test lint bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	scripts/pdf-fonts   # the Chinese font of the notice PDF (apt-get as root, else says what)
	flask db upgrade
	flask seed-demo
	APP_PORT=$${PORT:-5000} honcho start -f Procfile.dev

test: install
	pytest $(PYTEST_ARGS)

lint: install
	ruff check .

bench: install   # not run by CI; BENCH=dispatch for the dispatcher benchmark
	python bench/bench_$${BENCH:-auth}.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
