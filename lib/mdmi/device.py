"""Device and thread selection from the config ('auto' = CUDA when present)."""
from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def pick_device(name: str = "auto", threads: int | None = None) -> torch.device:
    if threads:
        torch.set_num_threads(int(threads))
    if name == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available; set device: auto or cpu")
    log.info("device %s (torch %s, %d CPU threads)", dev, torch.__version__, torch.get_num_threads())
    return dev
