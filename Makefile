# Aftercare Exchange — `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SYSTEM_PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
# `make run PORT=8123 DATA_DIR=/tmp/aftercare-demo` serves elsewhere with its own data.
PORT ?= 8000
DATA_DIR ?= $(or $(AFTERCARE_DATA_DIR),.aftercare)

.PHONY: setup run test test-only lint lint-openapi format typecheck schema check-schema bench bench-graphql bench-events bench-audit bench-scale bench-large soak clean lock

# Every dependency is pinned, with hashes, in requirements/*.lock (`make lock` refreshes them from
# pyproject.toml); the project itself, and the Python SDK (clients/python, whose only dependency,
# httpx, is in the lock), are installed on top without dependencies.
# The client generator of tests/test_generated_client.py has a pinned environment of its own,
# $(VENV)/codegen (requirements/codegen.in says why).
$(STAMP): pyproject.toml requirements/dev.lock requirements/codegen.lock clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip install --quiet --no-deps -e clients/python
	$(PYTHON) -m venv $(VENV)/codegen
	$(VENV)/codegen/bin/pip install --quiet --require-hashes -r requirements/codegen.lock
	touch $(STAMP)

## Re-resolve the pinned dependencies (runtime for the image, dev for make/CI) from pyproject.toml.
## `make lock UPGRADE=--upgrade` moves every pin to its newest allowed version.
lock: setup
	$(BIN)/pip install --quiet 'uv>=0.9,<1'
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes $(UPGRADE) \
		-q -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes \
		$(UPGRADE) -q -o requirements/dev.lock
	$(BIN)/uv pip compile requirements/codegen.in --python-version 3.11 --generate-hashes \
		$(UPGRADE) -q -o requirements/codegen.lock

setup: $(STAMP)

## Serve the API on 127.0.0.1:$(PORT) with fictional demo partners on the embedded PostgreSQL
## under $(DATA_DIR) (demo credentials in $(DATA_DIR)/demo-credentials.json).
run: setup
	AFTERCARE_DATA_DIR='$(DATA_DIR)' AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS=$(or $(AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS),true) \
		$(BIN)/aftercare serve --demo --port $(PORT)

## Lint, type-check and run every test (embedded PostgreSQL unless AFTERCARE_TEST_DATABASE_URL).
test: setup lint typecheck test-only

test-only: setup
	$(BIN)/pytest

## The suite once more against the system PostgreSQL on 127.0.0.1:5432, when it answers.
test-system-pg: setup
	AFTERCARE_TEST_DATABASE_URL=$(SYSTEM_PG_URL) $(BIN)/pytest

## Ruff, then the layer contracts in pyproject.toml [tool.importlinter] (docs/architecture.md).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@if command -v npx >/dev/null 2>&1; then $(MAKE) --no-print-directory lint-openapi; \
	else echo "npx not found: skipping lint-openapi (Redocly needs Node.js)"; fi

## Redocly's recommended rules over the committed OpenAPI document: zero errors (npm registry only).
REDOCLY ?= @redocly/cli@2.11.1
lint-openapi:
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		npx --yes $(REDOCLY) lint openapi/openapi.json --format=summary

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy app tests bench clients/python/src clients/python/scripts

## Regenerate the committed API schemas (a test fails when they drift).
schema: setup
	$(BIN)/python -m app.schema_export

bench: setup
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.graphql_vs_rest
	$(BIN)/python -m bench.events
	$(BIN)/python -m bench.audit_contention

## Webhook worker throughput, commit-to-receipt latency and feed long-poll wake-up (bench/README.md).
bench-events: setup
	$(BIN)/python -m bench.events

## One organisation's concurrent audit appends with 1 and 16 chains (bench/README.md).
bench-audit: setup
	$(BIN)/python -m bench.audit_contention

## First-page cost on 100,000 cases / 1,000,000 referrals against 10,000 / 100,000, with the plans;
## fails above 1.2x (bench/README.md). Takes minutes (seeding), so it is not part of `make bench`.
bench-large: setup
	$(BIN)/python -m bench.large

## One partner's audited case reads with 1 and 2 app processes, 1 audit chain and the default,
## with PostgreSQL's lock waits sampled (bench/README.md).
bench-scale: setup
	$(BIN)/python -m bench.run --scale

## GraphQL against REST for the same page of cases with their referrals (bench/README.md).
bench-graphql: setup
	$(BIN)/python -m bench.graphql_vs_rest

## Mixed-load soak (bench/README.md "Soak"): capacity first, then DURATION seconds at LOAD_FRACTION
## of it (or at RATE requests/s); results in bench/results/soak-<time>/. Not part of `make bench`.
DURATION ?= 600
LOAD_FRACTION ?= 0.5
USERS_PER_PARTNER ?= 2
APP_PROCESSES ?= 2
GRAPHQL_PROCESSES ?= 1
soak: setup
	$(BIN)/python -m bench.soak.run --duration $(DURATION) --load-fraction $(LOAD_FRACTION) \
		--users-per-partner $(USERS_PER_PARTNER) --app-processes $(APP_PROCESSES) \
		--graphql-processes $(GRAPHQL_PROCESSES) $(if $(RATE),--rate $(RATE))

clean:
	rm -rf $(VENV) .aftercare-test .pytest_cache .mypy_cache .ruff_cache .grimp_cache
