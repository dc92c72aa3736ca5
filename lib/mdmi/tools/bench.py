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

from mdmi.core.decoding import decode
from mdmi.core.knobs import knob_grid
from mdmi.core.mi import exact_mi_batch
from mdmi.core.protocol import model_device
from mdmi.evaluate.fidelity import time_per_state
from mdmi.tools.projection import flops_per_pass
from mdmi.train.labels import STATES_PER_CALL
from mdmi.util.device import supported_precisions

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
    """Measured FLOP/s of an n x n fp32 matrix product on ``dev`` (best of ``repeats``)."""
    n = n or (8192 if dev.type == "cuda" else 2048)
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        a @ b
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


@torch.inference_mode()
def forward_batch_vs_single(model, state: torch.Tensor, n: int, repeats: int = 3) -> dict:
    """The raw batching gain of the backbone: one forward of n clamped copies of state[L] vs n single
    forwards (best of ``repeats``). Bounds what batching alone can do for exact labelling."""
    dev = model_device(model)
    masked = (state == model.mask_id).nonzero().flatten()
    pos = masked[torch.arange(n) % len(masked)]
    val = (torch.arange(n) // len(masked)) % model.num_values
    seqs = state.to(dev).repeat(n, 1)
    seqs[torch.arange(n), pos.to(dev)] = val.to(dev)
    model(seqs[:1])
    model(seqs)
    best_b = best_s = float("inf")
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        model(seqs)
        _sync(dev)
        best_b = min(best_b, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for s in range(n):
            model(seqs[s : s + 1])
        _sync(dev)
        best_s = min(best_s, time.perf_counter() - t0)
    return {
        "sequences": n,
        "batched_seconds": best_b,
        "single_seconds": best_s,
        "ratio": best_s / best_b,
    }


def _timed_labels(
    model, tokens: torch.Tensor, states_per_call: int, **kw
) -> tuple[torch.Tensor, int, float]:
    """Row-wise exact-MI labels of tokens[N, L] -> (mi[N, L, L], clamped passes, seconds)."""
    dev = model_device(model)
    _sync(dev)
    t0 = time.perf_counter()
    out, passes = [], 0
    for s in range(0, tokens.shape[0], states_per_call):
        mi, n = exact_mi_batch(model, tokens[s : s + states_per_call], symmetric=False, **kw)
        out.append(mi)
        passes += n
    _sync(dev)
    return torch.cat(out), passes, time.perf_counter() - t0


def _variant(name: str, mi, passes, seconds, ref, ref_seconds, states, **settings) -> dict:
    return {
        "variant": name,
        **settings,
        "clamped_passes": passes,
        "seconds": seconds,
        "passes_per_s": passes / seconds,
        "states_per_s": states / seconds,
        "speedup_vs_naive": ref_seconds / seconds,
        "max_abs_diff_nats": float((mi - ref).abs().max()),
    }


@torch.inference_mode()
def label_timing(
    model, tokens: torch.Tensor, lcfg: dict, batch_sizes: tuple[int, ...], skip_tol: float = 1e-6
) -> dict:
    """Exact labelling of tokens[N, L]: the configured batched path vs a naive reference.

    naive: one clamped sequence per forward, state by state (exact, fp32) - the reference.
    batched: the workflow's path, ``lcfg`` = the domain's ``labels`` config (max_batch, skip_tol,
    precision), ``STATES_PER_CALL`` states per call as ``label_states`` does. Variants: other chunk sizes (exact),
    the certified skip at ``skip_tol`` nats and each reduced precision the device supports, each
    with its speed-up and largest difference from the naive labels in nats.
    """
    dev = model_device(model)
    tokens = tokens.to(dev)
    n = tokens.shape[0]
    conf = {
        "max_batch": int(lcfg["max_batch"]),
        "skip_tol": float(lcfg["skip_tol"]),
        "precision": lcfg["precision"],
    }
    _timed_labels(model, tokens[:1], STATES_PER_CALL, **conf)  # warm-up
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    mi, passes, secs = _timed_labels(model, tokens, STATES_PER_CALL, **conf)
    peak = peak_memory_mb(dev)
    ref, ref_passes, ref_secs = _timed_labels(model, tokens, 1, max_batch=1)  # naive, exact
    lab = _variant("batched", mi, passes, secs, ref, ref_secs, n, **conf)
    lab.update(
        {
            "states": n,
            "naive_clamped_passes": ref_passes,
            "naive_seconds": ref_secs,
            "naive_passes_per_s": ref_passes / ref_secs,
            "naive_states_per_s": n / ref_secs,
            "batched_seconds": secs,
            "batched_passes_per_s": passes / secs,
            "batched_states_per_s": n / secs,
            "peak_memory_mb": peak,
        }
    )
    settings = [
        (f"exact, max_batch {b}", {"max_batch": b, "skip_tol": 0.0, "precision": "fp32"})
        for b in batch_sizes
        if b != conf["max_batch"]
    ]
    if conf["skip_tol"] != skip_tol:
        settings.append(
            (
                f"certified skip {skip_tol:g} nats",
                {**conf, "skip_tol": skip_tol, "precision": "fp32"},
            )
        )
    settings += [
        (f"autocast {p}", {**conf, "skip_tol": 0.0, "precision": p})
        for p in supported_precisions(dev)
        if p != conf["precision"]
    ]
    variants = [
        _variant(name, *_timed_labels(model, tokens, STATES_PER_CALL, **kw), ref, ref_secs, n, **kw)
        for name, kw in settings
    ]
    lab["variants"] = variants
    return lab


def decode_timing(model, head, task, methods: dict, sequences: int, max_batch: int) -> list[dict]:
    """Per configured method at its first knob: mean passes and wall seconds per sequence."""
    init = task.init[:sequences]
    rows = []
    for method, sweep in methods.items():
        knobs = knob_grid(sweep)[0]
        res = decode(
            model,
            init,
            method,
            estimator=head if method == "mi" else None,
            max_batch=max_batch,
            **knobs,
        )
        rows.append(
            {
                "method": method,
                "knobs": knobs,
                "sequences": int(init.shape[0]),
                "passes_per_seq": float(res.passes.float().mean()),
                "label_passes_per_seq": float(res.label_passes.float().mean()),
                "seconds_per_seq": res.seconds / init.shape[0],
            }
        )
    return rows


def bench_domain(
    model,
    head,
    labels: dict,
    task,
    section: dict,
    states: int,
    sequences: int,
    batch_sizes: tuple[int, ...],
    forward_sequences: int,
) -> dict:
    """Every measurement of the module docstring for one domain: its first ``states`` labelled states
    (labels["tokens"][N, L]) and first ``sequences`` tasks of ``task``; the sizes come from the config's
    ``bench`` section."""
    tokens = labels["tokens"][:states]
    lab = label_timing(model, tokens, section["labels"], batch_sizes=batch_sizes)
    raw = forward_batch_vs_single(model, tokens[0], n=forward_sequences)
    est_s = time_per_state(model, head, tokens, model_device(model))
    exact_s = lab["batched_seconds"] / lab["states"]
    dev = model_device(model)
    mm = matmul_flops(dev)
    fpp = flops_per_pass(model, tokens.shape[1])
    return {
        "labelling": lab,
        "estimator": {
            "seconds_per_state": est_s,
            "exact_seconds_per_state": exact_s,
            "speedup_vs_exact": exact_s / est_s,
        },
        "decoding": decode_timing(
            model,
            head,
            task,
            section["decode"]["methods"],
            sequences,
            int(section["decode"]["max_batch"]),
        ),
        "forward_batch_vs_single": raw,
        "matmul_flops_per_s": mm,
        "flops_per_clamped_pass": fpp,
        "matmul_fraction": fpp * lab["batched_passes_per_s"] / mm,
    }


def format_table(domain: str, r: dict) -> str:
    lab, est = r["labelling"], r["estimator"]
    lines = [
        f"== {domain}",
        f"exact labelling, {lab['states']} states, {lab['naive_clamped_passes']} clamped passes exact:",
        f"  naive    {lab['naive_passes_per_s']:10.0f} passes/s {lab['naive_states_per_s']:8.2f} states/s  "
        f"(one clamped sequence per forward)",
        f"  batched  {lab['batched_passes_per_s']:10.0f} passes/s {lab['batched_states_per_s']:8.2f} states/s  "
        f"(workflow: max_batch {lab['max_batch']}, skip_tol {lab['skip_tol']:g}, {lab['precision']})",
        f"  speed-up {lab['speedup_vs_naive']:.2f}x, max |difference| {lab['max_abs_diff_nats']:.2e} nats, "
        f"peak memory {lab['peak_memory_mb']:.0f} MB",
        "  variants (speed-up vs naive, max |difference| vs naive labels):",
    ]
    for v in lab["variants"]:
        lines.append(
            f"    {v['variant']:<30} {v['speedup_vs_naive']:6.2f}x  {v['max_abs_diff_nats']:.2e} nats  "
            f"{v['clamped_passes']} passes"
        )
    raw = r["forward_batch_vs_single"]
    lines += [
        f"backbone alone: one forward of {raw['sequences']} clamped sequences {raw['batched_seconds']:.3f} s vs "
        f"{raw['sequences']} single forwards {raw['single_seconds']:.3f} s: {raw['ratio']:.2f}x",
        f"estimator map {1000 * est['seconds_per_state']:.2f} ms/state vs exact "
        f"{1000 * est['exact_seconds_per_state']:.1f} ms/state: {est['speedup_vs_exact']:.0f}x cheaper",
        f"matmul {r['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s; labelling runs at {100 * r['matmul_fraction']:.1f}% "
        f"of it ({r['flops_per_clamped_pass'] / 1e6:.2f} MFLOP per clamped pass)",
        "decoding (first knob of each method):",
    ]
    for d in r["decoding"]:
        lines.append(
            f"  {d['method']:<11} passes/seq {d['passes_per_seq']:7.2f}  wall/seq "
            f"{1000 * d['seconds_per_seq']:8.1f} ms  {d['knobs']}"
        )
    return "\n".join(lines)
