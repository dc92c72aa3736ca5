"""Exact conditional mutual information between masked positions, from the model's own conditionals.

For a state with visible set O and masked positions i != j (METHOD §2):

    p(a)    = p(x_i = a | x_O)                   one pass on the state
    q_a(b)  = p(x_j = b | x_O, x_i = a)          one pass per (i, a): clamp x_i = a
    I(i->j) = H(sum_a p(a) q_a) - sum_a p(a) H(q_a)      (nats)

``I(i->j)`` is the MI of the joint p(a) q_a(b), so it is >= 0 even when the model is not
self-consistent. ``I(i->j)`` and ``I(j->i)`` may differ: the *row-wise* matrix keeps both, the
*symmetrised* matrix is their mean. One clamped pass per (i, a) yields the whole row i.

Clamped sequences from many rows and states are batched together in chunks of at most
``max_batch`` sequences (the memory budget); per-row sums are accumulated chunk by chunk so
memory does not grow with the number of rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .protocol import forward_chunked, model_device


@dataclass
class RowMI:
    """Row-wise MI for a set of (state, position) rows."""
    rows: torch.Tensor        # LongTensor[R, 2]: (state index b, clamped position i)
    mi: torch.Tensor          # FloatTensor[R, L]: I(i -> j) for every j (0 where j visible or j == i)
    clamped_passes: int       # sequences forwarded with a clamped position
    passes_per_row: torch.Tensor  # LongTensor[R]: clamped sequences forwarded for each row
    skipped_mass: torch.Tensor  # FloatTensor[R]: p(a) mass of values skipped by p_skip (0 when exact)


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats along ``dim``, with 0 log 0 = 0."""
    return -(probs * torch.log(probs.clamp_min(1e-30))).sum(dim)


@torch.inference_mode()
def marginals(model, tokens: torch.Tensor, max_batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """probs[B, L, V] and hidden[B, L, D] of one pass on tokens[B, L]."""
    logits, hidden = forward_chunked(model, tokens, max_batch, need_hidden=True)
    return torch.softmax(logits.float(), -1), hidden


@torch.inference_mode()
def exact_mi_rows(model, tokens: torch.Tensor, rows: torch.Tensor, probs: torch.Tensor | None = None,
                  max_batch: int = 1024, p_skip: float = 0.0) -> RowMI:
    """Row-wise exact MI for the requested rows.

    tokens: LongTensor[B, L] states (``model.mask_id`` where masked).
    rows: LongTensor[R, 2] of (state b, masked position i).
    probs: optional FloatTensor[B, L, V] marginals of the unclamped pass (reused if given).
    p_skip: values a with p(a) <= p_skip are not clamped (an approximation; 0 = exact). The
        kept p(a) are renormalised; the skipped mass per row is returned for reporting.
    """
    dev = model_device(model)
    tokens = tokens.to(dev)
    B, L = tokens.shape
    V = model.num_values
    masked = tokens == model.mask_id                       # [B, L]
    if probs is None:
        probs, _ = marginals(model, tokens, max_batch)
    probs = probs.to(dev).float()
    rows = rows.to(dev).long().reshape(-1, 2)
    R = rows.shape[0]
    if R and not bool(masked[rows[:, 0], rows[:, 1]].all()):
        raise ValueError("exact_mi_rows: every requested row must be a masked position")
    p_row = probs[rows[:, 0], rows[:, 1]]                   # [R, V]
    keep = p_row > p_skip if p_skip > 0 else torch.ones_like(p_row, dtype=torch.bool)
    skipped = (p_row * (~keep)).sum(-1)
    w = torch.where(keep, p_row, torch.zeros_like(p_row))
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-30)        # [R, V] renormalised weights
    r_idx, a_idx = keep.nonzero(as_tuple=True)             # one clamped sequence per kept (row, value)
    mix = torch.zeros(R, L, V, device=dev)                 # sum_a p(a) q_a
    cond_ent = torch.zeros(R, L, device=dev)               # sum_a p(a) H(q_a)
    for s in range(0, r_idx.numel(), max_batch):
        rr, aa = r_idx[s:s + max_batch], a_idx[s:s + max_batch]
        seq = tokens[rows[rr, 0]].clone()                  # [n, L]
        seq[torch.arange(rr.numel(), device=dev), rows[rr, 1]] = aa
        logits, _ = model(seq)
        q = torch.softmax(logits.float(), -1)              # [n, L, V]
        wa = w[rr, aa]                                     # [n]
        mix.index_add_(0, rr, q * wa[:, None, None])
        cond_ent.index_add_(0, rr, entropy(q) * wa[:, None])
    mi = (entropy(mix) - cond_ent).clamp_min(0.0)          # [R, L]
    other = masked[rows[:, 0]].clone()                     # only masked j count
    other[torch.arange(R, device=dev), rows[:, 1]] = False
    mi = torch.where(other, mi, torch.zeros_like(mi))
    return RowMI(rows=rows, mi=mi, clamped_passes=int(r_idx.numel()), passes_per_row=keep.sum(-1),
                 skipped_mass=skipped)


def symmetrise(rowwise: torch.Tensor) -> torch.Tensor:
    """(I + I^T) / 2 over the last two dims."""
    return 0.5 * (rowwise + rowwise.transpose(-1, -2))


@torch.inference_mode()
def exact_mi_batch(model, tokens: torch.Tensor, max_batch: int = 1024, p_skip: float = 0.0,
                   symmetric: bool = True, probs: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Exact MI for many states at once.

    tokens: LongTensor[B, L]. Returns (MI FloatTensor[B, L, L] in nats, clamped passes).
    Symmetrised by default (zero diagonal, zero wherever a position is visible); with
    ``symmetric=False`` the row-wise matrix I[i, j] = I(i -> j). ``probs``: the marginals
    FloatTensor[B, L, V] of the unclamped pass, if the caller already has them.
    """
    dev = model_device(model)
    tokens = tokens.to(dev)
    B, L = tokens.shape
    rows = (tokens == model.mask_id).nonzero()             # [R, 2]
    res = exact_mi_rows(model, tokens, rows, probs=probs, max_batch=max_batch, p_skip=p_skip)
    full = torch.zeros(B, L, L, device=dev)
    full[rows[:, 0], rows[:, 1]] = res.mi
    return (symmetrise(full) if symmetric else full), res.clamped_passes


def exact_mi(model, tokens: torch.Tensor, max_batch: int = 1024, p_skip: float = 0.0,
             symmetric: bool = True) -> torch.Tensor:
    """Exact MI for one state: tokens LongTensor[L] -> FloatTensor[L, L] (nats)."""
    mi, _ = exact_mi_batch(model, tokens[None], max_batch=max_batch, p_skip=p_skip, symmetric=symmetric)
    return mi[0]
