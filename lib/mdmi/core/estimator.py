"""Neural MI estimator: predicts the whole pairwise MI matrix of a state from one MDM pass.

Input (all from the same forward pass of the frozen MDM on the state):
  hidden  FloatTensor[B, L, D]   hidden states
  probs   FloatTensor[B, L, V]   marginals p(x_i | x_O)
  masked  BoolTensor[B, L]       which positions are masked

Head: per-position projection u_i = W [LN(h_i), p_i, H_i] (+ a learned embedding of the position
index when ``max_len`` > 0, so the head can learn which positions interact even when the backbone's
hidden states do not encode position), optionally ``mixer_layers`` self-attention layers over the
u_i (so a position's feature can depend on the other masked positions of the state), a symmetric
pair feature [u_i * u_j, u_i + u_j] and a small MLP giving a logit s_ij (plus, with ``pair_bias``,
a learned symmetric logit per pair of positions, for fixed-length domains). The output is
``ceiling_ij * sigmoid(s_ij)`` with ``entropy_bound``:

- ``mean``: ceiling (H_i + H_j) / 2. The exact label is the symmetrised (I(i->j) + I(j->i)) / 2 and
  each direction is the MI of the joint p_i(a) q_a(b), so I(i->j) <= H_i: the mean is a ceiling
  every label respects, even for a model whose conditionals are not self-consistent.
- ``min``: ceiling min(H_i, H_j), the bound of a self-consistent joint. A model that is not
  self-consistent can put labels above it (``ceiling_excess`` in the evaluation measures how much).
- ``none``: ``softplus(s_ij)``.

Zero on the diagonal and on visible positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mdmi.core.mi import entropy
from mdmi.errors import UsageError


@dataclass
class EstimatorConfig:
    d_in: int
    rank: int = 64
    hidden: int = 64
    entropy_bound: str = "mean"  # mean | min | none (see the module docstring)
    max_len: int = 0  # > 0: learned position-index embedding for sequences up to this length
    n_values: int = 0  # > 0: the marginals p_i (V values) are part of each position's input
    mixer_layers: int = 0  # self-attention layers over the projected positions before the pair form
    mixer_heads: int = 4
    # learned symmetric [max_len, max_len] logit bias per position pair (needs max_len)
    pair_bias: bool = False

    def __post_init__(self):
        if isinstance(self.entropy_bound, bool):  # heads saved before the enum: true meant min
            self.entropy_bound = "min" if self.entropy_bound else "none"
        if self.pair_bias and self.max_len <= 0:
            raise UsageError("pair_bias needs the position embedding (estimator.positions: true)")
        if self.entropy_bound not in CEILINGS:
            raise UsageError(
                f"entropy_bound must be one of {', '.join(CEILINGS)}, not {self.entropy_bound!r}"
            )


def ceiling(H: torch.Tensor, kind: str) -> torch.Tensor | None:
    """H: FloatTensor[B, L] marginal entropies -> [B, L, L] upper bound on the pair MI (None for 'none')."""
    return pair_ceiling(H[:, :, None], H[:, None, :], kind)


def pair_ceiling(Hi: torch.Tensor, Hj: torch.Tensor, kind: str) -> torch.Tensor | None:
    """The bound of :func:`ceiling` for pairs given by the entropies of their two positions (any
    broadcastable shapes), or None for 'none'."""
    if kind == "min":
        return torch.minimum(Hi, Hj)
    if kind == "mean":
        return 0.5 * (Hi + Hj)
    return None


CEILINGS = ("mean", "min", "none")


class MIHead(nn.Module):
    def __init__(self, cfg: EstimatorConfig):
        super().__init__()
        self.cfg = cfg
        self.norm = nn.LayerNorm(cfg.d_in)
        self.proj = nn.Linear(cfg.d_in + cfg.n_values + 1, cfg.rank)
        self.pos = nn.Embedding(cfg.max_len, cfg.rank) if cfg.max_len > 0 else None
        self.mixer = nn.ModuleList(
            nn.TransformerEncoderLayer(
                cfg.rank,
                cfg.mixer_heads,
                dim_feedforward=2 * cfg.rank,
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(cfg.mixer_layers)
        )
        self.mlp = nn.Sequential(
            nn.Linear(2 * cfg.rank, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, 1)
        )
        self.bias = nn.Parameter(torch.zeros(cfg.max_len, cfg.max_len)) if cfg.pair_bias else None

    def forward(
        self, hidden: torch.Tensor, probs: torch.Tensor, masked: torch.Tensor
    ) -> torch.Tensor:
        """-> predicted symmetric MI FloatTensor[B, L, L] (nats)."""
        if hidden.shape[-1] != self.cfg.d_in or (
            self.cfg.n_values and probs.shape[-1] != self.cfg.n_values
        ):
            raise UsageError(
                f"this MI head was trained on an MDM with hidden size {self.cfg.d_in}"
                f"{f' and {self.cfg.n_values} values' if self.cfg.n_values else ''}; the model in use has "
                f"{hidden.shape[-1]} and {probs.shape[-1]}: pass the head trained for this model"
            )
        hidden = hidden.float()
        probs = probs.float()
        H = entropy(probs)  # [B, L]
        feats = [self.norm(hidden)] + ([probs] if self.cfg.n_values else []) + [H[..., None]]
        u = self.proj(torch.cat(feats, -1))  # [B, L, r]
        L = u.shape[1]
        if self.pos is not None:
            if L > self.cfg.max_len:
                raise UsageError(
                    f"sequence length {L} exceeds the estimator's max_len {self.cfg.max_len}"
                )
            u = u + self.pos.weight[:L]
        if self.mixer:
            u = self._mix(u, masked)
        # the pair form only where it is used: each masked pair once (the form is symmetric), P pairs
        b, i, j = torch.triu(pair_mask(masked), diagonal=1).nonzero(
            as_tuple=True
        )  # LongTensor[P] each
        P = b.numel()
        pad = b.new_zeros(padded_size(P) - P)  # pair (0, 0, 0): dropped
        bp, ip, jp = torch.cat([b, pad]), torch.cat([i, pad]), torch.cat([j, pad])
        # index_select, not u[bp, ip]: its backward (index_add) sums the rows of a position in a fixed order,
        # where advanced indexing's (index_put with accumulate) gave run-to-run differences on the CPU
        flat = u.reshape(-1, u.shape[-1])  # [B * L, r]
        ui, uj = flat.index_select(0, bp * L + ip), flat.index_select(0, bp * L + jp)  # [P', r]
        s = self.mlp(torch.cat([ui * uj, ui + uj], -1)).squeeze(-1)[:P]  # [P]
        if self.bias is not None:
            table = self.bias.reshape(-1)  # [max_len^2]
            n = self.bias.shape[0]
            s = s + 0.5 * (table.index_select(0, i * n + j) + table.index_select(0, j * n + i))
        bound = pair_ceiling(H[b, i], H[b, j], self.cfg.entropy_bound)
        mi = F.softplus(s) if bound is None else bound * torch.sigmoid(s)
        out = torch.zeros(masked.shape + masked.shape[-1:], dtype=mi.dtype, device=mi.device)
        out.index_put_((b, i, j), mi)
        out.index_put_((b, j, i), mi)
        return out

    def _mix(self, u: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """The mixer layers over u[B, L, r], each state's masked positions attending to each other.

        Only the masked positions are run (gathered to the front, [B, M, r] with M the most masked of a
        state, the rest padding that no one attends to): a visible position's feature is never used,
        since pairs are formed among masked positions only. Measured against running all L positions
        (1 thread): 223 positions with 15% / 30% masked 2.5-3.5x / 1.7-2x faster, 122 positions with 10%
        masked 2.2x, 81 positions with 70% masked the same; identical outputs.
        Returns u with the masked positions' rows replaced."""
        count = masked.sum(-1)  # [B]
        M = int(count.max()) if count.numel() else 0
        if M == 0:
            return u
        order = torch.argsort((~masked).to(torch.uint8), dim=-1, stable=True)[:, :M]  # [B, M]
        slot = torch.arange(M, device=u.device)[None] < count[:, None]  # [B, M] a masked position
        x = torch.gather(u, 1, order[..., None].expand(-1, -1, u.shape[-1]))  # [B, M, r]
        ignore = ~slot & slot.any(-1, keepdim=True)  # padding (a state with none masked: unused)
        for layer in self.mixer:
            x = layer(x, src_key_padding_mask=ignore)
        b, k = slot.nonzero(as_tuple=True)
        out = u.clone()
        out[b, order[b, k]] = x[b, k]
        return out


def padded_size(n: int) -> int:
    """``n`` rounded up to one of 4 sizes per power of two (less than 25% more; n itself up to 8).

    The head's pair batch is padded to it so that its tensors take a few sizes that repeat from step to
    step and the CPU allocator reuses their blocks: with a size per exact pair count the heap
    fragmented and a 223-column head's training grew to 1.85 GB (0.83-0.90 GB padded, 0.94 GB for the
    dense [B, L, L] form)."""
    if n <= 8:
        return n
    step = 1 << ((n - 1).bit_length() - 3)
    return -(-n // step) * step


def pair_mask(masked: torch.Tensor) -> torch.Tensor:
    """BoolTensor[B, L, L]: both positions masked and distinct."""
    L = masked.shape[-1]
    eye = torch.eye(L, dtype=torch.bool, device=masked.device)
    return masked[:, :, None] & masked[:, None, :] & ~eye
