"""Fidelity metrics of predicted vs exact MI over masked-masked pairs."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from mdmi.core.estimator import pair_mask
from mdmi.core.mi import symmetrise
from mdmi.util.stats import interval, resample_weights


def upper_pairs(masked: torch.Tensor) -> torch.Tensor:
    """BoolTensor[B, L, L]: masked-masked pairs with i < j."""
    return torch.triu(pair_mask(masked), diagonal=1)


def fidelity(
    pred: torch.Tensor, exact: torch.Tensor, masked: torch.Tensor, reps: int = 2000, seed: int = 0
) -> dict:
    """Pearson, Spearman (pooled and mean within state, the latter with a 95% bootstrap interval over
    states), MAE, top-k pair recall.

    pred, exact: FloatTensor[N, L, L]; masked: BoolTensor[N, L]. Top-k recall per state uses
    k = number of masked positions (the pairs a decoder most needs to avoid).
    """
    sel = upper_pairs(masked)
    p, e = pred[sel].double().numpy(), exact[sel].double().numpy()
    within, recall = [], []
    for b in range(pred.shape[0]):
        s = sel[b]
        pb, eb = pred[b][s].numpy(), exact[b][s].numpy()
        if len(eb) >= 3 and np.std(eb) > 0 and np.std(pb) > 0:
            within.append(stats.spearmanr(pb, eb).statistic)
        k = min(int(masked[b].sum()), len(eb))
        if k > 0:
            top_e = set(np.argsort(-eb, kind="stable")[:k].tolist())
            top_p = set(np.argsort(-pb, kind="stable")[:k].tolist())
            recall.append(len(top_e & top_p) / k)
    ci = [float("nan"), float("nan")]
    if within:
        w = np.asarray(within, dtype=np.float64)
        est = interval(resample_weights(len(w), reps, seed), lambda m: m(w))
        ci = [est.low, est.high]
    return {
        "pairs": int(sel.sum()),
        "states": len(within),
        "spearman_within_state_ci": ci,
        "pearson": float(stats.pearsonr(p, e).statistic) if len(e) > 2 else float("nan"),
        "spearman": float(stats.spearmanr(p, e).statistic) if len(e) > 2 else float("nan"),
        "spearman_within_state": float(np.mean(within)) if within else float("nan"),
        "mae": float(np.abs(p - e).mean()) if len(e) else float("nan"),
        "topk_recall": float(np.mean(recall)) if recall else float("nan"),
        "mean_exact": float(e.mean()) if len(e) else float("nan"),
    }


def asymmetry(mi_row: torch.Tensor, masked: torch.Tensor) -> float:
    """Mean |I(i->j) - I(j->i)| over masked pairs divided by the mean symmetrised MI."""
    sel = upper_pairs(masked)
    d = (mi_row - mi_row.transpose(1, 2)).abs()[sel]
    s = symmetrise(mi_row)[sel]
    return float(d.mean() / s.mean().clamp_min(1e-12)) if sel.any() else float("nan")
