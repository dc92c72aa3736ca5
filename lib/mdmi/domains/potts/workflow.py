"""What the Potts domain declares to the workflow beyond the shared stages: the ``truth`` analysis,
its Table 1 rows and its claims.

``truth`` (``python -m mdmi analyse --name truth``): on ``potts.truth.states`` test states (seeded,
stratified by band) it computes three MI matrices per state - the *true* conditional MI from the
chain, the MDM's exact MI (clamped passes, docs/method.md §2) and the estimator's one-pass MI - and
compares them pair by pair within each state. Writes ``truth.csv`` (one row per state and
comparison), ``example.npz`` (the three matrices of the state with most masked positions, for the
figure) and ``summary.json``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

log = logging.getLogger(__name__)

COMPARISONS = [("model", "true"), ("learned", "true"), ("learned", "model")]


def _pairs(mi: np.ndarray, masked: np.ndarray) -> np.ndarray:
    idx = np.nonzero(masked)[0]
    iu, ju = np.triu_indices(len(idx), k=1)
    return mi[idx[iu], idx[ju]]


def truth(domain, model, head, data_dir: Path, out_dir: Path, cfg: dict, device, label: str) -> None:
    from ...evaluate import predict
    from ...io import atomic_path, write_json, write_text
    from ...mi import exact_mi_batch
    from ...sweep import stratified_subset
    tcfg = domain.cfg["truth"]
    task = domain.load_task(Path(data_dir), "test")
    rows = stratified_subset(task.meta, int(tcfg["states"]), int(cfg["seed"]) + 5)
    tokens = task.init[rows]
    masked = (tokens == domain.mask_id).numpy()
    true = np.stack([domain.chain.conditional_mi(t.numpy(), m) for t, m in zip(tokens, masked)])
    exact, _ = exact_mi_batch(model, tokens.to(next(model.parameters()).device),
                              max_batch=domain.cfg["labels"]["max_batch"])
    exact = exact.cpu().numpy()
    learned = predict(model, head, tokens, device).numpy() if head is not None else np.full_like(exact, np.nan)
    learned = 0.5 * (learned + np.swapaxes(learned, 1, 2))
    mats = {"true": true, "model": exact, "learned": learned}
    out = []
    for k, r in enumerate(rows):
        if masked[k].sum() < 3:
            continue
        for a, b in COMPARISONS:
            x, y = _pairs(mats[a][k], masked[k]), _pairs(mats[b][k], masked[k])
            ok = np.isfinite(x) & np.isfinite(y)
            sp = spearmanr(x[ok], y[ok]).statistic if ok.sum() > 2 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0 else np.nan
            pe = pearsonr(x[ok], y[ok]).statistic if ok.sum() > 2 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0 else np.nan
            out.append({"state": int(r), "band": task.meta.band.iloc[r], "masked": int(masked[k].sum()),
                        "comparison": f"{a} vs {b}", "spearman": sp, "pearson": pe,
                        "mae_nats": float(np.mean(np.abs(x[ok] - y[ok]))) if ok.any() else np.nan,
                        "mean_true_nats": float(np.mean(_pairs(true[k], masked[k])))})
    df = pd.DataFrame(out)
    df["model"], df["scale"] = label, cfg["scale"]
    write_text(Path(out_dir) / "truth.csv", df.to_csv(index=False))
    ex = int(np.argmax(masked.sum(1)))
    with atomic_path(Path(out_dir) / "example.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, tokens=tokens[ex].numpy(), true=true[ex], model=exact[ex], learned=learned[ex],
                     mask_id=domain.mask_id, coupling_range=domain.chain.range)
    summary = df.groupby("comparison").spearman.agg(["mean", "count"]).to_dict(orient="index")
    write_json(Path(out_dir) / "summary.json", {"model": label, "states": len(rows), "within_state_spearman": summary})
    for comp, s in summary.items():
        log.info("truth: %-18s within-state Spearman %.3f over %d states", comp, s["mean"], s["count"])


def table1_rows(tables: dict) -> list[dict]:
    """Fidelity against the truth for Table 1: one row per comparison (pairs of masked positions)."""
    t = tables.get("truth")
    if t is None or not len(t):
        return []
    rows = []
    for comp, g in t.groupby("comparison", sort=False):
        rows.append({"states": f"truth: {comp}", "spearman_within_state": g.spearman.mean(), "pearson": g.pearson.mean(),
                     "mae_nats": g.mae_nats.mean(), "pairs": np.nan})
    return rows


def claims(section: dict, context: dict, rules: dict, seed: int) -> list[dict]:
    """The MDM's MI against the true MI; what parallel filling loses, measured exactly."""
    from ...report import claim_row
    from ...stats import interval, resample_weights, verdict
    out = []
    pct = f"{100 * rules['level']:.0f}%"
    t = context.get("tables", {}).get("truth")
    tcfg = section["truth"]
    if t is not None and len(t):
        for comp, title in (("model vs true", "the MDM's exact MI"), ("learned vs true", "the learned MI")):
            s = t[(t.comparison == comp)].spearman.dropna().to_numpy(float)
            if not len(s):
                continue
            est = interval(resample_weights(len(s), rules["bootstrap"], seed), lambda m: m(s), rules["level"])
            out.append(claim_row(f"Potts: {title} ranks pairs as the true conditional MI does",
                                 "n/a (our ground-truth check)", f"within-state Spearman {est.text()} over {len(s)} states",
                                 est, f"{pct} CI (bootstrap over states) of the within-state Spearman >= "
                                 f"{tcfg['spearman_min']:g}", verdict(est.low, est.high, tcfg["spearman_min"])))
    test, t2 = context.get("test"), context.get("table2")
    if test is not None and t2 is not None and "parallel_tc" in test:
        parts, mi_est = [], None
        for method in t2.method:
            knob = t2[t2.method == method].knob.iloc[0]
            rows = test[(test.method == method) & (test.knob == knob)]
            tc = rows.parallel_tc.to_numpy(float)
            tc = tc[np.isfinite(tc)]
            if not len(tc):
                continue
            est = interval(resample_weights(len(tc), rules["bootstrap"], seed), lambda m: m(tc), rules["level"])
            parts.append(f"{method} ({knob}) {est.text()} over {len(tc)}/{len(rows)} scorable")
            if method == "mi":
                mi_est = est
        if mi_est is not None:
            out.append(claim_row("Potts: sets filled in parallel by MI-guided decoding are conditionally independent "
                                 "(exact total correlation, nats per sequence)", "n/a (our ground-truth check)",
                                 "; ".join(parts), mi_est,
                                 f"{pct} CI of the mean total correlation of MI-guided decoding <= {tcfg['tc_max']:g} nats",
                                 verdict(mi_est.low, mi_est.high, tcfg["tc_max"], higher_is_better=False)))
    return out
