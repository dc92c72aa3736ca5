# The two commands of the README: `make paper` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
CONFIG ?= config/default.yaml
# GPU jobs at a time (rules declare resources: gpu=1 when they run on CUDA)
GPUS   ?= 1

.PHONY: paper test setup clean dry-run bench

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

setup: $(STAMP)

paper: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS) --configfile $(CONFIG) --rerun-incomplete --printshellcmds

bench: $(STAMP)   # after `make paper`: labelling/estimator/decoding cost -> results/benchmarks/bench.json
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake results/benchmarks/bench.json --cores $(CORES) --resources gpu=$(GPUS) --configfile $(CONFIG)

dry-run: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake -n --cores $(CORES) --configfile $(CONFIG)

test: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

clean:
	rm -rf results .snakemake
