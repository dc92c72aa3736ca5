"""The masked-model protocol: the one thing the core needs from a backbone.

A masked model is an ``nn.Module`` with

* ``num_values: int`` - symbols a position can take; ids ``0..num_values-1``;
* ``mask_id: int`` - the id of a masked position in the input (outside ``0..num_values-1``);
* ``forward(tokens: LongTensor[B, L]) -> (logits: FloatTensor[B, L, num_values],
  hidden: FloatTensor[B, L, D])``;
* optionally ``pad_id: int`` - right padding of variable-length batches. Padding is never masked
  (so exact MI, the estimator and every decoder ignore it) and the model must not attend to it.

Backbone-specific tokenisation (BOS/EOS, vocabularies) stays inside a domain's adapter.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class MaskedModel(Protocol):
    num_values: int
    mask_id: int

    def __call__(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def pad_id(model) -> int | None:
    """The model's padding id, or None for fixed-length models."""
    return getattr(model, "pad_id", None)


def model_device(model) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def forward_chunked(model, tokens: torch.Tensor, max_batch: int, need_hidden: bool = False):
    """Run ``model`` on tokens[N, L] in chunks of at most ``max_batch`` sequences.

    Returns logits[N, L, V] (and hidden[N, L, D] if ``need_hidden``), on the model's device.
    """
    dev = model_device(model)
    logits, hidden = [], []
    for s in range(0, tokens.shape[0], max_batch):
        lo, hi = model(tokens[s : s + max_batch].to(dev))
        logits.append(lo.float())
        if need_hidden:
            hidden.append(hi)
    out_l = torch.cat(logits) if logits else torch.empty(0)
    if need_hidden:
        return out_l, torch.cat(hidden)
    return out_l
