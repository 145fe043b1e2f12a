# Two commands do all the set-up: `make run` and `make test`. Each installs what it needs into
# local virtual environments (.tools for uv, .venv for the project) the first time.
PYTHON ?= python3
UV := .tools/bin/uv
VENV_STAMP := .venv/.synced
# Team mode (docs/deploy.md): a team.env beside this file sets DAGSTER_HOME and the COSMO_* settings.
-include team.env
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
override DAGSTER_HOME := $(abspath $(DAGSTER_HOME))

.PHONY: run test lint bench ui webserver daemon install clean lake-bootstrap lake-maintain worker

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV_STAMP): pyproject.toml uv.lock setup.py cosmo_assets/knowledge_base/_prefilter.c | $(UV)
	$(UV) sync --frozen --compile-bytecode --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"
	touch $@

install: $(VENV_STAMP)

run: $(VENV_STAMP)  ## generate a dataset end to end on the embedded model
	.venv/bin/python -m cosmo_assets run $(ARGS)

TEST_WORKERS ?= 2  # tests spend much of their time waiting on subprocesses and servers: two at once
test: $(VENV_STAMP)  ## the test suite, on TEST_WORKERS pytest-xdist workers (TEST_WORKERS=0: one process)
	.venv/bin/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: $(VENV_STAMP)  ## every numbered benchmark under bench/ once, each printing its ratio against its baseline
	for b in bench/b[0-9]*.py; do .venv/bin/python -m bench.$$(basename $$b .py) || exit 1; done

lint: $(VENV_STAMP)  ## ruff: lint and import order (configured in pyproject.toml)
	.venv/bin/ruff check .

# The services run over one standing code server and stop within seconds (cosmo_assets/services.py).
UI_PORT ?= 3000
ui: $(VENV_STAMP)  ## Dagster UI and daemon on http://127.0.0.1:3000, same instance as `make run`
	.venv/bin/python -m cosmo_assets.services ui --host 127.0.0.1 --port $(UI_PORT)

webserver: $(VENV_STAMP)  ## the UI alone on http://127.0.0.1:3000 (start `make daemon` beside it)
	.venv/bin/python -m cosmo_assets.services webserver --host 127.0.0.1 --port $(UI_PORT)

daemon: $(VENV_STAMP)  ## run queue, schedule, sensor and automation for the same instance
	.venv/bin/python -m cosmo_assets.services daemon

lake-bootstrap: $(VENV_STAMP)  ## team mode: create the lake's tables once, before any worker writes
	.venv/bin/python -m cosmo_assets lake bootstrap

lake-maintain: $(VENV_STAMP)  ## team mode: expire old lake snapshots, delete unused files (also weekly by schedule)
	.venv/bin/python -m cosmo_assets lake maintain

worker: $(VENV_STAMP)  ## team mode: one Celery worker on this machine, taking steps from the queue
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml --name "$$(hostname)" -- --concurrency $${COSMO_WORKER_STEPS:-2}

clean:
	rm -rf data dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
