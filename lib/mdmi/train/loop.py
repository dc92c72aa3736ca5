"""Shared training utilities: seeding, checkpoint/resume, LR schedule, step loop with progress."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mdmi.errors import MdmiError, UsageError
from mdmi.util.checkpoint_io import load_torch, save_torch

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def tensor_fingerprint(*tensors: torch.Tensor) -> str:
    """Short hash of tensors' contents (ties a checkpoint to the data it was trained on)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def model_fingerprint(model) -> str:
    """Short hash of a model's weights and buffers (name, dtype, shape, bytes) and of its ``cfg`` when it
    has one (e.g. a looped backbone's loop count): what a head trained on the model's states depends on
    beside the config (which layer's hidden states a head reads is a config key, checked with the rest)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    cfg = getattr(model, "cfg", None)
    h.update(json.dumps(getattr(cfg, "__dict__", cfg), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def config_hash(obj) -> str:
    """Stable short hash of a JSON-able config section."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10% of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


class Checkpointer:
    """Saves/restores (module, optimizer, generator, step, log) atomically; refuses a checkpoint
    written under a different config hash."""

    def __init__(self, path: str | Path, cfg_hash: str):
        self.path = Path(path)
        self.cfg_hash = cfg_hash

    def load(self, module, opt, gen: torch.Generator) -> tuple[int, list]:
        if not self.path.exists():
            return 0, []
        state = load_torch(self.path)
        if state.get("config_hash") != self.cfg_hash:
            raise UsageError(
                f"{self.path}: checkpoint was written with a different config; "
                f"delete it to start over or restore the config it was trained with"
            )
        module.load_state_dict(state["module"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed %s at step %d", self.path, state["step"])
        return int(state["step"]), list(state["log"])

    def clear(self) -> None:
        """Remove the checkpoint once the final result is written (it only serves interrupted runs)."""
        self.path.unlink(missing_ok=True)

    def save(self, module, opt, gen: torch.Generator, step: int, history: list) -> None:
        save_torch(
            self.path,
            {
                "module": module.state_dict(),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "log": history,
                "config_hash": self.cfg_hash,
            },
        )


class Interrupted(MdmiError, RuntimeError):
    """Training stopped by SIGTERM (a scheduler's preemption or time limit) after writing its checkpoint."""


class _StopOnTerm:
    """While active, SIGTERM only sets ``requested``: the loop finishes its step, checkpoints and stops."""

    def __init__(self):
        self.requested, self._old = False, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._on_term)
        return self

    def _on_term(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


def run_steps(
    module,
    opt,
    gen: torch.Generator,
    ck: Checkpointer,
    loss_fn,
    *,
    total: int,
    lr: float,
    warmup: int,
    log_every: int,
    checkpoint_every: int,
    desc: str,
    grad_clip: float | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    evaluate=None,
) -> list | None:
    """The optimisation loop shared by every trainer.

    Resumes from ``ck`` when it holds a checkpoint; each step sets the LR (:func:`lr_at`), calls
    ``loss_fn()`` (which draws its batch with ``gen``), clips gradients if asked and steps the
    optimiser; logs the mean loss every ``log_every`` steps and checkpoints every
    ``checkpoint_every``. ``evaluate``: an optional ``() -> dict`` (e.g. held-out loss) run in eval mode
    at every log step, its values added to that log row; it must not draw from ``gen``. Returns the
    log, or None when it stopped at ``stop_after`` (checkpoint kept). SIGTERM (what Slurm sends on
    preemption or at its time limit) ends the current step, writes the checkpoint and raises
    :class:`Interrupted`; the same command resumes from there.
    """
    step, history = ck.load(module, opt, gen)
    bar = tqdm(total=total, initial=step, desc=desc, unit="step", disable=not progress)
    t0, run_loss, n = time.perf_counter(), 0.0, 0
    module.train()
    with _StopOnTerm() as term:
        while step < total:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, lr, warmup)
            loss = loss_fn()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
            opt.step()
            step += 1
            run_loss, n = run_loss + float(loss.detach()), n + 1
            bar.update(1)
            if step % log_every == 0 or step == total:
                row = {
                    "step": step,
                    "loss": run_loss / n,
                    "lr": opt.param_groups[0]["lr"],
                    "seconds": time.perf_counter() - t0,
                }
                evaluated = {}
                if evaluate is not None:
                    module.eval()
                    evaluated = evaluate()
                    module.train()
                history.append({**row, **evaluated})
                bar.set_postfix(
                    loss=f"{run_loss / n:.3g}", **{k: f"{v:.3g}" for k, v in evaluated.items()}
                )
                run_loss, n = 0.0, 0
            if step < total and (step % checkpoint_every == 0 or step == stop_after):
                ck.save(module, opt, gen, step, history)
            if step == stop_after and step < total:
                bar.close()
                return None
            if term.requested and step < total:
                ck.save(module, opt, gen, step, history)
                bar.close()
                raise Interrupted(
                    f"{desc}: stopped by SIGTERM at step {step} of {total}; checkpoint written to "
                    f"{ck.path}: run the same command (or make paper) again to resume from it"
                )
    bar.close()
    module.eval()
    return history
