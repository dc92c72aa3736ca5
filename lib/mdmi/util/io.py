"""Atomic file output (write to a temporary file beside the target, then rename), each write recorded
in a sidecar, and readers that check the record first (:mod:`mdmi.util.integrity`).

Text and JSON here, with no heavy import (the workflow's parse-time code uses it);
checkpoints in :mod:`mdmi.util.checkpoint_io`, tables in :mod:`mdmi.util.table_io`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import yaml

from mdmi.errors import MissingInput
from mdmi.util.records import file_sha256, record, recording, sidecar, verify_file  # noqa: F401 (file_sha256: re-exported)

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a temporary path in the target's folder (named ``.<name>.<random><suffix>``); on success
    it replaces ``path``. Inside a workflow job (``MDMI_RECORD_OUTPUTS=1``, set by the Snakefile) the
    file's size and SHA-256 go to the sidecar ``.<name>.sha256`` that the readers below check; elsewhere
    (the README, a config, data/) a stale sidecar is removed and none is written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(
            tmp, 0o666 & ~_UMASK
        )  # mkstemp makes it owner-only; the result gets a new file's usual mode
        if recording():  # before the rename: a crash between them leaves a mismatch, never a
            record(Path(tmp), path)  # stale file that looks recorded
        else:
            sidecar(path).unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def parse_yaml(text: str):
    """``yaml.safe_load`` through libyaml's C parser when PyYAML has it: the same result (the same
    safe constructor and resolver), about ten times faster; every job parses the config and schemas."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_json(path):
    """A JSON file, checked against its writer's record first."""
    path = Path(path)
    if not path.exists():
        raise MissingInput(
            f"{path}: file not found; run the step that produces it (e.g. `snakemake {path}`)"
        )
    verify_file(path)
    return json.loads(path.read_text())
