# zbus developer commands. Each target installs what it needs into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
ZBUS_DEMO_DURATION ?= 30

.PHONY: venv test test-fast lint demo bench clean

venv:
	@./scripts/bootstrap.sh

test: venv  ## the whole suite: unit, integration, perf smoke (lab and browser tests skip unless root)
	@./scripts/test-deps.sh
	$(PY) -m pytest -q tests perf/micro --benchmark-disable

test-fast: venv  ## unit tests only
	$(PY) -m pytest -q tests/unit

lint: venv  ## ruff check + ruff format --check + mypy (strict)
	$(VENV)/bin/ruff check zbus discovery store tools tests perf scripts examples
	$(VENV)/bin/ruff format --check zbus discovery store tools tests perf scripts examples
	$(VENV)/bin/mypy

demo: venv  ## a local demo mesh you can watch (stops after ZBUS_DEMO_DURATION seconds)
	$(VENV)/bin/zbus demo --duration $(ZBUS_DEMO_DURATION)

bench: venv  ## micro benchmarks with numbers
	$(PY) -m pytest -q perf/micro --benchmark-only

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks *.egg-info
