"""Decoding sweeps: one method over its knob grid on a task, per-sequence rows, and summaries."""
from __future__ import annotations

import json
import logging

import pandas as pd

from .config import knob_grid
from .decoding import decode

log = logging.getLogger(__name__)


def knob_label(knobs: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in knobs.items()) or "-"


def run_sweep(model, domain, task, method: str, sweep, *, estimator=None, max_batch: int = 1024,
              max_sequences: int | None = None, seed: int = 0, oracle_chunk: int = 8) -> pd.DataFrame:
    """Decode ``task`` with ``method`` at every knob setting; one row per (setting, sequence)."""
    init = task.init if max_sequences is None else task.init[:max_sequences]
    sub = task if max_sequences is None else type(task)(task.name, init, task.target[:len(init)],
                                                         task.meta.iloc[:len(init)].reset_index(drop=True))
    frames = []
    for knobs in knob_grid(sweep):
        res = decode(model, init, method, estimator=estimator, max_batch=max_batch, seed=seed, progress=True,
                     oracle_chunk=oracle_chunk, **knobs)
        q = domain.quality(res.tokens, sub, model)
        df = pd.concat([sub.meta.reset_index(drop=True), q], axis=1)
        df.insert(0, "seq", range(len(init)))
        df.insert(0, "knob", knob_label(knobs))
        df.insert(0, "method", method)
        df["knobs"] = json.dumps(knobs)
        df["passes"] = res.passes.numpy()
        df["label_passes"] = res.label_passes.numpy()
        df["seconds"] = res.seconds / len(init)
        df["head_seconds"] = res.head_seconds / len(init)
        df["steps"] = len(res.trace)
        frames.append(df)
        log.info("%s %s: passes %.2f, %s %.3f", method, knob_label(knobs), float(res.passes.float().mean()),
                 domain.primary_metric, float(q[domain.primary_metric].mean()))
    return pd.concat(frames, ignore_index=True)


def series_name(method: str, knobs_json: str) -> str:
    """Curve a knob setting belongs to: the method plus any non-default rule, order or gate."""
    knobs = json.loads(knobs_json)
    variant = [str(knobs[k]) for k, default in (("rule", "prefix"), ("order", "confidence")) if knobs.get(k, default) != default]
    variant += [f"{k}={knobs[k]}" for k in ("min_conf", "max_set") if knobs.get(k)]
    return f"{method} ({', '.join(variant)})" if variant else method


def summarise(rows: pd.DataFrame, metric: str, by_band: bool = False, extras: tuple = ("cell_acc", "violations")) -> pd.DataFrame:
    """Mean passes / quality per (split, method, series, knob[, band])."""
    rows = rows.assign(series=[series_name(m, k) for m, k in zip(rows.method, rows.knobs)])
    keys = ["split", "method", "series", "knob"] + (["band"] if by_band and "band" in rows else [])
    agg = dict(n=("seq", "size"), passes=("passes", "mean"), label_passes=("label_passes", "mean"),
               seconds=("seconds", "mean"), head_seconds=("head_seconds", "mean"))
    agg[metric] = (metric, "mean")
    for extra in extras:
        if extra in rows:
            agg[extra] = (extra, "mean")
    return rows.groupby(keys, sort=False).agg(**agg).reset_index()
