"""Integrity of intermediate results: a file a step wrote is read only if it is what that step wrote.

Snakemake trusts any file that exists: a results file truncated by a full disk, half-copied from
another machine or edited by hand would be read by the next step, which then crashes or, worse,
computes a table from it. Two records make such damage visible:

- **single files** (checkpoints, labels, decode rows, tables, JSON): every atomic write of a workflow
  job (:func:`mdmi.util.io.atomic_path`; the Snakefile sets ``MDMI_RECORD_OUTPUTS=1``) leaves a hidden sidecar ``.<name>.sha256`` beside the file with its
  size, SHA-256 and the command that wrote it; the readers of :mod:`mdmi.util.io` and its siblings (``load_torch``,
  ``read_json``, ``read_csv``) check it first.
- **folders a step fills** (a domain's ``data/``, each ``analysis/<name>/``): the step writes
  ``MANIFEST.json`` listing every file with its SHA-256; :func:`verify_folder` checks them all before
  a command reads the folder.

A mismatch raises :class:`DamagedFile`: one line naming the file, what is wrong and how to remake it.
``python -m mdmi check-results`` (run by ``make paper`` before Snakemake) checks a whole results tree
and moves each damaged file, or the folder of a damaged folder step, to ``results/.damaged/``, so
the run remakes it. A file without a record (written by an older version, or by hand on purpose) is
read as before.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from mdmi.util.io import write_json
from mdmi.util.records import (
    DAMAGED,
    MANIFEST,
    DamagedFile,
    Problem,
    check_file,
    file_sha256,
    sidecar,
    writer_command,
)


def write_folder_manifest(folder: str | os.PathLike, **fields) -> dict:
    """List every (non-hidden) file below ``folder`` with its SHA-256 in ``folder/MANIFEST.json``."""
    folder = Path(folder)
    files = {
        str(f.relative_to(folder)): file_sha256(f)
        for f in sorted(folder.rglob("*"))
        if f.is_file()
        and f.name != MANIFEST
        and not any(p.startswith(".") for p in f.relative_to(folder).parts)
    }
    manifest = {**fields, "written_by": writer_command(), "files": files}
    write_json(folder / MANIFEST, manifest)
    return manifest


def check_folder(folder: str | os.PathLike) -> list[Problem]:
    """Files of ``folder`` that differ from (or are missing against) its MANIFEST.json; [] without one."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return []
    try:
        manifest = json.loads(path.read_text())
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError):
        return [Problem(path, "unreadable", "")]
    by = str(manifest.get("written_by", ""))
    out = []
    for name, digest in files.items():
        f = folder / name
        if not f.is_file():
            out.append(Problem(f, "missing, listed in its MANIFEST.json", by))
        elif file_sha256(f) != digest:
            out.append(Problem(f, "other SHA-256 than its MANIFEST.json lists", by))
    return out


def verify_folder(folder: str | os.PathLike) -> None:
    """Raise :class:`DamagedFile` for the first file of ``folder`` that its MANIFEST.json disowns."""
    problems = check_folder(folder)
    if problems:
        more = f" (and {len(problems) - 1} more file(s) of {folder})" if len(problems) > 1 else ""
        raise DamagedFile(problems[0].line() + more)


def scan(results: str | os.PathLike) -> list[tuple[Problem, Path]]:
    """Every damaged result below ``results``, each with what to move aside so the run remakes it: the
    file itself, or the whole folder of a step that fills a folder (its MANIFEST.json is the output)."""
    results = Path(results)
    found: dict[Path, Problem] = {}
    manifests = sorted(
        p for p in results.rglob(MANIFEST) if DAMAGED not in p.relative_to(results).parts
    )
    for m in manifests:
        problems = check_folder(m.parent)
        if problems:
            found.setdefault(m.parent, problems[0])
    for side in sorted(results.rglob(".*.sha256")):
        if DAMAGED in side.relative_to(results).parts:
            continue
        path = side.with_name(side.name[1 : -len(".sha256")])
        if any(folder in path.parents for folder in found):
            continue
        problem = check_file(path)
        if problem is not None:
            owner = next((m.parent for m in manifests if m.parent in path.parents), path)
            found.setdefault(owner, problem)
    return [(p, target) for target, p in found.items()]


def move_aside(results: str | os.PathLike, target: Path) -> Path:
    """Move a damaged file or folder to ``results/.damaged/<stamp>/<its path>``; returns where it went."""
    results = Path(results)
    dest = results / DAMAGED / time.strftime("%Y%m%dT%H%M%S") / target.relative_to(results)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(target), str(dest))
    side = sidecar(target)
    if side.exists():
        side.unlink()
    return dest
