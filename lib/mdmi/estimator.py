"""Neural MI estimator: predicts the whole pairwise MI matrix of a state from one MDM pass.

Input (all from the same forward pass of the frozen MDM on the state):
  hidden  FloatTensor[B, L, D]   hidden states
  probs   FloatTensor[B, L, V]   marginals p(x_i | x_O)
  masked  BoolTensor[B, L]       which positions are masked

Head: per-position projection u_i = W [LN(h_i), H_i] (+ a learned embedding of the position index
when ``max_len`` > 0, so the head can learn which positions interact even when the backbone's hidden
states do not encode position), a symmetric pair feature [u_i * u_j, u_i + u_j] and a small MLP giving a logit s_ij. With
``entropy_bound`` (default) the output is ``min(H_i, H_j) * sigmoid(s_ij)``: MI can never exceed
either entropy, so the head only learns which fraction of that bound two positions share.
Otherwise the output is ``softplus(s_ij)``. Zero on the diagonal and on visible positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .mi import entropy


@dataclass
class EstimatorConfig:
    d_in: int
    rank: int = 64
    hidden: int = 64
    entropy_bound: bool = True
    max_len: int = 0          # > 0: learned position-index embedding for sequences up to this length


class MIHead(nn.Module):
    def __init__(self, cfg: EstimatorConfig):
        super().__init__()
        self.cfg = cfg
        self.norm = nn.LayerNorm(cfg.d_in)
        self.proj = nn.Linear(cfg.d_in + 1, cfg.rank)
        self.pos = nn.Embedding(cfg.max_len, cfg.rank) if cfg.max_len > 0 else None
        self.mlp = nn.Sequential(nn.Linear(2 * cfg.rank, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, 1))

    def forward(self, hidden: torch.Tensor, probs: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """-> predicted symmetric MI FloatTensor[B, L, L] (nats)."""
        hidden = hidden.float()
        H = entropy(probs.float())                                        # [B, L]
        u = self.proj(torch.cat([self.norm(hidden), H[..., None]], -1))   # [B, L, r]
        if self.pos is not None:
            L = u.shape[1]
            if L > self.cfg.max_len:
                raise ValueError(f"sequence length {L} exceeds the estimator's max_len {self.cfg.max_len}")
            u = u + self.pos.weight[:L]
        ui, uj = u[:, :, None, :], u[:, None, :, :]
        s = self.mlp(torch.cat([ui * uj, ui + uj], -1)).squeeze(-1)       # [B, L, L], symmetric
        if self.cfg.entropy_bound:
            out = torch.minimum(H[:, :, None], H[:, None, :]) * torch.sigmoid(s)
        else:
            out = F.softplus(s)
        return out * pair_mask(masked).to(out.dtype)


def pair_mask(masked: torch.Tensor) -> torch.Tensor:
    """BoolTensor[B, L, L]: both positions masked and distinct."""
    L = masked.shape[-1]
    eye = torch.eye(L, dtype=torch.bool, device=masked.device)
    return masked[:, :, None] & masked[:, None, :] & ~eye
