"""ESM-C as a masked model over the 20 standard amino acids (the protocol of :mod:`mdmi.core.protocol`).

Token ids seen by the core: 0..19 residues (order ``AMINO_ACIDS``), 20 = mask, 21 = padding
(right padding of variable-length batches; padding is never masked, never attended to and never
decoded). The adapter adds ESM's BOS (<cls>) and EOS tokens, maps ids to ESM's vocabulary and
back, and returns logits restricted to the 20 residues plus the hidden states of one layer.

Backbones (config ``protein.backbone``):
* ``esmc_300m`` / ``esmc_600m``: the pretrained EvolutionaryScale weights, through the esm
  package's own loader (``ESMC.from_pretrained``: a Hugging Face snapshot, which also works offline
  from a populated cache with ``HF_HUB_OFFLINE=1``), or from a local ``.pth`` state dict given as
  ``protein.weights``.
* ``fallback``: a small model of the same ESM-C architecture (the esm package's ``ESMC`` class),
  trained by the workflow on the bundled sequences. Not ESM-C: every output says so.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import torch
from torch import nn

from mdmi.domains.protein.alphabet import AMINO_ACIDS
from mdmi.errors import MdmiError, UsageError

log = logging.getLogger(__name__)

MASK_ID = 20
PAD_ID = 21
PRETRAINED = {  # name -> (esm loader name, d_model, n_heads, n_layers, Hugging Face repo, weight file)
    "esmc_300m": (
        "esmc_300m",
        960,
        15,
        30,
        "EvolutionaryScale/esmc-300m-2024-12",
        "esmc_300m_2024_12_v0.pth",
    ),
    "esmc_600m": (
        "esmc_600m",
        1152,
        18,
        36,
        "EvolutionaryScale/esmc-600m-2024-12",
        "esmc_600m_2024_12_v0.pth",
    ),
}


class WeightsUnavailable(MdmiError, RuntimeError):
    pass


def _tokenizer():
    from esm.tokenization import get_esmc_model_tokenizers  # noqa: PLC0415

    return get_esmc_model_tokenizers()


class ESMCMaskedModel(nn.Module):
    """Wraps an ``esm.models.esmc.ESMC``: forward(tokens[B, L]) -> (logits[B, L, 20], hidden[B, L, D])."""

    num_values = 20
    mask_id = MASK_ID
    pad_id = PAD_ID

    def __init__(self, esmc: nn.Module, hidden_layer: int = -1, label: str = "fallback"):
        super().__init__()
        self.esmc = esmc
        self.hidden_layer = hidden_layer
        self.label = label
        tok = esmc.tokenizer
        vocab = tok.get_vocab()
        lut = torch.full((22,), tok.pad_token_id, dtype=torch.long)
        lut[:20] = torch.tensor([vocab[a] for a in AMINO_ACIDS])
        lut[MASK_ID] = tok.mask_token_id
        self.register_buffer("to_esm", lut, persistent=False)  # core id -> ESM id
        self.register_buffer("aa_esm", lut[:20].clone(), persistent=False)  # logits columns
        self.bos, self.eos, self.pad = tok.cls_token_id, tok.eos_token_id, tok.pad_token_id

    def esm_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """LongTensor[B, L + 2]: BOS, mapped residues/masks, EOS right after the last non-pad, pads."""
        B, L = tokens.shape
        if bool(((tokens < 0) | (tokens > PAD_ID)).any()):
            raise ValueError(
                f"protein tokens must be 0..{PAD_ID} (20 residues, {MASK_ID} mask, {PAD_ID} pad)"
            )
        out = torch.full((B, L + 2), self.pad, dtype=torch.long, device=tokens.device)
        out[:, 0] = self.bos
        out[:, 1 : L + 1] = self.to_esm[tokens]
        lengths = (tokens != PAD_ID).sum(-1)
        out[torch.arange(B, device=tokens.device), lengths + 1] = self.eos
        return out

    def forward(self, tokens: torch.Tensor):
        x = self.esm_tokens(tokens)
        out = self.esmc(sequence_tokens=x, sequence_id=x != self.pad)
        L = tokens.shape[1]
        logits = out.sequence_logits[:, 1 : L + 1][..., self.aa_esm]  # [B, L, 20]
        hidden = out.hidden_states[self.hidden_layer][:, 1 : L + 1]  # [B, L, D]
        return logits, hidden


def build_fallback(d_model: int, n_heads: int, n_layers: int) -> nn.Module:
    """A fresh small ESM-C-architecture network (esm's ``ESMC`` class, no flash attention)."""
    from esm.models.esmc import ESMC  # noqa: PLC0415

    return ESMC(
        d_model=d_model,
        n_heads=n_heads,
        n_layers=n_layers,
        tokenizer=_tokenizer(),
        use_flash_attn=False,
    )


def load_pretrained(name: str, weights: str | None, device: torch.device) -> nn.Module:
    """Pretrained ESM-C ``name`` on ``device``, in fp32 (the esm loader's bf16 on CUDA is undone: exact
    labels are fp32; ``labels.precision`` turns on bf16/fp16 autocast where wanted).

    ``weights``: a local ``.pth`` state dict; otherwise ``ESMC.from_pretrained`` (Hugging Face).
    Raises :class:`WeightsUnavailable` with both ways to get the weights when neither works.
    """
    if name not in PRETRAINED:
        raise UsageError(
            f"unknown ESM-C backbone {name!r}; use one of {', '.join(PRETRAINED)} or 'fallback'"
        )
    loader, d, h, n, repo, fname = PRETRAINED[name]
    how = (
        f"either (1) run once with network access so the esm package downloads the Hugging Face snapshot "
        f"{repo} (afterwards HF_HUB_OFFLINE=1 works from the cache), or (2) download {fname} from {repo} "
        f"and set protein.weights: /path/to/{fname} in your config; or use protein.backbone: fallback"
    )
    from esm.models.esmc import ESMC  # noqa: PLC0415

    if weights:
        path = Path(weights)
        if not path.exists():
            raise WeightsUnavailable(f"ESM-C weights file {path} not found: {how}")
        model = ESMC(
            d_model=d,
            n_heads=h,
            n_layers=n,
            tokenizer=_tokenizer(),
            use_flash_attn=device.type == "cuda",
        )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except (
            pickle.UnpicklingError,
            RuntimeError,
            EOFError,
            KeyError,
            ValueError,
        ) as e:  # junk or another model
            raise WeightsUnavailable(
                f"{path}: not an {name} state dict ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:160]}): {how}"
            ) from e
        return model.to(device).eval()
    try:
        return ESMC.from_pretrained(loader, device=device).float().eval()
    except (
        OSError
    ) as e:  # offline: connection errors and huggingface_hub's LocalEntryNotFoundError are OSErrors
        raise WeightsUnavailable(f"cannot load {name} weights ({type(e).__name__}): {how}") from e


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
