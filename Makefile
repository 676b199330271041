# Corral's two commands: `make run` (set up, then serve the example packs) and `make test`.
# Everything the project needs is installed here: Python deps (with ziglang, the Zig and C
# guest toolchain) into .venv, the AssemblyScript compiler through npm, and Debian's Chromium
# for the console's browser tests (driven by Playwright, a dev dependency).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AS_SDK := guest-sdk/assemblyscript
PERF_EXTISM := benchmarks/perf/extism
JS_SDK := guest-sdk/js
export CORRAL_CACHE_DIR ?= $(CURDIR)/build/module-cache

# The set-up steps (overridable: tests/cli/test_make.py replaces them with recorders).
MAKE_VENV ?= $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet --upgrade pip
PIP_INSTALL ?= $(BIN)/pip install --quiet -e '.[dev]'
NPM_CI ?= npm ci --no-audit --no-fund --loglevel=error
# The console's browser tests drive this Chromium; where it is missing (a fresh Debian
# machine or CI, where set-up runs as root) apt installs it, refreshing its lists if need be.
CHROMIUM ?= /usr/bin/chromium
APT_CHROMIUM := apt-get install -y --no-install-recommends chromium
INSTALL_CHROMIUM ?= $(APT_CHROMIUM) || (apt-get update && $(APT_CHROMIUM))
CHROMIUM_STAMP := build/.chromium-installed
# `make run` and `make test` started together share one .venv and one node_modules: set-up
# runs under an exclusive lock (flock(2) through Python, which every machine here has), and
# the make inside the lock looks at the stamps again, so the second one finds them done.
SETUP_LOCK := build/.setup.lock
LOCKED = $(PYTHON) -c 'import fcntl, subprocess, sys; lock = open(sys.argv[1], "a"); \
	fcntl.flock(lock, fcntl.LOCK_EX); sys.exit(subprocess.call(sys.argv[2:]))' $(SETUP_LOCK)

.PHONY: setup setup-unlocked run test bench-security bench-perf clean

setup:
	@mkdir -p $(dir $(SETUP_LOCK))
	@$(LOCKED) $(MAKE) --no-print-directory setup-unlocked

setup-unlocked: $(VENV)/.installed $(AS_SDK)/node_modules/.installed $(PERF_EXTISM)/node_modules/.installed \
	$(JS_SDK)/node_modules/.installed $(CHROMIUM_STAMP)

$(VENV)/.installed: pyproject.toml
	$(MAKE_VENV)
	$(PIP_INSTALL)
	touch $@

$(AS_SDK)/node_modules/.installed: $(AS_SDK)/package.json $(AS_SDK)/package-lock.json
	cd $(AS_SDK) && $(NPM_CI)
	touch $@

$(PERF_EXTISM)/node_modules/.installed: $(PERF_EXTISM)/package.json $(PERF_EXTISM)/package-lock.json
	cd $(PERF_EXTISM) && $(NPM_CI)
	touch $@

# JavaScript/TypeScript packs: esbuild, Coda's packs-sdk (also the differential oracle), the
# runtime's MessagePack codec and Wizer. Build-time tools only, like the AssemblyScript compiler.
$(JS_SDK)/node_modules/.installed: $(JS_SDK)/package.json $(JS_SDK)/package-lock.json
	cd $(JS_SDK) && $(NPM_CI)
	touch $@

$(CHROMIUM_STAMP):
	test -x $(CHROMIUM) || { $(INSTALL_CHROMIUM); }
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is still missing: install Debian's chromium package" >&2; exit 1; }
	@mkdir -p $(dir $@)
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
	rm -rf build .corral results $(VENV) $(AS_SDK)/node_modules $(PERF_EXTISM)/node_modules \
	$(JS_SDK)/node_modules
