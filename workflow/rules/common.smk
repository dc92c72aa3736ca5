# Everything the rules share: the resolved config, its per-stage slices (file names carry a digest of
# their content), per-rule resources, and the input functions. No rule is defined here and nothing is
# written at parse time: the config files are written by the rules in config.smk.
import os
from pathlib import Path

from mdmi.core.knobs import knob_grid
from mdmi.pipeline.config import dump, resolve, stage_slice, validate, STAGE_READS
from mdmi.domains import get_spec, load_plugins
from mdmi.util.records import RECORD_ENV
from mdmi.pipeline.resources import declared, gpu_jobs

# every job's writes leave a record (size, SHA-256, command) that the next job checks before reading
# (mdmi/util/integrity.py): a truncated or foreign results file stops with one line instead of making a table
os.environ[RECORD_ENV] = "1"


# A scale's file is an overlay of config/base.yaml (`extends`); merge the chain under what Snakemake
# loaded (command-line --config values stay on top), then the project's own validation: the schema
# (workflow/schemas/config.schema.yaml plus each registered domain's fragment), each decoding method's
# typed knobs (mdmi.core.knobs.KNOBS) and cross-field checks; one line naming the bad key.
_CONFIGFILE = ([Path(f) for f in workflow.overwrite_configfiles] or [Path(workflow.basedir) / "config" / "default.yaml"])[-1]
_resolved = resolve(dict(config), _CONFIGFILE)
config.clear()
config.update(_resolved)
load_plugins(config.get("plugins"))   # domains of the config's plug-ins, registered in every process
if workflow.is_main_process:      # a job's own Snakemake (a Slurm job, a run: block) gets the config already checked
    validate(config, "--configfile")


def _anchor_paths(node):
    """Shipped inputs named in the config (a `<domain>.checkpoint.path` or `.estimator_checkpoint.path`, any
    `*_file` key) given relative to the repository stay valid when Snakemake runs in another folder."""
    for key, value in (node.items() if isinstance(node, dict) else []):
        if isinstance(value, dict):
            if key in ("checkpoint", "estimator_checkpoint") and isinstance(value.get("path"), str):
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
DOMAINS = list(config["domains"])
SPECS = {d: get_spec(d) for d in DOMAINS}
METHODS = {d: list(config[d]["decode"]["methods"]) for d in DOMAINS}
# a method with a single setting has no knob to choose: decoded on test only (sequential, the reference, on both)
VAL_METHODS = {d: [m for m, sweep in config[d]["decode"]["methods"].items()
                   if m == "sequential" or len(knob_grid(sweep)) > 1] for d in DOMAINS}
ALL_METHODS = sorted({m for ms in METHODS.values() for m in ms})


def decode_jobs(domain, split):
    """The decode jobs of a split: one per method, or one per grid of a method whose sweep is a list of
    grids ('mi.0', 'mi.1', ...: smaller jobs that pack onto the cores and a cluster's nodes)."""
    out = []
    for method, sweep in config[domain]["decode"]["methods"].items():
        if split == "val" and method not in VAL_METHODS[domain]:
            continue
        parts = len(sweep) if isinstance(sweep, list) and len(sweep) > 1 else 0
        out += [f"{method}.{i}" for i in range(parts)] if parts else [method]
    return out


# Scheduling on a few cores: the multi-thread jobs (data, MDM, labels, estimator, evaluation, analyses) first.
# A job of config["threads"] threads starts only when that many cores are free; once single-thread decodes
# hold the cores, each freed core goes to the next ready decode and the multi-thread jobs starve until the
# decodes run out (measured: a fresh default run labelled one domain's data 30 minutes in). Whenever every
# core is free, the highest priority wins: these jobs, then the long decodes, then the short ones. Snakemake's
# MILP scheduler maximises the *sum* of the chosen jobs' priorities, so a chain job must outweigh a core-full
# of decodes (two at priority 2 beat one at 3): 100 holds up to 49 cores.
CHAIN_PRIORITY = 100


def decode_priority(wc):
    """Long decode jobs first (the sequential reference, the MI rules, the oracle, sweeps of >= 6
    settings), so that a short one, not a long one, is the last job of a run on a few cores."""
    method, _, part = wc.job.partition(".")
    sweep = config[wc.domain]["decode"]["methods"][method]
    grid = sweep[int(part)] if part else sweep
    long = method in ("sequential", "mi", "mi-exact") or len(knob_grid(grid)) >= 6
    return 2 if long else 0


DECODE_JOB = "(" + "|".join(ALL_METHODS) + r")(\.[0-9]+)?"
TABLE_NAMES = ["table1", "table2", "claims", "frontier", "knob_choice", "decoding_sweep", "decoding_sweep_by_band"]
GPU = gpu_jobs(config)   # 1 when the config puts the models on CUDA: decided by the config, not this host


def cpu_group(name):
    """The cluster job group of a rule's short CPU jobs (bundled by the Slurm profile's group-components,
    ignored locally); none when the jobs use a GPU (a bundle would ask for one GPU per member)."""
    return None if GPU else name


# The config files the commands read, as (YAML text, digest). The whole config goes to
# results/config.yaml (the shared rules, notebooks and manifest read it); each (domain, stage) gets its
# slice (mdmi.pipeline.config.stage_slice: only what that stage reads) at results/config/<domain>/<stage>-<digest>.yaml.
# A file's name says its content, so editing a decoding knob makes a new decode slice (decoding and
# the tables rerun) and leaves the data, model and label slices, and their jobs, as they were.
FULL_CONFIG = dump(dict(config))
SLICES = {(d, s): dump(stage_slice(config, d, s)) for d in DOMAINS for s in STAGE_READS}
CONFIG = f"{RESULTS}/config.yaml"


def packed(text: str) -> str:
    """``text`` gzipped (no timestamp) and base64-encoded: how the config rules hand a file's content to
    their one-line shell command (`base64 -d | gunzip`), short in the log and with no Python start-up."""
    import base64
    import gzip

    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def slice_text(wildcards) -> str:
    """The packed content of a config slice file, checked against the digest its name asks for."""
    text, digest = SLICES[wildcards.domain, wildcards.stage]
    if digest != wildcards.digest:
        raise ValueError(f"{wildcards.domain}/{wildcards.stage}-{wildcards.digest}.yaml: no slice of the current "
                         f"config has this digest (its slice is {digest})")
    return packed(text)


def slice_path(domain, stage):
    return f"{RESULTS}/config/{domain}/{stage}-{SLICES[domain, stage][1]}.yaml"


def config_slice(stage):
    """Input function: the {domain}'s slice of the config for ``stage``."""
    return lambda wc: slice_path(wc.domain, stage)


def res(rule, key):
    """Resource function: ``key`` (mem_mb, runtime) that the config declares for ``rule`` (and the
    job's domain, when it has one): config `resources`, mdmi.pipeline.resources.declared."""
    return lambda wc: declared(config, rule, wc.get("domain"))[key]


# ---- data and analyses (data.smk)
def data_manifest(domain):
    return f"{RESULTS}/{domain}/data/MANIFEST.json"


def shipped_inputs(wc):
    """Shipped files the domain's data step reads (so editing one reruns it)."""
    spec = SPECS[wc.domain]
    return spec.shipped_inputs(config[wc.domain], Path(workflow.basedir)) if spec.shipped_inputs else []


ANALYSES = {d: [a.name for a in SPECS[d].analyses] for d in DOMAINS}
ANALYSIS_NAMES = sorted({a for names in ANALYSES.values() for a in names})


def analysis_dirs(domain):
    return [f"{RESULTS}/{domain}/analysis/{name}" for name in ANALYSES[domain]]


# ---- models, labels, estimator, decoding (model.smk)
def cached_checkpoint(domain, key="checkpoint"):
    """The supplied file of a domain (`<domain>.checkpoint`: an MDM's model.pt; `<domain>.estimator_checkpoint`:
    an MI head's head.pt), or [] to train it here (none configured, or `retrain: true`)."""
    spec = None if config.get("retrain") else config[domain].get(key)
    return [spec["path"]] if spec else []


def decode_inputs(wc):
    inputs = {"config": slice_path(wc.domain, "decode"), "model": f"{RESULTS}/{wc.domain}/mdm/model.pt",
              "data": data_manifest(wc.domain)}
    if wc.job.split(".")[0] == "mi":
        inputs["head"] = f"{RESULTS}/{wc.domain}/estimator/head.pt"
    return inputs


def table_inputs(wc):
    return {"config": slice_path(wc.domain, "tables"), "eval": f"{RESULTS}/{wc.domain}/estimator/eval.json",
            "decodes": [f"{RESULTS}/{wc.domain}/decode/{split}/{job}.csv" for split in ("val", "test")
                        for job in decode_jobs(wc.domain, split)],
            "analyses": analysis_dirs(wc.domain)}


# ---- notebooks, report, manifest (report.smk)
def notebook_path(path):
    return path if os.path.isabs(path) else os.path.join(workflow.basedir, path)


# shared notebooks (every run) and each run domain's own figures (DomainSpec.figures)
NOTEBOOK_INPUTS = {
    "fig3_decoding": [f"{RESULTS}/tables/decoding_sweep.csv", f"{RESULTS}/tables/panels.json"],
    "table1_estimator": [f"{RESULTS}/tables/table1.csv"],
    "table2_decoding": [f"{RESULTS}/tables/table2.csv", f"{RESULTS}/tables/frontier.csv",
                        f"{RESULTS}/tables/knob_choice.csv"],
    "claims": [f"{RESULTS}/tables/claims.csv"],
}
NOTEBOOK_PATHS = {nb: os.path.join(NOTEBOOKS, f"{nb}.ipynb") for nb in NOTEBOOK_INPUTS}
DOMAIN_FIGURES = [fig for d in DOMAINS for fig in SPECS[d].figures]
for _fig in DOMAIN_FIGURES:
    NOTEBOOK_INPUTS[_fig.stem] = [f"{RESULTS}/{f}" for f in _fig.inputs]
    NOTEBOOK_PATHS[_fig.stem] = notebook_path(_fig.notebook)
NOTEBOOKS_RUN = list(NOTEBOOK_INPUTS)
FIGURE_NOTEBOOKS = [fig.stem for fig in DOMAIN_FIGURES] + ["fig3_decoding"]
TABLE_NOTEBOOKS = [nb for nb in NOTEBOOKS_RUN if nb not in FIGURE_NOTEBOOKS]
ANALYSIS_TABLES = [f"{RESULTS}/tables/{a}.csv" for d in DOMAINS for a in ANALYSES[d]]
REPORT_DIR = os.path.join(workflow.basedir, "workflow", "report")
# a caption per figure: the shared ones in workflow/report/, a domain's next to its notebook (Figure.caption)
FIGURE_CAPTIONS = {"fig3_decoding": os.path.join(REPORT_DIR, "fig3_decoding.rst")}
FIGURE_CAPTIONS.update({fig.stem: notebook_path(fig.caption_path) for fig in DOMAIN_FIGURES})
RUN_NOTEBOOK = (
    "python -m mdmi notebook {input.notebook} --out {output.ipynb} --html {output.html} "
    "-p results {params.results} -p scale {params.scale} -p config_path {input.config} > {log} 2>&1"
)
