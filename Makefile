# Corral's two commands: `make run` (set up, then serve the example packs) and `make test`.
# Everything the project needs is installed here: Python deps (with ziglang, the Zig and C
# guest toolchain) into .venv, and the AssemblyScript compiler through npm.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AS_SDK := guest-sdk/assemblyscript
PERF_EXTISM := benchmarks/perf/extism
export CORRAL_CACHE_DIR ?= $(CURDIR)/build/module-cache

.PHONY: setup run test bench-security bench-perf clean

setup: $(VENV)/.installed $(AS_SDK)/node_modules/.installed $(PERF_EXTISM)/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(AS_SDK)/node_modules/.installed: $(AS_SDK)/package.json $(AS_SDK)/package-lock.json
	cd $(AS_SDK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(PERF_EXTISM)/node_modules/.installed: $(PERF_EXTISM)/package.json $(PERF_EXTISM)/package-lock.json
	cd $(PERF_EXTISM) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/corral serve

test: setup
	$(BIN)/python -m pytest -q

bench-security: setup
	$(BIN)/corral bench security

bench-perf: setup
	$(BIN)/corral bench perf

clean:
	rm -rf build .corral results $(VENV) $(AS_SDK)/node_modules $(PERF_EXTISM)/node_modules
