"""Paper tables (Table 1, Table 2, claims) and the results manifest, from the workflow's outputs."""
from __future__ import annotations

import numpy as np
import pandas as pd

PAPER = {"speedup_low": 3.0, "speedup_high": 5.0, "sudoku_passes": 15.2, "protein_passes": 15.3}


def table1(domain: str, ev: dict, scale: str) -> pd.DataFrame:
    """Estimator fidelity and cost vs exact MI (one row per state kind and 'all')."""
    rows = []
    for kind in [k for k, v in ev.items() if isinstance(v, dict) and "pairs" in v]:
        m = ev[kind]
        rows.append({"domain": domain, "states": kind, "pairs": m["pairs"], "pearson": m["pearson"],
                     "spearman": m["spearman"], "spearman_within_state": m["spearman_within_state"],
                     "mae_nats": m["mae"], "topk_recall": m["topk_recall"]})
    df = pd.DataFrame(rows)
    c = ev["cost"]
    df["exact_passes_per_state"] = c["exact_passes_per_state"]
    df["exact_s_per_state"] = c["exact_seconds_per_state"]
    df["estimator_passes_per_state"] = c["estimator_passes_per_state"]
    df["estimator_s_per_state"] = c["estimator_seconds_per_state"]
    df["wall_speedup"] = c["speedup_wall"]
    df["asymmetry"] = ev["asymmetry"]
    df["scale"] = scale
    return df


def _points(rows: pd.DataFrame, metric: str, seqs=None) -> pd.DataFrame:
    if seqs is not None:
        rows = rows[rows.seq.isin(seqs)]
    return rows.groupby(["method", "knob"], sort=False).agg(
        passes=("passes", "mean"), quality=(metric, "mean"), label_passes=("label_passes", "mean"),
        n=("seq", "size")).reset_index()


def choose_knobs(val: pd.DataFrame, metric: str, tolerance: float) -> tuple[dict, str]:
    """Per method, the knob chosen on validation: fewest passes whose quality is within
    ``tolerance`` of the best sequential setting on the same sequences; else the best quality."""
    seq_val = _points(val[val.method == "sequential"], metric)
    ref_knob = seq_val.sort_values("quality", ascending=False, kind="stable").iloc[0].knob
    chosen = {}
    for method, mrows in val.groupby("method", sort=False):
        seqs = mrows.seq.unique()
        ref = _points(val[(val.method == "sequential") & (val.knob == ref_knob)], metric, seqs).iloc[0].quality
        pts = _points(mrows, metric)
        ok = pts[pts.quality >= ref - tolerance - 1e-12]
        pick = ok.sort_values("passes", kind="stable").iloc[0] if len(ok) else \
            pts.sort_values(["quality", "passes"], ascending=[False, True], kind="stable").iloc[0]
        chosen[method] = pick.knob
    return chosen, ref_knob


def table2(domain: str, val: pd.DataFrame, test: pd.DataFrame, metric: str, tolerance: float,
           scale: str) -> pd.DataFrame:
    """Decoding: per method its validation-chosen knob, evaluated on test."""
    chosen, ref_knob = choose_knobs(val, metric, tolerance)
    rows = []
    for method, knob in chosen.items():
        mt = test[(test.method == method) & (test.knob == knob)]
        seqs = mt.seq.unique()
        ref = _points(test[(test.method == "sequential") & (test.knob == ref_knob)], metric, seqs).iloc[0]
        row = {"domain": domain, "method": method, "knob": knob, "n": len(mt), "passes": mt.passes.mean(),
               "speedup_vs_sequential": ref.passes / mt.passes.mean(), metric: mt[metric].mean(),
               f"sequential_{metric}_same_seqs": ref.quality, "label_passes": mt.label_passes.mean(),
               "head_ms_per_seq": 1000 * mt.head_seconds.mean(), "wall_ms_per_seq": 1000 * mt.seconds.mean()}
        if "cell_acc" in mt:
            row["cell_acc"] = mt.cell_acc.mean()
        if "band" in mt:
            for band, g in mt.groupby("band"):
                row[f"{metric}_{band}"] = g[metric].mean()
                row[f"passes_{band}"] = g.passes.mean()
        rows.append(row)
    df = pd.DataFrame(rows)
    df["scale"] = scale
    return df


def quality_at_passes(points: pd.DataFrame, passes: float) -> float:
    """Linear interpolation of a method's quality-vs-passes curve (clamped at its ends)."""
    p = points.sort_values("passes")
    return float(np.interp(passes, p.passes.to_numpy(), p.quality.to_numpy()))


def claims(t2: pd.DataFrame | None, test: pd.DataFrame | None, ev: dict | None, rel: dict | None,
           metric: str, tolerance: float, scale: str) -> pd.DataFrame:
    """Every numeric claim of the paper, the measured value, and whether it holds at this scale."""
    rows = []

    def add(claim, paper_value, measured, holds):
        rows.append({"claim": claim, "paper_value": paper_value, "measured": measured,
                     "holds": "" if holds is None else ("yes" if holds else "no"), "scale": scale})

    if t2 is not None and "mi" in set(t2.method):
        mi = t2[t2.method == "mi"].iloc[0]
        drop = mi[f"sequential_{metric}_same_seqs"] - mi[metric]
        add("Sudoku: 3-5x fewer forward passes than sequential decoding, quality preserved (learned MI)",
            "3-5x", f"{mi.speedup_vs_sequential:.2f}x at {metric} {mi[metric]:.3f} vs sequential "
            f"{mi[f'sequential_{metric}_same_seqs']:.3f} ({mi.knob})",
            bool(mi.speedup_vs_sequential >= PAPER["speedup_low"] and drop <= tolerance))
        hard = mi.get("passes_hard", np.nan)
        add("Sudoku: about 15.2 average forward passes with MI-guided decoding (hard test puzzles)",
            PAPER["sudoku_passes"],
            "not measured (no hard test puzzles)" if pd.isna(hard) else
            f"{hard:.2f} passes, {metric} {mi.get(f'{metric}_hard', np.nan):.3f} on hard puzzles",
            None if pd.isna(hard) else bool(hard <= 1.2 * PAPER["sudoku_passes"] and drop <= tolerance))
        pts = _points(test, metric)
        beats = []
        for base in ("eb", "threshold"):
            bp = pts[pts.method == base]
            if len(bp):
                q = quality_at_passes(bp, mi.passes)
                beats.append((base, q))
        if beats:
            text = "; ".join(f"{b} {q:.3f}" for b, q in beats)
            add("Sudoku: MI-guided decoding beats entropy-based parallel decoding at equal passes",
                "qualitative", f"mi {mi[metric]:.3f} at {mi.passes:.2f} passes vs, at the same passes, {text}",
                bool(all(mi[metric] > q for _, q in beats)))
    if t2 is not None and "mi-exact" in set(t2.method):
        mx = t2[t2.method == "mi-exact"].iloc[0]
        add("Sudoku oracle (exact MI): passes vs sequential at preserved quality", "n/a (oracle, our addition)",
            f"{mx.speedup_vs_sequential:.2f}x at {metric} {mx[metric]:.3f} vs sequential "
            f"{mx[f'sequential_{metric}_same_seqs']:.3f} on the same {int(mx.n)} puzzles; "
            f"{mx.label_passes:.0f} labelling passes per puzzle", None)
    if rel is not None:
        add("Sudoku: MI maps recover the row/column/box constraints", "qualitative",
            f"related/unrelated mean MI {rel['related_over_unrelated']:.1f}x; top-|M| pairs related "
            f"{rel['top_pairs_related']:.2f} vs chance {rel['chance_related']:.2f}",
            bool(rel["related_over_unrelated"] > 2 and rel["top_pairs_related"] > rel["chance_related"]))
    if ev is not None:
        c = ev["cost"]
        add("Full MI matrix in a single forward pass (vs |M|x|V| passes for exact labelling)",
            "1 pass vs |M|x|V|", f"1 pass + head vs {c['exact_passes_per_state']:.0f} passes per state; "
            f"Spearman {ev['all']['spearman']:.2f} (within state {ev['all']['spearman_within_state']:.2f}); "
            "wall times in Table 1",
            bool(c["exact_passes_per_state"] > 10 and ev["all"]["spearman"] >= 0.5))
    add("Proteins (ESM-C): MI maps recover residue contacts", "qualitative",
        "not yet measurable: protein half not built (issue 3)", None)
    add("Proteins (ESM-C): about 15.3 average forward passes with MI-guided decoding", PAPER["protein_passes"],
        "not yet measurable: protein half not built (issue 3)", None)
    return pd.DataFrame(rows, columns=["claim", "paper_value", "measured", "holds", "scale"])
