"""Handlers of the commands beside the DAG: models (checksum, ship), results (check, unlock), bench, projection, ablation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from mdmi.cli.context import setup_command
from mdmi.domains import get_domain
from mdmi.errors import MissingInput, UsageError
from mdmi.pipeline.cache import checksum_snippet
from mdmi.pipeline.config import domain_config, load_config
from mdmi.pipeline.shipped import adopt_in_config, ship, ship_estimator
from mdmi.tools.ablation import run_ablation
from mdmi.tools.bench import bench_domain, format_table
from mdmi.tools.projection import format_projection, project, rates_from_bench
from mdmi.train.estimator import load_estimator
from mdmi.train.mdm import load_mdm
from mdmi.util.checkpoint_io import load_torch
from mdmi.util.device import pick_device
from mdmi.util.integrity import move_aside, scan
from mdmi.util.io import write_json
from mdmi.util.locks import snakemake_processes, unlock_stale


def cmd_checksum(args):
    if not Path(args.path).is_file():
        raise MissingInput(f"{args.path}: no such checkpoint file")
    print(checksum_snippet(args.path))


def cmd_ship(args):
    """Copy a model or MI head trained by the workflow (with its logs, benchmarks and config) into a data/
    folder."""
    copy, name = (ship_estimator, "head.pt") if args.what == "estimator" else (ship, "model.pt")
    print(copy(Path(args.results), args.domain, Path(args.config), Path(args.out)))
    for cfg in args.adopt or []:
        done = adopt_in_config(Path(cfg), Path(args.out) / name)
        print(
            f"# {cfg}: "
            + (
                "checksum updated"
                if done
                else f"no checkpoint entry for {Path(args.out) / name}; "
                "paste the lines above into it"
            )
        )


def cmd_check_results(args):
    """Every recorded result below --results checked; damaged ones listed (and with --fix moved aside)."""
    results = Path(args.results)
    if not results.is_dir():
        return
    damaged = scan(results)
    for problem, target in damaged:
        if args.fix:
            dest = move_aside(results, target)
            what = "its step's folder" if target != problem.path else "it"
            print(
                f"mdmi check-results: {problem.path} is not what its step wrote ({problem.what}); moved {what} "
                f"to {dest}: the run remakes it",
                file=sys.stderr,
            )
        else:
            print(f"mdmi check-results: {problem.line()}", file=sys.stderr)
    if damaged and not args.fix:
        sys.exit(1)


def cmd_unlock_stale(args):
    pids = snakemake_processes(Path(args.dir))
    if pids:  # a second `make paper` in this folder: say so, touch nothing
        raise UsageError(
            f"a workflow run is already active in {Path(args.dir).resolve()} (Snakemake pid "
            f"{', '.join(map(str, pids))}); wait for it to finish or stop it, then run again"
        )
    msg = unlock_stale(Path(args.dir))
    if msg != "no locks":
        print(f"mdmi unlock-stale: {msg}", file=sys.stderr)


def cmd_bench(args):
    cfg = load_config(args.config)
    device = pick_device(cfg["device"], args.threads or cfg["threads"])
    results, out = Path(args.results), {}
    bcfg = cfg["bench"]  # the config's sizes; --states / --sequences override them
    states = bcfg["states"] if args.states is None else args.states
    sequences = bcfg["sequences"] if args.sequences is None else args.sequences
    for name in cfg["domains"]:
        section = domain_config(cfg, name)
        domain = get_domain(name, section)
        model = load_mdm(domain, results / name / "mdm" / "model.pt", device)
        head = load_estimator(results / name / "estimator" / "head.pt", device)
        labels = load_torch(results / name / "labels" / "val.pt")
        task = domain.load_task(results / name / "data", "val")
        out[name] = bench_domain(
            model,
            head,
            labels,
            task,
            section,
            states,
            sequences,
            batch_sizes=tuple(bcfg["batch_sizes"]),
            forward_sequences=bcfg["forward_sequences"],
        )
        print(format_table(name, out[name]), flush=True)
    first = out[cfg["domains"][0]]
    write_json(
        args.out,
        {
            "labelling_speedup_vs_naive": first["labelling"]["speedup_vs_naive"],
            "label_max_abs_diff_nats": first["labelling"]["max_abs_diff_nats"],
            "estimator_speedup_vs_exact": first["estimator"]["speedup_vs_exact"],
            "matmul_fraction": first["matmul_fraction"],
            "headline_domain": cfg["domains"][0],
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "config": args.config,
            "scale": cfg["scale"],
            "states": states,
            "domains": out,
        },
    )


def cmd_project(args):
    cfg = load_config(args.config)
    if args.bench:
        bench = json.loads(Path(args.bench).read_text())
        rates = rates_from_bench(bench)
        source = f"measured by `mdmi bench` on {bench['device_name']} ({args.bench})"
        missing = [d for d in cfg["domains"] if d not in rates]
        if missing:
            raise UsageError(
                f"{args.bench} has no measured rate for {', '.join(missing)}; rerun the bench "
                f"with a config that has that domain, or give --flops-per-s"
            )
    elif args.flops_per_s:
        rates = {d: args.flops_per_s for d in cfg["domains"]}
        source = f"stated: {args.flops_per_s:.3g} FLOP/s sustained (not measured)"
    else:
        raise UsageError(
            "give --bench results/benchmarks/bench.json (a measured rate) or --flops-per-s RATE"
        )
    rows = project(cfg, rates)
    print(f"projection for {args.config} (scale {cfg['scale']}); rate {source}")
    print(format_projection(rows))
    if args.out:
        write_json(
            args.out,
            {"config": args.config, "scale": cfg["scale"], "rate_source": source, "rules": rows},
        )


def cmd_ablate(args):
    cfg, section, domain, device = setup_command(args)
    if (
        args.seed is not None
    ):  # every variant's training (and decoding) seed; the data stay as given
        cfg["seed"] = args.seed
    table = run_ablation(cfg, args.domain, Path(args.data), Path(args.out), device)
    print((Path(args.out) / "ablation.md").read_text() if len(table) else "no variants")
