"""Training the MI head by regression on exact labels (docs/method.md §3), checkpointed and resumable."""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

import torch

from mdmi.core.estimator import EstimatorConfig, MIHead, ceiling, pair_mask
from mdmi.core.mi import entropy, marginals
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


@torch.inference_mode()
def mdm_features(
    model, tokens: torch.Tensor, max_batch: int = 256
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(hidden[N, L, D], probs[N, L, V], masked[N, L]) of the frozen MDM, on the CPU."""
    probs, hidden = marginals(model, tokens, max_batch)
    return hidden.float().cpu(), probs.cpu(), (tokens == model.mask_id).cpu()


def estimator_loss(
    head, hidden, probs, masked, target, kind: str = "mse", delta: float = 1e-3
) -> torch.Tensor:
    """Regression loss over masked-masked pairs.

    ``mse``: mean squared error in nats^2 (dominated by the few large pairs). ``log_mse``: squared error
    of log(MI + delta), which weighs relative error, so that the ranking of the many small pairs inside
    a state (what the decoders use) is learned too; ``delta`` (nats) is where it stops caring.
    """
    pm = pair_mask(masked)
    pred = head(hidden, probs, masked)
    if kind == "log_mse":
        return ((torch.log(pred + delta) - torch.log(target.clamp_min(0) + delta)) ** 2)[pm].mean()
    return ((pred - target) ** 2)[pm].mean()


@torch.no_grad()
def init_output_bias(
    head: MIHead, hidden, probs, masked, target, delta: float, max_states: int = 256
) -> float:
    """Set the head's last bias so that its first predictions sit at the labels' typical size.

    With the bias at zero the head starts at half its ceiling, bound * sigmoid(0); a model whose MI is
    a millionth of that ceiling makes the first steps drive the logit far below the labels, where the
    sigmoid is flat and log_mse's gradient vanishes. The bias set here is logit(r), r the geometric mean
    of (MI + delta) / bound over the masked pairs of (up to ``max_states``) training states, so that
    bound * sigmoid(s) starts near the labels. Returns r.
    """
    n = min(max_states, target.shape[0])
    pm = pair_mask(masked[:n])
    log_target = torch.log(target[:n].clamp_min(0) + delta)
    bound = ceiling(entropy(probs[:n].float()), head.cfg.entropy_bound)
    if bound is None:  # softplus head: softplus(s) = r
        r = float(torch.exp(log_target[pm].mean()))
        head.mlp[-1].bias.fill_(math.log(math.expm1(r)))
    else:  # bound * sigmoid(s) = bound * r
        r = min(
            max(
                float(torch.exp((log_target - torch.log(bound.clamp_min(1e-12)))[pm].mean())), 1e-12
            ),
            0.5,
        )
        head.mlp[-1].bias.fill_(math.log(r / (1 - r)))
    return r


def train_estimator(
    model,
    labels: dict,
    ecfg: dict,
    seed: int,
    out_path: Path,
    ckpt_path: Path,
    device: torch.device,
    progress: bool = True,
    stop_after: int | None = None,
    record: dict | None = None,
) -> dict | None:
    """Train (or resume) the MI head on exact labels; ``stop_after`` as in :func:`mdmi.train.mdm.train_mdm`.
    ``record``: what the head was trained from (``trained_with``, with its ``domain``), stored in head.pt so
    that a config can adopt the file instead of training (``<domain>.estimator_checkpoint``)."""
    gen = seed_everything(seed)
    hidden, probs, masked = mdm_features(model, labels["tokens"])
    target = labels["mi"].float()
    cfg = EstimatorConfig(
        d_in=hidden.shape[-1],
        rank=ecfg["rank"],
        hidden=ecfg["hidden"],
        entropy_bound=ecfg["entropy_bound"],
        n_values=probs.shape[-1] if ecfg.get("marginals", False) else 0,
        mixer_layers=ecfg.get("mixer_layers", 0),
        mixer_heads=ecfg.get("mixer_heads", 4),
        pair_bias=ecfg.get("pair_bias", False),
        max_len=max(hidden.shape[1], ecfg.get("max_len", 0)) if ecfg.get("positions", True) else 0,
    )
    head = MIHead(cfg)
    if ecfg.get("output_init", "zero") == "labels":
        r = init_output_bias(
            head, hidden, probs, masked, target, float(ecfg.get("loss_delta", 1e-3))
        )
        log.info("output bias at the labels' typical size: %.3g of the ceiling", r)
    head = head.to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=ecfg["lr"], weight_decay=ecfg["weight_decay"])
    ck = Checkpointer(
        ckpt_path,
        config_hash(
            {
                "estimator": ecfg,
                "seed": seed,
                "labels": tensor_fingerprint(labels["tokens"], target, hidden),
            }
        ),
    )
    N = target.shape[0]

    def loss_fn():
        idx = torch.randint(0, N, (min(ecfg["batch_size"], N),), generator=gen)
        return estimator_loss(
            head,
            hidden[idx].to(device),
            probs[idx].to(device),
            masked[idx].to(device),
            target[idx].to(device),
            ecfg.get("loss", "mse"),
            float(ecfg.get("loss_delta", 1e-3)),
        )

    history = run_steps(
        head,
        opt,
        gen,
        ck,
        loss_fn,
        total=int(ecfg["steps"]),
        lr=ecfg["lr"],
        warmup=ecfg["warmup"],
        log_every=ecfg["log_every"],
        checkpoint_every=ecfg["checkpoint_every"],
        desc="train estimator",
        progress=progress,
        stop_after=stop_after,
    )
    if history is None:
        return None
    out = {
        "cfg": cfg.__dict__,
        "state_dict": head.state_dict(),
        "train_log": history,
        "steps": int(ecfg["steps"]),
    }
    if record is not None:
        out.update(domain=record.get("domain"), trained_with=record)
    save_torch(out_path, out)
    ck.clear()
    return out


def load_estimator(path: Path, device: torch.device) -> MIHead:
    state = load_torch(path)
    if (
        not isinstance(state, dict)
        or not {"cfg", "state_dict"} <= state.keys()
        or "d_in" not in state["cfg"]
    ):
        raise NotACheckpoint(
            f"{path}: not an MI head (head.pt written by train-estimator); pass "
            f"results/<domain>/estimator/head.pt"
        )
    head = MIHead(EstimatorConfig(**state["cfg"]))
    head.load_state_dict(state["state_dict"])
    return head.to(device).eval()


# the architecture and training knobs of :func:`fit_estimator` when the caller names none: the
# workflow's base config (config/base.yaml, estimator) without the position terms, which tie a head
# to one sequence length, and with fewer steps
FIT_DEFAULTS = {
    "rank": 32,
    "hidden": 64,
    "entropy_bound": "mean",
    "positions": False,
    "marginals": True,
    "mixer_layers": 1,
    "mixer_heads": 4,
    "pair_bias": False,
    "loss": "log_mse",
    "loss_delta": 1e-4,
    "steps": 500,
    "batch_size": 8,
    "lr": 2e-3,
    "weight_decay": 0.0,
    "warmup": 30,
    "log_every": 50,
    "checkpoint_every": 10**9,
}


def fit_estimator(
    model,
    tokens: torch.Tensor,
    mi: torch.Tensor,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    **knobs,
) -> MIHead:
    """Train an MI head for ``model`` on exact labels and return it, ready for ``decode(..., "mi")``.

    tokens: LongTensor[N, L] masked states (``model.mask_id`` where hidden); mi: FloatTensor[N, L, L]
    their exact MI in nats (:func:`mdmi.core.mi.exact_mi_batch`). ``knobs`` override
    :data:`FIT_DEFAULTS` (the keys of the config's ``estimator`` section). The workflow's
    ``train-estimator`` step runs the same training with checkpoints and resume.
    """
    unknown = set(knobs) - set(FIT_DEFAULTS)
    if unknown:
        raise UsageError(
            f"fit_estimator has no knob {', '.join(sorted(unknown))}; its knobs: "
            f"{', '.join(FIT_DEFAULTS)}"
        )
    if tokens.dim() != 2 or mi.shape != tokens.shape + tokens.shape[-1:]:
        raise UsageError(
            f"tokens must be [N, L] and mi [N, L, L]; got {tuple(tokens.shape)} and {tuple(mi.shape)}"
        )
    ecfg = {**FIT_DEFAULTS, **knobs}
    device = torch.device(device)
    with tempfile.TemporaryDirectory(prefix="mdmi-fit-") as tmp:
        out = train_estimator(
            model,
            {"tokens": tokens, "mi": mi},
            ecfg,
            seed,
            Path(tmp) / "head.pt",
            Path(tmp) / "head.ckpt",
            device,
            progress=progress,
        )
    head = MIHead(EstimatorConfig(**out["cfg"]))
    head.load_state_dict(out["state_dict"])
    return head.to(device).eval()
