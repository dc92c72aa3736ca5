"""Stale Snakemake locks: after a run is killed (kill -9, a crash, a lost node) its lock stays in
``.snakemake/locks`` and every later run stops with "Directory cannot be locked". ``make paper``
calls ``python -m mdmi unlock-stale`` first: it removes the locks only when no Snakemake process is
running in that directory (found through ``/proc``; where there is no ``/proc`` it touches nothing
and says how to unlock by hand).
"""

from __future__ import annotations

import os
from pathlib import Path


def _is_snakemake(argv: list[bytes]) -> bool:
    """``snakemake ...``, ``python .../snakemake ...`` or ``python -m snakemake ...``."""
    return "snakemake" in [Path(a.decode(errors="ignore")).name for a in argv[:3]]


def snakemake_processes(workdir: Path) -> list[int] | None:
    """PIDs of Snakemake processes whose working directory is ``workdir``; None without ``/proc``."""
    proc = Path("/proc")
    if not (proc / "self" / "cmdline").exists():
        return None
    target, pids = workdir.resolve(), []
    for d in proc.iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(d / "cwd")).resolve()
        except OSError:  # gone, or not ours to read
            continue
        if cwd == target and _is_snakemake(argv):
            pids.append(int(d.name))
    return pids


def unlock_stale(workdir: Path) -> str:
    """Remove the Snakemake locks of ``workdir`` if no Snakemake runs there; returns what was done."""
    locks = sorted((Path(workdir) / ".snakemake" / "locks").glob("*.lock"))
    if not locks:
        return "no locks"
    pids = snakemake_processes(Path(workdir))
    if pids is None:
        return (
            "found Snakemake locks but cannot list processes here; if no other run is active, "
            "run `snakemake --unlock` (same options) once"
        )
    if pids:
        return (
            f"Snakemake is running in {workdir} (pid {', '.join(map(str, pids))}): its locks stay"
        )
    for lock in locks:
        lock.unlink(missing_ok=True)
    return f"removed {len(locks)} lock(s) left by an interrupted run"
