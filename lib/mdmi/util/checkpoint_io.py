"""Checkpoints: written atomically with their integrity record, loaded with ``weights_only=True``
(tensors and plain containers only, so a pickle from elsewhere cannot run code on load)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from mdmi.errors import MdmiError, MissingInput
from mdmi.util.io import atomic_path
from mdmi.util.records import verify_file


def save_torch(path, obj) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class NotACheckpoint(MdmiError, ValueError):
    """A file that is not a checkpoint this project wrote (or is damaged)."""


def load_torch(path, map_location="cpu"):
    """A file written by :func:`save_torch`, loaded with ``weights_only=True``: tensors and plain
    containers only, so a pickle from elsewhere cannot run code on load."""
    path = Path(path)
    if not path.exists():
        raise MissingInput(
            f"{path}: file not found; run the step that produces it (e.g. `snakemake {path}`)"
        )
    verify_file(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
    ) as e:  # torch's reader on junk
        raise NotACheckpoint(
            f"{path}: not a checkpoint written by mdmi, or damaged ({type(e).__name__}); "
            f"pass a model.pt/head.pt written by the workflow, or rerun the step that makes it"
        ) from e
