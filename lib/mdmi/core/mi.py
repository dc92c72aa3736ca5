"""Exact conditional mutual information between masked positions, from the model's own conditionals.

For a state with visible set O and masked positions i != j (docs/method.md §2):

    p(a)    = p(x_i = a | x_O)                   one pass on the state
    q_a(b)  = p(x_j = b | x_O, x_i = a)          one pass per (i, a): clamp x_i = a
    I(i->j) = H(sum_a p(a) q_a) - sum_a p(a) H(q_a)      (nats)

``I(i->j)`` is the MI of the joint p(a) q_a(b), so it is >= 0 even when the model is not
self-consistent. ``I(i->j)`` and ``I(j->i)`` may differ: the *row-wise* matrix keeps both, the
*symmetrised* matrix is their mean. One clamped pass per (i, a) yields the whole row i.

Clamped sequences from many rows and states are batched together in chunks of at most
``max_batch`` sequences (the memory budget); per-row sums are accumulated chunk by chunk so
memory does not grow with the number of rows.

Two optional accelerations, both off by default and both reported:

* ``skip_tol`` (nats): values a whose p(a) is negligible are not clamped. For each row the
  smallest values are skipped while their total mass d keeps :func:`skip_error_bound` (d) <=
  ``skip_tol``; that bound holds for every entry of the row, so the labels are certified to lie
  within ``skip_tol`` nats of the exact ones.
* ``precision`` ``bf16`` / ``fp16``: forward passes under autocast (softmax and sums stay fp32);
  its error is not bounded a priori, ``python -m mdmi bench`` measures it against fp32 labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mdmi.core.protocol import forward_chunked, model_device, pad_id
from mdmi.util.device import autocast


@dataclass
class RowMI:
    """Row-wise MI for a set of (state, position) rows."""

    rows: torch.Tensor  # LongTensor[R, 2]: (state index b, clamped position i)
    mi: torch.Tensor  # FloatTensor[R, L]: I(i -> j) for every j (0 where j visible or j == i)
    clamped_passes: int  # sequences forwarded with a clamped position
    passes_per_row: torch.Tensor  # LongTensor[R]: clamped sequences forwarded for each row
    skipped_mass: torch.Tensor  # FloatTensor[R]: p(a) mass of the values not clamped (0 when exact)
    error_bound: (
        torch.Tensor
    )  # FloatTensor[R]: certified bound on |label - exact| for the row (nats)


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats along ``dim``, with 0 log 0 = 0."""
    return -(probs * torch.log(probs.clamp_min(1e-30))).sum(dim)


def skip_error_bound(mass: torch.Tensor, num_values: int) -> torch.Tensor:
    """Bound on |I - I'| (nats) when values of total probability ``mass`` (d <= 1/2) are dropped.

    With p renormalised over the kept values: H(Y|X) moves by at most d log V, and H(Y) by at most
    d log(V - 1) + h(d) (the Fannes-Audenaert continuity bound, total variation <= d), where h is
    the binary entropy. Hence |I - I'| <= 2 d log V + h(d), for every j of the row.
    """
    d = mass.double().clamp(0.0, 0.5)
    h = -(d * torch.log(d.clamp_min(1e-300)) + (1 - d) * torch.log1p(-d))
    bound = 2 * d * math.log(num_values) + h
    return torch.where(mass.double() > 0.5, torch.full_like(bound, math.inf), bound).to(mass.dtype)


def skip_mask(p_row: torch.Tensor, tol: float) -> torch.Tensor:
    """BoolTensor[R, V]: values to clamp, skipping the smallest p(a) while the bound stays <= tol."""
    if tol <= 0:
        return torch.ones_like(p_row, dtype=torch.bool)
    sorted_p, order = p_row.double().sort(-1)  # ascending
    cum = sorted_p.cumsum(-1)
    skip_sorted = skip_error_bound(cum, p_row.shape[-1]) <= tol  # a prefix, the bound grows with d
    skip_sorted[:, -1] = False  # always clamp the likeliest value
    keep = torch.ones_like(p_row, dtype=torch.bool)
    keep.scatter_(1, order, ~skip_sorted)
    return keep


@torch.inference_mode()
def marginals(
    model, tokens: torch.Tensor, max_batch: int = 1024, precision: str = "fp32"
) -> tuple[torch.Tensor, torch.Tensor]:
    """probs[B, L, V] and hidden[B, L, D] of one pass on tokens[B, L]."""
    with autocast(model_device(model), precision):
        logits, hidden = forward_chunked(model, tokens, max_batch, need_hidden=True)
    return torch.softmax(logits.float(), -1), hidden


@torch.inference_mode()
def exact_mi_rows(
    model,
    tokens: torch.Tensor,
    rows: torch.Tensor,
    probs: torch.Tensor | None = None,
    max_batch: int = 1024,
    skip_tol: float = 0.0,
    precision: str = "fp32",
) -> RowMI:
    """Row-wise exact MI for the requested rows.

    tokens: LongTensor[B, L] states (``model.mask_id`` where masked).
    rows: LongTensor[R, 2] of (state b, masked position i).
    probs: optional FloatTensor[B, L, V] marginals of the unclamped pass (reused if given).
    skip_tol: certified error budget in nats for not clamping values of negligible p(a)
        (0 = exact; see :func:`skip_mask`). The kept p(a) are renormalised; the skipped mass and
        the bound per row are returned for reporting.
    precision: fp32 (exact) | bf16 | fp16 (autocast forward passes).
    """
    dev = model_device(model)
    tokens = tokens.to(dev)
    B, L = tokens.shape
    V = model.num_values
    masked = tokens == model.mask_id  # [B, L]
    if probs is None:
        probs, _ = marginals(model, tokens, max_batch, precision)
    probs = probs.to(dev).float()
    rows = rows.to(dev).long().reshape(-1, 2)
    R = rows.shape[0]
    if R and not bool(masked[rows[:, 0], rows[:, 1]].all()):
        raise ValueError("exact_mi_rows: every requested row must be a masked position")
    p_row = probs[rows[:, 0], rows[:, 1]]  # [R, V]
    keep = skip_mask(p_row, skip_tol)
    skipped = (p_row * (~keep)).sum(-1)
    w = torch.where(keep, p_row, torch.zeros_like(p_row))
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-30)  # [R, V] renormalised weights
    r_idx, a_idx = keep.nonzero(as_tuple=True)  # one clamped sequence per kept (row, value)
    mix = torch.zeros(R, L, V, device=dev)  # sum_a p(a) q_a
    cond_ent = torch.zeros(R, L, device=dev)  # sum_a p(a) H(q_a)
    pad = pad_id(model)
    for s in range(0, r_idx.numel(), max_batch):
        rr, aa = r_idx[s : s + max_batch], a_idx[s : s + max_batch]
        seq = tokens[rows[rr, 0]].clone()  # [n, L]
        seq[torch.arange(rr.numel(), device=dev), rows[rr, 1]] = aa
        if (
            pad is not None
        ):  # cut the padding columns the whole chunk ends with (padding is never attended)
            seq = seq[:, : int((seq != pad).any(0).nonzero().max()) + 1]
        with autocast(dev, precision):
            logits, _ = model(seq)
        q = torch.softmax(logits.float(), -1)  # [n, l, V], l <= L
        wa = w[rr, aa]  # [n]
        l = q.shape[1]
        mix[:, :l].index_add_(0, rr, q * wa[:, None, None])
        cond_ent[:, :l].index_add_(0, rr, entropy(q) * wa[:, None])
    mi = (entropy(mix) - cond_ent).clamp_min(0.0)  # [R, L]
    other = masked[rows[:, 0]].clone()  # only masked j count
    other[torch.arange(R, device=dev), rows[:, 1]] = False
    mi = torch.where(other, mi, torch.zeros_like(mi))
    return RowMI(
        rows=rows,
        mi=mi,
        clamped_passes=int(r_idx.numel()),
        passes_per_row=keep.sum(-1),
        skipped_mass=skipped,
        error_bound=skip_error_bound(skipped, V),
    )


def symmetrise(rowwise: torch.Tensor) -> torch.Tensor:
    """(I + I^T) / 2 over the last two dims."""
    return 0.5 * (rowwise + rowwise.transpose(-1, -2))


@torch.inference_mode()
def exact_mi_batch(
    model,
    tokens: torch.Tensor,
    max_batch: int = 1024,
    skip_tol: float = 0.0,
    symmetric: bool = True,
    probs: torch.Tensor | None = None,
    precision: str = "fp32",
) -> tuple[torch.Tensor, int]:
    """Exact MI for many states at once.

    tokens: LongTensor[B, L]. Returns (MI FloatTensor[B, L, L] in nats, clamped passes).
    Symmetrised by default (zero diagonal, zero wherever a position is visible); with
    ``symmetric=False`` the row-wise matrix I[i, j] = I(i -> j). ``probs``: the marginals
    FloatTensor[B, L, V] of the unclamped pass, if the caller already has them.
    """
    dev = model_device(model)
    tokens = tokens.to(dev)
    B, L = tokens.shape
    rows = (tokens == model.mask_id).nonzero()  # [R, 2]
    res = exact_mi_rows(
        model,
        tokens,
        rows,
        probs=probs,
        max_batch=max_batch,
        skip_tol=skip_tol,
        precision=precision,
    )
    full = torch.zeros(B, L, L, device=dev)
    full[rows[:, 0], rows[:, 1]] = res.mi
    return (symmetrise(full) if symmetric else full), res.clamped_passes


def exact_mi(
    model,
    tokens: torch.Tensor,
    max_batch: int = 1024,
    skip_tol: float = 0.0,
    symmetric: bool = True,
) -> torch.Tensor:
    """Exact MI for one state: tokens LongTensor[L] -> FloatTensor[L, L] (nats)."""
    mi, _ = exact_mi_batch(
        model, tokens[None], max_batch=max_batch, skip_tol=skip_tol, symmetric=symmetric
    )
    return mi[0]
