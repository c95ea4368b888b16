# Crosstalk: one entry point for people and CI. `make run`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: help setup vendor-protos gen lint fmt test test-sqlite test-postgres run bench proto-baseline clean

help:
	@echo "make run    start NATS, the six services and Envoy on 127.0.0.1 with a demo tenant"
	@echo "make test   run the whole suite on SQLite and on PostgreSQL"
	@echo "other targets: setup gen lint fmt bench proto-baseline vendor-protos clean"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

# Installs the pinned workspace (uv.lock) into .venv, editable.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard */*/pyproject.toml) $(wildcard gateway/pyproject.toml)
	$(UV) sync --frozen --all-packages
	touch $@

# The venv, plus the Debian Apertium pairs translation uses offline (root + apt;
# elsewhere the script says what is missing and how to install it).
setup: $(VENV)/.synced
	bash tools/install_apertium.sh

vendor-protos: setup
	$(PY) tools/vendor_googleapis.py

# Python code, mypy stubs and the descriptor set from proto/ (skipped when unchanged).
gen: setup
	$(PY) tools/gen_protos.py
	$(BIN)/crosstalk-gateway-gen --config gateway/gateway.yaml --descriptor build/api_descriptor.binpb --out build/envoy.yaml

lint: gen
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/buf lint
	$(BIN)/buf format -d --exit-code proto --path proto/crosstalk
	$(BIN)/buf build proto -o build/api_image.binpb
	$(BIN)/buf breaking build/api_image.binpb --against proto/baseline/api.binpb
	$(BIN)/mypy libs/common/src gateway/src tools/devstack/src $(foreach s,identity customers rules translation messaging reporting,services/$(s)/src)
	$(BIN)/lint-imports

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/buf format -w proto --path proto/crosstalk

# The suite twice: every test on SQLite, then the ones touching databases on PostgreSQL.
test: test-sqlite test-postgres

test-sqlite: gen
	CROSSTALK_TEST_DB=sqlite tools/pytest.sh

test-postgres: gen
	CROSSTALK_TEST_DB=postgres CROSSTALK_TEST_PG_URL=$(PG_URL) tools/pytest.sh libs/common/tests services tests/integration tests/e2e

run: gen
	$(PY) -m crosstalk_devstack run

bench: gen
	$(PY) bench/run_all.py

# Accepting a contract change: rewrite the baseline `buf breaking` compares with (review it!).
proto-baseline: setup
	$(BIN)/buf build proto -o proto/baseline/api.binpb

clean:
	rm -rf build $(VENV) $(TOOLS) libs/contracts/src/crosstalk .mypy_cache .ruff_cache .pytest_cache
