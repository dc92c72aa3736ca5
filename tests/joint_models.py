"""Masked models with *exact* conditionals of a small explicit joint distribution (for tests)."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn


class JointModel(nn.Module):
    """Returns the exact conditionals p(x_i | x_visible) of a joint P over V^L.

    joint: FloatTensor of shape [V] * L (normalised). mask_id = V.
    hidden: [B, L, V + 1] = (marginal, is_masked) - enough for an estimator to run on.
    """

    def __init__(self, joint: torch.Tensor):
        super().__init__()
        self.L = joint.dim()
        self.num_values = joint.shape[0]
        self.mask_id = self.num_values
        V = self.num_values
        assign = torch.tensor(list(itertools.product(range(V), repeat=self.L)), dtype=torch.long)
        self.register_buffer("assign", assign)  # [V^L, L]
        self.register_buffer("pj", joint.reshape(-1).double())  # [V^L]
        self.calls = 0

    def forward(self, tokens):
        self.calls += tokens.shape[0]
        vis = tokens != self.mask_id  # [B, L]
        agree = (self.assign[None] == tokens[:, None, :]) | ~vis[:, None, :]  # [B, N, L]
        w = self.pj[None] * agree.all(-1)  # [B, N]
        w = w / w.sum(-1, keepdim=True)
        onehot = torch.nn.functional.one_hot(self.assign, self.num_values).double()  # [N, L, V]
        probs = torch.einsum("bn,nlv->blv", w, onehot)
        logits = torch.log(probs.clamp_min(1e-300)).float()
        hidden = torch.cat([probs.float(), (~vis).float()[..., None]], -1)
        return logits, hidden


def random_joint(L: int, V: int, seed: int, concentration: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = (-torch.log(torch.rand(V**L, generator=g))) ** (1 / concentration)  # heavier tails when < 1
    return (p / p.sum()).reshape([V] * L)


def product_joint(L: int, V: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    margs = [torch.rand(V, generator=g) + 0.1 for _ in range(L)]
    margs = [m / m.sum() for m in margs]
    out = margs[0]
    for m in margs[1:]:
        out = torch.einsum("...a,b->...ab", out, m)
    return out


def potts_joint(L: int, V: int, coupling: float = 1.5) -> torch.Tensor:
    """Fully connected Potts model: every pair stays dependent under any conditioning."""
    assign = torch.tensor(list(itertools.product(range(V), repeat=L)))
    same = (assign[:, :, None] == assign[:, None, :]).sum((-1, -2)) - L
    e = torch.exp(coupling * same.double() / 2)
    return (e / e.sum()).reshape([V] * L)


def brute_force_mi(joint: torch.Tensor, tokens: list[int], i: int, j: int, mask_id: int) -> float:
    """MI(x_i; x_j | visible) by enumeration of the joint."""
    L, V = joint.dim(), joint.shape[0]
    pij = torch.zeros(V, V, dtype=torch.float64)
    for a in itertools.product(range(V), repeat=L):
        if all(t == mask_id or t == v for t, v in zip(tokens, a)):
            pij[a[i], a[j]] += float(joint[a])
    pij /= pij.sum()
    pi, pj = pij.sum(1), pij.sum(0)
    mi = 0.0
    for a in range(V):
        for b in range(V):
            if pij[a, b] > 0:
                mi += float(pij[a, b]) * math.log(float(pij[a, b]) / (float(pi[a]) * float(pj[b])))
    return mi
