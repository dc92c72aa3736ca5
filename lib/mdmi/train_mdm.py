"""Masked-diffusion training of a domain's backbone.

Each step draws a batch of complete sequences (augmented by the domain), a mask ratio
t ~ U(mask_min, mask_max) per sequence, masks each position with probability t (at least one),
and minimises cross-entropy on the masked positions: the absorbing-state masked-diffusion
objective (MDLM, Sahoo et al. 2024), with the ELBO's 1/t weight optional (``weighting: elbo``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from .io import save_torch
from .protocol import pad_id
from .training import Checkpointer, config_hash, run_steps, seed_everything, tensor_fingerprint

log = logging.getLogger(__name__)


def random_mask(x: torch.Tensor, lo: float, hi: float, mask_id: int, gen: torch.Generator,
                pad: int | None = None):
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


def masked_loss(model, x: torch.Tensor, lo: float, hi: float, gen: torch.Generator, weighting: str):
    dev = next(model.parameters()).device
    xm, m, t = random_mask(x, lo, hi, model.mask_id, gen, pad_id(model))
    logits, _ = model(xm.to(dev))
    target = x if pad_id(model) is None else torch.where(x == pad_id(model), 0, x)   # padding is never scored
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.to(dev).reshape(-1), reduction="none").view(x.shape)
    m = m.to(dev).float()
    if weighting == "elbo":
        n = (x != pad_id(model)).sum(-1).to(dev) if pad_id(model) is not None else x.shape[1]
        return ((ce * m).sum(-1) / t.to(dev) / n).mean()
    return (ce * m).sum() / m.sum()


def training_record(cfg: dict, data: torch.Tensor) -> dict:
    """What a trained MDM depends on: model and training config, seed, the training data."""
    return {"model": cfg["model"], "train": cfg["train"], "seed": cfg["seed"], "data": tensor_fingerprint(data)}


def train_mdm(domain, cfg: dict, data_dir: Path, out_path: Path, ckpt_path: Path, device: torch.device,
              progress: bool = True, stop_after: int | None = None) -> dict | None:
    """Train (or resume from ``ckpt_path``) the domain's MDM; writes the final model to ``out_path``.

    ``stop_after``: leave after that step with a checkpoint and no model (a time-sliced or
    interrupted run); the next call resumes from it.
    """
    mcfg, tcfg = cfg["model"], cfg["train"]
    if getattr(domain, "pretrained", False):
        model = domain.build_model(mcfg)           # fails here, with what to do, if the weights are missing
        out = {"domain": domain.name, "domain_cfg": domain.cfg, "model_cfg": mcfg, "state_dict": None,
               "pretrained": domain.backbone, "label": model.label, "train_log": [], "steps": 0}
        log.info("pretrained backbone %s: nothing to train", domain.backbone)
        save_torch(out_path, out)
        return out
    gen = seed_everything(int(cfg["seed"]))
    model = domain.build_model(mcfg).to(device)
    log.info("MDM with %d parameters on %s", sum(p.numel() for p in model.parameters()), device)
    data = domain.train_sequences(data_dir)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    record = training_record(cfg, data)
    ck = Checkpointer(ckpt_path, config_hash(record))
    lo, hi = tcfg["mask_min"], tcfg["mask_max"]

    def loss_fn():
        idx = torch.randint(0, data.shape[0], (tcfg["batch_size"],), generator=gen)
        batch = domain.augment(data[idx], gen) if tcfg["augment"] else data[idx]
        return masked_loss(model, batch, lo, hi, gen, tcfg["weighting"])

    history = run_steps(model, opt, gen, ck, loss_fn, total=int(tcfg["steps"]), lr=tcfg["lr"], warmup=tcfg["warmup"],
                        log_every=tcfg["log_every"], checkpoint_every=tcfg["checkpoint_every"], desc="train MDM",
                        grad_clip=tcfg["grad_clip"], progress=progress, stop_after=stop_after)
    if history is None:
        return None
    out = {"domain": domain.name, "domain_cfg": domain.cfg, "model_cfg": mcfg, "state_dict": model.state_dict(),
           "label": getattr(model, "label", domain.name), "params": sum(p.numel() for p in model.parameters()),
           "train_log": history, "steps": int(tcfg["steps"]), "config_hash": ck.cfg_hash,
           "trained_with": record}
    save_torch(out_path, out)
    ck.clear()
    return out


def load_mdm(domain, path: Path, device: torch.device):
    """The trained MDM stored at ``path`` (eval mode, on ``device``)."""
    from .io import load_torch
    state = load_torch(path)
    if state.get("domain") != domain.name:
        raise ValueError(f"{path}: checkpoint is for domain {state.get('domain')!r}, not {domain.name!r}")
    model = domain.build_model(state["model_cfg"])
    if state["state_dict"] is not None:
        model.load_state_dict(state["state_dict"])
    return model.to(device).eval()
