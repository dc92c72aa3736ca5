"""Pseudo-log-likelihood of completed sequences under a masked model: a model-based quality score for
domains without a reference answer (docs/method.md §5).

For a sequence x and listed positions S, ``mean_{i in S} log p(x_i | x without i)``: each position masked
alone, one forward pass per position (batched), at most ``max_positions`` evenly spaced positions per
sequence (a documented subsample: the cost is one pass per scored position, and none for a
(sequence, position) pair a shared cache has already scored).
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
    cache: dict | None = None,
) -> list[float]:
    """Per sequence the mean log p(x_i | rest) (nats) over its listed positions; NaN where none are listed.

    tokens: LongTensor[N, L] complete sequences (padding allowed); positions: per sequence, indices into L.
    cache: optional, shared by calls with the same model: {(sequence bytes, position): log p}. A pair
    already scored (the same completion from another knob setting, or twice in ``tokens``) costs no pass.
    """
    cache = {} if cache is None else cache
    rows = tokens.cpu()
    keys = [
        [(rows[n].numpy().tobytes(), i) for i in scored_positions(pos, max_positions)]
        for n, pos in enumerate(positions)
    ]
    todo: dict[tuple[bytes, int], tuple[int, int]] = {}
    for n, ks in enumerate(keys):
        for key in ks:
            if key not in cache and key not in todo:
                todo[key] = (n, key[1])
    if todo:
        seqs = []
        for n, i in todo.values():
            x = rows[n].clone()
            x[i] = model.mask_id
            seqs.append(x)
        logits = forward_chunked(model, torch.stack(seqs), max_batch)
        logp = torch.log_softmax(logits.float(), -1).cpu()
        owner = torch.tensor([n for n, _ in todo.values()])
        where = torch.tensor([i for _, i in todo.values()])
        ll = logp[torch.arange(len(seqs)), where, rows[owner, where]]
        cache.update(zip(todo, ll.tolist()))
    return [
        float(torch.tensor([cache[k] for k in ks]).mean()) if ks else float("nan") for ks in keys
    ]
