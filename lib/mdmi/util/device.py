"""Device, thread and precision selection from the config ('auto' = CUDA when present)."""

from __future__ import annotations

import contextlib
import logging

import torch

from mdmi.errors import UsageError

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def limit_threads(threads: int) -> None:
    """At most ``threads`` CPU threads for torch and for every BLAS / OpenMP pool loaded (NumPy's OpenBLAS
    among them). Without the second, NumPy's OpenBLAS starts one thread per core: a one-thread job's
    small matrix products then kept the second core busy, which `make paper` gives to another job
    (measured on a decode job of NumPy transfer-matrix products: 38 s of CPU for 24 s, the same wall time)."""
    import numpy  # noqa: F401, PLC0415  (load its BLAS, so that the limit reaches it)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    torch.set_num_threads(int(threads))
    threadpool_limits(int(threads))


def pick_device(name: str = "auto", threads: int | None = None) -> torch.device:
    if threads:
        limit_threads(threads)
    if name == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UsageError(
                f"device {name!r} requested but CUDA is not available; set device: auto or cpu"
            )
    log.info(
        "device %s (torch %s, %d CPU threads)", dev, torch.__version__, torch.get_num_threads()
    )
    return dev


def autocast(dev: torch.device, precision: str = "fp32"):
    """Context for forward passes: nothing for fp32, else torch.autocast to bf16/fp16 on ``dev``."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if PRECISIONS[precision] is None:
        return contextlib.nullcontext()
    if precision == "fp16" and dev.type != "cuda":
        raise UsageError("precision fp16 needs a CUDA device; use fp32 (or bf16) on the CPU")
    return torch.autocast(device_type=dev.type, dtype=PRECISIONS[precision])


def supported_precisions(dev: torch.device) -> list[str]:
    """Reduced precisions worth measuring on ``dev`` (bf16 on CPUs with native bf16 support)."""
    if dev.type == "cuda":
        return ["bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp16"]
    return ["bf16"] if torch.backends.mkldnn.is_available() and _cpu_has_bf16() else []


def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
