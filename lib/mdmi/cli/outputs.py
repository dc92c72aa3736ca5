"""Handlers of the commands that assemble outputs: tables, their combination, manifest, README, resources (notebooks: :mod:`mdmi.cli.notebook`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from mdmi.cli.context import setup_command
from mdmi.domains import get_spec, registry
from mdmi.evaluate import report
from mdmi.evaluate.compare import check
from mdmi.evaluate.sweep import summarise
from mdmi.pipeline.config import load_config
from mdmi.pipeline.manifest import write_manifest
from mdmi.pipeline.readme import update_readme
from mdmi.pipeline.resources import write_check
from mdmi.util.io import atomic_path, read_json, write_json
from mdmi.util.records import verify_file
from mdmi.util.table_io import read_csv, write_table

TABLES = [
    "table1",
    "table2",
    "claims",
    "frontier",
    "knob_choice",
    "decoding_sweep",
    "decoding_sweep_by_band",
]


def cmd_tables(args):
    """One domain's Table 1 / Table 2 / decoding sweeps / claims, written as parts in --out-dir."""

    cfg, section, domain, _ = setup_command(args)
    metric, tol, scale = domain.primary_metric, section["decode"]["quality_tolerance"], cfg["scale"]
    extras = tuple(domain.extra_metrics)
    rows = pd.concat([read_csv(p) for p in args.decodes], ignore_index=True)
    val, test = rows[rows.split == "val"], rows[rows.split == "test"]
    out = Path(args.out_dir)
    ev = read_json(args.estimator_eval)
    sweep = summarise(rows, metric, extras=extras)
    sweep.insert(0, "domain", domain.name)
    sweep["metric"], sweep["model"], sweep["scale"] = metric, ev.get("model", ""), scale
    write_table(sweep, out / "decoding_sweep")
    write_table(
        summarise(rows, metric, by_band=True, extras=extras).assign(
            domain=domain.name, scale=scale
        ),
        out / "decoding_sweep_by_band",
    )
    spec = get_spec(domain.name)
    tables = {
        f.stem: read_csv(f) for d in args.analyses for f in sorted(Path(d).glob("*.csv"))
    }  # every analysis table
    t1 = report.table1(domain.name, ev, scale)
    if spec.table1_rows is not None:  # the domain's own fidelity rows (e.g. against a known truth)
        extra = pd.DataFrame(spec.table1_rows(tables))
        if len(extra):
            extra["domain"], extra["model"], extra["scale"] = (
                domain.name,
                ev.get("model", ""),
                scale,
            )
            t1 = pd.concat([t1, extra], ignore_index=True)
    write_table(t1, out / "table1")
    rules, guards = cfg["claims"], section["decode"].get("guards")
    choice = report.knob_choice(
        val, test, metric, tol, guards, rules["level"], rules["bootstrap"], cfg["seed"]
    )
    chosen, ref_knob, knob_table = choice
    t2 = report.table2(
        domain.name,
        val,
        test,
        metric,
        tol,
        scale,
        extras,
        ev.get("model", ""),
        guards,
        choice=choice,
    )
    write_table(t2, out / "table2")
    write_table(knob_table.assign(domain=domain.name, scale=scale), out / "knob_choice")
    write_table(
        report.frontier(domain.name, test, chosen, ref_knob, metric, rules, cfg["seed"]).assign(
            scale=scale
        ),
        out / "frontier",
    )
    write_table(
        report.claims(
            spec,
            section,
            t2,
            test,
            ev,
            metric,
            rules,
            scale,
            tables,
            ref_knob=ref_knob,
            seed=cfg["seed"],
        ),
        out / "claims",
    )


def cmd_combine(args):
    """Concatenate the per-domain parts into results/tables/<name>.csv/.md (domains in config order; a
    registered domain the config leaves out is listed in the claims as not run), copy each analysis
    table to results/tables/<name>.csv, and write Figure 3's panels (results/tables/panels.json)."""

    cfg = load_config(args.config)
    specs = registry()
    run = list(cfg["domains"])
    out = Path(args.out_dir)
    for name in TABLES:
        frames = []
        for domain in run + sorted(d for d in specs if d not in run):
            if domain in run:
                frames.append(
                    read_csv(
                        Path(args.parts) / domain / f"{name}.csv",
                        keep_default_na=(name != "claims"),
                    )
                )
            elif name == "claims":
                frames.append(report.not_run_claims(specs[domain], cfg["scale"]))
        df = pd.concat(frames, ignore_index=True)
        if name == "table2":
            report.write_table2(df, out / name, {d: specs[d].title for d in run})
        else:
            write_table(df, out / name)
    results = Path(args.parts).parents[1]
    for domain in run:
        for analysis in specs[domain].analyses:
            src = results / domain / "analysis" / analysis.name / f"{analysis.name}.csv"
            verify_file(src)
            with atomic_path(out / f"{analysis.name}.csv") as tmp:
                shutil.copyfile(src, tmp)
    write_json(
        out / "panels.json",
        {
            d: {
                "title": specs[d].title,
                "metrics": list(specs[d].fig3_metrics),
                "lower_is_better": list(specs[d].lower_is_better),
            }
            for d in run
        },
    )


def cmd_manifest(args):
    cfg = load_config(args.config)
    write_manifest(Path(args.out), cfg, args.config, Path(args.results))


def cmd_readme(args):
    update_readme(Path(args.readme), Path(args.results))


def cmd_compare_tables(args):
    n = check(Path(args.a), Path(args.b))
    print(f"{n} tables identical (timing columns aside): {args.a} = {args.b}")


def cmd_resources(args):
    rows = write_check(load_config(args.config), Path(args.benchmarks), Path(args.out))
    width = max(len(f"{r['rule']}/{r['job']}") for r in rows)
    print(f"{'job':<{width}}  {'MB used/declared':>17}  {'min used/declared':>18}")
    for r in rows:
        print(
            f"{r['rule'] + '/' + r['job']:<{width}}  {r['max_rss_mb']:>8.0f}/{r['mem_mb']:<8}  "
            f"{r['minutes']:>9.2f}/{r['runtime_min']:<8}"
        )
    print(f"{len(rows)} jobs within their declared memory and time -> {args.out}")
