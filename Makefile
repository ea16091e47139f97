# The two commands a newcomer runs: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with its test extras into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test system-test lint typecheck soak bench mutate clean

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

# Mutation testing (mutmut) of the modules the README's promises rest on, one group at a
# time, each with the tests written for it (tests/mutation/modules.toml); writes
# tests/MUTATION.md. Slow, so not part of `make test` or CI: see tests/MUTATION.md for how
# long it takes. MUTATE_GROUPS='config state' runs some groups; a second run only tests
# mutants without a result, MUTATE_ARGS=--survivors also runs the survivors again.
MUTATE_GROUPS ?=
MUTATE_ARGS ?=
mutate: $(STAMP)
	nice -n 10 $(BIN)/python -m tests.mutation.run --max-children 2 $(MUTATE_ARGS) $(MUTATE_GROUPS)
	$(BIN)/python -m tests.mutation.report

clean:
	rm -rf mutants .mutmut
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
