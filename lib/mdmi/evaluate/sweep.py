"""Decoding sweeps: one method over its knob grid on a task, per-sequence rows, and summaries."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from mdmi.core.decoding import decode, first_pass
from mdmi.core.knobs import DEFAULT_RULE, knob_grid
from mdmi.util.stats import interval, resample_weights

log = logging.getLogger(__name__)


def knob_label(knobs: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in knobs.items()) or "-"


def stratified_subset(meta: pd.DataFrame, n: int, seed: int, by: str = "band") -> list[int]:
    """Sorted row indices of a seeded random subset of ``n`` rows, allocated to the groups of column
    ``by`` in proportion to their sizes (each non-empty group gets at least one while n allows);
    every row when n >= len(meta). Used for expensive oracles: never 'the first n'."""
    if n >= len(meta):
        return list(range(len(meta)))
    rng = np.random.default_rng(seed)
    groups = meta.groupby(by, sort=True).indices if by in meta else {"all": np.arange(len(meta))}
    sizes = {g: len(ix) for g, ix in groups.items()}
    share = {
        g: max(1 if n >= len(groups) else 0, int(np.floor(n * k / len(meta))))
        for g, k in sizes.items()
    }
    while sum(share.values()) < n:  # hand out the remainder to the groups with most rows left
        g = max(share, key=lambda g: (sizes[g] - share[g], g))
        share[g] += 1
    while sum(share.values()) > n:
        g = max(share, key=lambda g: (share[g], g))
        share[g] -= 1
    picked = [
        int(i)
        for g, ix in groups.items()
        for i in rng.choice(ix, size=min(share[g], len(ix)), replace=False)
    ]
    return sorted(picked)


def run_sweep(
    model,
    domain,
    task,
    method: str,
    sweep,
    *,
    estimator=None,
    max_batch: int = 1024,
    rows: list[int] | None = None,
    seed: int = 0,
    oracle_chunk: int = 8,
) -> pd.DataFrame:
    """Decode ``task`` with ``method`` at every knob setting; one row per (setting, sequence).

    rows: decode only these sequences of the task (their ``seq`` keeps the task's index, so results
    pair with other methods' rows for the same sequences). Every setting starts from the same tokens,
    so the first forward pass is computed once and shared (its time is in each setting's seconds)."""
    idx = list(range(task.init.shape[0])) if rows is None else list(rows)
    init = task.init[idx]
    sub = type(task)(task.name, init, task.target[idx], task.meta.iloc[idx].reset_index(drop=True))
    grid = knob_grid(sweep)
    shared = first_pass(model, init, max_batch) if len(grid) > 1 else None
    frames = []
    for knobs in grid:
        wants = bool(domain.wants_states)  # quality that scores each pass (e.g. exact KL)
        res = decode(
            model,
            init,
            method,
            estimator=estimator,
            max_batch=max_batch,
            seed=seed,
            progress=True,
            oracle_chunk=oracle_chunk,
            record_states=wants,
            first=shared,
            **knobs,
        )
        q = (
            domain.quality(res.tokens, sub, model, states=res.states)
            if wants
            else domain.quality(res.tokens, sub, model)
        )
        df = pd.concat([sub.meta.reset_index(drop=True), q], axis=1)
        df.insert(0, "seq", idx)
        df.insert(0, "knob", knob_label(knobs))
        df.insert(0, "method", method)
        df["knobs"] = json.dumps(knobs)
        df["passes"] = res.passes.numpy()
        df["label_passes"] = res.label_passes.numpy()
        df["seconds"] = res.seconds / len(init)
        df["head_seconds"] = res.head_seconds / len(init)
        df["steps"] = len(res.trace)
        frames.append(df)
        log.info(
            "%s %s: passes %.2f, %s %.3f",
            method,
            knob_label(knobs),
            float(res.passes.float().mean()),
            domain.primary_metric,
            float(q[domain.primary_metric].mean()),
        )
    return pd.concat(frames, ignore_index=True)


def series_name(method: str, knobs_json: str) -> str:
    """Curve a knob setting belongs to: the method plus its MI rule (and lam), any non-default order
    or gate. The knob left to vary along a curve (k, tau, gamma, eps) is its speed knob."""
    knobs = json.loads(knobs_json)
    variant = []
    if method in ("mi", "mi-exact"):
        variant.append(str(knobs.get("rule", DEFAULT_RULE)))
        if "lam" in knobs:
            variant.append(f"lam={knobs['lam']}")
    if knobs.get("order", "confidence") != "confidence":
        variant.append(str(knobs["order"]))
    variant += [f"{k}={knobs[k]}" for k in ("min_conf", "max_set") if knobs.get(k)]
    return f"{method} ({', '.join(variant)})" if variant else method


def summarise(
    rows: pd.DataFrame,
    metric: str,
    by_band: bool = False,
    extras: tuple = ("cell_acc", "violations"),
    level: float = 0.95,
    reps: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean passes / quality per (split, method, series, knob[, band]), with the percentile-bootstrap
    interval of the mean ``metric`` over the group's sequences (``{metric}_ci_low/high``: Figure 3's bands)."""
    rows = rows.assign(series=[series_name(m, k) for m, k in zip(rows.method, rows.knobs)])
    keys = ["split", "method", "series", "knob"] + (["band"] if by_band and "band" in rows else [])
    agg = dict(
        n=("seq", "size"),
        passes=("passes", "mean"),
        label_passes=("label_passes", "mean"),
        seconds=("seconds", "mean"),
        head_seconds=("head_seconds", "mean"),
    )
    agg[metric] = (metric, "mean")
    for extra in extras:
        if extra in rows:
            agg[extra] = (extra, "mean")
    out = rows.groupby(keys, sort=False).agg(**agg).reset_index()
    bands = []
    for _, g in rows.groupby(keys, sort=False):
        x = g[metric].to_numpy(dtype=np.float64)
        x = x[np.isfinite(x)]
        est = (
            interval(resample_weights(len(x), reps, seed), lambda m: m(x), level)
            if len(x)
            else None
        )
        bands.append((np.nan, np.nan) if est is None else (est.low, est.high))
    out[f"{metric}_ci_low"] = [b[0] for b in bands]
    out[f"{metric}_ci_high"] = [b[1] for b in bands]
    return out
