# The slog client and CLI (client/), the smoke test and the load test.
# slog is installed into .venv as a console script, editable, without touching the pinned
# dependencies; it is never part of the Lambda package (Chalice packages app.py, chalicelib/
# and requirements.txt only).

SLOG_STAMP := $(VENV)/.slog-installed
SMOKE_OUTPUTS ?= local/outputs.json
# The local outputs name port 8000; follow PORT when smoking the local stack.
SMOKE_ENDPOINT ?= $(if $(filter local/outputs.json,$(SMOKE_OUTPUTS)),http://127.0.0.1:$(PORT)/,)
# The local stack answers STS AssumeRole itself (at /_local/sts); a deployed stack's roles are AWS STS's.
SMOKE_STS ?= $(if $(SMOKE_ENDPOINT),$(SMOKE_ENDPOINT)_local/sts,)
SMOKE_COUNT ?= 20
LOAD_USERS ?= 10
LOAD_SPAWN_RATE ?= 5
LOAD_DURATION ?= 30s
LOAD_HOST ?= http://127.0.0.1:$(PORT)
LOAD_REMOTE ?=

WHEEL_DIR ?= build

TEST_PREREQS += $(SLOG_STAMP)
.PHONY: smoke load slog client-wheel

# The distribution was named "slog" until that name turned out to be another PyPI project's: the old
# editable install goes first, so that one distribution owns the slog package and command.
$(SLOG_STAMP): $(VENV)/.installed client/pyproject.toml
	$(BIN)/python -m pip uninstall --quiet --yes slog
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e client
	touch $@

# `make client-wheel`: the client as a wheel in $(WHEEL_DIR)/, to install where there is no checkout:
# pip install build/simple_log_service_client-*.whl (pip fetches boto3, requests and rich).
# setuptools builds in client/build/: emptied first, so no module deleted since the last build ships.
client-wheel: $(VENV)/.installed
	rm -rf client/build
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir $(WHEEL_DIR) ./client

slog: $(SLOG_STAMP)

run: $(SLOG_STAMP)

# `make smoke`: against the local stack (`make run` in another terminal; give it the same PORT) by default;
# a deployed stack: `make smoke SMOKE_OUTPUTS=outputs.json` with SLOG_INGEST_EXTERNAL_ID/SLOG_READ_EXTERNAL_ID.
smoke: $(SLOG_STAMP)
	$(if $(SMOKE_STS),AWS_ENDPOINT_URL_STS=$(SMOKE_STS)) $(BIN)/slog smoke --outputs $(SMOKE_OUTPUTS) --count $(SMOKE_COUNT) $(if $(SMOKE_ENDPOINT),--endpoint $(SMOKE_ENDPOINT))

# `make load`: locust headless, bounded users and duration, against LOAD_HOST; starts the local
# stack for the run (and stops it) when nothing answers there.
# A deployed stage: make load LOAD_REMOTE=1 LOAD_HOST=<api_endpoint> (signs with your AWS credentials).
load: $(SLOG_STAMP)
	$(BIN)/python -m devtools.local_load --host $(LOAD_HOST) --users $(LOAD_USERS) \
		--spawn-rate $(LOAD_SPAWN_RATE) --run-time $(LOAD_DURATION) --dynamodb-port $(DYNAMODB_PORT) \
		$(if $(LOAD_REMOTE),--remote)
