"""Masking states for training and labelling: a random masked fraction per sequence, and revealing part
of a natural mask (a puzzle's blanks).

x: LongTensor[B, L] token ids; masks are BoolTensor[B, L] with True = hidden.
"""

from __future__ import annotations

import torch


def random_mask(
    x: torch.Tensor,
    lo: float,
    hi: float,
    mask_id: int,
    gen: torch.Generator,
    pad: int | None = None,
):
    """Mask x[B, L] with per-sequence ratio t ~ U(lo, hi), at least one position per sequence.

    ``pad``: padding id of right-padded batches; padding is never masked.
    Returns (masked tokens, mask BoolTensor[B, L], t[B]).
    """
    B, L = x.shape
    t = lo + (hi - lo) * torch.rand(B, generator=gen)
    m = torch.rand(B, L, generator=gen) < t[:, None]
    if pad is None:
        force = torch.randint(0, L, (B,), generator=gen)
    else:
        real = x != pad
        m &= real
        force = (torch.rand(B, generator=gen) * real.sum(-1).clamp_min(1)).long()
    m[torch.arange(B), force] = True
    return torch.where(m, torch.full_like(x, mask_id), x), m, t


def reveal_part(natural: torch.Tensor, reveal_max: float, gen: torch.Generator) -> torch.Tensor:
    """natural: BoolTensor[B, L] hidden positions -> a sub-mask with a fraction r ~ U(0, reveal_max)
    of each row's hidden positions revealed (at least one stays hidden)."""
    B, L = natural.shape
    r = reveal_max * torch.rand(B, generator=gen)
    keep = natural & (torch.rand(B, L, generator=gen) >= r[:, None])
    score = torch.where(natural, torch.rand(B, L, generator=gen), torch.full((B, L), -1.0))
    keep[torch.arange(B), score.argmax(-1)] = True  # one hidden position of each row stays hidden
    return keep
