# Two entry points on a fresh machine: `make run` (the whole workflow) and `make test`.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 4
BIN := $(VENV)/bin

.PHONY: setup run test dry-run lint model-sheet clean

$(BIN)/.requirements-installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	touch $@

setup: $(BIN)/.requirements-installed

run: setup
	$(BIN)/snakemake --cores $(CORES)

dry-run: setup
	$(BIN)/snakemake -n

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/snakemake --lint

# Regenerate the model catalog from the installed torchvision (after upgrading it).
model-sheet: setup
	$(BIN)/python workflow/scripts/tvdeploy/catalog.py config/models.tsv

clean:
	rm -rf results build .snakemake
