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

.PHONY: help setup vendor-protos gen lint fmt test test-sqlite test-postgres run bench fuzz proto-baseline clean images k8s

help:
	@echo "make run    start NATS, the six services and Envoy on 127.0.0.1 with a demo tenant"
	@echo "make test   run the whole suite on SQLite and on PostgreSQL"
	@echo "other targets: setup gen lint fmt bench fuzz proto-baseline vendor-protos clean"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

# Installs the pinned workspace (uv.lock) into .venv, editable.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard */*/pyproject.toml) $(wildcard gateway/pyproject.toml)
	$(UV) sync --frozen --all-packages
	touch $@

# checkov in its own venv: its pins (packaging<24) conflict with the workspace's
# (pytest needs packaging>=24), so it has its own hash-pinned lock (tools/checkov).
CHECKOV := $(TOOLS)/checkov/bin/checkov
$(CHECKOV): $(UV) tools/checkov/requirements.lock
	$(UV) venv --quiet --python $(PYTHON) $(TOOLS)/checkov
	$(UV) pip sync --quiet --python $(TOOLS)/checkov/bin/python --require-hashes tools/checkov/requirements.lock
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
	$(PY) -m crosstalk_gateway.openapi --config gateway/gateway.yaml --descriptor build/api_descriptor.binpb --out build/openapi.json
	$(BIN)/crosstalk-gateway-gen --config gateway/gateway.yaml --descriptor build/api_descriptor.binpb \
	  --descriptor-at /app/build/api_descriptor.binpb \
	  --out deploy/k8s/base/gateway/envoy.yaml --listen-host 0.0.0.0 --listen-port 8080 --admin-port 9901 \
	  --jwks identity:50151 --otlp otel-collector:4317 \
	  $(foreach s,identity:50051 customers:50052 rules:50053 translation:50054 messaging:50055 reporting:50056,--upstream $(firstword $(subst :, ,$(s)))=$(s))

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

# The suite twice, both passes at once (each waits on its stack, network and
# databases most of the time, so two cores run both in about the time of the
# longer one): every test on SQLite, and the ones touching databases on
# PostgreSQL. Each pass's output is printed in one piece when it ends.
test: gen $(CHECKOV)
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

test-sqlite: gen $(CHECKOV)
	CROSSTALK_TEST_DB=sqlite tools/pytest.sh

test-postgres: gen
	CROSSTALK_TEST_DB=postgres CROSSTALK_TEST_PG_URL=$(PG_URL) tools/pytest.sh -o cache_dir=.pytest_cache/postgres \
	  libs/common/tests services tests/integration tests/e2e tests/chaos

# Faults under the main job's load (tests/chaos), the long profile, on SQLite then on
# PostgreSQL (a cluster of the tests' own, which they restart); `make test` runs the
# short profile.
chaos: gen
	CROSSTALK_CHAOS_PROFILE=long CROSSTALK_TEST_DB=sqlite tools/pytest.sh tests/chaos
	CROSSTALK_CHAOS_PROFILE=long CROSSTALK_TEST_DB=postgres CROSSTALK_TEST_PG_URL=$(PG_URL) tools/pytest.sh tests/chaos

# Container images of the six services and the gateway (docker, podman or buildah).
images:
	bash tools/build_images.sh

# Render, validate and check the Kubernetes manifests (what tests/k8s does).
k8s: gen $(CHECKOV)
	CROSSTALK_TEST_DB=sqlite tools/pytest.sh tests/k8s

run: gen
	$(PY) -m crosstalk_devstack run

bench: gen
	$(PY) bench/run_all.py

# schemathesis against the real gateway, the long profile (CI runs 3 examples per
# operation, 2 minutes of fuzzing and 1 of stateful: tests/e2e/test_schemathesis.py).
FUZZ_EXAMPLES ?= 50
FUZZ_TIME ?= 1800
FUZZ_STATEFUL_TIME ?= 600
FUZZ_DB ?= sqlite
fuzz: gen
	SCHEMATHESIS_MAX_EXAMPLES=$(FUZZ_EXAMPLES) SCHEMATHESIS_MAX_TIME=$(FUZZ_TIME) \
	  SCHEMATHESIS_STATEFUL_TIME=$(FUZZ_STATEFUL_TIME) SCHEMATHESIS_RANDOM=1 \
	  CROSSTALK_TEST_DB=$(FUZZ_DB) CROSSTALK_FUZZ_ON_POSTGRES=1 \
	  tools/pytest.sh tests/e2e/test_schemathesis.py -s

# Accepting a contract change: rewrite the baseline `buf breaking` compares with (review it!).
proto-baseline: setup
	$(BIN)/buf build proto -o proto/baseline/api.binpb

clean:
	rm -rf build $(VENV) $(TOOLS) libs/contracts/src/crosstalk .mypy_cache .ruff_cache .pytest_cache
