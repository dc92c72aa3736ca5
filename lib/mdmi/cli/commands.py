"""The table of ``python -m mdmi`` commands: name, help, handler and arguments of each (the parser in
:mod:`mdmi.cli.main` is built from it). A handler is ``mdmi.cli.<module>:<function>``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from mdmi.util.paths import REPO


def common_options(p: argparse.ArgumentParser, domain: bool = True) -> None:
    """``--config`` (and ``--domain``) of the commands that read a config."""
    p.add_argument(
        "--config", required=True, help="config YAML (config/ci.yaml, default.yaml, paper.yaml)"
    )
    if domain:
        p.add_argument(
            "--domain",
            help="a registered domain with a section in the config (default: the config's first domain)",
        )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the error into one line and exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def arg(*flags, **options) -> tuple[tuple, dict]:
    """One ``add_argument`` call of a command, as data."""
    return flags, options


@dataclass(frozen=True)
class Command:
    """A command of ``python -m mdmi``: its handler is ``mdmi.cli.<handler>`` ("module:function"),
    called with the parsed arguments. ``common``: "domain" adds ``--config`` and ``--domain``,
    "config" only ``--config``, None neither."""

    name: str
    help: str
    handler: str
    common: str | None = None
    aliases: tuple[str, ...] = ()
    args: tuple = ()


COMMANDS = (
    Command(
        "data",
        "make a domain's datasets (its one data step)",
        "stages:cmd_data",
        common="domain",
        aliases=("generate",),
        args=(
            arg("--out", required=True),
            arg(
                "--repo",
                default=str(REPO),
                help="folder that shipped inputs given by relative paths are under",
            ),
        ),
    ),
    Command(
        "train-mdm",
        "train (or resume) the masked diffusion model",
        "stages:cmd_train_mdm",
        common="domain",
        args=(
            arg("--data", required=True),
            arg("--out", required=True),
            arg("--ckpt", required=True),
        ),
    ),
    Command(
        "ablate",
        "short-budget ablation of the MDM recipe: <domain>.ablation's variants on val",
        "maintenance:cmd_ablate",
        common="domain",
        args=(
            arg("--data", required=True, help="the domain's data folder (results/<domain>/data)"),
            arg(
                "--out",
                required=True,
                help="output folder: a model and decode.csv per variant, ablation.csv/.md",
            ),
            arg(
                "--seed",
                type=int,
                help="seed of every variant's training and decoding (default: the config's), "
                "for the seed-to-seed spread of a choice",
            ),
        ),
    ),
    Command(
        "unlock-stale",
        "remove Snakemake locks left by a killed run (none if one is running)",
        "maintenance:cmd_unlock_stale",
        args=(arg("--dir", default=".", help="the run's working directory (default: here)"),),
    ),
    Command(
        "check-results",
        "check every result against what its step recorded (make paper runs it "
        "with --fix first: damaged files are moved to <results>/.damaged/ and remade)",
        "maintenance:cmd_check_results",
        args=(
            arg("--results", default="results", help="the results folder (default: results)"),
            arg(
                "--fix",
                action="store_true",
                help="move damaged results aside so that the next run remakes them",
            ),
        ),
    ),
    Command(
        "checksum",
        "the config lines that make a trained model.pt a cached checkpoint",
        "maintenance:cmd_checksum",
        args=(arg("path", help="a model.pt written by train-mdm"),),
    ),
    Command(
        "ship",
        "copy a trained model.pt or head.pt with its logs, benchmarks and config into data/ (make models, make estimators)",
        "maintenance:cmd_ship",
        args=(
            arg(
                "--results",
                required=True,
                help="results folder of the run that trained it (results/pretrain)",
            ),
            arg("--domain", required=True),
            arg(
                "--what",
                choices=["mdm", "estimator"],
                default="mdm",
                help="the MDM (model.pt) or the MI head (head.pt, make estimators)",
            ),
            arg("--config", required=True, help="the config that trained it"),
            arg("--out", required=True, help="e.g. data/<domain>/pretrained"),
            arg(
                "--adopt",
                action="append",
                help="config whose checkpoint entry for this model gets the new checksum",
            ),
        ),
    ),
    Command(
        "readme",
        "regenerate the README's results block from a run's tables (make readme)",
        "outputs:cmd_readme",
        args=(
            arg("--results", default="results"),
            arg("--readme", default="README.md"),
        ),
    ),
    Command(
        "label",
        "exact MI labels for sampled states of a split",
        "stages:cmd_label",
        common="domain",
        args=(
            arg("--data", required=True),
            arg("--model", required=True),
            arg("--split", required=True, choices=["train", "val", "test"]),
            arg("--out", required=True),
        ),
    ),
    Command(
        "train-estimator",
        "train (or resume) the neural MI estimator, or adopt <domain>.estimator_checkpoint",
        "stages:cmd_train_estimator",
        common="domain",
        args=(
            arg("--data", required=True),
            arg("--model", required=True),
            arg("--labels", help="the train split's labels (not needed to adopt a head)"),
            arg("--out", required=True),
            arg("--ckpt", required=True),
        ),
    ),
    Command(
        "eval-estimator",
        "estimator fidelity, cost and MI by relation on held-out states",
        "evaluation:cmd_eval_estimator",
        common="domain",
        args=(
            arg("--model", required=True),
            arg("--estimator", required=True),
            arg("--labels", required=True),
            arg("--out", required=True),
            arg("--relations", required=True),
            arg("--example", required=True),
        ),
    ),
    Command(
        "decode",
        "decode a split with one method over its knob sweep",
        "decode:cmd_decode",
        common="domain",
        args=(
            arg("--data", required=True),
            arg("--model", required=True),
            arg("--estimator"),
            arg("--split", required=True),
            arg("--method", required=True),
            arg("--out", required=True),
            arg(
                "--part",
                type=int,
                help="decode only this grid (from 0) of a sweep written as a list of grids",
            ),
        ),
    ),
    Command(
        "tables",
        "one domain's Table 1, Table 2, decoding sweep and claims (parts)",
        "outputs:cmd_tables",
        common="domain",
        args=(
            arg("--estimator-eval", required=True),
            arg("--decodes", nargs="+", required=True),
            arg(
                "--analyses",
                nargs="*",
                default=[],
                help="folders of the domain's analyses (results/<domain>/analysis/<name>)",
            ),
            arg("--out-dir", required=True),
        ),
    ),
    Command(
        "combine",
        "concatenate the per-domain table parts into results/tables",
        "outputs:cmd_combine",
        common="config",
        args=(
            arg("--parts", required=True),
            arg("--out-dir", required=True),
        ),
    ),
    Command(
        "analyse",
        "one of a domain's declared analyses (e.g. MI vs contacts) on the trained models",
        "stages:cmd_analyse",
        common="domain",
        args=(
            arg("--name", required=True, help="the analysis (the domain's SPEC.analyses)"),
            arg("--model", required=True),
            arg("--estimator"),
            arg("--data", required=True, help="the domain's data folder"),
            arg("--out", required=True),
        ),
    ),
    Command(
        "bench",
        "labelling (batched vs naive), estimator and decoding cost on this device",
        "maintenance:cmd_bench",
        common="config",
        args=(
            arg("--results", default="results"),
            arg(
                "--states",
                type=positive_int,
                help="held-out labelled states to time (default: the config's bench.states)",
            ),
            arg(
                "--sequences",
                type=positive_int,
                help="validation tasks to decode per method (default: bench.sequences)",
            ),
            arg("--out", required=True, help="bench.json"),
        ),
    ),
    Command(
        "project",
        "projected time per expensive rule of a config, from counted FLOPs and a rate",
        "maintenance:cmd_project",
        common="config",
        args=(
            arg("--bench", help="bench.json whose measured sustained FLOP/s to use (per domain)"),
            arg(
                "--flops-per-s",
                type=float,
                help="a stated sustained FLOP/s instead (e.g. for a GPU not at hand)",
            ),
            arg("--out", help="also write the rows as JSON"),
        ),
    ),
    Command(
        "manifest",
        "write results/manifest.json",
        "outputs:cmd_manifest",
        common="config",
        args=(
            arg("--results", default="results"),
            arg("--out", required=True),
        ),
    ),
    Command(
        "notebook",
        "execute a notebook with papermill (kernel over IPC sockets) and write its HTML",
        "notebook:cmd_notebook",
        args=(
            arg("notebook", help="e.g. notebooks/claims.ipynb"),
            arg("--out", required=True, help="executed .ipynb"),
            arg("--html", required=True, help="its HTML page"),
            arg(
                "-p",
                "--param",
                nargs=2,
                action="append",
                metavar=("NAME", "VALUE"),
                help="a value for the notebook's parameters cell (a string), as papermill's -p",
            ),
        ),
    ),
    Command(
        "compare-tables",
        "check that two runs' tables are identical (timing columns aside)",
        "outputs:cmd_compare_tables",
        args=(
            arg("a", help="a tables folder, e.g. results/tables"),
            arg("b", help="another"),
        ),
    ),
    Command(
        "resources",
        "declared vs measured memory and time per job (fails if a job is above)",
        "outputs:cmd_resources",
        common="config",
        args=(
            arg(
                "--benchmarks",
                default="results/benchmarks",
                help="folder of <rule>/<job>.tsv benchmark files",
            ),
            arg("--out", required=True, help="CSV, one row per job"),
        ),
    ),
)
