"""Atomic file output (write to a temporary file beside the target, then rename), each write recorded
in a sidecar, and readers that check the record first (:mod:`mdmi.integrity`)."""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path

from .errors import MdmiError, MissingInput
from .integrity import file_sha256, record, recording, sidecar, verify_file  # noqa: F401 (file_sha256: re-exported)


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
        os.chmod(tmp, 0o666 & ~_UMASK)     # mkstemp makes it owner-only; the result gets a new file's usual mode
        if recording():                    # before the rename: a crash between them leaves a mismatch, never a
            record(Path(tmp), path)        # stale file that looks recorded
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


def read_json(path):
    """A JSON file, checked against its writer's record first."""
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path}: file not found; run the step that produces it (e.g. `snakemake {path}`)")
    verify_file(path)
    return json.loads(path.read_text())


def read_csv(path, **kwargs):
    """A CSV (or, with ``sep``, TSV) results file as a DataFrame, checked against its writer's record first."""
    import pandas as pd
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path}: file not found; run the step that produces it (e.g. `snakemake {path}`)")
    verify_file(path)
    return pd.read_csv(path, **kwargs)


def save_torch(path, obj) -> None:
    import torch   # here, not at the top: the Snakefile imports this module and a parse should not load torch
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class NotACheckpoint(MdmiError, ValueError):
    """A file that is not a checkpoint this project wrote (or is damaged)."""


def load_torch(path, map_location="cpu"):
    """A file written by :func:`save_torch`, loaded with ``weights_only=True``: tensors and plain
    containers only, so a pickle from elsewhere cannot run code on load."""
    import torch
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path}: file not found; run the step that produces it (e.g. `snakemake {path}`)")
    verify_file(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError, IndexError) as e:  # torch's reader on junk
        raise NotACheckpoint(f"{path}: not a checkpoint written by mdmi, or damaged ({type(e).__name__}); "
                             f"pass a model.pt/head.pt written by the workflow, or rerun the step that makes it") from e


def write_table(df, stem) -> None:
    """Write a pandas DataFrame as ``stem.csv`` and ``stem.md`` atomically."""
    stem = Path(stem)
    csv, md = df.to_csv(index=False), df.to_markdown(index=False) + "\n"     # both rendered before either is written
    write_text(stem.with_suffix(".csv"), csv)
    write_text(stem.with_suffix(".md"), md)
