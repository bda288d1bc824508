# Brain - `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
HOST   ?= 127.0.0.1
WORKERS ?= 1
FUZZ_SECONDS ?= 150
STAMP  := $(VENV)/.installed
DRILL_STAMP := .venv-drill/.installed
QUICK  ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint format typecheck bench load drill fuzz dashboards rules deploy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml clients/python/pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $@

install: $(STAMP) ## Create .venv and install Brain with its test tools

run: $(STAMP) ## Serve on the embedded default (PORT=8080 HOST=127.0.0.1 WORKERS=1)
	$(BIN)/brain serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: $(STAMP) ## Run the whole test suite (starts its own PostgreSQL and Redis)
	$(BIN)/pytest

lint: $(STAMP) typecheck ## Ruff (lint, formatting), the import rules of ARCHITECTURE.md, mypy
	$(BIN)/ruff check service tests scripts grafana clients
	$(BIN)/ruff format --check service tests scripts grafana clients
	$(BIN)/lint-imports

format: $(STAMP) ## Ruff: fix what it can and format the code
	$(BIN)/ruff check --fix service tests scripts grafana clients
	$(BIN)/ruff format service tests scripts grafana clients

typecheck: $(STAMP) ## mypy --strict on the service
	$(BIN)/mypy

fuzz: $(STAMP) ## schemathesis, every check, against a real brain serve (FUZZ_SECONDS=150)
	$(BIN)/python -m scripts.fuzz --max-time $(FUZZ_SECONDS)

dashboards: $(STAMP) ## Regenerate grafana/dashboards/*.json from grafana/dashboards.py
	$(BIN)/python grafana/dashboards.py

bench: $(STAMP) ## Benchmarks: API beside raw baselines, CPU per request beside a minimal app
	$(BIN)/python -m scripts.bench

load: $(STAMP) ## k6: mixed 1000 req/s for 60 s, a ramp, the original ab scenario (BASE= TOKEN=)
	$(BIN)/python -m scripts.load

$(DRILL_STAMP): scripts/bootstrap-drill.sh
	@scripts/bootstrap-drill.sh .venv-drill "$(PYTHON)"
	@touch $@

drill: $(STAMP) $(DRILL_STAMP) ## Disaster drills on real servers: RTO and RPO of each, 3 runs (QUICK=1: one)
	$(BIN)/python -m scripts.drills $(if $(QUICK),--quick)

deploy: $(STAMP) ## Deployment checks: render the chart, checkov on it, the Terraform and the Dockerfile
	rm -rf build/helm-rendered
	$(BIN)/python -m scripts.render_chart build/helm-rendered >/dev/null
	scripts/check-deploy.sh build/helm-rendered

rules: ## Alert rules: promtool checks and unit tests, runbook coverage
	scripts/check-rules.sh

clean: ## Remove the virtualenv and caches (keeps .brain data)
	rm -rf $(VENV) .venv-drill .pytest_cache .ruff_cache
