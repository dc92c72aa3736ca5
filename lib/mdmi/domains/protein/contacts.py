"""Contact precision of pairwise scores (docs/method.md §5), per chain, score source and separation range.

Scores come from the model (exact MI over a mask design's states, with and without APC; the learned
estimate) and from baselines computed on the same chains: sequence separation, the categorical
Jacobian of the model, and the column MI (with APC) of the training family's alignment, for a chain
that is a member of that family (``in_family``). Precision is that of the top-L/5 and top-L pairs
within a separation range: all pairs with |i-j| >= min_separation, and the configured ranges (short
6-11, medium 12-23, long >= 24 by default: the CASP convention).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from mdmi.core.protocol import pad_id
from mdmi.domains.protein.alignment import (
    apc,
    chain_scores,
    column_mi,
    encode_alignment,
    sequence_weights,
)
from mdmi.domains.protein.alphabet import encode
from mdmi.domains.protein.mimap import averaged_mi_map, categorical_jacobian, mask_states
from mdmi.domains.protein.structure import contact_map, separation_mask
from mdmi.util.io import atomic_path

ALL = "all"


def range_mask(L: int, lo: int, hi: int | None) -> np.ndarray:
    """bool[L, L]: lo <= |i - j| (<= hi when given)."""
    inside = separation_mask(L, lo)
    return inside if hi is None else inside & ~separation_mask(L, hi + 1)


def scored_pairs(L: int, min_separation: int, within: np.ndarray | None = None) -> np.ndarray:
    """bool[L, L]: the upper-triangle pairs that are scored (i < j, |i-j| >= min_separation, inside
    ``within`` when given)."""
    sel = np.triu(separation_mask(L, min_separation), 1)
    return sel if within is None else sel & within


def ranked_pairs(scores: np.ndarray, min_separation: int, within: np.ndarray | None = None):
    """The scored pairs (:func:`scored_pairs`) sorted by descending score (stable: ties keep (i, j)
    order; NaN scores last). Returns (i[P], j[P])."""
    i, j = np.nonzero(scored_pairs(scores.shape[0], min_separation, within))
    s = np.nan_to_num(scores[i, j].astype(float), nan=-np.inf)
    order = np.argsort(-s, kind="stable")
    return i[order], j[order]


def top_k_precision(i: np.ndarray, j: np.ndarray, contacts: np.ndarray, k: int) -> float:
    """Fraction of the first k of the ranked pairs (i, j) that are contacts (NaN when there are none)."""
    if not len(i):
        return float("nan")
    k = max(1, min(k, len(i)))
    return float(contacts[i[:k], j[:k]].mean())


def precision_at(
    scores: np.ndarray,
    contacts: np.ndarray,
    k: int,
    min_separation: int,
    within: np.ndarray | None = None,
) -> float:
    """Fraction of the top-k scoring pairs (|i-j| >= min_separation, inside ``within``) that are contacts."""
    return top_k_precision(*ranked_pairs(scores, min_separation, within), contacts, k)


def chance_rate(
    contacts: np.ndarray, min_separation: int, within: np.ndarray | None = None
) -> float:
    """Contact fraction among the pairs with |i-j| >= min_separation (inside ``within``)."""
    sel = scored_pairs(contacts.shape[0], min_separation, within)
    return float(contacts[sel].mean()) if sel.any() else float("nan")


def contact_rows(
    chain: str,
    length: int,
    model: str,
    source: str,
    scores: np.ndarray,
    contacts: np.ndarray,
    min_separation: int,
    ranges: dict,
    in_family: bool,
) -> list[dict]:
    """One row per separation range ('all' first): top-L/5 and top-L precision, chance, contacts."""
    out = []
    for name, (lo, hi) in {ALL: (min_separation, None), **ranges}.items():
        within = range_mask(length, int(lo), None if hi is None else int(hi))
        upper = np.triu(contacts & within, 1)
        i, j = ranked_pairs(scores, min_separation, within)  # ranked once for both cut-offs
        out.append(
            {
                "chain": chain,
                "length": length,
                "model": model,
                "source": source,
                "p_at_L5": top_k_precision(i, j, contacts, max(1, length // 5)),
                "p_at_L": top_k_precision(i, j, contacts, length),
                "chance": chance_rate(contacts, min_separation, within),
                "contacts": int(upper.sum()),
                "in_family": bool(in_family),
                "range": name,
            }
        )
    return out


def family_scores(chain: dict, families: dict, acfg: dict, cache: dict) -> np.ndarray | None:
    """[L, L] APC-corrected column MI of the chain's training family, through its aligned row; None
    when the chain is in no training family."""
    fam = chain.get("family")
    if fam not in families:
        return None
    if fam not in cache:
        msa = encode_alignment(families[fam])
        w = sequence_weights(msa, float(acfg["identity"]))
        cache[fam] = apc(column_mi(msa, w, float(acfg["pseudocount"])))
    return chain_scores(cache[fam], chain["aligned_row"], chain["sequence"])


def residue_positions(chain: dict):
    """The default reading of a chain by the model: its residues are the model's positions.
    Returns (tokens LongTensor[L], index int[L]: the model position of each residue)."""
    tokens = encode(chain["sequence"])
    return tokens, np.arange(len(tokens))


def on_residues(scores, index: np.ndarray, correct: bool = False) -> np.ndarray:
    """float[L, L] over a chain's residues from model-position scores [M, M] through ``index`` (the model
    position of each residue, -1 for none: NaN there); ``correct``: APC over the mapped residues."""
    scores = np.asarray(scores, dtype=float)
    L = len(index)
    have = np.nonzero(index >= 0)[0]
    sub = scores[np.ix_(index[have], index[have])]
    out = np.full((L, L), np.nan)
    out[np.ix_(have, have)] = apc(sub) if correct else sub
    return out


def analyse_chains(
    model,
    estimator,
    chains: list[dict],
    families: dict,
    ccfg: dict,
    seed: int,
    label: str,
    maps_dir,
    progress: bool = True,
    trained_on_families: bool = True,
    positions=residue_positions,
):
    """Exact MI, learned MI and baseline maps for every chain, scored against its contacts.

    ``in_family``: the chain belongs to a family alignment the model was trained on (never for a
    pretrained backbone, ``trained_on_families=False``); the alignment baseline is computed either way.
    ``positions(chain)``: how the model reads a chain, (tokens[M], index[L]: the model position of each
    residue or -1), or None when it cannot (a family model and a chain of another family: baselines
    only). Maps are computed over the model's positions and scored over the residues (APC over the
    residues the model reads).

    Returns (rows for contacts.csv, per-chain cost dicts); writes ``maps_dir/<chain>.npz``.
    """

    rows, costs, fam_cache = [], [], {}
    sep, thr = int(ccfg["min_separation"]), float(ccfg["threshold"])
    ranges = {k: tuple(v) for k, v in ccfg["ranges"].items()}
    for k, ch in enumerate(tqdm(chains, desc="contacts", unit="chain", disable=not progress)):
        L = len(ch["sequence"])
        contacts = contact_map(np.asarray(ch["coords"]), thr, sep)
        in_family = trained_on_families and ch.get("family") in families
        gen = torch.Generator().manual_seed(seed * 7_919 + k)
        read = positions(ch)
        scores, t_mi, t_jac, n_states, n_passes = {}, float("nan"), float("nan"), 0, 0
        cov = np.zeros((L, L), dtype=np.int64)  # states that mask each residue pair
        if read is not None:
            tokens, index = read
            t0 = time.perf_counter()
            states = mask_states(
                tokens,
                ccfg["design"],
                model.mask_id,
                gen,
                fraction=float(ccfg["mask_fraction"]),
                rounds=int(ccfg["rounds"]),
                groups=int(ccfg["groups"]),
                pad=pad_id(model),
            )
            maps = averaged_mi_map(
                model, states, estimator=estimator, max_batch=int(ccfg["max_batch"])
            )
            t_mi = time.perf_counter() - t0
            scores = {
                "exact": on_residues(maps["exact"], index),
                "exact_apc": on_residues(maps["exact"], index, True),
            }
            if maps["learned"] is not None:
                scores["learned"] = on_residues(maps["learned"], index)
                scores["learned_apc"] = on_residues(maps["learned"], index, True)
            if "jacobian" in ccfg["baselines"]:
                t0 = time.perf_counter()
                scores["jacobian"] = on_residues(
                    categorical_jacobian(model, tokens, int(ccfg["max_batch"])), index
                )
                t_jac = time.perf_counter() - t0
            cov = np.nan_to_num(on_residues(maps["coverage"], index)).astype(np.int64)
            n_states, n_passes = maps["states"], maps["clamped_passes"]
        if "alignment" in ccfg["baselines"]:
            fam = family_scores(ch, families, ccfg["alignment"], fam_cache)
            if fam is not None:
                scores["alignment_apc"] = fam
        if "separation" in ccfg["baselines"]:
            idx = np.arange(L)
            scores["separation"] = -np.abs(idx[:, None] - idx[None, :]).astype(
                float
            )  # nearest in sequence first
        for source, sc in scores.items():
            rows += contact_rows(ch["name"], L, label, source, sc, contacts, sep, ranges, in_family)
        upper = np.triu(np.ones((L, L), dtype=bool), 1)
        costs.append(
            {
                "chain": ch["name"],
                "length": L,
                "in_family": in_family,
                "design": ccfg["design"],
                "states": n_states,
                "clamped_passes": n_passes,
                "mi_seconds": t_mi,
                "jacobian_seconds": t_jac,
                "pair_coverage": float((cov[upper] > 0).mean()),
            }
        )
        with atomic_path(f"{maps_dir}/{ch['name']}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    sequence=np.array(ch["sequence"]),
                    contacts=contacts,
                    coverage=cov,
                    model=np.array(label),
                    in_family=np.array(in_family),
                    **{f"score_{s}": v.astype(np.float32) for s, v in scores.items()},
                )
    return rows, costs
