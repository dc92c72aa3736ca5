"""Atomic file output: write to a temporary file beside the target, then rename."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path

from .errors import MdmiError, MissingInput


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a temporary path in the target's folder (named ``.<name>.<random><suffix>``); on success
    it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)     # mkstemp makes it owner-only; the result gets a new file's usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    return json.loads(Path(path).read_text())


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
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError, IndexError) as e:  # torch's reader on junk
        raise NotACheckpoint(f"{path}: not a checkpoint written by mdmi, or damaged ({type(e).__name__}); "
                             f"pass a model.pt/head.pt written by the workflow, or rerun the step that makes it") from e


def write_table(df, stem) -> None:
    """Write a pandas DataFrame as ``stem.csv`` and ``stem.md`` atomically."""
    stem = Path(stem)
    write_text(stem.with_suffix(".csv"), df.to_csv(index=False))
    write_text(stem.with_suffix(".md"), df.to_markdown(index=False) + "\n")
