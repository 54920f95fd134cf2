# Two entry points on a fresh machine: `make run` (the whole workflow) and `make test`
# (`make test-fast`: the unit tests alone).
PYTHON ?= python3
VENV ?= .venv
CORES ?= 4
BIN := $(VENV)/bin

.PHONY: setup run test test-fast test-catalog dry-run merge migrate lint format model-sheet clean

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

# The unit tests alone: no C++ build and no workflow run (those are marked slow); a few minutes.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

# Every catalog model through export, reload and the C++ programs (make test takes one per family).
test-catalog: setup
	TVDEPLOY_TEST_EVERY_MODEL=1 $(BIN)/python -m pytest tests/catalog/test_catalog_models.py tests/catalog/test_detector_models.py

# Another machine's run (results/runs/RUN of its checkout, e.g. a cluster's GPU run:
# FROM=login:tvdeploy RUN=gpu01) copied in beside this one's, then every table, figure and the
# summary rebuilt over all runs present; measures nothing.
merge: setup
	@test -n "$(FROM)" -a -n "$(RUN)" || { echo "usage: make merge FROM=<dir or host:dir of the other checkout> RUN=<its run label>"; exit 2; }
	@command -v rsync > /dev/null || { echo "make merge copies with rsync: install it (apt-get install rsync)"; exit 2; }
	@test "$(RUN)" != "$$($(BIN)/python -m tvdeploy.results.runs label)" || { echo "RUN=$(RUN) is this machine's own run label: copying it in would overwrite this run's results"; exit 2; }
	rsync -a $(FROM)/results/runs/$(RUN)/ results/runs/$(RUN)/
	$(BIN)/snakemake --cores 1 --forcerun aggregate --allowed-rules $$($(BIN)/python -c "from tvdeploy.plan.targets import REPORT_RULES; print(*REPORT_RULES)")

# Results from before run folders (results/compare, overhead, predictions, parity) moved into
# results/runs/<this run's label>/, keeping their times: nothing is measured again.
migrate: setup
	$(BIN)/python -m tvdeploy.results.runs migrate

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
	$(BIN)/python -m tvdeploy.catalog.sheet config/models.tsv

clean:
	rm -rf results build .snakemake
