"""A small bidirectional transformer used as a masked diffusion model (MDM).

Implements the masked-model protocol of :mod:`mdmi.core.protocol`:
``forward(tokens[B, L]) -> (logits[B, L, num_values], hidden[B, L, D])``.

The blocks may be *weight-shared and looped*: ``n_layers`` distinct blocks applied ``n_loops``
times, the token embedding re-added before every loop (input injection), as in looped transformers
for constraint problems. ``loop_logits`` returns the prediction after every loop, for a loss on
intermediate iterations. ``n_loops: 1`` is a plain transformer.

Positions may carry a *relation matrix* ``rel[L, L]`` (small integer ids); each layer and head
learns one additive attention bias per relation id. A domain supplies the relation matrix
(e.g. same row / column / box of a grid puzzle), the core model knows nothing of what it means.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TransformerConfig:
    num_values: int  # symbols a position can take, ids 0..num_values-1
    length: int  # sequence length L
    d_model: int = 128
    n_layers: int = 4  # distinct blocks
    n_loops: int = 1  # times the stack of blocks is applied (weights shared across loops)
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    num_relations: int = 1  # distinct ids in the relation matrix (1 = no relational bias)
    # learned absolute positions (off: the model sees positions only via relations)
    pos_embedding: bool = True


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model)
        )
        self.rel_bias = nn.Parameter(torch.zeros(cfg.n_heads, cfg.num_relations))
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        """x: [B, L, D]; rel: LongTensor[L, L] -> [B, L, D]."""
        B, L, D = x.shape
        q, k, v = (
            self.qkv(self.ln1(x))
            .view(B, L, 3, self.n_heads, D // self.n_heads)
            .permute(2, 0, 3, 1, 4)
        )
        bias = self.rel_bias[:, rel].to(q.dtype)[
            None
        ]  # [1, H, L, L]: 4-D lets SDPA use its fused CPU kernel
        drop = self.dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=drop
        )  # [B, H, L, Dh]
        x = x + self.proj(att.transpose(1, 2).reshape(B, L, D))
        return x + self.ff(self.ln2(x))


class MaskedTransformer(nn.Module):
    """Bidirectional transformer MDM. Token id ``num_values`` is the mask token."""

    def __init__(self, cfg: TransformerConfig, relations: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.num_values = cfg.num_values
        self.mask_id = cfg.num_values
        self.embed = nn.Embedding(cfg.num_values + 1, cfg.d_model)
        self.pos = (
            nn.Parameter(torch.randn(cfg.length, cfg.d_model) * 0.02) if cfg.pos_embedding else None
        )
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.num_values)
        if relations is None:
            relations = torch.zeros(cfg.length, cfg.length, dtype=torch.long)
        if relations.shape != (cfg.length, cfg.length) or int(relations.max()) >= cfg.num_relations:
            raise ValueError("relations must be LongTensor[L, L] with ids < num_relations")
        self.register_buffer("relations", relations.long(), persistent=True)

    def _loops(self, tokens: torch.Tensor):
        """Yield the stream x[B, L, D] after each of the ``n_loops`` applications of the blocks."""
        e = self.embed(tokens)
        if self.pos is not None:
            e = e + self.pos
        x = torch.zeros_like(e)
        for _ in range(self.cfg.n_loops):
            x = x + e  # input injection: every loop sees the tokens again
            for block in self.blocks:
                x = block(x, self.relations)
            yield x

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: LongTensor[B, L] -> (logits[B, L, V] float32, hidden[B, L, D]) after the last loop."""
        for x in self._loops(tokens):
            pass
        hidden = self.ln_f(x)
        return self.head(hidden).float(), hidden

    def loop_logits(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """tokens: LongTensor[B, L] -> [logits[B, L, V] float32 after each loop] (the last = forward's)."""
        return [self.head(self.ln_f(x)).float() for x in self._loops(tokens)]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
