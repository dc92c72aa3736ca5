"""Per-file integrity records: the hidden sidecar ``.<name>.sha256`` (size, SHA-256, writer) each atomic
write of a workflow job leaves, and the check of a file against it (see :mod:`mdmi.util.integrity`
for the whole picture, folder manifests included)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mdmi.errors import MdmiError

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
    rec = {
        "file": path.name,
        "bytes": tmp.stat().st_size,
        "sha256": file_sha256(tmp),
        "written_by": writer_command(),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    side = sidecar(path)
    part = side.with_name(side.name + f".{os.getpid()}.part")
    part.write_text(json.dumps(rec) + "\n")
    os.replace(part, side)


@dataclass(frozen=True)
class Problem:
    path: Path
    what: str  # "truncated: 120 of 4,096 bytes", "content differs", "missing"
    written_by: str  # the command that wrote it ("" when unknown)

    def line(self) -> str:
        by = f", written by `{self.written_by}`" if self.written_by else ""
        return (
            f"{self.path} is not what its step wrote ({self.what}{by}): truncated, edited or copied from "
            f"another run; `make paper` moves damaged results aside and remakes them (`python -m mdmi "
            f"check-results --fix` moves them alone)"
        )


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
