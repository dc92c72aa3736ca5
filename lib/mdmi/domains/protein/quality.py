"""Quality of generated protein sequences without a folding model (docs/method.md §5).

* pseudo-perplexity under the model: exp of the mean of -log p(x_i | x without i) over the
  generated positions (each masked alone, one pass per position; at most ``max_positions``
  evenly spaced positions per sequence, a documented subsample);
* native-residue recovery for inpainting;
* low complexity: the fraction of residues covered by a window of ``window`` residues whose
  composition entropy is below ``min_entropy`` bits (SEG's first pass, Wootton & Federhen 1993),
  and the longest single-residue run, so that degenerate output cannot score well.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from mdmi.core.pseudo_likelihood import pseudo_log_likelihood


def low_complexity(seq: str, window: int = 12, min_entropy: float = 2.2) -> float:
    """Fraction of residues in any length-``window`` window with composition entropy < min_entropy bits."""
    if not seq:
        return float("nan")
    if len(seq) < window:
        window = len(seq)
    flagged = np.zeros(len(seq), dtype=bool)
    for s in range(len(seq) - window + 1):
        counts = Counter(seq[s : s + window]).values()
        h = -sum(c / window * math.log2(c / window) for c in counts)
        if h < min_entropy:
            flagged[s : s + window] = True
    return float(flagged.mean())


def longest_run(seq: str) -> int:
    best = run = 0
    prev = None
    for c in seq:
        run = run + 1 if c == prev else 1
        best, prev = max(best, run), c
    return best


def pseudo_perplexity(
    model,
    tokens: torch.Tensor,
    positions: list[list[int]],
    max_batch: int = 256,
    max_positions: int = 32,
    cache: dict | None = None,
) -> list[float]:
    """Per sequence exp(mean_i -log p(x_i | rest)) over its listed positions (subsampled evenly): the
    exponential of minus :func:`mdmi.core.pseudo_likelihood.pseudo_log_likelihood`."""
    return [
        math.exp(-v)
        for v in pseudo_log_likelihood(model, tokens, positions, max_batch, max_positions, cache)
    ]
