# Breaking Adam. `make sweep` and `make test` do everything on a fresh machine.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.install-stamp
ARGS    ?=
PORT    ?= 5000
# ui/server listen on loopback unless HOST is given on make's command line (`make ui HOST=...`):
# a HOST exported in the environment (set for something else) never opens them to the network,
# not even under `make -e` (which lets the environment override a makefile's own HOST)
BIND    := $(if $(filter command line,$(origin HOST)),$(HOST),127.0.0.1)
JOBS    ?=
STORE   ?= sqlite:///$(CURDIR)/mlflow.db
LAUNCH  := $(if $(JOBS),hydra/launcher=processes hydra.launcher.n_jobs=$(JOBS))

.PHONY: help install sweep figure test test-quick bench lint format ui server clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv and install the project, its dev, launcher, postgres and search extras

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"   # the CPU wheel first, so nothing pulls a CUDA build
	$(PIP) install -q -e ".[dev,joblib,slurm,ray,postgres,search]"
	touch $(STAMP)

sweep: install  ## the paper's Figure 1 and its report (JOBS=N: N worker processes; slower for these 4 short jobs: docs/scaling.md)
	$(PY) -m src.main -m $(LAUNCH) $(ARGS)

figure: install  ## report the latest sweep: Figure 1, heatmaps, summary (ARGS="--parent RUN_ID")
	$(PY) -m src.report $(ARGS)

# A file's tests together on one worker (a module's fixture made once); the 25 slowest listed.
# The whole suite on three workers for two cores: its tests wait ~10% of the time (servers
# starting, signals, retry budgets), and a third worker computes meanwhile (docs/testing.md:
# 11:49 against 12:14 on two, 12:17 on four). The in-process tests never wait: two workers,
# one a core.
TESTS   := --dist loadfile --durations=25
# The suite starts many Python processes: each reads the project's bytecode (and pytest
# its rewritten tests) from __pycache__/ (ignored by git) instead of compiling every source again,
# even where the environment asks Python not to write bytecode (PYTHONDONTWRITEBYTECODE=1)
PYTEST  := PYTHONDONTWRITEBYTECODE= $(PY) -m pytest

test: install  ## the whole test suite (what CI runs), on three workers
	$(PYTEST) -q -n 3 $(TESTS) tests $(ARGS)

test-quick: install  ## the in-process tests only (no slow ones), for the development loop
	$(PYTEST) -q -n 2 $(TESTS) -m "not slow" tests $(ARGS)

bench: install  ## the engines side by side (torchbearer tutorial loop included) and the default sweep's wall time
	$(PIP) install -q -e ".[bench]"
	$(PY) -m src.bench $(ARGS)

lint: install  ## ruff lint and format check
	.venv/bin/ruff check src tests hydra_plugins && .venv/bin/ruff format --check src tests hydra_plugins

format: install  ## ruff format
	.venv/bin/ruff format src tests hydra_plugins && .venv/bin/ruff check --fix src tests hydra_plugins

ui: install  ## the MLflow UI on the project's store, on $(BIND):$(PORT) (HOST=... to open it); prints the runs' URL
	@$(PY) -m src.tracking.ui_url --store sqlite:///$(CURDIR)/mlflow.db --host $(BIND) --port $(PORT)
	.venv/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host $(BIND) --port $(PORT)

server: install  ## an MLflow tracking server on $(BIND):$(PORT) over STORE, serving mlruns/
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
	.venv/bin/mlflow server --backend-store-uri $(STORE) --serve-artifacts \
		--artifacts-destination $(CURDIR)/mlruns --host $(BIND) --port $(PORT) $(ARGS)

clean:  ## remove run outputs (keeps .venv and the MLflow store)
	rm -rf outputs multirun/*/ .pytest_cache .ruff_cache reports/*/
