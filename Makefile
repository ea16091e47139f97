# The two commands a newcomer runs: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with its test extras into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test system-test lint typecheck soak bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/syncd demo

lint: $(STAMP)
	$(BIN)/ruff check syncd tests
	$(BIN)/ruff format --check syncd

typecheck: $(STAMP)
	$(BIN)/mypy --strict syncd

# The whole suite; it includes tests/system when the machine can run it (see system-test).
test: lint typecheck
	$(BIN)/pytest -q

# syncd.service as shipped, under a real systemd: a Debian 12 machine booted with
# systemd-nspawn, installed by the README's own commands. Needs root, systemd-container and
# debootstrap; the root file system is cached in /var/cache/syncd-system-test.
system-test: $(STAMP)
	$(BIN)/pytest -q tests/system

# Longer reliability runs (more crashes, more faults, longer hypothesis searches).
soak: $(STAMP)
	$(BIN)/pytest -q -m soak tests/reliability

# Benchmarks: figures go to bench/RESULTS.md (see bench/README.md).
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
