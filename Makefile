# Breaking Adam. `make sweep` and `make test` do everything on a fresh machine.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.install-stamp
ARGS    ?=
PORT    ?= 5000
HOST    ?= 127.0.0.1

.PHONY: help install sweep test lint format ui clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv and install the project with its dev extras (quick when done)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"   # the CPU wheel first, so nothing pulls a CUDA build
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

sweep: install  ## the paper's Figure 1: Adam and AMSGrad on the online and stochastic problems
	$(PY) -m src.main -m $(ARGS)

test: install  ## the whole test suite
	$(PY) -m pytest -q tests $(ARGS)

lint: install  ## ruff lint and format check
	.venv/bin/ruff check src tests && .venv/bin/ruff format --check src tests

format: install  ## ruff format
	.venv/bin/ruff format src tests && .venv/bin/ruff check --fix src tests

ui: install  ## the MLflow UI on the project's store, on $(HOST):$(PORT)
	.venv/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host $(HOST) --port $(PORT)

clean:  ## remove run outputs (keeps .venv and the MLflow store)
	rm -rf outputs multirun/*/ .pytest_cache .ruff_cache reports/*/
