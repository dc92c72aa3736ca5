"""Command line: ``python -m mdmi <command> ...``. Every workflow rule calls one of these."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import MdmiError, MissingInput, UsageError

REPO = Path(__file__).resolve().parents[2]

log = logging.getLogger("mdmi")


def _common(p: argparse.ArgumentParser, domain: bool = True) -> None:
    p.add_argument("--config", required=True, help="config YAML (config/ci.yaml, default.yaml, paper.yaml)")
    if domain:
        p.add_argument("--domain", help="a registered domain with a section in the config (default: the config's first domain)")


def _setup(args):
    from .config import domain_config, load_config
    from .device import pick_device
    from .domains import get_domain
    from .integrity import verify_folder
    cfg = load_config(args.config)
    for folder in [getattr(args, "data", None), *(getattr(args, "analyses", None) or [])]:
        if folder and Path(folder, "MANIFEST.json").is_file():   # a folder a step filled: as it wrote it?
            verify_folder(folder)
    if hasattr(args, "domain") and args.domain is None:
        args.domain = cfg["domains"][0]
    if hasattr(args, "domain") and args.domain not in cfg:
        raise UsageError(f"{args.config} has no '{args.domain}' section; its domains: {', '.join(cfg['domains'])}")
    dcfg = domain_config(cfg, args.domain) if hasattr(args, "domain") else None
    domain = get_domain(args.domain, dcfg) if dcfg is not None else None
    threads = args.threads or cfg["threads"]
    cfg["threads"] = threads
    device = pick_device(cfg["device"], threads)
    return cfg, dcfg, domain, device


def model_label(model, domain) -> str:
    """How tables and figures name the MDM (a model's own ``label`` first: e.g. a fallback says what it is not)."""
    n = sum(p.numel() for p in model.parameters())
    loops = getattr(getattr(model, "cfg", None), "n_loops", 1)
    looped = f", {model.cfg.n_layers} shared blocks x {loops} loops" if loops > 1 else ""
    return getattr(model, "label", None) or f"{domain.name} MDM trained here ({n / 1e6:.2f}M parameters{looped})"


def cmd_data(args):
    """The domain's data step (whatever it involves), then a listing of what it wrote."""
    from .integrity import write_manifest
    cfg, dcfg, domain, _ = _setup(args)
    out = Path(args.out)
    domain.make_data(out, threads=cfg["threads"], repo=Path(args.repo))
    write_manifest(out, domain=domain.name, scale=cfg["scale"])


def cmd_analyse(args):
    """One of the domain's declared analyses (``SPEC.analyses``) on the trained MDM and estimator."""
    from .domains import get_spec
    from .train_estimator import load_estimator
    from .train_mdm import load_mdm
    cfg, dcfg, domain, device = _setup(args)
    spec = get_spec(domain.name)
    analyses = {a.name: a for a in spec.analyses}
    if args.name not in analyses:
        raise UsageError(f"domain {domain.name} declares no analysis {args.name!r}; it has: {', '.join(analyses) or 'none'}")
    model = load_mdm(domain, Path(args.model), device)
    head = load_estimator(Path(args.estimator), device) if args.estimator else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    analyses[args.name].run(domain, model, head, Path(args.data), out, cfg, device, model_label(model, domain))
    from .integrity import write_manifest
    write_manifest(out, domain=domain.name, analysis=args.name, scale=cfg["scale"])   # what the tables may trust


def cmd_train_mdm(args):
    from .train_mdm import train_mdm, training_record
    cfg, dcfg, domain, device = _setup(args)
    if dcfg.get("checkpoint") and not cfg.get("retrain"):
        if getattr(domain, "pretrained", False):
            raise UsageError(f"{domain.name}.checkpoint is for MDMs trained here; a pretrained backbone "
                             f"({domain.backbone}) takes its weights from {domain.name}.weights")
        from .cache import adopt_checkpoint
        from .train_mdm import domain_training_data
        wanted = training_record(dcfg, *domain_training_data(domain, Path(args.data)))
        adopt_checkpoint(domain.name, dcfg["checkpoint"], wanted, Path(args.out))
        return
    train_mdm(domain, dcfg, Path(args.data), Path(args.out), Path(args.ckpt), device)


def cmd_ablate(args):
    from .ablation import run_ablation
    cfg, dcfg, domain, device = _setup(args)
    if args.seed is not None:           # every variant's training (and decoding) seed; the data stay as given
        cfg["seed"] = args.seed
    table = run_ablation(cfg, args.domain, Path(args.data), Path(args.out), device)
    print((Path(args.out) / "ablation.md").read_text() if len(table) else "no variants")


def cmd_unlock_stale(args):
    from .locks import unlock_stale
    from .locks import snakemake_processes
    pids = snakemake_processes(Path(args.dir))
    if pids:         # a second `make paper` in this folder: say so, touch nothing
        raise UsageError(f"a workflow run is already active in {Path(args.dir).resolve()} (Snakemake pid "
                         f"{', '.join(map(str, pids))}); wait for it to finish or stop it, then run again")
    msg = unlock_stale(Path(args.dir))
    if msg != "no locks":
        print(f"mdmi unlock-stale: {msg}", file=sys.stderr)


def cmd_check_results(args):
    """Every recorded result below --results checked; damaged ones listed (and with --fix moved aside)."""
    from .integrity import move_aside, scan
    results = Path(args.results)
    if not results.is_dir():
        return
    damaged = scan(results)
    for problem, target in damaged:
        if args.fix:
            dest = move_aside(results, target)
            what = "its step's folder" if target != problem.path else "it"
            print(f"mdmi check-results: {problem.path} is not what its step wrote ({problem.what}); moved {what} "
                  f"to {dest}: the run remakes it", file=sys.stderr)
        else:
            print(f"mdmi check-results: {problem.line()}", file=sys.stderr)
    if damaged and not args.fix:
        sys.exit(1)


def cmd_checksum(args):
    from .cache import checksum_snippet
    if not Path(args.path).is_file():
        raise MissingInput(f"{args.path}: no such checkpoint file")
    print(checksum_snippet(args.path))


def cmd_ship(args):
    """Copy a model trained by the workflow (with its log, benchmark and config) into a data/ folder."""
    from .shipped import adopt_in_config, ship
    print(ship(Path(args.results), args.domain, Path(args.config), Path(args.out)))
    for cfg in args.adopt or []:
        done = adopt_in_config(Path(cfg), Path(args.out) / "model.pt")
        print(f"# {cfg}: " + ("checksum updated" if done else f"no checkpoint entry for {Path(args.out) / 'model.pt'}; "
                                                               "paste the lines above into it"))


def cmd_readme(args):
    from .readme_results import update_readme
    update_readme(Path(args.readme), Path(args.results))


def cmd_label(args):
    import torch
    from .io import save_torch
    from .labels import label_states, sample_states
    from .protocol import pad_id
    from .train_mdm import load_mdm
    from .training import seed_everything
    cfg, dcfg, domain, device = _setup(args)
    lcfg = dcfg["labels"]
    model = load_mdm(domain, Path(args.model), device)
    gen = seed_everything(cfg["seed"] + {"train": 1, "val": 2, "test": 3}[args.split])
    if args.split == "train":
        complete = domain.train_sequences(Path(args.data))
        from .train_mdm import random_mask
        pick = complete[torch.randperm(complete.shape[0], generator=gen)[:256]]
        starts, _, _ = random_mask(pick, lcfg["mask_min"], lcfg["mask_max"], model.mask_id, gen, pad_id(model))
        if hasattr(domain, "label_starts"):         # a domain's own start states, shaped like its tasks
            starts = domain.label_starts(Path(args.data), gen)
        n = lcfg["train_states"]
    else:
        task = domain.load_task(Path(args.data), args.split)
        known = (task.target >= 0).all(-1)              # rows with a reference (not unconditional generation)
        starts, complete, n = task.init, task.target[known], lcfg["val_states"]
    tokens, kinds = sample_states(model, starts, complete, n, lcfg, gen)
    tol = lcfg["skip_tol"]          # the estimator's training labels may take a looser certified bound:
    if args.split == "train" and lcfg.get("train_skip_tol") is not None:    # the labels that judge it stay at skip_tol
        tol = lcfg["train_skip_tol"]
    labels = label_states(model, tokens, kinds, lcfg["max_batch"], tol, lcfg["precision"])
    labels["scale"] = cfg["scale"]
    log.info("labelled %d states: %d clamped passes in %.1f s (%.3f s/state)", len(kinds),
             labels["clamped_passes"], labels["seconds"], labels["seconds"] / len(kinds))
    save_torch(args.out, labels)


def cmd_train_estimator(args):
    from .io import load_torch
    from .train_estimator import train_estimator
    from .train_mdm import load_mdm
    cfg, dcfg, domain, device = _setup(args)
    model = load_mdm(domain, Path(args.model), device)
    train_estimator(model, load_torch(args.labels), dcfg["estimator"], cfg["seed"], Path(args.out),
                    Path(args.ckpt), device)


def cmd_eval_estimator(args):
    import numpy as np
    from .evaluate import evaluate_estimator, mi_by_relation
    from .io import atomic_path, load_torch, write_json, write_text
    from .train_estimator import load_estimator
    from .train_mdm import load_mdm
    cfg, dcfg, domain, device = _setup(args)
    model = load_mdm(domain, Path(args.model), device)
    head = load_estimator(Path(args.estimator), device)
    labels = load_torch(args.labels)
    boot = {"reps": cfg["claims"]["bootstrap"], "seed": cfg["seed"]}     # intervals as the claims use them
    ev, pred = evaluate_estimator(model, head, labels, device, **boot)
    ev["scale"], ev["config"] = cfg["scale"], args.config
    ev["model"] = model_label(model, domain)
    rel = domain.relations()
    tokens = labels["tokens"]
    if rel is not None:
        table, summary = mi_by_relation(labels["mi"], pred, tokens, model.mask_id, *rel, **boot)
        ev["relations"] = summary
        write_text(args.relations, table.to_csv(index=False))
    else:       # no a-priori relations in this domain (a domain may analyse MI its own way: SPEC.analyses)
        write_text(args.relations, "relation,pairs,exact_mean,exact_median,learned_mean\n")
    masked_count = (tokens == model.mask_id).sum(-1)
    traj = [i for i, k in enumerate(labels["kind"]) if k == "trajectory"] or list(range(len(tokens)))
    ex = max(traj, key=lambda i: int(masked_count[i]))     # the example state for Figure 1
    with atomic_path(args.example) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, tokens=tokens[ex].numpy(), exact=labels["mi"][ex].numpy(), learned=pred[ex].numpy(),
                     exact_row=labels["mi_row"][ex].numpy(), mask_id=model.mask_id,
                     relations=(rel[0].numpy() if rel else np.zeros(0)), relation_names=np.array(rel[1] if rel else []))
    write_json(args.out, ev)
    log.info("estimator: %s", json.dumps(ev["all"]))


def cmd_decode(args):
    from .io import write_text
    from .sweep import run_sweep
    from .train_estimator import load_estimator
    from .train_mdm import load_mdm
    cfg, dcfg, domain, device = _setup(args)
    dec = dcfg["decode"]
    model = load_mdm(domain, Path(args.model), device)
    sweep = dec["methods"].get(args.method)
    if sweep is None:
        raise UsageError(f"method {args.method!r} has no sweep in {args.config} (decode.methods)")
    if args.part is not None:          # one grid of a sweep written as a list of grids
        grids = sweep if isinstance(sweep, list) else [sweep]
        if not 0 <= args.part < len(grids):
            raise UsageError(f"--part {args.part}: {args.method}'s sweep has {len(grids)} grid(s), numbered from 0")
        sweep = grids[args.part]
    estimator = load_estimator(Path(args.estimator), device) if args.method == "mi" else None
    task = domain.load_task(Path(args.data), args.split)
    subset = None
    if args.method == "mi-exact":      # the expensive oracle: a seeded random subset, stratified by band
        from .sweep import stratified_subset
        subset = stratified_subset(task.meta, dec["oracle_max_sequences"], cfg["seed"] + (0 if args.split == "val" else 1))
        log.info("oracle on %d of %d sequences (seeded, stratified by band)", len(subset), task.init.shape[0])
    rows = run_sweep(model, domain, task, args.method, sweep, estimator=estimator, max_batch=dec["max_batch"],
                     oracle_chunk=dec["oracle_chunk"], rows=subset, seed=cfg["seed"])
    rows.insert(0, "split", args.split)
    rows["scale"] = cfg["scale"]
    write_text(args.out, rows.to_csv(index=False))


def cmd_tables(args):
    """One domain's Table 1 / Table 2 / decoding sweeps / claims, written as parts in --out-dir."""
    import pandas as pd
    from . import report
    from .io import read_csv, read_json, write_table
    from .sweep import summarise
    cfg, dcfg, domain, _ = _setup(args)
    metric, tol, scale = domain.primary_metric, dcfg["decode"]["quality_tolerance"], cfg["scale"]
    extras = tuple(domain.extra_metrics)
    rows = pd.concat([read_csv(p) for p in args.decodes], ignore_index=True)
    val, test = rows[rows.split == "val"], rows[rows.split == "test"]
    out = Path(args.out_dir)
    ev = read_json(args.estimator_eval)
    sweep = summarise(rows, metric, extras=extras)
    sweep.insert(0, "domain", domain.name)
    sweep["metric"], sweep["model"], sweep["scale"] = metric, ev.get("model", ""), scale
    write_table(sweep, out / "decoding_sweep")
    write_table(summarise(rows, metric, by_band=True, extras=extras).assign(domain=domain.name, scale=scale),
                out / "decoding_sweep_by_band")
    from .domains import get_spec
    spec = get_spec(domain.name)
    tables = {f.stem: read_csv(f) for d in args.analyses for f in sorted(Path(d).glob("*.csv"))}  # every analysis table
    t1 = report.table1(domain.name, ev, scale)
    if spec.table1_rows is not None:           # the domain's own fidelity rows (e.g. against a known truth)
        extra = pd.DataFrame(spec.table1_rows(tables))
        if len(extra):
            extra["domain"], extra["model"], extra["scale"] = domain.name, ev.get("model", ""), scale
            t1 = pd.concat([t1, extra], ignore_index=True)
    write_table(t1, out / "table1")
    rules, guards = cfg["claims"], dcfg["decode"].get("guards")
    choice = report.knob_choice(val, test, metric, tol, guards, rules["level"], rules["bootstrap"], cfg["seed"])
    chosen, ref_knob, knob_table = choice
    t2 = report.table2(domain.name, val, test, metric, tol, scale, extras, ev.get("model", ""), guards, choice=choice)
    write_table(t2, out / "table2")
    write_table(knob_table.assign(domain=domain.name, scale=scale), out / "knob_choice")
    write_table(report.frontier(domain.name, test, chosen, ref_knob, metric, rules, cfg["seed"]).assign(scale=scale),
                out / "frontier")
    write_table(report.claims(spec, dcfg, t2, test, ev, metric, rules, scale, tables,
                              ref_knob=ref_knob, seed=cfg["seed"]), out / "claims")


TABLES = ["table1", "table2", "claims", "frontier", "knob_choice", "decoding_sweep", "decoding_sweep_by_band"]


def cmd_combine(args):
    """Concatenate the per-domain parts into results/tables/<name>.csv/.md (domains in config order; a
    registered domain the config leaves out is listed in the claims as not run), copy each analysis
    table to results/tables/<name>.csv, and write Figure 3's panels (results/tables/panels.json)."""
    import shutil
    import pandas as pd
    from . import report
    from .config import load_config
    from .domains import registry
    from .integrity import verify_file
    from .io import atomic_path, read_csv, write_json, write_table
    cfg = load_config(args.config)
    specs = registry()
    run = list(cfg["domains"])
    out = Path(args.out_dir)
    for name in TABLES:
        frames = []
        for domain in run + sorted(d for d in specs if d not in run):
            if domain in run:
                frames.append(read_csv(Path(args.parts) / domain / f"{name}.csv", keep_default_na=(name != "claims")))
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
    write_json(out / "panels.json", {d: {"title": specs[d].title, "metrics": list(specs[d].fig3_metrics),
                                         "lower_is_better": list(specs[d].lower_is_better)} for d in run})


def cmd_bench(args):
    import torch
    from .bench import bench_domain, format_table
    from .config import domain_config, load_config
    from .device import pick_device
    from .domains import get_domain
    from .io import load_torch, write_json
    from .train_estimator import load_estimator
    from .train_mdm import load_mdm
    cfg = load_config(args.config)
    device = pick_device(cfg["device"], args.threads or cfg["threads"])
    results, out = Path(args.results), {}
    bcfg = cfg["bench"]           # the config's sizes; --states / --sequences override them
    states = bcfg["states"] if args.states is None else args.states
    sequences = bcfg["sequences"] if args.sequences is None else args.sequences
    for name in cfg["domains"]:
        dcfg = domain_config(cfg, name)
        domain = get_domain(name, dcfg)
        model = load_mdm(domain, results / name / "mdm" / "model.pt", device)
        head = load_estimator(results / name / "estimator" / "head.pt", device)
        labels = load_torch(results / name / "labels" / "val.pt")
        task = domain.load_task(results / name / "data", "val")
        out[name] = bench_domain(model, head, labels, task, dcfg, states, sequences,
                                 batch_sizes=tuple(bcfg["batch_sizes"]), forward_sequences=bcfg["forward_sequences"])
        print(format_table(name, out[name]), flush=True)
    first = out[cfg["domains"][0]]
    write_json(args.out, {
        "labelling_speedup_vs_naive": first["labelling"]["speedup_vs_naive"],
        "label_max_abs_diff_nats": first["labelling"]["max_abs_diff_nats"],
        "estimator_speedup_vs_exact": first["estimator"]["speedup_vs_exact"],
        "matmul_fraction": first["matmul_fraction"], "headline_domain": cfg["domains"][0],
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "torch": torch.__version__, "config": args.config, "scale": cfg["scale"],
        "states": states, "domains": out})


def cmd_project(args):
    import json
    from .config import load_config
    from .io import write_json
    from .projection import format_projection, project, rates_from_bench
    cfg = load_config(args.config)
    if args.bench:
        bench = json.loads(Path(args.bench).read_text())
        rates = rates_from_bench(bench)
        source = f"measured by `mdmi bench` on {bench['device_name']} ({args.bench})"
        missing = [d for d in cfg["domains"] if d not in rates]
        if missing:
            raise UsageError(f"{args.bench} has no measured rate for {', '.join(missing)}; rerun the bench "
                             f"with a config that has that domain, or give --flops-per-s")
    elif args.flops_per_s:
        rates = {d: args.flops_per_s for d in cfg["domains"]}
        source = f"stated: {args.flops_per_s:.3g} FLOP/s sustained (not measured)"
    else:
        raise UsageError("give --bench results/benchmarks/bench.json (a measured rate) or --flops-per-s RATE")
    rows = project(cfg, rates)
    print(f"projection for {args.config} (scale {cfg['scale']}); rate {source}")
    print(format_projection(rows))
    if args.out:
        write_json(args.out, {"config": args.config, "scale": cfg["scale"], "rate_source": source, "rules": rows})


def cmd_manifest(args):
    from .manifest import write_manifest
    from .config import load_config
    cfg = load_config(args.config)
    write_manifest(Path(args.out), cfg, args.config, Path(args.results))


def cmd_resources(args):
    from .config import load_config
    from .resources import write_check
    rows = write_check(load_config(args.config), Path(args.benchmarks), Path(args.out))
    width = max(len(f"{r['rule']}/{r['job']}") for r in rows)
    print(f"{'job':<{width}}  {'MB used/declared':>17}  {'min used/declared':>18}")
    for r in rows:
        print(f"{r['rule'] + '/' + r['job']:<{width}}  {r['max_rss_mb']:>8.0f}/{r['mem_mb']:<8}  "
              f"{r['minutes']:>9.2f}/{r['runtime_min']:<8}")
    print(f"{len(rows)} jobs within their declared memory and time -> {args.out}")


def cmd_notebook(args):
    from .notebook import run_notebook
    run_notebook(Path(args.notebook), Path(args.out), Path(args.html), dict(args.param or []))


def cmd_compare_tables(args):
    from .compare import check
    n = check(Path(args.a), Path(args.b))
    print(f"{n} tables identical (timing columns aside): {args.a} = {args.b}")


def parse_knobs(items) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"bad --knob {item!r}: write name=value, e.g. --knob gamma=0.4")
        k, v = item.split("=", 1)
        for cast in (int, float):
            try:
                v = cast(v)
                break
            except ValueError:
                continue
        out[k] = None if v == "none" else v
    return out


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the error into one line and exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m mdmi", description=__doc__)
    ap.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    ap.add_argument("--debug", action="store_true", help="show the traceback of a user error too (bugs always show it)")
    ap.add_argument("--threads", type=int, help="CPU threads/processes (overrides the config's threads)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("data", aliases=["generate"], help="make a domain's datasets (its one data step)")
    _common(p); p.add_argument("--out", required=True)
    p.add_argument("--repo", default=str(REPO), help="folder that shipped inputs given by relative paths are under")
    p.set_defaults(fn=cmd_data)

    p = sub.add_parser("train-mdm", help="train (or resume) the masked diffusion model")
    _common(p); p.add_argument("--data", required=True); p.add_argument("--out", required=True)
    p.add_argument("--ckpt", required=True); p.set_defaults(fn=cmd_train_mdm)

    p = sub.add_parser("ablate", help="short-budget ablation of the MDM recipe: <domain>.ablation's variants on val")
    _common(p)
    p.add_argument("--data", required=True, help="the domain's data folder (results/<domain>/data)")
    p.add_argument("--out", required=True, help="output folder: a model and decode.csv per variant, ablation.csv/.md")
    p.add_argument("--seed", type=int, help="seed of every variant's training and decoding (default: the config's), "
                   "for the seed-to-seed spread of a choice")
    p.set_defaults(fn=cmd_ablate)

    p = sub.add_parser("unlock-stale", help="remove Snakemake locks left by a killed run (none if one is running)")
    p.add_argument("--dir", default=".", help="the run's working directory (default: here)")
    p.set_defaults(fn=cmd_unlock_stale)

    p = sub.add_parser("check-results", help="check every result against what its step recorded (make paper runs it "
                       "with --fix first: damaged files are moved to <results>/.damaged/ and remade)")
    p.add_argument("--results", default="results", help="the results folder (default: results)")
    p.add_argument("--fix", action="store_true", help="move damaged results aside so that the next run remakes them")
    p.set_defaults(fn=cmd_check_results)

    p = sub.add_parser("checksum", help="the config lines that make a trained model.pt a cached checkpoint")
    p.add_argument("path", help="a model.pt written by train-mdm"); p.set_defaults(fn=cmd_checksum)

    p = sub.add_parser("ship", help="copy a trained model.pt with its log, benchmark and config into data/ (make models)")
    p.add_argument("--results", required=True, help="results folder of the run that trained it (results/pretrain)")
    p.add_argument("--domain", required=True); p.add_argument("--config", required=True, help="the config that trained it")
    p.add_argument("--out", required=True, help="e.g. data/<domain>/pretrained")
    p.add_argument("--adopt", action="append", help="config whose checkpoint entry for this model gets the new checksum")
    p.set_defaults(fn=cmd_ship)

    p = sub.add_parser("readme", help="regenerate the README's results block from a run's tables (make readme)")
    p.add_argument("--results", default="results"); p.add_argument("--readme", default="README.md")
    p.set_defaults(fn=cmd_readme)

    p = sub.add_parser("label", help="exact MI labels for sampled states of a split")
    _common(p); p.add_argument("--data", required=True); p.add_argument("--model", required=True)
    p.add_argument("--split", required=True, choices=["train", "val", "test"]); p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_label)

    p = sub.add_parser("train-estimator", help="train (or resume) the neural MI estimator")
    _common(p); p.add_argument("--model", required=True); p.add_argument("--labels", required=True)
    p.add_argument("--out", required=True); p.add_argument("--ckpt", required=True); p.set_defaults(fn=cmd_train_estimator)

    p = sub.add_parser("eval-estimator", help="estimator fidelity, cost and MI by relation on held-out states")
    _common(p); p.add_argument("--model", required=True); p.add_argument("--estimator", required=True)
    p.add_argument("--labels", required=True); p.add_argument("--out", required=True)
    p.add_argument("--relations", required=True); p.add_argument("--example", required=True)
    p.set_defaults(fn=cmd_eval_estimator)

    p = sub.add_parser("decode", help="decode a split with one method over its knob sweep")
    _common(p); p.add_argument("--data", required=True); p.add_argument("--model", required=True)
    p.add_argument("--estimator"); p.add_argument("--split", required=True)
    p.add_argument("--method", required=True); p.add_argument("--out", required=True)
    p.add_argument("--part", type=int, help="decode only this grid (from 0) of a sweep written as a list of grids")
    p.set_defaults(fn=cmd_decode)

    p = sub.add_parser("tables", help="one domain's Table 1, Table 2, decoding sweep and claims (parts)")
    _common(p); p.add_argument("--estimator-eval", required=True); p.add_argument("--decodes", nargs="+", required=True)
    p.add_argument("--analyses", nargs="*", default=[], help="folders of the domain's analyses (results/<domain>/analysis/<name>)")
    p.add_argument("--out-dir", required=True); p.set_defaults(fn=cmd_tables)

    p = sub.add_parser("combine", help="concatenate the per-domain table parts into results/tables")
    _common(p, domain=False); p.add_argument("--parts", required=True); p.add_argument("--out-dir", required=True)
    p.set_defaults(fn=cmd_combine)

    p = sub.add_parser("analyse", help="one of a domain's declared analyses (e.g. MI vs contacts) on the trained models")
    _common(p); p.add_argument("--name", required=True, help="the analysis (the domain's SPEC.analyses)")
    p.add_argument("--model", required=True); p.add_argument("--estimator")
    p.add_argument("--data", required=True, help="the domain's data folder"); p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_analyse)

    p = sub.add_parser("bench", help="labelling (batched vs naive), estimator and decoding cost on this device")
    _common(p, domain=False); p.add_argument("--results", default="results")
    p.add_argument("--states", type=positive_int, help="held-out labelled states to time (default: the config's bench.states)")
    p.add_argument("--sequences", type=positive_int, help="validation tasks to decode per method (default: bench.sequences)")
    p.add_argument("--out", required=True, help="bench.json"); p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("project", help="projected time per expensive rule of a config, from counted FLOPs and a rate")
    _common(p, domain=False)
    p.add_argument("--bench", help="bench.json whose measured sustained FLOP/s to use (per domain)")
    p.add_argument("--flops-per-s", type=float, help="a stated sustained FLOP/s instead (e.g. for a GPU not at hand)")
    p.add_argument("--out", help="also write the rows as JSON"); p.set_defaults(fn=cmd_project)

    p = sub.add_parser("manifest", help="write results/manifest.json")
    _common(p, domain=False); p.add_argument("--results", default="results"); p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_manifest)

    p = sub.add_parser("notebook", help="execute a notebook with papermill (kernel over IPC sockets) and write its HTML")
    p.add_argument("notebook", help="e.g. notebooks/claims.ipynb"); p.add_argument("--out", required=True, help="executed .ipynb")
    p.add_argument("--html", required=True, help="its HTML page")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="a value for the notebook's parameters cell (a string), as papermill's -p")
    p.set_defaults(fn=cmd_notebook)

    p = sub.add_parser("compare-tables", help="check that two runs' tables are identical (timing columns aside)")
    p.add_argument("a", help="a tables folder, e.g. results/tables"); p.add_argument("b", help="another")
    p.set_defaults(fn=cmd_compare_tables)

    p = sub.add_parser("resources", help="declared vs measured memory and time per job (fails if a job is above)")
    _common(p, domain=False)
    p.add_argument("--benchmarks", default="results/benchmarks", help="folder of <rule>/<job>.tsv benchmark files")
    p.add_argument("--out", required=True, help="CSV, one row per job"); p.set_defaults(fn=cmd_resources)

    from .domains import registry
    for spec in registry().values():      # commands a domain declares (e.g. `solve`)
        for name, make in spec.commands.items():
            help_text, add_arguments, run = make()
            p = sub.add_parser(name, help=help_text)
            add_arguments(p)
            p.set_defaults(fn=run, results_only=True)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    quiet = args.quiet or getattr(args, "results_only", False)    # domain commands print results only
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        args.fn(args)
    except MdmiError as e:          # the user's input, config or option: one line; anything else is a bug
        if args.debug:
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"mdmi {args.cmd}: error: {msg}", file=sys.stderr)
        return 2
    return 0
