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
