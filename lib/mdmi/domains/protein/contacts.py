"""Contact precision of pairwise scores (docs/method.md §5): top-L/5 and top-L pairs with |i-j| >= min_sep."""
from __future__ import annotations

import numpy as np

from .structure import separation_mask


def ranked_pairs(scores: np.ndarray, min_separation: int) -> tuple[np.ndarray, np.ndarray]:
    """Upper-triangle pairs (i < j, |i-j| >= min_separation) sorted by descending score (stable:
    ties keep (i, j) order). Returns (i[P], j[P])."""
    L = scores.shape[0]
    i, j = np.nonzero(np.triu(separation_mask(L, min_separation), 1))
    order = np.argsort(-scores[i, j], kind="stable")
    return i[order], j[order]


def precision_at(scores: np.ndarray, contacts: np.ndarray, k: int, min_separation: int) -> float:
    """Fraction of the top-k scoring pairs (|i-j| >= min_separation) that are contacts."""
    i, j = ranked_pairs(scores, min_separation)
    k = max(1, min(k, len(i)))
    return float(contacts[i[:k], j[:k]].mean())


def chance_rate(contacts: np.ndarray, min_separation: int) -> float:
    """Contact fraction among the pairs with |i-j| >= min_separation."""
    L = contacts.shape[0]
    sel = np.triu(separation_mask(L, min_separation), 1)
    return float(contacts[sel].mean()) if sel.any() else float("nan")


def contact_row(chain: str, length: int, model: str, source: str, scores: np.ndarray, contacts: np.ndarray,
                min_separation: int) -> dict:
    return {"chain": chain, "length": length, "model": model, "source": source,
            "p_at_L5": precision_at(scores, contacts, max(1, length // 5), min_separation),
            "p_at_L": precision_at(scores, contacts, length, min_separation),
            "chance": chance_rate(contacts, min_separation), "contacts": int(np.triu(contacts, 1).sum())}


def analyse_chains(model, estimator, chains: list[dict], ccfg: dict, seed: int, label: str, maps_dir,
                   progress: bool = True):
    """Exact MI, learned MI and baseline maps for every chain, scored against its contacts.

    Returns (rows for contacts.csv, per-chain cost dicts); writes ``maps_dir/<chain>.npz``.
    """
    import time

    import torch
    from tqdm.auto import tqdm

    from ...io import atomic_path
    from ...mimap import apc, averaged_mi_map, categorical_jacobian
    from .alphabet import encode
    from .structure import contact_map
    rows, costs = [], []
    sep, thr = int(ccfg["min_separation"]), float(ccfg["threshold"])
    for k, ch in enumerate(tqdm(chains, desc="contacts", unit="chain", disable=not progress)):
        tokens = encode(ch["sequence"])
        L = len(tokens)
        contacts = contact_map(np.asarray(ch["coords"]), thr, sep)
        gen = torch.Generator().manual_seed(seed * 7_919 + k)
        t0 = time.perf_counter()
        maps = averaged_mi_map(model, tokens, float(ccfg["mask_fraction"]), int(ccfg["rounds"]), gen,
                               estimator=estimator, max_batch=int(ccfg["max_batch"]))
        t_mi = time.perf_counter() - t0
        exact = maps["exact"].numpy()
        scores = {"exact": exact, "exact_apc": apc(maps["exact"]).numpy()}
        if maps["learned"] is not None:
            scores["learned"] = maps["learned"].numpy()
        t_jac = float("nan")
        if "jacobian" in ccfg["baselines"]:
            t0 = time.perf_counter()
            scores["jacobian"] = categorical_jacobian(model, tokens, int(ccfg["max_batch"])).numpy()
            t_jac = time.perf_counter() - t0
        if "separation" in ccfg["baselines"]:
            idx = np.arange(L)
            scores["separation"] = -np.abs(idx[:, None] - idx[None, :]).astype(float)   # nearest in sequence first
        for source, sc in scores.items():
            rows.append(contact_row(ch["name"], L, label, source, sc, contacts, sep))
        cov = maps["coverage"].numpy()
        upper = np.triu(np.ones((L, L), dtype=bool), 1)
        costs.append({"chain": ch["name"], "length": L, "states": maps["states"],
                      "clamped_passes": maps["clamped_passes"], "mi_seconds": t_mi, "jacobian_seconds": t_jac,
                      "pair_coverage": float((cov[upper] > 0).mean())})
        with atomic_path(f"{maps_dir}/{ch['name']}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, sequence=np.array(ch["sequence"]), contacts=contacts, coverage=cov, model=np.array(label),
                         **{f"score_{s}": v.astype(np.float32) for s, v in scores.items()})
    return rows, costs
