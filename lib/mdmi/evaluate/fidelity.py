"""Estimator evaluation on held-out labelled states: fidelity, cost, MI by a priori relation."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from mdmi.core.estimator import ceiling, pair_mask
from mdmi.core.mi import entropy
from mdmi.evaluate.metrics import asymmetry, fidelity, upper_pairs
from mdmi.train.estimator import mdm_features
from mdmi.util.io import atomic_path
from mdmi.util.stats import interval, resample_weights


@torch.inference_mode()
def predict(model, head, tokens: torch.Tensor, device) -> torch.Tensor:
    hidden, probs, masked = mdm_features(model, tokens)
    return head(hidden.to(device), probs.to(device), masked.to(device)).cpu()


def learned_map(model, head, tokens: torch.Tensor, device, like: np.ndarray) -> np.ndarray:
    """The head's MI maps of states tokens[N, L], symmetrised: float[N, L, L] (nats); NaN shaped
    like ``like`` (the exact maps) where there is no head (a run without an estimator)."""
    if head is None:
        return np.full_like(like, np.nan)
    learned = predict(model, head, tokens, device).numpy()
    return 0.5 * (learned + np.swapaxes(learned, 1, 2))


@torch.inference_mode()
def time_per_state(model, head, tokens: torch.Tensor, device, repeats: int = 1) -> float:
    """Wall seconds per state of one MDM pass plus the head, one state at a time (after a warm-up)."""

    def run(states):
        for x in states:
            logits, hidden = model(x[None].to(device))
            head(hidden, torch.softmax(logits.float(), -1), x[None].to(device) == model.mask_id)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(tokens[:2])
    t0 = time.perf_counter()
    for _ in range(repeats):
        run(tokens)
    return (time.perf_counter() - t0) / (repeats * len(tokens))


def evaluate_estimator(
    model, head, labels: dict, device, reps: int = 2000, seed: int = 0
) -> tuple[dict, torch.Tensor]:
    """Metrics dict and the predicted MI [N, L, L] for the label set (``reps`` bootstrap resamples
    with ``seed`` for the intervals)."""
    tokens, exact = labels["tokens"], labels["mi"]
    masked = tokens == model.mask_id
    pred = predict(model, head, tokens, device)
    out = {"all": fidelity(pred, exact, masked, reps, seed)}
    kinds = np.array(labels["kind"])
    for kind in sorted(set(kinds)):
        idx = torch.from_numpy(np.nonzero(kinds == kind)[0])
        out[kind] = fidelity(pred[idx], exact[idx], masked[idx], reps, seed)
    n = tokens.shape[0]
    est_s = time_per_state(model, head, tokens[: min(n, 32)], device, repeats=3)
    exact_s = labels["seconds"] / n
    out["cost"] = {
        "states": n,
        "mean_masked": float(masked.sum(-1).float().mean()),
        "exact_passes_per_state": labels["clamped_passes"] / n + 1,
        "exact_seconds_per_state": exact_s,
        "estimator_passes_per_state": 1,
        "estimator_seconds_per_state": est_s,
        "speedup_wall": exact_s / est_s,
    }
    out["asymmetry"] = asymmetry(labels["mi_row"], masked)
    out["ceiling_excess"] = ceiling_excess(model, tokens, exact)
    return out, pred


def ceiling_excess(model, tokens: torch.Tensor, exact: torch.Tensor) -> dict:
    """How much exact label mass lies above each possible head ceiling (min / mean of the two
    marginal entropies): {kind: {mass_fraction, pair_fraction}} over masked pairs. 'mean' is 0 up to
    rounding by construction; 'min' > 0 means a min-bounded head cannot fit those labels."""
    _, probs, masked = mdm_features(model, tokens)
    pm = pair_mask(masked)
    H = entropy(probs)
    e = exact.float()[pm]
    out = {}
    for kind in ("min", "mean"):
        over = (e - ceiling(H, kind)[pm]).clamp_min(0)
        out[kind] = {
            "mass_fraction": float(over.sum() / e.sum().clamp_min(1e-12)),
            "pair_fraction": float((over > 1e-6).float().mean()) if len(e) else float("nan"),
        }
    return out


def mi_by_relation(
    exact: torch.Tensor,
    pred: torch.Tensor,
    tokens: torch.Tensor,
    mask_id: int,
    rel: torch.Tensor,
    names: list[str],
    reps: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Mean exact/learned MI per relation id over masked pairs, and top-pair statistics.

    rel: LongTensor[L, L] relation ids (id 0 = unrelated). Returns (table, summary) where summary
    has the related/unrelated MI ratio and the fraction of each state's top-|M| pairs that are
    related, next to the chance fraction.
    """
    masked = tokens == mask_id
    sel = upper_pairs(masked)
    b, i, j = sel.nonzero(as_tuple=True)
    r = rel[i, j]
    df = pd.DataFrame(
        {
            "relation": [names[k] for k in r.tolist()],
            "related": (r != 0).numpy(),
            "exact": exact[b, i, j].numpy(),
            "learned": pred[b, i, j].numpy(),
        }
    )
    table = (
        df.groupby("relation")
        .agg(
            pairs=("exact", "size"),
            exact_mean=("exact", "mean"),
            exact_median=("exact", "median"),
            learned_mean=("learned", "mean"),
        )
        .reset_index()
    )
    related_frac, chance, rel_sum, unrel_sum, rel_n, unrel_n = [], [], [], [], [], []
    for s in range(tokens.shape[0]):
        m = b == s
        k = int(masked[s].sum())
        if k == 0 or not m.any():
            continue
        e = exact[s, i[m], j[m]]
        is_rel = r[m] != 0
        rel_sum.append(float(e[is_rel].sum())), rel_n.append(int(is_rel.sum()))
        unrel_sum.append(float(e[~is_rel].sum())), unrel_n.append(int((~is_rel).sum()))
        top = torch.argsort(-e, stable=True)[:k]
        related_frac.append(float((r[m][top] != 0).float().mean()))
        chance.append(float((r[m] != 0).float().mean()))
    unrel = df.loc[~df.related, "exact"].mean()
    summary = {
        "related_over_unrelated": float(df.loc[df.related, "exact"].mean() / max(unrel, 1e-12)),
        "learned_related_over_unrelated": float(
            df.loc[df.related, "learned"].mean() / max(df.loc[~df.related, "learned"].mean(), 1e-12)
        ),
        "top_pairs_related": float(np.mean(related_frac)),
        "chance_related": float(np.mean(chance)),
    }
    # interval of the ratio of pooled means, resampling states (pairs of one state are not independent)
    a, na, u, nu = (np.asarray(x, dtype=np.float64) for x in (rel_sum, rel_n, unrel_sum, unrel_n))
    if len(a):
        est = interval(
            resample_weights(len(a), reps, seed),
            lambda m: (
                (m(a) / np.maximum(m(na), 1e-12))
                / np.maximum(m(u) / np.maximum(m(nu), 1e-12), 1e-12)
            ),
        )
        summary["related_over_unrelated_ci"] = [est.low, est.high]
    summary["states"] = len(a)
    return table, summary


def write_example_state(path, labels: dict, pred: torch.Tensor, relations, mask_id: int) -> None:
    """Figure 1's example: the labelled state with the most masked positions (among the decoder
    trajectory states when there are any), its exact, row-wise and learned MI and the domain's
    relations, as one .npz file written atomically."""
    tokens = labels["tokens"]
    masked_count = (tokens == mask_id).sum(-1)
    traj = [i for i, k in enumerate(labels["kind"]) if k == "trajectory"] or list(
        range(len(tokens))
    )
    ex = max(traj, key=lambda i: int(masked_count[i]))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                tokens=tokens[ex].numpy(),
                exact=labels["mi"][ex].numpy(),
                learned=pred[ex].numpy(),
                exact_row=labels["mi_row"][ex].numpy(),
                mask_id=mask_id,
                relations=(relations[0].numpy() if relations else np.zeros(0)),
                relation_names=np.array(relations[1] if relations else []),
            )
