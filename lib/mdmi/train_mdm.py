"""Masked-diffusion training of a domain's backbone.

Each step draws a batch of complete sequences (augmented by the domain), a mask ratio
t ~ U(mask_min, mask_max) per sequence, masks each position with probability t (at least one),
and minimises cross-entropy on the masked positions: the absorbing-state masked-diffusion
objective (MDLM, Sahoo et al. 2024), with the ELBO's 1/t weight optional (``weighting: elbo``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .io import save_torch
from .training import Checkpointer, config_hash, lr_at, seed_everything, tensor_fingerprint

log = logging.getLogger(__name__)


def random_mask(x: torch.Tensor, lo: float, hi: float, mask_id: int, gen: torch.Generator):
    """Mask x[B, L] with per-sequence ratio t ~ U(lo, hi). Returns (masked tokens, mask, t[B])."""
    B, L = x.shape
    t = lo + (hi - lo) * torch.rand(B, generator=gen)
    m = torch.rand(B, L, generator=gen) < t[:, None]
    force = torch.randint(0, L, (B,), generator=gen)
    m[torch.arange(B), force] = True
    return torch.where(m, torch.full_like(x, mask_id), x), m, t


def masked_loss(model, x: torch.Tensor, lo: float, hi: float, gen: torch.Generator, weighting: str):
    dev = next(model.parameters()).device
    xm, m, t = random_mask(x, lo, hi, model.mask_id, gen)
    logits, _ = model(xm.to(dev))
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.to(dev).reshape(-1), reduction="none").view(x.shape)
    m = m.to(dev).float()
    if weighting == "elbo":
        return ((ce * m).sum(-1) / t.to(dev)).mean() / x.shape[1]
    return (ce * m).sum() / m.sum()


def train_mdm(domain, cfg: dict, data_dir: Path, out_path: Path, ckpt_path: Path, device: torch.device,
              progress: bool = True, stop_after: int | None = None) -> dict | None:
    """Train (or resume from ``ckpt_path``) the domain's MDM; writes the final model to ``out_path``.

    ``stop_after``: leave after that step with a checkpoint and no model (a time-sliced or
    interrupted run); the next call resumes from it.
    """
    mcfg, tcfg = cfg["model"], cfg["train"]
    gen = seed_everything(int(cfg["seed"]))
    model = domain.build_model(mcfg).to(device)
    log.info("MDM with %d parameters on %s", sum(p.numel() for p in model.parameters()), device)
    data = domain.train_sequences(data_dir)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    ck = Checkpointer(ckpt_path, config_hash({"model": mcfg, "train": tcfg, "seed": cfg["seed"],
                                              "data": tensor_fingerprint(data)}))
    step, history = ck.load(model, opt, gen)
    total = int(tcfg["steps"])
    lo, hi = tcfg["mask_min"], tcfg["mask_max"]
    from tqdm.auto import tqdm
    bar = tqdm(total=total, initial=step, desc="train MDM", unit="step", disable=not progress)
    t0, run_loss = time.perf_counter(), 0.0
    model.train()
    while step < total:
        idx = torch.randint(0, data.shape[0], (tcfg["batch_size"],), generator=gen)
        batch = domain.augment(data[idx], gen) if tcfg["augment"] else data[idx]
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, tcfg["lr"], tcfg["warmup"])
        loss = masked_loss(model, batch, lo, hi, gen, tcfg["weighting"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg["grad_clip"])
        opt.step()
        step += 1
        run_loss += float(loss.detach())
        bar.update(1)
        if step % tcfg["log_every"] == 0 or step == total:
            n = tcfg["log_every"] if step % tcfg["log_every"] == 0 else step % tcfg["log_every"]
            history.append({"step": step, "loss": run_loss / n, "lr": opt.param_groups[0]["lr"],
                            "seconds": time.perf_counter() - t0})
            bar.set_postfix(loss=f"{run_loss / n:.3f}")
            run_loss = 0.0
        if step < total and (step % tcfg["checkpoint_every"] == 0 or step == stop_after):
            ck.save(model, opt, gen, step, history)
        if step == stop_after and step < total:
            bar.close()
            return None
    bar.close()
    model.eval()
    out = {"domain": domain.name, "domain_cfg": domain.cfg, "model_cfg": mcfg, "state_dict": model.state_dict(), "train_log": history,
           "steps": step, "config_hash": ck.cfg_hash}
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
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval()
