# The two commands the README promises: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: `make dev` installs piivault alone; the test tools (pyspark, playwright,
# schemathesis, ...) and checkov's own venv come with `make test`. On a fresh clone they were
# two of `make dev`'s three minutes before the server answered.
APP    := $(VENV)/.installed-app-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP  := $(VENV)/.installed-test-$(shell cat pyproject.toml deploy/checkov-requirements.txt | cksum | cut -d' ' -f1)

.PHONY: dev test lint bench screenshots clean

$(APP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@rm -f $(VENV)/.installed-app-*
	@touch $@

$(STAMP): $(APP) deploy/checkov-requirements.txt
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@test -x $(VENV)/checkov/bin/python || $(BIN)/python -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet -r deploy/checkov-requirements.txt
	@rm -f $(VENV)/.installed-test-*
	@touch $@

dev: $(APP)
	$(BIN)/piivault dev

# The package map's contracts (pyproject.toml, [tool.importlinter]) first: under a second, and a
# broken layer fails the build before the suite runs.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Re-take the console screenshots shown in the README (runs the browser tests).
screenshots: $(STAMP)
	PIIVAULT_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest -q -m browser tests/browser

bench: $(STAMP)
	$(BIN)/python bench/envelope.py

clean:
	rm -rf $(VENV) var .pytest_cache
