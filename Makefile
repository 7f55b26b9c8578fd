# modelport developer entry points. Each target creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACKS := $(sort $(patsubst stacks/Pulumi.%.yaml,%,$(wildcard stacks/Pulumi.*.yaml)))
PLAN_DIR ?= plans

.PHONY: plan test lint bench clean

# Reinstall when the dependency declaration changes.
$(BIN)/.modelport-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $@

# Plan every example stack offline (Pulumi mocks, no credentials) with the policy report.
plan: $(BIN)/.modelport-installed
	@mkdir -p $(PLAN_DIR)
	@set -e; for stack in $(STACKS); do \
		echo "== modelport plan $$stack"; \
		$(BIN)/modelport plan $$stack --stack-dir stacks --json $(PLAN_DIR)/$$stack.json; \
	done; echo "plans written to $(PLAN_DIR)/"

test: $(BIN)/.modelport-installed
	$(BIN)/python -m pytest -p no:cacheprovider

lint: $(BIN)/.modelport-installed
	$(BIN)/ruff check components serving_image policies stacks tests bench

bench: $(BIN)/.modelport-installed
	$(BIN)/python bench/serving.py --quick
	$(BIN)/python bench/policies.py

clean:
	rm -rf $(VENV) $(PLAN_DIR) .pytest_cache
