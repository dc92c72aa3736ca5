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
    df["model"] = ev.get("model", "")
    df["scale"] = scale
    return df


def _points(rows: pd.DataFrame, metric: str, seqs=None, guards: dict | None = None) -> pd.DataFrame:
    if seqs is not None:
        rows = rows[rows.seq.isin(seqs)]
    agg = dict(passes=("passes", "mean"), quality=(metric, "mean"), label_passes=("label_passes", "mean"),
               n=("seq", "size"))
    for g in guards or {}:
        agg[g] = (g, "mean")
    return rows.groupby(["method", "knob"], sort=False).agg(**agg).reset_index()


def guards_ok(point, ref, guards: dict | None) -> bool:
    """Secondary quality checks against sequential decoding on the same sequences (lower is better
    for each guarded metric): ``max_ratio`` (e.g. pseudo-perplexity at most 1.1x) and/or
    ``max_increase`` (e.g. low-complexity fraction at most +0.05). So degenerate output that keeps the
    primary metric cannot pass as 'quality preserved'."""
    for g, rule in (guards or {}).items():
        mine, base = float(point[g]), float(ref[g])
        if np.isnan(mine) or np.isnan(base):
            continue
        if "max_ratio" in rule and mine > rule["max_ratio"] * base + 1e-12:
            return False
        if "max_increase" in rule and mine > base + rule["max_increase"] + 1e-12:
            return False
    return True


def choose_knobs(val: pd.DataFrame, metric: str, tolerance: float, guards: dict | None = None) -> tuple[dict, str]:
    """Per method, the knob chosen on validation: fewest passes whose quality is within
    ``tolerance`` of the best sequential setting on the same sequences (and, with ``guards``, whose
    guarded metrics pass :func:`guards_ok`); else the best quality."""
    seq_val = _points(val[val.method == "sequential"], metric)
    ref_knob = seq_val.sort_values("quality", ascending=False, kind="stable").iloc[0].knob
    chosen = {}
    for method, mrows in val.groupby("method", sort=False):
        seqs = mrows.seq.unique()
        ref = _points(val[(val.method == "sequential") & (val.knob == ref_knob)], metric, seqs, guards).iloc[0]
        pts = _points(mrows, metric, guards=guards)
        keep = (pts.quality >= ref.quality - tolerance - 1e-12) & pts.apply(lambda r: guards_ok(r, ref, guards), axis=1)
        ok = pts[keep]
        pick = ok.sort_values("passes", kind="stable").iloc[0] if len(ok) else \
            pts.sort_values(["quality", "passes"], ascending=[False, True], kind="stable").iloc[0]
        chosen[method] = pick.knob
    return chosen, ref_knob


def table2(domain: str, val: pd.DataFrame, test: pd.DataFrame, metric: str, tolerance: float,
           scale: str, extras: tuple = ("cell_acc",), model: str = "", guards: dict | None = None) -> pd.DataFrame:
    """Decoding: per method its validation-chosen knob, evaluated on test."""
    chosen, ref_knob = choose_knobs(val, metric, tolerance, guards)
    rows = []
    for method, knob in chosen.items():
        mt = test[(test.method == method) & (test.knob == knob)]
        seqs = mt.seq.unique()
        ref = _points(test[(test.method == "sequential") & (test.knob == ref_knob)], metric, seqs, guards).iloc[0]
        mine = _points(mt, metric, guards=guards).iloc[0]
        row = {"domain": domain, "method": method, "knob": knob, "n": len(mt), "passes": mt.passes.mean(),
               "speedup_vs_sequential": ref.passes / mt.passes.mean(), metric: mt[metric].mean(),
               f"sequential_{metric}_same_seqs": ref.quality, "label_passes": mt.label_passes.mean(),
               "head_ms_per_seq": 1000 * mt.head_seconds.mean(), "wall_ms_per_seq": 1000 * mt.seconds.mean(),
               "guards_ok": guards_ok(mine, ref, guards)}
        for g in guards or {}:
            row[f"sequential_{g}_same_seqs"] = ref[g]
        for extra in extras:
            if extra in mt:
                row[extra] = mt[extra].mean()
        if "band" in mt:
            for band, g in mt.groupby("band"):
                row[f"{metric}_{band}"] = g[metric].mean()
                row[f"passes_{band}"] = g.passes.mean()
                for extra in extras:
                    if extra in g:
                        row[f"{extra}_{band}"] = g[extra].mean()
        rows.append(row)
    df = pd.DataFrame(rows)
    df["model"] = model
    df["scale"] = scale
    return df


def quality_at_passes(points: pd.DataFrame, passes: float) -> float:
    """Linear interpolation of a method's quality-vs-passes curve (clamped at its ends)."""
    p = points.sort_values("passes")
    return float(np.interp(passes, p.passes.to_numpy(), p.quality.to_numpy()))


TITLES = {"sudoku": "Sudoku", "protein": "Proteins"}
PAPER_PASSES = {"sudoku": ("sudoku_passes", "hard", "hard test puzzles"), "protein": ("protein_passes", None, "test tasks")}


def decoding_claims(domain: str, t2: pd.DataFrame, test: pd.DataFrame, metric: str, tolerance: float) -> list[tuple]:
    """(claim, paper value, measured, holds) rows about decoding for one domain."""
    title, out = TITLES.get(domain, domain), []
    if "mi" in set(t2.method):
        mi = t2[t2.method == "mi"].iloc[0]
        drop = mi[f"sequential_{metric}_same_seqs"] - mi[metric]
        preserved = drop <= tolerance and bool(mi.get("guards_ok", True))
        guard_text = "".join(f"; {g} {mi[g]:.3f} vs {mi[f'sequential_{g}_same_seqs']:.3f}"
                             for g in t2.columns.str.extract(r"^sequential_(.+)_same_seqs$")[0].dropna()
                             if g != metric and g in mi)
        out.append((f"{title}: 3-5x fewer forward passes than sequential decoding, quality preserved (learned MI)",
                    "3-5x", f"{mi.speedup_vs_sequential:.2f}x at {metric} {mi[metric]:.3f} vs sequential "
                    f"{mi[f'sequential_{metric}_same_seqs']:.3f}{guard_text} ({mi.knob})",
                    bool(mi.speedup_vs_sequential >= PAPER["speedup_low"] and preserved)))
        key, band, what = PAPER_PASSES.get(domain, (None, None, "test tasks"))
        # holds: within 20% of the paper's passes, quality within tolerance and >= 3x fewer passes than sequential
        passes = mi.get(f"passes_{band}", np.nan) if band else mi.passes
        quality = mi.get(f"{metric}_{band}", np.nan) if band else mi[metric]
        if key:
            out.append((f"{title}: about {PAPER[key]} average forward passes with MI-guided decoding ({what})",
                        PAPER[key], f"not measured (no {what})" if pd.isna(passes) else
                        f"{passes:.2f} passes, {metric} {quality:.3f} on {what}",
                        None if pd.isna(passes) else bool(passes <= 1.2 * PAPER[key] and preserved
                                                          and mi.speedup_vs_sequential >= PAPER["speedup_low"])))
        pts = _points(test, metric)
        beats = []
        for base in ("eb", "threshold"):
            bp = pts[pts.method == base]
            if len(bp):
                beats.append((base, quality_at_passes(bp, mi.passes)))
        if beats:
            text = "; ".join(f"{b} {q:.3f}" for b, q in beats)
            out.append((f"{title}: MI-guided decoding beats entropy-based parallel decoding at equal passes",
                        "qualitative", f"mi {mi[metric]:.3f} at {mi.passes:.2f} passes vs, at the same passes, {text}",
                        bool(all(mi[metric] > q for _, q in beats))))
    if "mi-exact" in set(t2.method):
        mx = t2[t2.method == "mi-exact"].iloc[0]
        out.append((f"{title} oracle (exact MI): passes vs sequential at preserved quality", "n/a (oracle, our addition)",
                    f"{mx.speedup_vs_sequential:.2f}x at {metric} {mx[metric]:.3f} vs sequential "
                    f"{mx[f'sequential_{metric}_same_seqs']:.3f} on the same {int(mx.n)} sequences; "
                    f"{mx.label_passes:.0f} labelling passes per sequence", None))
    return out


def relation_claim(rel: dict) -> tuple:
    return ("Sudoku: MI maps recover the row/column/box constraints", "qualitative",
            f"related/unrelated mean MI {rel['related_over_unrelated']:.1f}x; top-|M| pairs related "
            f"{rel['top_pairs_related']:.2f} vs chance {rel['chance_related']:.2f}",
            bool(rel["related_over_unrelated"] > 2 and rel["top_pairs_related"] > rel["chance_related"]))


def contact_claim(contacts: pd.DataFrame) -> tuple:
    """Holds when exact MI's mean top-L/5 precision is at least twice the mean chance rate."""
    g = contacts.groupby("source", sort=False)[["p_at_L5", "p_at_L", "chance"]].mean()
    parts = [f"{src} P@L/5 {r.p_at_L5:.3f}, P@L {r.p_at_L:.3f}" for src, r in g.iterrows()]
    chance = float(contacts.drop_duplicates("chain").chance.mean())
    ex = g.loc["exact"] if "exact" in g.index else None
    return ("Proteins: MI maps recover residue contacts", "qualitative",
            f"mean over {contacts.chain.nunique()} chains: " + "; ".join(parts) + f"; chance {chance:.3f}",
            None if ex is None else bool(ex.p_at_L5 >= 2 * chance))


def estimator_claim(domain: str, ev: dict) -> tuple:
    c = ev["cost"]
    return (f"{TITLES.get(domain, domain)}: full MI matrix in a single forward pass (vs |M|x|V| passes for exact labelling)",
            "1 pass vs |M|x|V|", f"1 pass + head vs {c['exact_passes_per_state']:.0f} passes per state; "
            f"Spearman {ev['all']['spearman']:.2f} (within state {ev['all']['spearman_within_state']:.2f}); "
            "wall times in Table 1", bool(c["exact_passes_per_state"] > 10 and ev["all"]["spearman"] >= 0.5))


def claims(domain: str, t2: pd.DataFrame | None, test: pd.DataFrame | None, ev: dict | None, rel: dict | None,
           metric: str, tolerance: float, scale: str, contacts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every numeric claim of the paper for one domain, the measured value, and whether it holds here."""
    rows = []
    if t2 is not None:
        rows += decoding_claims(domain, t2, test, metric, tolerance)
    if rel is not None:
        rows.append(relation_claim(rel))
    if contacts is not None:
        rows.append(contact_claim(contacts))
    if ev is not None:
        rows.append(estimator_claim(domain, ev))
    model = (ev or {}).get("model", "")
    df = pd.DataFrame([{"claim": c, "paper_value": v, "measured": m, "holds": "" if h is None else ("yes" if h else "no"),
                        "domain": domain, "model": model, "scale": scale} for c, v, m, h in rows],
                      columns=["claim", "paper_value", "measured", "holds", "domain", "model", "scale"])
    return df


def not_run_claims(domain: str, scale: str) -> pd.DataFrame:
    """Placeholder rows when a config leaves a domain out: the claims exist but were not measured."""
    names = {"sudoku": ["Sudoku: 3-5x fewer forward passes than sequential decoding", "Sudoku: about 15.2 average forward passes"],
             "protein": ["Proteins: MI maps recover residue contacts", "Proteins: about 15.3 average forward passes"]}
    return pd.DataFrame([{"claim": c, "paper_value": "", "measured": "not run (domain not in this config's domains)",
                          "holds": "", "domain": domain, "model": "", "scale": scale} for c in names.get(domain, [])])
