# Two entry points on a fresh machine: `make run` (the whole workflow) and `make test`.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 4
BIN := $(VENV)/bin

.PHONY: setup run test dry-run merge lint format model-sheet clean

# The workflow's software, the linters, and the tvdeploy package itself (editable, so the rules
# and tests import the source tree without path tricks).
$(BIN)/.requirements-installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --no-deps --no-build-isolation -e .
	touch $@

setup: $(BIN)/.requirements-installed

run: setup
	$(BIN)/snakemake --cores $(CORES)

dry-run: setup
	$(BIN)/snakemake -n

test: setup
	$(BIN)/python -m pytest

# Another checkout's results for one device (e.g. a cluster's GPU run: FROM=login:tvdeploy
# DEVICE=cuda) beside this one's CPU results, then the tables of both devices; measures nothing.
DEVICE ?= cuda
merge: setup
	@test -n "$(FROM)" || { echo "usage: make merge FROM=<dir or host:dir of the other checkout> [DEVICE=cuda]"; exit 2; }
	@command -v rsync > /dev/null || { echo "make merge copies with rsync: install it (apt-get install rsync)"; exit 2; }
	rsync -a --prune-empty-dirs --exclude='results/torchscript/**' --include='*/' \
	  --include='results/*/$(DEVICE)/**' --exclude='*' $(FROM)/ ./
	$(BIN)/snakemake --cores 1 --allowed-rules aggregate --forcerun aggregate \
	  results/tables/latency.csv --config 'devices=[cpu,$(DEVICE)]'

CPP_FILES = $(shell git ls-files 'cpp/*.cpp' 'cpp/*.hpp')
SMK_FILES = Snakefile $(shell git ls-files 'workflow/rules/*.smk')

# Every check fails on a finding and changes nothing; `make format` applies the formatters.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check $(SMK_FILES)
	$(BIN)/clang-format --dry-run -Werror $(CPP_FILES)
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt $(SMK_FILES)
	$(BIN)/clang-format -i $(CPP_FILES)

# Regenerate the model catalog from the installed torchvision (after upgrading it).
model-sheet: setup
	$(BIN)/python -m tvdeploy.catalog config/models.tsv

clean:
	rm -rf results build .snakemake
