"""What the Potts domain declares to the workflow beyond the shared stages: the ``truth`` analysis,
its Table 1 rows and its claims.

``truth`` (``python -m mdmi analyse --name truth``): on ``potts.truth.states`` test states (seeded,
stratified by band) it computes three MI matrices per state - the *true* conditional MI from the
chain, the MDM's exact MI (clamped passes, docs/method.md §2) and the estimator's one-pass MI - and
compares them pair by pair within each state. Writes ``truth.csv`` (one row per state and
comparison), ``truth_pairs.csv`` (every masked pair: true, exact and learned MI), ``example.npz``
(the three matrices of the state with most masked positions, for the figure) and ``summary.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

from mdmi.core.mi import exact_mi_batch
from mdmi.evaluate.fidelity import learned_map
from mdmi.evaluate.report import _Curve, _per_seq, _qmean, claim_row
from mdmi.evaluate.sweep import series_name, stratified_subset
from mdmi.util.io import atomic_path, write_json, write_text
from mdmi.util.stats import Estimate, combine, interval, resample_weights, verdict

log = logging.getLogger(__name__)

COMPARISONS = [("model", "true"), ("learned", "true"), ("learned", "model")]


def _pairs(mi: np.ndarray, masked: np.ndarray) -> np.ndarray:
    idx = np.nonzero(masked)[0]
    iu, ju = np.triu_indices(len(idx), k=1)
    return mi[idx[iu], idx[ju]]


def truth(
    domain, model, head, data_dir: Path, out_dir: Path, cfg: dict, device, label: str
) -> None:
    tcfg = domain.cfg["truth"]
    task = domain.load_task(Path(data_dir), "test")
    rows = stratified_subset(task.meta, int(tcfg["states"]), int(cfg["seed"]) + 5)
    tokens = task.init[rows]
    masked = (tokens == domain.mask_id).numpy()
    true = np.stack([domain.chain.conditional_mi(t.numpy(), m) for t, m in zip(tokens, masked)])
    exact, _ = exact_mi_batch(
        model,
        tokens.to(next(model.parameters()).device),
        max_batch=domain.cfg["labels"]["max_batch"],
    )
    exact = exact.cpu().numpy()
    learned = learned_map(model, head, tokens, device, exact)
    mats = {"true": true, "model": exact, "learned": learned}
    pairs = []
    for k, r in enumerate(rows):
        idx = np.nonzero(masked[k])[0]
        iu, ju = np.triu_indices(len(idx), k=1)
        pairs.append(
            pd.DataFrame(
                {
                    "state": int(r),
                    "i": idx[iu],
                    "j": idx[ju],
                    **{key: m[k][idx[iu], idx[ju]] for key, m in mats.items()},
                }
            )
        )
    pairs = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame()
    write_text(Path(out_dir) / "truth_pairs.csv", pairs.to_csv(index=False))
    out = []
    for k, r in enumerate(rows):
        if masked[k].sum() < 3:
            continue
        for a, b in COMPARISONS:
            x, y = _pairs(mats[a][k], masked[k]), _pairs(mats[b][k], masked[k])
            ok = np.isfinite(x) & np.isfinite(y)
            sp = (
                spearmanr(x[ok], y[ok]).statistic
                if ok.sum() > 2 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0
                else np.nan
            )
            pe = (
                pearsonr(x[ok], y[ok]).statistic
                if ok.sum() > 2 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0
                else np.nan
            )
            out.append(
                {
                    "state": int(r),
                    "band": task.meta.band.iloc[r],
                    "masked": int(masked[k].sum()),
                    "comparison": f"{a} vs {b}",
                    "spearman": sp,
                    "pearson": pe,
                    "mae_nats": float(np.mean(np.abs(x[ok] - y[ok]))) if ok.any() else np.nan,
                    "mean_true_nats": float(np.mean(_pairs(true[k], masked[k]))),
                }
            )
    df = pd.DataFrame(out)
    df["model"], df["scale"] = label, cfg["scale"]
    write_text(Path(out_dir) / "truth.csv", df.to_csv(index=False))
    ex = int(np.argmax(masked.sum(1)))
    with atomic_path(Path(out_dir) / "example.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                tokens=tokens[ex].numpy(),
                true=true[ex],
                model=exact[ex],
                learned=learned[ex],
                mask_id=domain.mask_id,
                coupling_range=domain.chain.range,
            )
    summary = df.groupby("comparison").spearman.agg(["mean", "count"]).to_dict(orient="index")
    strong = pairs[pairs.true > float(tcfg["min_true_mi"])] if len(pairs) else pairs
    pooled = (
        {f"{a} vs true": _spearman(strong[a], strong.true) for a in ("model", "learned")}
        if len(strong) > 2
        else {}
    )
    write_json(
        Path(out_dir) / "summary.json",
        {
            "model": label,
            "states": len(rows),
            "within_state_spearman": summary,
            "min_true_mi": tcfg["min_true_mi"],
            "pairs_above": int(len(strong)),
            "pooled_spearman_above": pooled,
        },
    )
    for comp, s in summary.items():
        log.info(
            "truth: %-18s within-state Spearman %.3f over %d states", comp, s["mean"], s["count"]
        )


def _spearman(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def pooled_spearman(
    pairs: pd.DataFrame, column: str, min_true: float, reps: int, level: float, seed: int
):
    """Spearman of ``column`` vs the true MI over every pair whose true MI exceeds ``min_true``,
    pooled over states, with a percentile interval from resampling states. Returns (Estimate, pairs)."""
    strong = pairs[pairs.true > min_true]
    states = np.sort(strong.state.unique())
    if len(states) < 2:
        return Estimate(float("nan"), float("nan"), float("nan"), len(states)), len(strong)
    groups = {
        s: (g[column].to_numpy(float), g.true.to_numpy(float)) for s, g in strong.groupby("state")
    }
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(reps):
        pick = [groups[s] for s in rng.choice(states, size=len(states), replace=True)]
        draws.append(
            _spearman(np.concatenate([a for a, _ in pick]), np.concatenate([b for _, b in pick]))
        )
    draws = np.array(draws)
    draws = draws[np.isfinite(draws)]
    a = (1 - level) / 2
    lo, hi = np.quantile(draws, [a, 1 - a]) if len(draws) else (np.nan, np.nan)
    return Estimate(_spearman(strong[column], strong.true), float(lo), float(hi), len(states)), len(
        strong
    )


def table1_rows(tables: dict) -> list[dict]:
    """Fidelity against the truth for Table 1: one row per comparison (pairs of masked positions)."""
    t = tables.get("truth")
    if t is None or not len(t):
        return []
    rows = []
    for comp, g in t.groupby("comparison", sort=False):
        rows.append(
            {
                "states": f"truth: {comp}",
                "spearman_within_state": g.spearman.mean(),
                "pearson": g.pearson.mean(),
                "mae_nats": g.mae_nats.mean(),
                "pairs": np.nan,
            }
        )
    return rows


def claims(section: dict, context: dict, rules: dict, seed: int) -> list[dict]:
    """The MDM's MI against the true MI; what parallel filling loses, measured exactly."""
    out = []
    pct = f"{100 * rules['level']:.0f}%"
    tables = context.get("tables", {})
    t, pairs = tables.get("truth"), tables.get("truth_pairs")
    tcfg = section["truth"]
    if t is not None and len(t) and pairs is not None:
        for column, title in (("model", "the MDM's exact MI"), ("learned", "the learned MI")):
            s = t[(t.comparison == f"{column} vs true")].spearman.dropna().to_numpy(float)
            within = (
                interval(
                    resample_weights(len(s), rules["bootstrap"], seed),
                    lambda m: m(s),
                    rules["level"],
                )
                if len(s)
                else None
            )
            est, n_pairs = pooled_spearman(
                pairs, column, tcfg["min_true_mi"], rules["bootstrap"], rules["level"], seed
            )
            out.append(
                claim_row(
                    f"Potts: {title} ranks pairs as the true conditional MI does",
                    "n/a (our ground-truth check)",
                    f"Spearman {est.text()} over {n_pairs} pairs with true MI > {tcfg['min_true_mi']:g} nats "
                    f"in {est.n} states; within-state Spearman (all masked pairs) "
                    + (within.text() if within else "n/a")
                    + f"; MAE "
                    f"{t[t.comparison == f'{column} vs true'].mae_nats.mean():.4f} nats",
                    est,
                    f"{pct} CI (bootstrap over states) of the pooled Spearman on pairs with true MI > "
                    f"{tcfg['min_true_mi']:g} nats >= {tcfg['spearman_min']:g}",
                    verdict(est.low, est.high, tcfg["spearman_min"]),
                )
            )
    test, t2 = context.get("test"), context.get("table2")
    if (
        test is not None
        and t2 is not None
        and {"mi", "sequential"} <= set(t2.method)
        and "loglik" in test
    ):
        seq_knob = t2[t2.method == "sequential"].knob.iloc[0]
        mi_knob = t2[t2.method == "mi"].knob.iloc[0]
        a = test[(test.method == "mi") & (test.knob == mi_knob)].set_index("seq")
        b = (
            test[(test.method == "sequential") & (test.knob == seq_knob)]
            .set_index("seq")
            .reindex(a.index)
        )
        ll_m, ll_s = a.loglik.to_numpy(float), b.loglik.to_numpy(float)
        p_m, p_s = a.passes.to_numpy(float), b.passes.to_numpy(float)
        w = resample_weights(len(a), rules["bootstrap"], seed + 7)
        rel = interval(w, lambda m: (m(ll_m) - m(ll_s)) / np.abs(m(ll_s)), rules["level"])
        ratio = interval(w, lambda m: m(p_m) / m(p_s), rules["level"])
        out.append(
            claim_row(
                "Potts: MI-guided decoding keeps the exact log-likelihood of sequential decoding (within "
                f"{100 * tcfg['ll_rel_margin']:g}%) at <= {tcfg['passes_ratio_max']:.2f} of its passes",
                "n/a (our ground-truth check)",
                f"mean log p(x) {np.mean(ll_m):.3f} (mi, {mi_knob}) vs {np.mean(ll_s):.3f} (sequential, "
                f"{seq_knob}): relative difference {rel.text('.4f')}; passes ratio {ratio.text()}",
                rel,
                f"{pct} CI (paired bootstrap over test tasks) of the relative log-likelihood difference "
                f"above -{tcfg['ll_rel_margin']:g}, and of the passes ratio below {tcfg['passes_ratio_max']:g}",
                combine(
                    verdict(rel.low, rel.high, -tcfg["ll_rel_margin"]),
                    verdict(
                        ratio.low, ratio.high, tcfg["passes_ratio_max"], higher_is_better=False
                    ),
                ),
            )
        )
    if test is not None and t2 is not None and "parallel_tc" in test:
        parts, mi_est = [], None
        for method in t2.method:
            knob = t2[t2.method == method].knob.iloc[0]
            rows = test[(test.method == method) & (test.knob == knob)]
            tc = rows.parallel_tc.to_numpy(float)
            tc = tc[np.isfinite(tc)]
            if not len(tc):
                continue
            est = interval(
                resample_weights(len(tc), rules["bootstrap"], seed), lambda m: m(tc), rules["level"]
            )
            parts.append(f"{method} ({knob}) {est.text()} over {len(tc)}/{len(rows)} scorable")
            if method == "mi":
                mi_est = est
        if mi_est is not None:
            out.append(
                claim_row(
                    "Potts: sets filled in parallel by MI-guided decoding are conditionally independent "
                    "(exact total correlation, nats per sequence)",
                    "n/a (our ground-truth check)",
                    "; ".join(parts),
                    mi_est,
                    f"{pct} CI of the mean total correlation of MI-guided decoding <= {tcfg['tc_max']:g} nats",
                    verdict(mi_est.low, mi_est.high, tcfg["tc_max"], higher_is_better=False),
                )
            )
        out += tc_vs_eb(test, t2, rules, seed)
    return out


def tc_vs_eb(test, t2, rules: dict, seed: int) -> list[dict]:
    """Per MI series of the budget and tc rules: the exact total correlation of its parallel sets
    minus EB's at matched passes (EB's TC curve interpolated at the passes of the series' setting
    nearest the chosen MI knob's, among the settings inside EB's scorable range), paired over test tasks. EB settings whose sets are mostly too large to score
    exactly (quality.max_set) are left out of its curve, and so is any task one of them cannot score."""
    if "eb" not in set(test.method) or "mi" not in set(t2.method):
        return []
    pct = f"{100 * rules['level']:.0f}%"
    at_mi = float(t2[t2.method == "mi"].passes.iloc[0])
    seqs = np.sort(test[test.method == "eb"].seq.unique())
    eb_knobs = [
        k
        for k, g in test[test.method == "eb"].groupby("knob", sort=False)
        if np.isfinite(g.parallel_tc.to_numpy(float)).mean() >= 0.9
    ]
    if len(eb_knobs) < 2:
        return []
    mi = test[test.method == "mi"].assign(series=lambda d: [series_name("mi", k) for k in d.knobs])
    eb_span = _Curve(test, "eb", eb_knobs, "parallel_tc", seqs, np.ones(len(seqs), bool))
    out = []
    for series, g in mi.groupby("series", sort=False):
        if not any(f"({rule}" in series for rule in ("budget", "tc")):
            continue
        claim = f"Potts: {series} fills sets with less exact total correlation than EB at matched passes"
        # the series' setting nearest the chosen MI knob's passes among those EB's scorable curve covers
        pts = g.groupby("knob", sort=False).agg(
            passes=("passes", "mean"), scorable=("parallel_tc", lambda x: np.isfinite(x).mean())
        )
        pts = pts[(pts.scorable >= 0.9) & pts.passes.map(eb_span.inside)]
        if not len(pts):
            out.append(
                claim_row(
                    claim,
                    "n/a (our ground-truth check)",
                    f"not measured: no setting of {series} lies "
                    f"inside EB's scorable {eb_span.span()} with its own sets scorable",
                    None,
                    "",
                    "not measured",
                )
            )
            continue
        knob = (pts.passes - at_mi).abs().idxmin()
        tc_m = _per_seq(test, "mi", knob, "parallel_tc", seqs)
        p_m = _per_seq(test, "mi", knob, "passes", seqs)
        eb = _Curve(test, "eb", eb_knobs, "parallel_tc", seqs, np.isfinite(tc_m))
        ok = eb.ok
        w = resample_weights(len(seqs), rules["bootstrap"], seed + 11)
        gap = interval(w, lambda m: _qmean(m, tc_m, ok) - eb.at(m, m(p_m), ok), rules["level"])
        out.append(
            claim_row(
                claim,
                "n/a (our ground-truth check)",
                f"TC({series}, {knob}) - TC(EB curve at its {np.mean(p_m):.2f} passes) = {gap.text()} nats "
                f"per task over {int(ok.sum())}/{len(seqs)} scorable tasks (EB over {eb.span()})",
                gap,
                f"{pct} CI of the paired difference below 0 (yes), above 0 (no)",
                "yes" if gap.high < 0 else ("no" if gap.low > 0 else "inconclusive"),
            )
        )
    return out
