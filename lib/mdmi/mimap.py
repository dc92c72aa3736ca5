"""Whole-sequence pairwise maps from a masked model, for comparison with known structure.

``averaged_mi_map``: exact MI (and, optionally, the learned estimate) of a sequence, averaged over
random masked states. A state masks a fraction ``f`` of the positions; a pair (i, j) gets a value
from each state in which both are masked, and the map is the mean over those states (0 where a
pair was never masked together; ``coverage`` says how often). With ``f = 1`` one all-masked state
covers every pair.

``categorical_jacobian``: the baseline of Zhang et al. (PNAS 2024): for the unmasked sequence,
substitute every residue a at every position i (one pass each) and record the change of the logits
at every j; the contact score is the Frobenius norm of the centred [V, V] block, symmetrised and
APC-corrected.
"""
from __future__ import annotations

import torch

from .mi import exact_mi_batch, marginals
from .protocol import forward_chunked, model_device


def apc(m: torch.Tensor) -> torch.Tensor:
    """Average product correction of a symmetric score matrix [L, L] (diagonal ignored)."""
    m = m.clone().float()
    L = m.shape[0]
    m.fill_diagonal_(0)
    row = m.sum(1) / max(L - 1, 1)
    total = m.sum() / max(L * (L - 1), 1)
    out = m - row[:, None] * row[None, :] / total.clamp_min(1e-12)
    out.fill_diagonal_(0)
    return out


def random_states(tokens: torch.Tensor, fraction: float, rounds: int, mask_id: int,
                  gen: torch.Generator) -> torch.Tensor:
    """LongTensor[R, L]: ``rounds`` copies of tokens[L] with round(fraction * L) (>= 2) random positions
    masked; a single all-masked state when fraction >= 1."""
    L = tokens.shape[0]
    if fraction >= 1.0:
        return torch.full((1, L), mask_id, dtype=torch.long)
    k = min(L, max(2, int(round(fraction * L))))
    out = tokens[None].repeat(rounds, 1)
    for r in range(rounds):
        out[r, torch.randperm(L, generator=gen)[:k]] = mask_id
    return out


@torch.inference_mode()
def averaged_mi_map(model, tokens: torch.Tensor, fraction: float, rounds: int, gen: torch.Generator,
                    estimator=None, max_batch: int = 1024, states_per_call: int = 4) -> dict:
    """Average exact (and learned) MI of tokens[L] over random masked states.

    Returns {'exact': FloatTensor[L, L], 'learned': FloatTensor[L, L] or None,
    'coverage': LongTensor[L, L] (states in which the pair was co-masked), 'clamped_passes': int,
    'states': int}. MI in nats, symmetrised.
    """
    states = random_states(tokens.cpu(), fraction, rounds, model.mask_id, gen)
    L = tokens.shape[0]
    exact = torch.zeros(L, L)
    learned = torch.zeros(L, L) if estimator is not None else None
    cover = torch.zeros(L, L, dtype=torch.long)
    passes = 0
    for s in range(0, states.shape[0], states_per_call):
        chunk = states[s:s + states_per_call]
        probs, hidden = marginals(model, chunk, max_batch)         # one unclamped pass, shared
        mi, n = exact_mi_batch(model, chunk, max_batch=max_batch, probs=probs)
        passes += n
        masked = chunk == model.mask_id
        both = (masked[:, :, None] & masked[:, None, :]).long()
        exact += mi.cpu().sum(0)
        cover += both.sum(0)
        if estimator is not None:
            dev = model_device(estimator)
            learned += estimator(hidden.to(dev), probs.to(dev), masked.to(dev)).cpu().sum(0)
    denom = cover.clamp_min(1).float()
    cover.fill_diagonal_(0)
    return {"exact": exact / denom, "learned": None if learned is None else learned / denom,
            "coverage": cover, "clamped_passes": passes, "states": int(states.shape[0])}


@torch.inference_mode()
def categorical_jacobian(model, tokens: torch.Tensor, max_batch: int = 1024) -> torch.Tensor:
    """APC-corrected categorical-Jacobian contact scores FloatTensor[L, L] for tokens[L] (no masks)."""
    L, V = tokens.shape[0], model.num_values
    base = forward_chunked(model, tokens[None], max_batch)[0].float().cpu()          # [L, V]
    seqs = tokens[None, None].repeat(L, V, 1)                                        # [L, V, L]
    idx = torch.arange(L)
    seqs[idx, :, idx] = torch.arange(V)[None].expand(L, V)
    J = torch.empty(L, V, L, V)
    flat = seqs.reshape(L * V, L)
    for s in range(0, L * V, max_batch):
        out = forward_chunked(model, flat[s:s + max_batch], max_batch).float().cpu()  # [n, L, V]
        J.view(L * V, L, V)[s:s + out.shape[0]] = out - base[None]
    J = J - J.mean(1, keepdim=True)                 # centre over the substituted residue a
    J = J - J.mean(3, keepdim=True)                 # and over the read-out residue b
    score = J.pow(2).sum((1, 3)).sqrt()             # [L, L]
    score = 0.5 * (score + score.T)
    return apc(score)
