"""Handler of ``decode``: one method's knob sweep on a split (its own module, so that a decode job, the
most numerous in a run, imports only what decoding needs)."""

from __future__ import annotations

from pathlib import Path

from mdmi.cli.context import log, setup_command
from mdmi.errors import UsageError
from mdmi.evaluate.sweep import run_sweep, stratified_subset
from mdmi.train.estimator import load_estimator
from mdmi.train.mdm import load_mdm
from mdmi.util.io import write_text


def cmd_decode(args):
    cfg, section, domain, device = setup_command(args)
    dec = section["decode"]
    model = load_mdm(domain, Path(args.model), device)
    sweep = dec["methods"].get(args.method)
    if sweep is None:
        raise UsageError(f"method {args.method!r} has no sweep in {args.config} (decode.methods)")
    if args.part is not None:  # one grid of a sweep written as a list of grids
        grids = sweep if isinstance(sweep, list) else [sweep]
        if not 0 <= args.part < len(grids):
            raise UsageError(
                f"--part {args.part}: {args.method}'s sweep has {len(grids)} grid(s), numbered from 0"
            )
        sweep = grids[args.part]
    estimator = load_estimator(Path(args.estimator), device) if args.method == "mi" else None
    task = domain.load_task(Path(args.data), args.split)
    subset = None
    if (
        args.method == "mi-exact"
    ):  # the expensive oracle: a seeded random subset, stratified by band
        subset = stratified_subset(
            task.meta, dec["oracle_max_sequences"], cfg["seed"] + (0 if args.split == "val" else 1)
        )
        log.info(
            "oracle on %d of %d sequences (seeded, stratified by band)",
            len(subset),
            task.init.shape[0],
        )
    rows = run_sweep(
        model,
        domain,
        task,
        args.method,
        sweep,
        estimator=estimator,
        max_batch=dec["max_batch"],
        oracle_chunk=dec["oracle_chunk"],
        rows=subset,
        seed=cfg["seed"],
    )
    rows.insert(0, "split", args.split)
    rows["scale"] = cfg["scale"]
    write_text(args.out, rows.to_csv(index=False))
