# Simple Log Service. `make run` starts the local stack, `make test` runs every test.
# Each target creates .venv with pinned dependencies on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DYNAMODB_PORT ?= 8001

# No target reaches AWS by accident: no instance-metadata probe, dummy credentials
# unless the caller set real ones (deploy targets use the caller's own).
export AWS_EC2_METADATA_DISABLED := true
export AWS_DEFAULT_REGION ?= us-east-1

# Prerequisites that `make test` needs beyond .venv; fragments in mk/ add to it.
TEST_PREREQS :=
-include mk/*.mk

.PHONY: help run test lint bench clean clean-build
.DEFAULT_GOAL := help

help:
	@echo "make run     local stack: DynamoDB emulator on 127.0.0.1:$(DYNAMODB_PORT), API on 127.0.0.1:$(PORT)"
	@echo "make test    lint and every test, with coverage"
	@echo "make bench   benchmarks; prints a BENCH {json} line"
	@echo "make slog    install the slog CLI into .venv (make run and make test do it too)"
	@echo "make smoke   slog smoke against the running local stack on PORT (SMOKE_OUTPUTS=outputs.json for a deployed one)"
	@echo "make load    locust, headless and bounded, against the local stack on PORT"
	@echo "            (after make run PORT=9000: make smoke PORT=9000, make load PORT=9000)"
	@echo "make client-wheel   the slog client as a wheel in build/, to pip install without a checkout"
	@echo "make package STAGE=<stage>   one Terraform root module in build/<stage>/"
	@echo "make checkov STAGE=<stage>   checkov over that module"
	@echo "make clean   remove virtual environments and caches (never build/, which may hold Terraform state)"
	@echo "make clean-build   remove build output, keeping Terraform's state, providers and backend.tf"

$(VENV)/.installed: $(wildcard requirements*.txt)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/python -m devtools.run_local --port $(PORT) --dynamodb-port $(DYNAMODB_PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check .

test: test-prereqs lint
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing $(BIN)/python -m pytest

# What make test needs, installed side by side (pip into two venvs, a download, apt-get): on a fresh
# machine that is most of its first minutes, and each waits on the network more than on a core.
.PHONY: test-prereqs
test-prereqs:
	@$(MAKE) --no-print-directory -j4 $(VENV)/.installed $(TEST_PREREQS)

# `make clean` never touches build/: build/<stage>/ may hold Terraform's state (with the
# cursor and shard keys), its providers and backend.tf. `make clean-build` removes build
# output but keeps those files.
clean:
	rm -rf $(VENV) .venv-* .pytest_cache .coverage .coverage.* .ruff_cache

clean-build:
	$(PYTHON) -m devtools.package --clean-build build
