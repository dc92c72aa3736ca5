"""Pseudo-log-likelihood of completed sequences under a masked model: a model-based quality score for
domains without a reference answer (docs/method.md §5).

For a sequence x and listed positions S, ``mean_{i in S} log p(x_i | x without i)``: each position masked
alone, one forward pass per position (batched), at most ``max_positions`` evenly spaced positions per
sequence (a documented subsample: the cost is one pass per scored position).
"""

from __future__ import annotations

import numpy as np
import torch

from mdmi.core.protocol import forward_chunked


def scored_positions(positions: list[int], max_positions: int) -> list[int]:
    """At most ``max_positions`` of ``positions``, evenly spaced (all of them when there are fewer)."""
    if len(positions) <= max_positions:
        return list(positions)
    return [positions[int(k)] for k in np.linspace(0, len(positions) - 1, max_positions).round()]


@torch.inference_mode()
def pseudo_log_likelihood(
    model,
    tokens: torch.Tensor,
    positions: list[list[int]],
    max_batch: int = 256,
    max_positions: int = 32,
) -> list[float]:
    """Per sequence the mean log p(x_i | rest) (nats) over its listed positions; NaN where none are listed.

    tokens: LongTensor[N, L] complete sequences (padding allowed); positions: per sequence, indices into L.
    """
    seqs, where, owner = [], [], []
    for n, pos in enumerate(positions):
        for i in scored_positions(pos, max_positions):
            x = tokens[n].clone()
            x[i] = model.mask_id
            seqs.append(x)
            where.append(i)
            owner.append(n)
    out = [float("nan")] * len(positions)
    if not seqs:
        return out
    logits = forward_chunked(model, torch.stack(seqs), max_batch)
    logp = torch.log_softmax(logits.float(), -1).cpu()
    idx = torch.arange(len(seqs))
    w, owner_t = torch.tensor(where), torch.tensor(owner)
    ll = logp[idx, w, tokens.cpu()[owner_t, w]]
    for n in range(len(positions)):
        m = owner_t == n
        if m.any():
            out[n] = float(ll[m].mean())
    return out
