# mdmi: the whole paper as one DAG.  Run via `make paper` (default scale) or
#   snakemake --cores 2 --configfile config/<scale>.yaml
# Every rule calls `python -m mdmi ...`; notebooks only load results and plot.
import os
from pathlib import Path

import yaml
from mdmi.config import resolve, validate
from mdmi.domains import get_spec
from mdmi.io import write_text
from snakemake.utils import min_version

min_version("8.0")


# Default scale unless --configfile is given (Snakemake would deep-merge two files, mixing scales).
if not config:

    configfile: os.path.join(workflow.basedir, "config", "default.yaml")


# A scale's file is an overlay of config/base.yaml (`extends`); merge the chain under what Snakemake
# loaded (command-line --config values stay on top), then the project's own validation: the schema
# (workflow/schemas/config.schema.yaml plus each registered domain's fragment), each decoding method's
# typed knobs (mdmi.decoding.KNOBS) and cross-field checks; one line naming the bad key.
_CONFIGFILE = ([Path(f) for f in workflow.overwrite_configfiles] or [Path(workflow.basedir) / "config" / "default.yaml"])[-1]
_resolved = resolve(dict(config), _CONFIGFILE)
config.clear()
config.update(_resolved)
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
# except those of the later stages. The shared sections are listed here; a domain assigns its own keys
# in its DomainSpec.stage_keys ("none": read by no stage, e.g. the ablation's settings); a key
# assigned nowhere counts for every stage.
STAGE_SECTIONS = {
    "data": ["data"],
    "model": ["model", "train", "checkpoint"],
    "labels": ["labels"],
    "estimator": ["estimator"],
    "analysis": [],
    "decode": ["decode"],
    "tables": [],
    "none": [],
}
STAGE_BEFORE = {  # stages whose sections a stage may read (analysis and decode are siblings)
    "data": ["data"],
    "model": ["data", "model"],
    "labels": ["data", "model", "labels"],
    "estimator": ["data", "model", "labels", "estimator"],
    "analysis": ["data", "model", "labels", "estimator", "analysis"],
    "decode": ["data", "model", "labels", "estimator", "decode"],
    "tables": ["data", "model", "labels", "estimator", "analysis", "decode", "tables"],
}


def _stage_of(domain):
    """config key of the domain's section -> its stage."""
    stages = {k: s for s, keys in STAGE_SECTIONS.items() for k in keys}
    stages.update(get_spec(domain).stage_keys)
    return stages


def _config_slices() -> dict:
    slices = {}
    for domain in config["domains"]:
        section = config[domain]
        stage_of = _stage_of(domain)
        for stage in STAGE_BEFORE:
            keep = {k: v for k, v in section.items() if stage_of.get(k, stage) in STAGE_BEFORE[stage]}
            part = {"seed": config["seed"], "scale": config["scale"], "retrain": config.get("retrain", False),
                    domain: keep}
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
SPECS = {d: get_spec(d) for d in DOMAINS}
METHODS = {d: list(config[d]["decode"]["methods"]) for d in DOMAINS}
ALL_METHODS = sorted({m for ms in METHODS.values() for m in ms})
TABLE_NAMES = ["table1", "table2", "claims", "decoding_sweep", "decoding_sweep_by_band"]


wildcard_constraints:
    domain="|".join(DOMAINS),


include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bench.smk"


rule all:
    input:
        f"{RESULTS}/manifest.json",
    default_target: True
