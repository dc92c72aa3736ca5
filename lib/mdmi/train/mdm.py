"""Masked-diffusion training of a domain's backbone.

Each step draws a batch of complete sequences (augmented by the domain), a mask ratio
t ~ U(mask_min, mask_max) per sequence, masks each position with probability t (at least one),
and minimises cross-entropy on the masked positions: the absorbing-state masked-diffusion
objective (MDLM, Sahoo et al. 2024), with the ELBO's 1/t weight optional (``weighting: elbo``).

Two options shape what the model learns (both off unless the config asks):

- ``train.puzzle_fraction``: that share of each batch comes from sequences with a *natural* mask
  (``domain.train_masks``, e.g. a puzzle's blanks), each partly revealed: a uniform fraction
  r ~ U(0, ``reveal_max``) of its hidden positions is shown, as along a decoding trajectory. The
  rest keeps random masks, so the MDM stays a generative model of arbitrary masked states.
- ``train.loop_loss``: for a looped backbone (``loop_logits``), the loss is averaged over the
  predictions after every loop, not only the last (deep supervision of the iterations).

Two hooks serve models of a fixed-length family (both generic): ``train.reweight_identity`` draws
sequences with weights 1 / (number of sequences at least that identical), and a model that defines
``penalty()`` (the negative log of a prior over its weights, e.g. a Gaussian on couplings) has it added
to the loss divided by the number of training sequences: the MAP objective per sequence.

Run it through the workflow (``snakemake results/<domain>/mdm/model.pt``) or
``python -m mdmi train-mdm --config C --domain D --data DIR --out model.pt --ckpt ckpt.pt``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from mdmi.core.masking import random_mask, reveal_part
from mdmi.core.protocol import pad_id
from mdmi.errors import UsageError
from mdmi.train.loop import (
    Checkpointer,
    config_hash,
    run_steps,
    seed_everything,
    tensor_fingerprint,
)
from mdmi.util.checkpoint_io import NotACheckpoint, load_torch, save_torch

log = logging.getLogger(__name__)


def masked_loss(
    model,
    x: torch.Tensor,
    lo: float,
    hi: float,
    gen: torch.Generator,
    weighting: str,
    mask: torch.Tensor | None = None,
    loop_loss: bool = False,
):
    """Cross-entropy on the masked positions of x[B, L].

    mask: optional BoolTensor[B, L] to use instead of a random mask (its t is the masked fraction);
    loop_loss: average the loss over a looped model's per-loop predictions.
    """
    dev = next(model.parameters()).device
    if mask is None:
        xm, m, t = random_mask(x, lo, hi, model.mask_id, gen, pad_id(model))
    else:
        m, t = mask, mask.float().mean(-1).clamp_min(1.0 / x.shape[1])
        xm = torch.where(m, torch.full_like(x, model.mask_id), x)
    xm = xm.to(dev)
    all_logits = (
        model.loop_logits(xm) if loop_loss and hasattr(model, "loop_logits") else [model(xm)[0]]
    )
    target = (
        x if pad_id(model) is None else torch.where(x == pad_id(model), 0, x)
    )  # padding is never scored
    target = target.to(dev).reshape(-1)
    m = m.to(dev).float()
    total = 0.0
    for logits in all_logits:
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target, reduction="none").view(
            x.shape
        )
        if weighting == "elbo":
            n = (x != pad_id(model)).sum(-1).to(dev) if pad_id(model) is not None else x.shape[1]
            total = total + ((ce * m).sum(-1) / t.to(dev) / n).mean()
        else:
            total = total + (ce * m).sum() / m.sum()
    return total / len(all_logits)


def identity_weights(data: torch.Tensor, identity: float, block: int = 256) -> torch.Tensor:
    """FloatTensor[N]: 1 / (number of rows of data[N, L] with at least ``identity`` of their positions equal,
    itself included)."""
    counts = torch.zeros(len(data))
    for s in range(0, len(data), block):
        same = (data[s : s + block, None, :] == data[None, :, :]).float().mean(-1)  # [b, N]
        counts[s : s + block] = (same >= identity).sum(-1).float()
    return 1.0 / counts


def training_record(cfg: dict, data: torch.Tensor, masks: torch.Tensor | None = None) -> dict:
    """What a trained MDM depends on: model and training config, seed, the training data (and the
    natural masks when the domain has them)."""
    tensors = (data,) if masks is None else (data, masks)
    return {
        "model": cfg["model"],
        "train": cfg["train"],
        "seed": cfg["seed"],
        "data": tensor_fingerprint(*tensors),
    }


def domain_training_data(domain, data_dir: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(sequences LongTensor[N, L], natural masks BoolTensor[N, L] or None) of a domain's training set."""
    data = domain.train_sequences(data_dir)
    masks = domain.train_masks(data_dir)
    return data, masks


HELDOUT_MASK = 0.15  # held-out evaluation: 15% of the positions masked (BERT's rate), fixed masks


def heldout_evaluator(model, domain, data_dir: Path, seed: int, repeats: int = 2):
    """``() -> {'heldout_loss', 'heldout_acc'}`` on the domain's held-out sequences (masked cross-entropy
    in nats and accuracy over a fixed set of 15% masks, drawn once from ``seed``), or None when the
    domain declares none (``heldout_sequences``). Reported beside the training loss: a model that
    memorises its family shows a falling training loss and a rising held-out one."""
    x = domain.heldout_sequences(data_dir)
    if x is None or not len(x):
        return None
    x = x.repeat(repeats, 1)
    gen = torch.Generator().manual_seed(seed + 104_729)
    xm, m, _ = random_mask(x, HELDOUT_MASK, HELDOUT_MASK, model.mask_id, gen, pad_id(model))
    target = x if pad_id(model) is None else torch.where(x == pad_id(model), 0, x)
    dev = next(model.parameters()).device

    @torch.no_grad()
    def evaluate() -> dict:
        nll = hit = 0.0
        for s in range(0, len(x), 32):
            logits = model(xm[s : s + 32].to(dev))[0].float()
            sel = m[s : s + 32].to(dev)
            t = target[s : s + 32].to(dev)
            nll += float(F.cross_entropy(logits[sel], t[sel], reduction="sum"))
            hit += float((logits[sel].argmax(-1) == t[sel]).sum())
        n = float(m.sum())
        return {"heldout_loss": nll / n, "heldout_acc": hit / n}

    return evaluate


def _pretrained(domain, mcfg: dict, out_path: Path) -> dict:
    """A pretrained backbone: nothing to train; its record (no weights) goes to ``out_path``."""
    model = domain.build_model(mcfg)  # fails here, with what to do, if the weights are missing
    out = {
        "domain": domain.name,
        "domain_cfg": domain.cfg,
        "model_cfg": mcfg,
        "state_dict": None,
        "pretrained": domain.backbone,
        "label": model.label,
        "train_log": [],
        "steps": 0,
    }
    log.info("pretrained backbone %s: nothing to train", domain.backbone)
    save_torch(out_path, out)
    return out


def _natural_rows(masks: torch.Tensor | None, tcfg: dict, batch: int) -> tuple[torch.Tensor, int]:
    """Training rows that carry a natural mask (e.g. puzzles' blanks), LongTensor[N], and how many
    of each batch come from them (``train.puzzle_fraction`` of it)."""
    none = torch.empty(0, dtype=torch.long)
    natural = torch.nonzero(masks.any(-1)).flatten() if masks is not None else none
    fraction = float(tcfg.get("puzzle_fraction", 0.0))
    if fraction > 0 and not len(natural):
        log.warning(
            "train.puzzle_fraction > 0 but the domain's training data have no natural masks: "
            "random masks only"
        )
    return natural, int(round(fraction * batch)) if len(natural) else 0


def _batch_loss(model, domain, data, masks, weights, tcfg: dict, gen: torch.Generator):
    """The loss of one training batch, as a function of nothing (:func:`run_steps` calls it): rows
    of data[N, L] drawn uniformly or by ``weights`` and masked at random, plus natural-mask rows,
    augmented, in one forward pass; the model's own prior (``penalty``), if any, per row."""
    lo, hi = tcfg["mask_min"], tcfg["mask_max"]
    B = int(tcfg["batch_size"])
    natural, n_nat = _natural_rows(masks, tcfg, B)
    loop_loss = bool(tcfg.get("loop_loss", False))
    prior = getattr(model, "penalty", None)
    log.info(
        "training batches: %d natural-mask + %d random-mask sequences%s",
        n_nat,
        B - n_nat,
        ", loss on every loop" if loop_loss else "",
    )

    def data_loss():
        if weights is None:
            idx = torch.randint(0, data.shape[0], (B - n_nat,), generator=gen)
        else:
            idx = torch.multinomial(weights, B - n_nat, replacement=True, generator=gen)
        batch = domain.augment(data[idx], gen) if tcfg["augment"] else data[idx]
        if not n_nat:
            return masked_loss(model, batch, lo, hi, gen, tcfg["weighting"], loop_loss=loop_loss)
        # one forward over [random-mask rows; natural-mask rows]
        _, m, _ = random_mask(batch, lo, hi, model.mask_id, gen, pad_id(model))
        pick = natural[torch.randint(0, len(natural), (n_nat,), generator=gen)]
        nb, nm = (
            domain.augment(data[pick], gen, masks[pick])
            if tcfg["augment"]
            else (data[pick], masks[pick])
        )
        nm = reveal_part(nm, float(tcfg.get("reveal_max", 0.0)), gen)
        both, mask = torch.cat([batch, nb]), torch.cat([m, nm])
        return masked_loss(
            model, both, lo, hi, gen, tcfg["weighting"], mask=mask, loop_loss=loop_loss
        )

    def loss_fn():
        loss = data_loss()
        return loss if prior is None else loss + prior() / len(data)

    return loss_fn


def train_mdm(
    domain,
    cfg: dict,
    data_dir: Path,
    out_path: Path,
    ckpt_path: Path,
    device: torch.device,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict | None:
    """Train (or resume from ``ckpt_path``) the domain's MDM; writes the final model to ``out_path``.

    ``stop_after``: leave after that step with a checkpoint and no model (a time-sliced or
    interrupted run); the next call resumes from it.
    """
    mcfg = cfg.get("model", {})
    if domain.pretrained:
        return _pretrained(domain, mcfg, out_path)
    tcfg = cfg["train"]
    gen = seed_everything(int(cfg["seed"]))
    mcfg = domain.model_config(mcfg, data_dir)  # what the data fix, e.g. a family's column count
    model = domain.build_model(mcfg).to(device)
    log.info("MDM with %d parameters on %s", sum(p.numel() for p in model.parameters()), device)
    data, masks = domain_training_data(domain, data_dir)
    weights = None
    if tcfg.get("reweight_identity"):
        weights = identity_weights(data, float(tcfg["reweight_identity"]))
        log.info(
            "sequence weights at %.0f%% identity: %d sequences, effective number %.1f",
            100 * tcfg["reweight_identity"],
            len(data),
            float(weights.sum()),
        )
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    record = training_record(cfg, data, masks)
    ck = Checkpointer(ckpt_path, config_hash(record))
    history = run_steps(
        model,
        opt,
        gen,
        ck,
        _batch_loss(model, domain, data, masks, weights, tcfg, gen),
        total=int(tcfg["steps"]),
        lr=tcfg["lr"],
        warmup=tcfg["warmup"],
        log_every=tcfg["log_every"],
        checkpoint_every=tcfg["checkpoint_every"],
        desc="train MDM",
        grad_clip=tcfg["grad_clip"],
        progress=progress,
        stop_after=stop_after,
        evaluate=heldout_evaluator(model, domain, data_dir, int(cfg["seed"])),
    )
    if history is None:
        return None
    out = {
        "domain": domain.name,
        "domain_cfg": domain.cfg,
        "model_cfg": mcfg,
        "state_dict": model.state_dict(),
        "label": getattr(model, "label", domain.name),
        "params": sum(p.numel() for p in model.parameters()),
        "train_log": history,
        "steps": int(tcfg["steps"]),
        "config_hash": ck.cfg_hash,
        "trained_with": record,
    }
    save_torch(out_path, out)
    ck.clear()
    return out


def load_mdm(domain, path: Path, device: torch.device, loops: int | None = None):
    """The trained MDM stored at ``path`` (eval mode, on ``device``).

    A looped backbone runs ``loops`` loops (default: the domain's ``inference_loops()``, else
    as many as it was trained with): weight-shared loops can be iterated longer at test time,
    trading compute per forward pass for accuracy. The weights are the same either way.
    """
    state = load_torch(path)
    if not isinstance(state, dict) or not {"domain", "model_cfg", "state_dict"} <= state.keys():
        raise NotACheckpoint(
            f"{path}: not an MDM checkpoint (model.pt written by train-mdm); an MI head goes "
            f"to --estimator, a model to --model"
        )
    if state.get("domain") != domain.name:
        raise NotACheckpoint(
            f"{path}: checkpoint is for domain {state.get('domain')!r}, not {domain.name!r}"
        )
    mcfg = dict(state["model_cfg"])
    loops = loops or domain.inference_loops()
    if loops:
        if "n_loops" not in mcfg and loops != 1:
            raise UsageError(
                f"{path}: {loops} inference loops need a looped backbone (model.n_loops); "
                f"this model has none: remove the domain's inference loops setting"
            )
        mcfg["n_loops"] = int(loops)
    model = domain.build_model(mcfg)
    if state["state_dict"] is not None:
        try:
            model.load_state_dict(state["state_dict"])
        except (
            RuntimeError
        ) as e:  # missing / unexpected keys or shapes: the weights are another architecture
            raise NotACheckpoint(
                f"{path}: its weights do not fit the architecture it records "
                f"({str(e).splitlines()[0]}); the file was altered or written by another version: "
                f"retrain it"
            ) from e
    return model.to(device).eval()
