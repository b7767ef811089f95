# The README's commands. Everything installs into .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint check bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the daemon against the built-in simulated fleet, alerts on the console,
##       status page on http://127.0.0.1:8080 (Ctrl-C to stop; DURATION=30 to stop by itself)
demo: $(STAMP)
	$(BIN)/compliance-monitor demo $(if $(DURATION),--duration $(DURATION))

## test: the whole test suite
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff, mypy --strict and the import rules (pyproject's importlinter contracts)
lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

## bench: the benchmarks (ratios measured side by side in one run)
bench: $(STAMP)
	$(BIN)/python bench/sweep.py --devices 1000 --skip-scale --latency-devices 1000 --latency-interval 300

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
