"""Shipped checkpoints: models trained by the workflow's own rule, committed under data/ with what made them.

``make models`` trains a domain's MDM at the pretrain scale (``config/pretrain.yaml``) with the
``train_mdm`` rule, then ``python -m mdmi ship`` copies into ``data/<domain>/pretrained/``:

- ``model.pt``              the checkpoint (with its training record: model/train config, seed, data fingerprint)
- ``train_mdm.log``         the rule's log, ``train_log.csv`` the loss curve stored in the checkpoint
- ``train_mdm.benchmark.tsv`` Snakemake's benchmark of the rule (wall time, peak memory), and
  ``data.benchmark.tsv`` the data step's
- ``config.yaml``           the config that trained it (resolved: the base with the scale's overlay)
- ``<file>.gz``             generated training data that is slow to regenerate (the domain's
  ``DomainSpec.ship_data``, e.g. generated training puzzles), which a config adopting the model reads
  instead (e.g. ``data.train_puzzles_file``)
- ``SHA256``                the checkpoint's checksum, checked by :func:`shipped_model` before use

``make estimators`` does the same for the MI heads of the domains whose train labels cost most: the
``label`` and ``train_estimator`` rules at the default scale's settings (``config/default_estimators.yaml``),
then ``python -m mdmi ship --what estimator`` (:func:`ship_estimator`) copies ``head.pt``, ``SHA256``,
``config.yaml``, the two steps' logs and benchmarks and ``train_log.csv`` into
``data/<domain>/pretrained/estimator/``; ``<domain>.estimator_checkpoint`` adopts it.

``config/default.yaml`` adopts the checkpoint through the checkpoint cache (``<domain>.checkpoint``:
path + sha256, and the training record must equal what the config would train); ``make paper
RETRAIN=1`` ignores it and trains from scratch.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pandas as pd

from mdmi.domains import get_spec
from mdmi.errors import MissingInput
from mdmi.pipeline.cache import CheckpointMismatch, checksum_snippet
from mdmi.util.checkpoint_io import load_torch
from mdmi.util.io import atomic_path, file_sha256, write_text
from mdmi.util.paths import REPO


def _trained_state(path: Path, domain: str, what: str, make: str, config: Path) -> dict:
    """The checkpoint a run of the workflow wrote at ``path``, after checking it carries a training record
    for ``domain``; ``make`` is the target that trains it."""
    if not path.is_file():
        raise MissingInput(
            f"{path}: no trained {what}; run `{make}` (or snakemake {path} --configfile {config}) first"
        )
    state = load_torch(path)
    if "trained_with" not in state or state.get("domain") != domain:
        raise CheckpointMismatch(
            f"{path} is not a {domain} {what} trained by the workflow (no training record)"
        )
    return state


def ship(results: Path, domain: str, config: Path, out: Path) -> str:
    """Copy the run's model and its records into ``out``; returns the config lines that adopt it."""
    model = results / domain / "mdm" / "model.pt"
    state = _trained_state(model, domain, "MDM", "make models", config)
    out.mkdir(parents=True, exist_ok=True)
    resolved = (
        results / "config.yaml"
    )  # what the run read: the base merged with the scale's overlay
    copies = {
        model: out / "model.pt",
        resolved if resolved.is_file() else config: out / "config.yaml",
        results / "logs" / f"{domain}_train_mdm.log": out / "train_mdm.log",
        results / "benchmarks" / "train_mdm" / f"{domain}.tsv": out / "train_mdm.benchmark.tsv",
    }
    data_bench = results / "benchmarks" / "data" / f"{domain}.tsv"  # the data step's benchmark
    if data_bench.is_file():
        copies[data_bench] = out / "data.benchmark.tsv"
    _copy_records(copies)
    for name in get_spec(
        domain
    ).ship_data:  # training data that is expensive to regenerate ships with the model
        src = results / domain / "data" / name
        if src.is_file() and src.stat().st_size:
            with atomic_path(out / f"{name}.gz") as tmp:
                with (
                    open(tmp, "wb") as fh,
                    gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz,
                ):
                    gz.write(src.read_bytes())
    write_text(out / "train_log.csv", pd.DataFrame(state["train_log"]).to_csv(index=False))
    write_text(out / "SHA256", f"{file_sha256(out / 'model.pt')}  model.pt\n")
    return checksum_snippet(out / "model.pt")


def _copy_records(copies: dict) -> None:
    """Copy each existing source to its destination (logs with their progress bars reduced to each
    line's final state), atomically."""
    for src, dst in copies.items():
        if src.is_file() and src.suffix == ".log":  # progress bars: keep each line's final state
            with open(src, newline="") as fh:  # keep the carriage returns to split on
                lines = fh.read().split("\n")
            write_text(dst, "\n".join(line.split("\r")[-1] for line in lines))
        elif src.is_file():
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)


def ship_estimator(results: Path, domain: str, config: Path, out: Path) -> str:
    """Copy the run's MI head (results/<domain>/estimator/head.pt, with its training record) and what made
    it into ``out`` (head.pt, SHA256, config.yaml, the train labels' and the training's logs and benchmarks,
    train_log.csv); returns the config lines that adopt it (``<domain>.estimator_checkpoint``)."""
    head = results / domain / "estimator" / "head.pt"
    state = _trained_state(head, domain, "MI head", "make estimators", config)
    out.mkdir(parents=True, exist_ok=True)
    resolved = results / "config.yaml"
    logs, bench = results / "logs", results / "benchmarks"
    _copy_records(
        {
            head: out / "head.pt",
            resolved if resolved.is_file() else config: out / "config.yaml",
            logs / f"{domain}_label_train.log": out / "label_train.log",
            logs / f"{domain}_train_estimator.log": out / "train_estimator.log",
            bench / "label" / f"{domain}_train.tsv": out / "label_train.benchmark.tsv",
            bench / "train_estimator" / f"{domain}.tsv": out / "train_estimator.benchmark.tsv",
        }
    )
    write_text(out / "train_log.csv", pd.DataFrame(state["train_log"]).to_csv(index=False))
    write_text(out / "SHA256", f"{file_sha256(out / 'head.pt')}  head.pt\n")
    return checksum_snippet(out / "head.pt")


def adopt_in_config(config: Path, model: Path) -> bool:
    """Point ``config``'s ``checkpoint: {path: <model>, sha256: ...}`` at the new checksum (text edit
    that keeps the file's comments). Returns whether a checkpoint entry for ``model`` was found."""
    text = config.read_text()
    pattern = re.compile(
        r"(path:\s*" + re.escape(str(model)) + r"\s*\n\s*sha256:\s*)[0-9a-fA-F]{64}"
    )
    new, count = pattern.subn(lambda m: m.group(1) + file_sha256(model), text)
    if count:
        write_text(config, new)
    return bool(count)


def shipped_model(domain: str, root: Path = REPO) -> Path:
    """The shipped checkpoint of ``domain``, after checking it against its SHA256 file."""
    folder = root / "data" / domain / "pretrained"
    model, sums = folder / "model.pt", folder / "SHA256"
    if not model.is_file() or not sums.is_file():
        raise MissingInput(
            f"no shipped {domain} model at {model}; pass --model PATH or run `make models`"
        )
    want = sums.read_text().split()[0]
    got = file_sha256(model)
    if got != want:
        raise CheckpointMismatch(
            f"{model} has SHA-256 {got}, {sums} says {want}: the file is damaged or was "
            f"replaced; restore it (git checkout {model}) or retrain with `make models`"
        )
    return model
