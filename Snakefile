# mdmi: the whole paper as one DAG.  Run via `make paper` (default scale) or
#   snakemake --cores 2 --configfile config/<scale>.yaml
# Every rule calls `python -m mdmi ...`; notebooks only load results and plot.
import os
from pathlib import Path

import yaml
from mdmi.config import validate
from mdmi.io import write_text
from snakemake.utils import min_version

min_version("8.0")


# Default scale unless --configfile is given (Snakemake would deep-merge two files, mixing scales).
if not config:

    configfile: os.path.join(workflow.basedir, "config", "default.yaml")


# the project's own validation: the schema (workflow/schemas/config.schema.yaml) plus each decoding
# method's typed knobs (mdmi.decoding.KNOBS) and cross-field checks; one line naming the bad key
validate(config, "--configfile")


def _anchor_paths(node):
    """Shipped inputs named in the config (a `<domain>.checkpoint.path`, any `*_file` key) given
    relative to the repository stay valid when Snakemake runs in another folder."""
    for key, value in (node.items() if isinstance(node, dict) else []):
        if isinstance(value, dict):
            if key == "checkpoint" and isinstance(value.get("path"), str):
                value["path"] = _anchored(value["path"])
            _anchor_paths(value)
        elif isinstance(value, str) and key.endswith("_file"):
            node[key] = _anchored(value)


def _anchored(path: str) -> str:
    if os.path.isabs(path) or os.path.exists(path):
        return path
    here = os.path.join(workflow.basedir, path)
    return here if os.path.exists(here) else path


_anchor_paths(config)

RESULTS = config.get("results", "results")
NOTEBOOKS = os.path.join(workflow.basedir, "notebooks")
PY = "python -m mdmi"


def _write_if_changed(path: Path, obj) -> str:
    """Write ``obj`` as YAML to ``path`` unless it already holds exactly that (keeps its timestamp)."""
    text = yaml.safe_dump(obj, sort_keys=False)
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    return str(path)


def _resolved_config() -> str:
    """The validated config, written once per content to results/config.yaml (what every command reads)."""
    return _write_if_changed(Path(RESULTS) / "config.yaml", dict(config))


def _gpu_jobs() -> int:
    """1 when rules run on CUDA (declared as `resources: gpu=1`; `--resources gpu=N` caps them)."""
    if config["device"] == "cpu":
        return 0
    if config["device"].startswith("cuda"):
        return 1
    import torch

    return int(torch.cuda.is_available())


# The config sections each stage reads. A rule's input is its stage's slice of the config
# (results/config/<domain>/<stage>.yaml), so editing a decoding knob reruns decoding and what follows,
# not data generation or MDM training. A slice holds seed, scale and every section of the domain
# except those of the listed later stages (an unlisted section counts for every stage).
STAGE_SECTIONS = {
    "data": ["box", "data", "tasks"],
    "model": ["model", "train", "checkpoint", "backbone", "weights", "hidden_layer", "inference_loops"],
    "labels": ["labels"],
    "estimator": ["estimator"],
    "contacts": ["contacts"],
    "decode": ["decode", "quality"],
}
STAGE_BEFORE = {  # stages whose sections a stage may read (contacts and decode are siblings)
    "data": ["data"],
    "model": ["data", "model"],
    "labels": ["data", "model", "labels"],
    "estimator": ["data", "model", "labels", "estimator"],
    "contacts": ["data", "model", "labels", "estimator", "contacts"],
    "decode": ["data", "model", "labels", "estimator", "decode"],
}


def _config_slices() -> dict:
    slices = {}
    for domain in config["domains"]:
        section = config[domain]
        for stage in [*STAGE_BEFORE, "tables"]:
            later = set() if stage == "tables" else {
                k for s, keys in STAGE_SECTIONS.items() if s not in STAGE_BEFORE[stage] for k in keys}
            part = {"seed": config["seed"], "scale": config["scale"], "retrain": config.get("retrain", False),
                    domain: {k: v for k, v in section.items() if k not in later}}
            if stage == "tables":      # how the claims are judged: an edit reruns the tables only
                part["claims"] = config["claims"]
            slices[domain, stage] = _write_if_changed(Path(RESULTS) / "config" / domain / f"{stage}.yaml", part)
    return slices


CONFIG = _resolved_config()
SLICES = _config_slices()


def stage_config(domain, stage):
    """The domain's slice of the config for ``stage`` (the whole config for a domain not run)."""
    return SLICES.get((domain, stage), CONFIG)


def config_slice(stage):
    """Input function: the {domain}'s slice of the config for ``stage``."""
    return lambda wc: stage_config(wc.domain, stage)


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
