# mdmi: the whole paper as one DAG.  Run via `make paper` (default scale) or
#   snakemake --cores 2 --configfile config/<scale>.yaml
# on a Slurm cluster: snakemake --workflow-profile workflow/profiles/slurm --configfile config/<scale>.yaml
# Every rule calls `python -m mdmi ...`; notebooks only load results and plot. Shared code (config,
# slices, resources, input functions) is in workflow/rules/common.smk; nothing is written at parse time.
#
# `snakemake --lint` (make lint) leaves one warning per rule, "Specify a conda environment or container
# for each rule": every rule runs in the project's one environment (make setup, or environment.yml plus
# `pip install -e .`), which holds the mdmi package the rules call; a per-rule conda environment would
# repeat it without that package. tests/test_workflow.py fails on any other lint warning.
import os

from snakemake.utils import min_version

min_version("9.0")


# Default scale unless --configfile is given (Snakemake would deep-merge two files, mixing scales).
if not config:

    configfile: os.path.join(workflow.basedir, "config", "default.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/config.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bench.smk"


wildcard_constraints:
    domain="|".join(DOMAINS),


rule all:
    input:
        f"{RESULTS}/manifest.json",
        f"{RESULTS}/benchmarks/resources.csv",
    default_target: True
