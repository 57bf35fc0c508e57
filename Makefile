# Every target sets up what it needs first (venvs, node_modules), so each works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The project runs on Python 3.12 (the Lambda runtime's version): python3.12 on PATH if it runs
# (a pyenv shim may exist without working), else pyenv's newest 3.12.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
  $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt lambdas/requirements.txt pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or put python3.12 on PATH"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt -e .
	touch $@

$(VENV)/.bench-installed: requirements-bench.txt $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-bench.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# npm ci runs beside the Python set-up (pip into .venv, then local AWS into its own venv): two jobs.
setup:  ## create .venv, install local AWS and the pinned CDK CLI
	@$(MAKE) --no-print-directory -j2 --output-sync=target node_modules/.installed local-aws-installed

local-aws-installed: $(VENV)/.installed
	$(BIN)/mlops setup

up: setup  ## start local AWS (LocalStack on the host)
	$(BIN)/mlops up

down: $(VENV)/.installed  ## stop local AWS
	$(BIN)/mlops down

deploy: setup  ## deploy the stack to local AWS
	$(BIN)/mlops deploy

demo: setup  ## the whole loop on local AWS: deploy, train, score, drift, retrain, promote
	$(BIN)/mlops demo

# Product code whose type-checker escapes must say why: `# type: ignore[code]  # reason`.
TYPED := mlops_core lambdas training infra mlopsctl app.py

lint: $(VENV)/.installed  ## ruff (incl. complexity), mypy, the layers contract (import-linter), hadolint, the docs (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PYTHONPATH=lambdas $(BIN)/lint-imports --no-cache --no-logo
	@! grep -rnE --include='*.py' 'type: ignore' $(TYPED) | grep -vE 'type: ignore\[[a-z, -]+\]  # [^ ]' \
	  || { echo "a '# type: ignore' above has no [code] or no reason: write '# type: ignore[code]  # why'"; exit 1; }
	$(BIN)/hadolint training/Dockerfile
	$(MAKE) --no-print-directory docs

# Unit and template tests first, on every core (pytest-xdist) while nothing else runs; then the end-to-end
# tests on one local AWS in two streams: the demo stack's tests on one worker, the projects with stacks of
# their own on the other (tests/e2e/conftest.py). The slowest tests of each part are listed (--durations).
# One OpenMP thread per worker: with a worker per core, scikit-learn's threads would only wait for each other.
test: setup container-tools  ## every test: unit and infrastructure on all cores, then end to end on local AWS
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests/unit tests/infra -n auto --durations=15
	$(BIN)/python -m pytest tests/e2e -n 2 --durations=15

bench: setup $(VENV)/.bench-installed  ## benchmarks; results in bench/results
	$(BIN)/python bench/run.py

# Without a Docker daemon the image is built with buildah from a local base (training/local-base.sh) and run with
# podman: the tools come from the distribution's packages, installed here when missing and we are root on a
# Debian-like system. `make test` needs them too: an end-to-end test builds the image and trains in it.
container-tools:
	@docker info >/dev/null 2>&1 || { \
	  missing=$$(for tool in podman buildah runc debootstrap; do command -v $$tool >/dev/null || echo $$tool; done); \
	  if [ -z "$$missing" ]; then :; \
	  elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && apt-get install -y -q $$missing; \
	  else echo "missing: $$(echo $$missing); install them or docker (as root, make image installs them)"; exit 1; fi; }

image: $(VENV)/.installed container-tools  ## build the training image on this machine (docker, else podman + buildah)
	PYTHON312=$(PYTHON312) $(BIN)/mlops image build

docs: $(VENV)/.installed  ## the docs site (README + docs/) built into site/, offline and strict
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:  ## remove local AWS state and build outputs (keeps the venvs)
	-$(BIN)/mlops down
	rm -rf .local-aws/state cdk.out

.PHONY: help setup local-aws-installed container-tools up down deploy demo lint test bench image docs clean
