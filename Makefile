# The two commands of the README: `make paper` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
CONFIG ?= config/default.yaml
# GPU jobs at a time (rules declare resources: gpu=1 when they run on CUDA)
GPUS   ?= 1
# RETRAIN=1: train every MDM from scratch instead of adopting the shipped checkpoints in data/
RETRAIN ?= 0
SMK_RETRAIN := $(if $(filter 1 true yes,$(RETRAIN)),--config retrain=True,)
PRETRAIN := results/pretrain
# Snakemake's default job-rate limit (100 jobs per 1 s) makes its scheduler wake every second to recheck
# every waiting job (their params, resources and input sizes): 15% of a core through a 2-core make paper.
# A local run needs no rate limit; this one is never reached and rechecks every 10 s. (Not longer: the last
# recheck's timer keeps Snakemake alive until it fires, so a run exits up to one timespan after its last job.)
SMK_LOCAL := --max-jobs-per-timespan 1000/10s

.PHONY: paper test test-fast test-slurm test-gpu setup clean dry-run bench bench-solve models estimators readme ablation report slurm lint ruff

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile --no-deps -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# byte-compile on every core (pip compiles one file at a time: 97 s of set-up became 74 s on 2 cores);
	# exit status 1 means some file did not compile (packages ship Python 2 examples): pip ignores those too
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

setup: $(STAMP)

paper: $(STAMP)
	$(BIN)/python -m mdmi unlock-stale
	$(BIN)/python -m mdmi check-results --fix
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES) $(SMK_LOCAL) --resources gpu=$(GPUS) --configfile $(CONFIG) $(SMK_RETRAIN) --rerun-incomplete --printshellcmds
	$(MAKE) --no-print-directory report

# Snakemake's report of the last run: every figure and table with its caption (workflow/report/*.rst),
# the DAG, run times; one self-contained HTML file
report: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --configfile $(CONFIG) $(SMK_RETRAIN) --report results/report.html

# The same DAG with every job submitted to Slurm (workflow/profiles/slurm: set your account and partition)
slurm: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --workflow-profile workflow/profiles/slurm --configfile $(CONFIG) $(SMK_RETRAIN)

# The shipped checkpoints: train them with the workflow's own train_mdm rule at the pretrain scale
# (config/pretrain.yaml: Sudoku <= 2 h on 2 cores, the protein family model seconds, the Potts MDM about 2
# minutes), then copy model, log, benchmark and config into data/<domain>/pretrained/ and point
# config/default.yaml's <domain>.checkpoint at the new checksum. MODELS=protein retrains only the family model.
MODELS ?= sudoku protein potts
models: $(STAMP)
	$(BIN)/python -m mdmi unlock-stale
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake $(foreach d,$(MODELS),$(PRETRAIN)/$(d)/mdm/model.pt) $(PRETRAIN)/config.yaml --cores $(CORES) $(SMK_LOCAL) --resources gpu=$(GPUS) --configfile config/pretrain.yaml --config retrain=True --rerun-incomplete --printshellcmds
	for d in $(MODELS); do $(BIN)/python -m mdmi ship --results $(PRETRAIN) --domain $$d --config config/pretrain.yaml --out data/$$d/pretrained --adopt config/default.yaml || exit 1; done

# The shipped MI heads (the domains whose train labels cost most): train them with the workflow's own rules at
# the default scale's settings (config/default_estimators.yaml: 11.5 minutes measured on 2 cores for Sudoku and
# antibodies, data step included; the protein head about 2 more), then copy head, logs,
# benchmarks and config into data/<domain>/pretrained/estimator/ and point config/default.yaml's
# <domain>.estimator_checkpoint at the new checksum
ESTIMATORS ?= sudoku antibody protein
ESTIMATORS_RESULTS := results/estimators
estimators: $(STAMP)
	$(BIN)/python -m mdmi unlock-stale
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake $(foreach d,$(ESTIMATORS),$(ESTIMATORS_RESULTS)/$(d)/estimator/head.pt) $(ESTIMATORS_RESULTS)/config.yaml --cores $(CORES) $(SMK_LOCAL) --resources gpu=$(GPUS) --configfile config/default_estimators.yaml --rerun-incomplete --printshellcmds
	for d in $(ESTIMATORS); do $(BIN)/python -m mdmi ship --what estimator --results $(ESTIMATORS_RESULTS) --domain $$d --config config/default_estimators.yaml --out data/$$d/pretrained/estimator --adopt config/default.yaml || exit 1; done

bench: $(STAMP)   # after `make paper`: labelling/estimator/decoding cost -> results/benchmarks/bench.json
	$(BIN)/python -m mdmi unlock-stale
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake results/benchmarks/bench.json --cores $(CORES) $(SMK_LOCAL) --resources gpu=$(GPUS) --configfile $(CONFIG)

# solve on a 100,000-puzzle file: batch by batch, peak memory vs a 2,000-puzzle file -> results/benchmarks/solve_memory.json
bench-solve: $(STAMP)   # after `make paper` (its test puzzles, repeated; the shipped model)
	$(BIN)/python -m mdmi.domains.sudoku.bench_solve

# What each choice of the MDM recipe buys: <domain>.ablation's variants, each trained a short budget and
# scored on validation puzzles (about 7 minutes per variant at the default scale; docs/ablation.md)
DOMAIN ?= sudoku
SEED ?=
ablation: $(STAMP)
	$(BIN)/python -m mdmi unlock-stale
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake results/$(DOMAIN)/data/MANIFEST.json --cores $(CORES) $(SMK_LOCAL) --resources gpu=$(GPUS) --configfile $(CONFIG)
	$(BIN)/python -m mdmi ablate --config $(CONFIG) --domain $(DOMAIN) --data results/$(DOMAIN)/data --out results/ablation/$(DOMAIN)$(if $(SEED),_seed$(SEED) --seed $(SEED))

readme: $(STAMP)   # after `make paper`: regenerate the README's results block from results/tables
	$(BIN)/python -m mdmi readme --results results --readme README.md

dry-run: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake -n --cores $(CORES) --configfile $(CONFIG)

# lint and format first (seconds): ruff as configured in pyproject.toml
ruff: $(STAMP)
	$(BIN)/ruff check lib tests
	$(BIN)/ruff format --check lib tests

# two pytest-xdist workers, each test file in one of them (a module fixture, a whole workflow run, is built once;
# the ci run is shared by the session: tests/conftest.py); TEST_WORKERS=0: one process
TEST_WORKERS ?= 2
test: ruff
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile

# A local one-node Slurm cluster with accounting (root, Debian: installs its packages), the ci config
# through the Slurm profile, checked against a local run, a failing rule, then the daemons stopped
test-slurm: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash tests/slurm/check.sh

lint: $(STAMP)   # Snakemake's linter; the one warning left (no per-rule conda env) is explained in the Snakefile
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint --configfile $(CONFIG)

# On a GPU host (CI has none): tests/unit/test_cuda.py, then the protein half at the paper config's sizes with the
# family model (config/paper_family.yaml) up to the tables, with per-rule times and contact precision printed
test-gpu: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash tests/gpu/check.sh

test-fast: ruff  ## tests/unit: every test but the end-to-end workflow runs (tests/e2e), about 4 minutes on 2 cores
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf results .snakemake
