"""Supplying a trained model by path instead of training it (the cache for the expensive steps).

A domain's config may name ``checkpoint: {path, sha256}``: a ``model.pt`` written by
``python -m mdmi train-mdm`` (anywhere: a shared drive, a previous run, a GPU box). Before it is
used its SHA-256 must match and the training record stored in it (model and training config,
seed, fingerprint of the training data) must equal the one the current config would train with,
so every analysis downstream is what a fresh training run would have been fed. ``python -m mdmi
checksum PATH`` prints the lines to paste into the config.

``estimator_checkpoint: {path, sha256}`` does the same for the MI head (a ``head.pt`` written by
``python -m mdmi train-estimator``): its record holds the label and estimator config, the seed and
fingerprints of the MDM's weights and of the states its training labels are drawn from, so an adopted
head is the one this config's train labels and training would have made.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mdmi.errors import MdmiError
from mdmi.util.checkpoint_io import load_torch, save_torch
from mdmi.util.io import file_sha256

log = logging.getLogger(__name__)


class CheckpointMismatch(MdmiError, ValueError):
    """A supplied checkpoint is missing, corrupt, or was trained under a different config."""


def _flatten(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def record_differences(stored: dict, wanted: dict) -> list[str]:
    """Human-readable differences between two training records ('key: checkpoint X, config Y')."""
    a, b = (
        _flatten(json.loads(json.dumps(stored, default=str))),
        _flatten(json.loads(json.dumps(wanted, default=str))),
    )
    return [
        f"{k}: checkpoint {a.get(k, '(absent)')!r}, config {b.get(k, '(absent)')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


# what each config key supplies: (the thing, the command that writes it)
ADOPTABLE = {
    "checkpoint": ("MDM", "train-mdm"),
    "estimator_checkpoint": ("MI head", "train-estimator"),
}


def adopt_checkpoint(
    domain_name: str, spec: dict, wanted: dict, out_path: Path, key: str = "checkpoint"
) -> dict:
    """Verify the checkpoint ``spec`` = {path, sha256} (config key ``key``: the MDM's ``checkpoint`` or
    the head's ``estimator_checkpoint``) against ``wanted`` (the training record the config implies)
    and write it to ``out_path``. Raises :class:`CheckpointMismatch` with the fix."""
    what, writer = ADOPTABLE[key]
    src = Path(spec["path"])
    thing = "model" if key == "checkpoint" else what
    fix = f"fix {domain_name}.{key} in the config, or set it to null to train the {thing}"
    if key == "estimator_checkpoint":  # a retrained MDM invalidates the heads trained on its states
        fix += " (`make estimators` retrains the shipped heads)"
    if not src.is_file():
        raise CheckpointMismatch(f"cached checkpoint {src} not found; {fix}")
    digest = file_sha256(src)
    if digest != spec["sha256"].lower():
        raise CheckpointMismatch(
            f"cached checkpoint {src} has SHA-256 {digest}, the config expects {spec['sha256']}: "
            f"the file changed or the checksum is stale (`python -m mdmi checksum {src}`); {fix}"
        )
    try:
        state = load_torch(src)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise CheckpointMismatch(
            f"cached checkpoint {src} cannot be read ({type(e).__name__}); {fix}"
        ) from e
    if (
        not isinstance(state, dict)
        or state.get("domain") != domain_name
        or "trained_with" not in state
    ):
        raise CheckpointMismatch(
            f"cached checkpoint {src} is not a trained {domain_name} {what} written by "
            f"`python -m mdmi {writer}` (no training record); {fix}"
        )
    diffs = record_differences(state["trained_with"], wanted)
    if diffs:
        raise CheckpointMismatch(
            f"cached checkpoint {src} was trained under a different config ("
            + "; ".join(diffs[:4])
            + (f"; +{len(diffs) - 4} more" if len(diffs) > 4 else "")
            + f"); {fix}"
        )
    state["cached_from"] = {"path": str(src), "sha256": digest}
    save_torch(out_path, state)
    log.info(
        "using cached checkpoint %s (sha256 %s...), trained with the same config", src, digest[:12]
    )
    return state


def checksum_snippet(path: str | Path) -> str:
    """The config lines that make ``path`` the cached checkpoint (an MDM) or estimator_checkpoint (a
    head) of its domain."""
    state = load_torch(path)
    domain = state.get("domain", "<domain>") if isinstance(state, dict) else "<domain>"
    head = isinstance(state, dict) and isinstance(state.get("cfg"), dict) and "d_in" in state["cfg"]
    key = "estimator_checkpoint" if head else "checkpoint"
    return f"{domain}:\n  {key}:\n    path: {path}\n    sha256: {file_sha256(path)}"
