# Infrastructure: `make package STAGE=<stage>` writes build/<stage>/, one
# Terraform root module (Chalice's generated Terraform merged with infra/).
# checkov lives in its own venv: its HCL parser clashes with python-hcl2.

STAGE ?= dev
CHECKOV_VENV := .venv-checkov

.PHONY: package checkov

package: $(VENV)/.installed
	$(BIN)/python -m devtools.package --stage $(STAGE)

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# checkov over the packaged module, as the tests run it (no network).
checkov: package $(CHECKOV_VENV)/.installed
	$(BIN)/python -m devtools.infra_checkov build/$(STAGE)

TEST_PREREQS += $(CHECKOV_VENV)/.installed

# The provider-schema check (tests/test_infra_schema.py) reads hashicorp/aws 5.99.1's schema
# from these wheels. Downloaded once, when the shared checker is beside this checkout;
# without it the test says it is skipped and why.
TFSCHEMA_DL := build/tfschema/dl
TFSCHEMA_WHEELS := cdktf-cdktf-provider-aws==19.65.1 cdktf-cdktf-provider-random==12.0.1

$(TFSCHEMA_DL)/.downloaded: | $(VENV)/.installed
	mkdir -p $(TFSCHEMA_DL)
	$(BIN)/python -m pip download --quiet --no-deps -d $(TFSCHEMA_DL) $(TFSCHEMA_WHEELS)
	touch $@

ifneq ($(wildcard ../shared/tools/tfschema/validate.py),)
TEST_PREREQS += $(TFSCHEMA_DL)/.downloaded
endif
