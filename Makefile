# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

CHROMIUM ?= /usr/bin/chromium
WRK ?= /usr/bin/wrk

.PHONY: run test lint wheel clean chromium wrk bench

# uv installs the dependencies in seconds where pip takes most of a minute, which keeps the
# first `make run` quick; pip does the same job if uv cannot be had.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	-$(BIN)/python -m pip install --disable-pip-version-check -q uv

# $(INSTALL) '.[extras]': an editable install of the project with those extras.
INSTALL = install() { if [ -x $(BIN)/uv ]; then VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/uv pip install -q -e "$$1"; \
	else $(BIN)/python -m pip install --disable-pip-version-check -q -e "$$1"; fi; }; install

# Reinstall when the dependencies change; the package itself is editable.
$(RUN_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(INSTALL) '.[embedded,fast]'
	touch $@

$(TEST_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(INSTALL) '.[embedded,fast,dev]'
	touch $@ $(RUN_STAMP)

# make run PORT=8010: another port (server.port and PAYGATE_SERVER__PORT work too).
PORT ?=
run: $(RUN_STAMP)
	$(BIN)/paygate dev $(if $(PORT),--port $(PORT))

test: $(TEST_STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (playwright cannot download its own browser here).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=none; fi; \
		if [ "$$SUDO" = none ]; then echo "warning: $(CHROMIUM) is missing and cannot be installed; browser tests will fail"; \
		else echo "installing Debian's chromium for the browser tests"; \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; fi; \
	fi

# The bench drives HTTP load with Debian's wrk (C, one thread, its Lua script bench/wrk.lua), installed like Chromium.
wrk:
	@if [ ! -x $(WRK) ] && ! command -v wrk >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=none; fi; \
		if [ "$$SUDO" = none ]; then echo "warning: wrk is missing and cannot be installed (apt-get install wrk); the bench will stop"; \
		else echo "installing Debian's wrk for the bench"; \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; fi; \
	fi

# Benchmarks are separate from the tests: a real paygate serve on embedded Postgres and Redis,
# figures printed beside their targets and written to bench/results.json (--quick: about a minute);
# HTTP load comes from wrk (the target above).
BENCH_ARGS ?=
bench: $(RUN_STAMP) wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check paygate tests
	$(BIN)/lint-imports

wheel: $(TEST_STAMP)
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache
