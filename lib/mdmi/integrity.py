"""Integrity of intermediate results: a file a step wrote is read only if it is what that step wrote.

Snakemake trusts any file that exists: a results file truncated by a full disk, half-copied from
another machine or edited by hand would be read by the next step, which then crashes or, worse,
computes a table from it. Two records make such damage visible:

- **single files** (checkpoints, labels, decode rows, tables, JSON): every atomic write of a workflow
  job (:func:`mdmi.io.atomic_path`; the Snakefile sets ``MDMI_RECORD_OUTPUTS=1``) leaves a hidden sidecar ``.<name>.sha256`` beside the file with its
  size, SHA-256 and the command that wrote it; the readers of :mod:`mdmi.io` (``load_torch``,
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

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import MdmiError

MANIFEST = "MANIFEST.json"
DAMAGED = ".damaged"


class DamagedFile(MdmiError, ValueError):
    """A results file that is not what the step that made it wrote (truncated, edited, foreign)."""


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(path: str | os.PathLike) -> Path:
    """Where the record of ``path`` lives: ``.<name>.sha256`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.sha256")


def writer_command() -> str:
    """The command line of this process, as a user would type it (``python -m mdmi ...``)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "mdmi":
        argv = ["python", "-m", "mdmi", *argv[1:]]
    return " ".join(argv)


RECORD_ENV = "MDMI_RECORD_OUTPUTS"


def recording() -> bool:
    """Whether writes are recorded: inside workflow jobs (the Snakefile sets ``MDMI_RECORD_OUTPUTS=1``)."""
    return os.environ.get(RECORD_ENV) == "1"


def record(tmp: Path, path: Path) -> None:
    """Write the sidecar of ``path`` whose content is (still) at ``tmp``: size, SHA-256, writer."""
    rec = {"file": path.name, "bytes": tmp.stat().st_size, "sha256": file_sha256(tmp),
           "written_by": writer_command(), "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    side = sidecar(path)
    part = side.with_name(side.name + f".{os.getpid()}.part")
    part.write_text(json.dumps(rec) + "\n")
    os.replace(part, side)


@dataclass(frozen=True)
class Problem:
    path: Path
    what: str             # "truncated: 120 of 4,096 bytes", "content differs", "missing"
    written_by: str       # the command that wrote it ("" when unknown)

    def line(self) -> str:
        by = f", written by `{self.written_by}`" if self.written_by else ""
        return (f"{self.path} is not what its step wrote ({self.what}{by}): truncated, edited or copied from "
                f"another run; `make paper` moves damaged results aside and remakes them (`python -m mdmi "
                f"check-results --fix` moves them alone)")


def _compare(path: Path, size: int, digest: str, written_by: str) -> Problem | None:
    if not path.is_file():
        return Problem(path, "missing", written_by)
    actual = path.stat().st_size
    if actual != size:
        return Problem(path, f"{actual:,} bytes, {size:,} recorded", written_by)
    if file_sha256(path) != digest:
        return Problem(path, "same size, other SHA-256", written_by)
    return None


def check_file(path: str | os.PathLike) -> Problem | None:
    """The problem with ``path`` against its sidecar, or None (also None without a sidecar)."""
    path = Path(path)
    side = sidecar(path)
    if not side.is_file() or not path.is_file():
        return None
    try:
        rec = json.loads(side.read_text())
        size, digest = int(rec["bytes"]), str(rec["sha256"])
    except (ValueError, KeyError, TypeError):
        return Problem(path, "its record (" + side.name + ") is unreadable", "")
    return _compare(path, size, digest, str(rec.get("written_by", "")))


def verify_file(path: str | os.PathLike) -> None:
    """Raise :class:`DamagedFile` if ``path`` is not what its writer recorded."""
    problem = check_file(path)
    if problem is not None:
        raise DamagedFile(problem.line())


def write_manifest(folder: str | os.PathLike, **fields) -> dict:
    """List every (non-hidden) file below ``folder`` with its SHA-256 in ``folder/MANIFEST.json``."""
    from .io import write_json
    folder = Path(folder)
    files = {str(f.relative_to(folder)): file_sha256(f) for f in sorted(folder.rglob("*"))
             if f.is_file() and f.name != MANIFEST and not any(p.startswith(".") for p in f.relative_to(folder).parts)}
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
    manifests = sorted(p for p in results.rglob(MANIFEST) if DAMAGED not in p.relative_to(results).parts)
    for m in manifests:
        problems = check_folder(m.parent)
        if problems:
            found.setdefault(m.parent, problems[0])
    for side in sorted(results.rglob(".*.sha256")):
        if DAMAGED in side.relative_to(results).parts:
            continue
        path = side.with_name(side.name[1:-len(".sha256")])
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
