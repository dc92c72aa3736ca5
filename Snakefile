# mdmi: the whole paper as one DAG.  Run via `make paper` (default scale) or
#   snakemake --cores 2 --configfile config/<scale>.yaml
# Every rule calls `python -m mdmi ...`; notebooks only load results and plot.
import os
from pathlib import Path

import yaml
from mdmi.io import write_text
from snakemake.utils import min_version, validate

min_version("8.0")


# Default scale unless --configfile is given (Snakemake would deep-merge two files, mixing scales).
if not config:

    configfile: os.path.join(workflow.basedir, "config", "default.yaml")


validate(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))

RESULTS = "results"
NOTEBOOKS = os.path.join(workflow.basedir, "notebooks")
PY = "python -m mdmi"


def _resolved_config() -> str:
    """The validated config, written once per content to results/config.yaml (input of every rule)."""
    path = Path(RESULTS) / "config.yaml"
    text = yaml.safe_dump(dict(config), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    return str(path)


def _gpu_jobs() -> int:
    """1 when rules run on CUDA (declared as `resources: gpu=1`; `--resources gpu=N` caps them)."""
    if config["device"] == "cpu":
        return 0
    if config["device"].startswith("cuda"):
        return 1
    import torch

    return int(torch.cuda.is_available())


CONFIG = _resolved_config()
GPU = _gpu_jobs()
DOMAINS = list(config["domains"])
METHODS = {d: list(config[d]["decode"]["methods"]) for d in DOMAINS}
ALL_METHODS = sorted({m for ms in METHODS.values() for m in ms})
TABLE_NAMES = ["table1", "table2", "claims", "decoding_sweep", "decoding_sweep_by_band"]


wildcard_constraints:
    domain="|".join(DOMAINS),


include: "workflow/rules/sudoku.smk"
include: "workflow/rules/protein.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bench.smk"


rule all:
    input:
        f"{RESULTS}/manifest.json",
    default_target: True
