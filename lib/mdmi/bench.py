"""``python -m mdmi bench``: what exact labelling, the estimator and decoding cost on this device.

For each domain of the config (trained models from ``results/<domain>/``), on the first ``states``
held-out labelled states:

* exact MI labelling, batched (clamped sequences of many rows and states per forward, the
  workflow's path) vs a naive reference (the same computation, one clamped sequence per forward);
  clamped passes/s, states/s, their ratio, the largest label difference in nats, peak memory;
* the estimator's map (one MDM pass + head per state) vs batched exact labelling: wall-time ratio;
* decoding: passes and wall time per sequence for each configured method at its first knob;
* the device's dense matmul rate, and labelling throughput as a fraction of it
  (FLOPs per clamped pass, counted by ``torch.utils.flop_counter``, x passes/s / matmul FLOP/s).
"""
from __future__ import annotations

import logging
import resource
import time

import torch

from .config import knob_grid
from .decoding import decode
from .evaluate import time_per_state
from .mi import exact_mi_batch
from .protocol import model_device

log = logging.getLogger(__name__)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def peak_memory_mb(dev: torch.device) -> float:
    """Peak memory so far: CUDA allocator peak on a GPU, process max RSS on the CPU."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_flops(dev: torch.device, n: int | None = None, repeats: int = 5) -> float:
    """Measured FLOP/s of an n x n fp32 matrix product on ``dev``."""
    n = n or (8192 if dev.type == "cuda" else 1024)
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    a @ b
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(dev)
    return 2 * n ** 3 * repeats / (time.perf_counter() - t0)


def flops_per_pass(model, length: int) -> float:
    """FLOPs of one forward pass on one sequence of ``length`` tokens (counted, not estimated)."""
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.zeros(1, length, dtype=torch.long, device=model_device(model))
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(x)
    return float(fc.get_total_flops())


@torch.inference_mode()
def label_timing(model, tokens: torch.Tensor, max_batch: int) -> dict:
    """Batched vs naive exact labelling of tokens[N, L]; row-wise labels compared in nats."""
    dev = model_device(model)
    tokens = tokens.to(dev)
    exact_mi_batch(model, tokens[:1], max_batch=max_batch, symmetric=False)       # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    batched, passes = exact_mi_batch(model, tokens, max_batch=max_batch, symmetric=False)
    _sync(dev)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = torch.stack([exact_mi_batch(model, tokens[s:s + 1], max_batch=1, symmetric=False)[0][0]
                         for s in range(tokens.shape[0])])
    _sync(dev)
    t_naive = time.perf_counter() - t0
    n = tokens.shape[0]
    return {"states": n, "clamped_passes": passes, "batched_seconds": t_batched, "naive_seconds": t_naive,
            "batched_passes_per_s": passes / t_batched, "naive_passes_per_s": passes / t_naive,
            "batched_states_per_s": n / t_batched, "naive_states_per_s": n / t_naive,
            "speedup_vs_naive": t_naive / t_batched,
            "max_abs_diff_nats": float((batched - naive).abs().max()), "peak_memory_mb": peak_memory_mb(dev)}


def decode_timing(model, head, task, methods: dict, sequences: int, max_batch: int) -> list[dict]:
    """Per configured method at its first knob: mean passes and wall seconds per sequence."""
    init = task.init[:sequences]
    rows = []
    for method, sweep in methods.items():
        knobs = knob_grid(sweep)[0]
        res = decode(model, init, method, estimator=head if method == "mi" else None, max_batch=max_batch, **knobs)
        rows.append({"method": method, "knobs": knobs, "sequences": int(init.shape[0]),
                     "passes_per_seq": float(res.passes.float().mean()),
                     "label_passes_per_seq": float(res.label_passes.float().mean()),
                     "seconds_per_seq": res.seconds / init.shape[0]})
    return rows


def bench_domain(model, head, labels: dict, task, dcfg: dict, states: int, sequences: int) -> dict:
    tokens = labels["tokens"][:states]
    lab = label_timing(model, tokens, int(dcfg["labels"]["max_batch"]))
    est_s = time_per_state(model, head, tokens, model_device(model))
    exact_s = lab["batched_seconds"] / lab["states"]
    dev = model_device(model)
    mm = matmul_flops(dev)
    fpp = flops_per_pass(model, tokens.shape[1])
    return {"labelling": lab, "estimator": {"seconds_per_state": est_s, "exact_seconds_per_state": exact_s,
                                           "speedup_vs_exact": exact_s / est_s},
            "decoding": decode_timing(model, head, task, dcfg["decode"]["methods"], sequences,
                                      int(dcfg["decode"]["max_batch"])),
            "matmul_flops_per_s": mm, "flops_per_clamped_pass": fpp,
            "matmul_fraction": fpp * lab["batched_passes_per_s"] / mm}


def format_table(domain: str, r: dict) -> str:
    lab, est = r["labelling"], r["estimator"]
    lines = [f"== {domain}",
             f"exact labelling, {lab['states']} states, {lab['clamped_passes']} clamped passes:",
             f"  batched {lab['batched_passes_per_s']:10.0f} passes/s {lab['batched_states_per_s']:8.2f} states/s",
             f"  naive   {lab['naive_passes_per_s']:10.0f} passes/s {lab['naive_states_per_s']:8.2f} states/s",
             f"  speed-up {lab['speedup_vs_naive']:.2f}x, max |difference| {lab['max_abs_diff_nats']:.2e} nats, "
             f"peak memory {lab['peak_memory_mb']:.0f} MB",
             f"estimator map {1000 * est['seconds_per_state']:.2f} ms/state vs exact "
             f"{1000 * est['exact_seconds_per_state']:.1f} ms/state: {est['speedup_vs_exact']:.0f}x cheaper",
             f"matmul {r['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s; labelling runs at {100 * r['matmul_fraction']:.1f}% "
             f"of it ({r['flops_per_clamped_pass'] / 1e6:.2f} MFLOP per clamped pass)",
             "decoding (first knob of each method):"]
    for d in r["decoding"]:
        lines.append(f"  {d['method']:<11} passes/seq {d['passes_per_seq']:7.2f}  wall/seq "
                     f"{1000 * d['seconds_per_seq']:8.1f} ms  {d['knobs']}")
    return "\n".join(lines)
