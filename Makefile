# Two set-up commands for a fresh clone: `make run` (the default workflow) and `make test`.
# `make science` runs config/science.yaml in science-run/ (docs/science/README.md).
# Every package pin lives in pyproject.toml; envs/*.yaml repeat them for conda (tests/test_environments.py).
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
SCIENCE_DIR ?= science-run
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run science test style lint dry-run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" snakemake --cores $(CORES) --profile profiles/local

science: $(STAMP)
	mkdir -p $(SCIENCE_DIR) && cp workflow_config.yaml $(SCIENCE_DIR)/
	cd $(SCIENCE_DIR) && PATH="$(abspath $(BIN)):$$PATH" snakemake --cores $(CORES) \
		--profile $(abspath profiles/local) -s $(abspath Snakefile) --configfile $(abspath config/science.yaml) $(ARGS)

# the tests start with the style checks (rule sets in pyproject.toml); snakemake --lint is a test
test: style
	PATH="$(abspath $(BIN)):$$PATH" python -m pytest -q

style: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules/

lint: style
	PATH="$(abspath $(BIN)):$$PATH" snakemake --lint

dry-run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" snakemake -n

clean:
	rm -rf results .snakemake
