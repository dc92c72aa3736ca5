"""Whole-sequence pairwise maps from a masked model, for comparison with known structure.

``averaged_mi_map``: exact MI (and, optionally, the learned estimate) of a sequence, averaged over
masked states of it. A pair (i, j) gets a value from each state in which both are masked, and the
map is the mean over those states (0 where a pair was never masked together; ``coverage`` says how
often). The states come from a *mask design* (``mask_states``):

* ``all``: one state with every position masked (covers every pair, but sees only the length);
* ``random``: ``rounds`` states, each with a random ``fraction`` of the positions masked and the rest
  showing the sequence (a pair is covered with probability about fraction^2 per state);
* ``groups``: the positions split at random into ``G`` groups; one state per pair of groups masks
  those two groups and shows the rest. Every pair is covered (pairs across groups exactly once), each
  state masks about 2L/G positions, and the MI is conditioned on the rest of the native sequence:
  G(G-1)/2 states and about 20 L (G-1) clamped passes per sequence.

``categorical_jacobian``: the baseline of Zhang et al. (PNAS 2024): for the unmasked sequence,
substitute every residue a at every position i (one pass each) and record the change of the logits
at every j; the contact score is the Frobenius norm of the centred [V, V] block, symmetrised and
APC-corrected.
"""

from __future__ import annotations

import torch

from mdmi.core.mi import exact_mi_batch, marginals
from mdmi.core.protocol import forward_chunked, model_device


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


def random_states(
    tokens: torch.Tensor, fraction: float, rounds: int, mask_id: int, gen: torch.Generator
) -> torch.Tensor:
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


def group_pair_states(
    tokens: torch.Tensor, groups: int, mask_id: int, gen: torch.Generator
) -> torch.Tensor:
    """LongTensor[G(G-1)/2, L]: tokens[L] with two of ``groups`` random, near-equal position groups
    masked per state (every pair of groups once), the rest of the sequence shown."""
    L = tokens.shape[0]
    G = max(2, min(int(groups), L))
    perm = torch.randperm(L, generator=gen)
    parts = [perm[g::G] for g in range(G)]
    out = tokens[None].repeat(G * (G - 1) // 2, 1)
    k = 0
    for a in range(G):
        for b in range(a + 1, G):
            out[k, torch.cat([parts[a], parts[b]])] = mask_id
            k += 1
    return out


MASK_DESIGNS = ("all", "random", "groups")


def design_cost(
    L: int, V: int, design: str, *, fraction: float = 1.0, rounds: int = 1, groups: int = 8
) -> tuple[int, float]:
    """(states, forward passes: one unclamped plus V clamped per masked position and state) of a design."""
    if design == "all" or (design == "random" and fraction >= 1.0):
        return 1, 1 + L * V
    if design == "random":
        k = min(L, max(2, round(fraction * L)))
        return rounds, rounds * (1 + k * V)
    G = max(2, min(groups, L))
    states = G * (G - 1) // 2
    return states, states + (G - 1) * L * V  # each position is masked in G - 1 states


def mask_states(
    tokens: torch.Tensor,
    design: str,
    mask_id: int,
    gen: torch.Generator,
    *,
    fraction: float = 1.0,
    rounds: int = 1,
    groups: int = 8,
    pad: int | None = None,
) -> torch.Tensor:
    """LongTensor[S, L]: the masked states of tokens[L] under a mask design (see the module docstring).
    ``pad``: the model's padding id; padding positions are never masked (the design covers the rest)."""
    if pad is not None and bool((tokens == pad).any()):
        real = tokens != pad
        inner = mask_states(
            tokens[real], design, mask_id, gen, fraction=fraction, rounds=rounds, groups=groups
        )
        out = tokens[None].repeat(inner.shape[0], 1)
        out[:, real] = inner
        return out
    if design == "all":
        return random_states(
            tokens, 1.0, 1, mask_id, gen
        )  # fraction 1: the single all-masked state
    if design == "random":
        return random_states(tokens, fraction, rounds, mask_id, gen)
    if design == "groups":
        return group_pair_states(tokens, groups, mask_id, gen)
    raise ValueError(f"unknown mask design {design!r}; one of {MASK_DESIGNS}")


@torch.inference_mode()
def averaged_mi_map(
    model, states: torch.Tensor, estimator=None, max_batch: int = 1024, states_per_call: int = 1
) -> dict:
    """Average exact (and learned) MI over the masked states[S, L] of one sequence (``mask_states``).

    Returns {'exact': FloatTensor[L, L], 'learned': FloatTensor[L, L] or None,
    'coverage': LongTensor[L, L] (states in which the pair was co-masked), 'clamped_passes': int,
    'states': int}. MI in nats, symmetrised.
    """
    L = states.shape[1]
    exact = torch.zeros(L, L)
    learned = torch.zeros(L, L) if estimator is not None else None
    cover = torch.zeros(L, L, dtype=torch.long)
    passes = 0
    for s in range(0, states.shape[0], states_per_call):
        chunk = states[s : s + states_per_call]
        probs, hidden = marginals(model, chunk, max_batch)  # one unclamped pass, shared
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
    return {
        "exact": exact / denom,
        "learned": None if learned is None else learned / denom,
        "coverage": cover,
        "clamped_passes": passes,
        "states": int(states.shape[0]),
    }


@torch.inference_mode()
def categorical_jacobian(model, tokens: torch.Tensor, max_batch: int = 1024) -> torch.Tensor:
    """APC-corrected categorical-Jacobian contact scores FloatTensor[L, L] for tokens[L] (no masks)."""
    L, V = tokens.shape[0], model.num_values
    base = forward_chunked(model, tokens[None], max_batch)[0].float().cpu()  # [L, V]
    seqs = tokens[None, None].repeat(L, V, 1)  # [L, V, L]
    idx = torch.arange(L)
    seqs[idx, :, idx] = torch.arange(V)[None].expand(L, V)
    J = torch.empty(L, V, L, V)
    flat = seqs.reshape(L * V, L)
    for s in range(0, L * V, max_batch):
        out = forward_chunked(model, flat[s : s + max_batch], max_batch).float().cpu()  # [n, L, V]
        J.view(L * V, L, V)[s : s + out.shape[0]] = out - base[None]
    J = J - J.mean(1, keepdim=True)  # centre over the substituted residue a
    J = J - J.mean(3, keepdim=True)  # and over the read-out residue b
    score = J.pow(2).sum((1, 3)).sqrt()  # [L, L]
    score = 0.5 * (score + score.T)
    return apc(score)
