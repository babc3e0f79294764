# cmsflow — the two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run test install lint translations worker clean bench bench-l

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/pybabel compile -f -d cmsflow/translations 2>&1 | grep -v "^compiling" || true

PORT ?= 5000

# The web server and, beside it, the worker (BPMN timers, reminders, escalations, search updates; its log in
# instance/worker.log); Ctrl-C stops both. PORT=8080 make run serves on another port.
run: install
	$(FLASK) cmsflow init
	$(FLASK) cmsflow seed-demo --if-empty
	$(FLASK) cmsflow reindex --if-needed
	$(FLASK) cmsflow demo-logins
	@mkdir -p instance
	@echo "cmsflow: http://127.0.0.1:$(PORT) and the worker (log: instance/worker.log); Ctrl-C stops both"
	@trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) cmsflow worker >> instance/worker.log 2>&1 & worker=$$!; \
	  $(FLASK) run --host 127.0.0.1 --port $(PORT)

worker: install
	$(FLASK) cmsflow worker

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check cmsflow tests scripts bench

bench: install  # size S on SQLite and PostgreSQL, with the page load test (see bench/README.md)
	$(BIN)/python -m bench.run --sizes S

bench-l: install  # S and L, and the L/S growth of the pages (long)
	$(BIN)/python -m bench.run --sizes S,L

clean:
	rm -rf $(VENV) instance
