# modelport developer entry points. Each target creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACKS := $(sort $(patsubst stacks/Pulumi.%.yaml,%,$(wildcard stacks/Pulumi.*.yaml)))
PLAN_DIR ?= plans

.PHONY: plan test test-floors lint bench clean

# Reinstall when the dependency declaration changes. `make test` needs everything (TensorFlow included);
# `make plan` needs only the cloud SDKs and the policy pack (the `plan` extra), so a fresh plan stays light.
$(BIN)/.modelport-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $@ $(BIN)/.modelport-plan-installed

$(BIN)/.modelport-plan-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[plan]'
	touch $@

# Plan every example stack offline (Pulumi mocks, no credentials) with the policy report.
plan: $(BIN)/.modelport-plan-installed
	@mkdir -p $(PLAN_DIR)
	@set -e; for stack in $(STACKS); do \
		echo "== modelport plan $$stack"; \
		$(BIN)/modelport plan $$stack --stack-dir stacks --json $(PLAN_DIR)/$$stack.json; \
	done; echo "plans written to $(PLAN_DIR)/"

test: $(BIN)/.modelport-installed
	$(BIN)/python -m pytest -p no:cacheprovider
	$(MAKE) --no-print-directory test-floors

# A dependency floor is a promise: the planner, spec and policy tests run again in .venv-floor with the lowest
# versions pyproject.toml allows (uv's lowest-direct resolution), so a floor is only raised, never guessed.
FLOOR_VENV ?= .venv-floor
# litert brings the serving server's own floors (grpcio, protobuf, starlette, uvicorn, hpack, OpenTelemetry...)
# without TensorFlow, so the server's gRPC transport, TF Serving's generated client and the tracing/OTLP encoder
# are tested at those floors too.
FLOOR_EXTRAS ?= kubernetes,aws,gcp,azure,policy,litert,dev
FLOOR_TESTS ?= tests/test_plan_runner.py tests/test_plan_cli.py tests/test_import_name.py tests/test_spec.py \
	tests/test_catalog.py tests/kubernetes tests/aws/test_stacks.py tests/policies/test_policy_stacks.py tests/gcp tests/azure \
	tests/serving/test_serving_tfserving_interop.py tests/serving/test_serving_grpc.py tests/serving/test_serving_h2.py \
	tests/serving/test_serving_grpc_only.py tests/serving/test_serving_tracing.py tests/serving/test_serving_otlp.py
test-floors: $(BIN)/.modelport-installed
	$(BIN)/python -m uv venv --quiet --allow-existing --python $(PYTHON) $(FLOOR_VENV)
	$(BIN)/python -m uv pip install --quiet --python $(FLOOR_VENV)/bin/python --resolution lowest-direct -e '.[$(FLOOR_EXTRAS)]'
	$(FLOOR_VENV)/bin/python -c "import importlib.metadata as m; print('floors:', *(f'{p}=={m.version(p)}' for p in ('pulumi', 'pulumi-aws', 'pulumi-gcp', 'pulumi-azure-native', 'google-cloud-aiplatform', 'pulumi-kubernetes', 'pulumi-policy', 'pyyaml', 'rich', 'grpcio', 'grpcio-tools', 'protobuf')))"
	$(FLOOR_VENV)/bin/python -m pytest -p no:cacheprovider -q $(FLOOR_TESTS)

lint: $(BIN)/.modelport-installed
	$(BIN)/ruff check components serving_image policies stacks tests bench

bench: $(BIN)/.modelport-installed
	$(BIN)/python bench/serving.py --quick
	$(BIN)/python bench/policies.py

clean:
	rm -rf $(VENV) $(FLOOR_VENV) $(PLAN_DIR) .pytest_cache
