"""What each job of the workflow asks of a scheduler, and whether the run stayed inside it.

The config's ``resources`` section declares, per rule, ``mem_mb`` (MiB) and ``runtime`` (minutes):
``resources.default`` for every rule, ``resources.rules.<rule>`` on top, and
``resources.domains.<domain>.<rule>`` on top of that for one domain's jobs. A scale's overlay sets the
values its sizes need (config/pretrain.yaml's MDM trains for about 2 hours, config/ci.yaml's for
seconds). Snakemake passes them to every job (the Slurm executor turns them into ``--mem`` and
``--time``); GPUs are requested when the config puts the models on CUDA (``device: cuda``), never
because the submitting host happens to have one.

After a run, ``python -m mdmi resources`` (the workflow's ``resources`` rule) reads every Snakemake
benchmark file, ``results/benchmarks/<rule>/<job>.tsv``, and writes one row per job: declared vs
measured peak memory (max_rss) and wall time. It fails, naming the job and the key to raise, when a
job used more than it declared, so a profile that under-asks is caught on the machine that measured it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from mdmi.errors import MdmiError
from mdmi.util.io import write_text

KEYS = ("mem_mb", "runtime")


class ResourceError(MdmiError):
    """A job measured above what the config declares for it."""


def declared(cfg: dict, rule: str, domain: str | None = None) -> dict:
    """{mem_mb, runtime} the config declares for ``rule`` (for ``domain``'s job when given)."""
    section = cfg.get("resources", {})
    out = {"mem_mb": 1000, "runtime": 10, **section.get("default", {})}
    out.update(section.get("rules", {}).get(rule, {}))
    if domain is not None:
        out.update(section.get("domains", {}).get(domain, {}).get(rule, {}))
    return {k: int(out[k]) for k in KEYS}


def gpu_jobs(cfg: dict) -> int:
    """GPUs each model job requests: 1 when the config names a CUDA device, else 0 (``auto`` runs on
    whatever the node has, and asks for nothing)."""
    return 1 if str(cfg["device"]).startswith("cuda") else 0


def _read_benchmark(path: Path) -> dict:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise ResourceError(f"{path}: empty benchmark file; rerun the job that writes it")
    row = rows[-1]
    return {
        "seconds": float(row["s"]),
        "max_rss_mb": float(row["max_rss"]) if row["max_rss"] != "NA" else 0.0,
    }


def check(cfg: dict, benchmarks: Path) -> list[dict]:
    """One row per job benchmark under ``benchmarks/<rule>/``: declared and measured memory and time."""
    domains = list(cfg["domains"])
    rows = []
    for path in sorted(benchmarks.glob("*/*.tsv")):
        rule, job = path.parent.name, path.stem
        domain = next((d for d in domains if job == d or job.startswith(f"{d}_")), None)
        want = declared(cfg, rule, domain)
        got = _read_benchmark(path)
        rows.append(
            {
                "rule": rule,
                "job": job,
                "mem_mb": want["mem_mb"],
                "max_rss_mb": round(got["max_rss_mb"], 1),
                "mem_used": round(got["max_rss_mb"] / want["mem_mb"], 3),
                "runtime_min": want["runtime"],
                "minutes": round(got["seconds"] / 60, 2),
                "time_used": round(got["seconds"] / 60 / want["runtime"], 3),
            }
        )
    return rows


def write_check(cfg: dict, benchmarks: Path, out: Path) -> list[dict]:
    """Write the table (CSV); raise ResourceError naming every job above its declared memory or time."""
    rows = check(cfg, benchmarks)
    if not rows:
        raise ResourceError(
            f"{benchmarks}: no benchmark files under <rule>/ folders; run the workflow first"
        )
    over = [r for r in rows if r["mem_used"] > 1 or r["time_used"] > 1]
    if over:
        worst = ", ".join(
            f"{r['rule']}/{r['job']} ({r['max_rss_mb']:.0f} of {r['mem_mb']} MB, "
            f"{r['minutes']:.1f} of {r['runtime_min']} min)"
            for r in over
        )
        raise ResourceError(
            f"jobs above their declared resources: {worst}; raise resources.rules.<rule> "
            f"(or resources.domains.<domain>.<rule>) in the config"
        )
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(str(r[k]) for k in header) for r in rows]
    write_text(out, "\n".join(lines) + "\n")
    return rows
