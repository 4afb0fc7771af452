# Two set-up commands for a fresh clone: `make run` (the default workflow) and `make test`.
# Every package pin lives in pyproject.toml; envs/*.yaml repeat them for conda (tests/test_environments.py).
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint dry-run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores $(CORES) --profile profiles/local

test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" python -m pytest -q

lint: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" snakemake --lint

dry-run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" snakemake -n

clean:
	rm -rf results .snakemake
