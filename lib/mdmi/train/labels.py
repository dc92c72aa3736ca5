"""States to label and their exact MI labels (docs/method.md §3: random mask ratios and decoder trajectories).

A label set is a dict saved with torch.save:
  tokens   LongTensor[N, L]      states (mask_id where masked)
  mi       FloatTensor[N, L, L]  symmetrised exact MI (nats)
  mi_row   FloatTensor[N, L, L]  row-wise I(i -> j), for the asymmetry diagnostic
  kind     list[str]             'random' or 'trajectory'
  clamped_passes, seconds        labelling cost (totals)
  skip_tol, precision            the accelerations used (0 and 'fp32': exact)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mdmi.core.decoding import decode
from mdmi.core.masking import random_mask
from mdmi.core.mi import exact_mi_batch, symmetrise
from mdmi.core.protocol import pad_id
from mdmi.train.loop import seed_everything, tensor_fingerprint

log = logging.getLogger(__name__)

STATES_PER_CALL = 8  # states whose clamped sequences are pooled into one exact_mi_batch call


def sample_states(
    model,
    starts: torch.Tensor,
    complete: torch.Tensor,
    n_states: int,
    cfg: dict,
    gen: torch.Generator,
) -> tuple[torch.Tensor, list[str]]:
    """n_states states: a fraction from decoder trajectories started at ``starts`` (the states the
    decoder really visits), the rest random masks of ``complete`` sequences.

    starts: LongTensor[S, L] start states; complete: LongTensor[C, L] complete sequences.
    """
    n_traj = int(round(n_states * cfg["trajectory_fraction"]))
    n_rand = n_states - n_traj
    out, kinds = [], []
    if n_traj:
        pick = torch.randperm(starts.shape[0], generator=gen)[
            : max(1, min(starts.shape[0], n_traj))
        ]
        res = decode(
            model,
            starts[pick],
            cfg["trajectory_method"],
            tau=cfg["trajectory_tau"],
            record_states=True,
            max_batch=cfg["max_batch"],
        )
        pool = torch.cat(res.states)  # [T * S, L]
        pool = pool[(pool == model.mask_id).sum(-1) >= 2]
        idx = torch.randperm(pool.shape[0], generator=gen)[:n_traj]
        out.append(pool[idx])
        kinds += ["trajectory"] * len(idx)
        n_rand = n_states - len(idx)
    if n_rand:
        idx = torch.randint(0, complete.shape[0], (n_rand,), generator=gen)
        xm, _, _ = random_mask(
            complete[idx], cfg["mask_min"], cfg["mask_max"], model.mask_id, gen, pad_id(model)
        )
        out.append(xm)
        kinds += ["random"] * n_rand
    width = max(x.shape[1] for x in out)
    if any(
        x.shape[1] != width for x in out
    ):  # starts and complete sequences right-padded to different widths
        pad = pad_id(model)
        if pad is None:
            raise ValueError(
                "sample_states: starts and complete sequences differ in length and the model has no pad_id"
            )
        out = [torch.nn.functional.pad(x, (0, width - x.shape[1]), value=pad) for x in out]
    return torch.cat(out), kinds


def label_states(
    model,
    tokens: torch.Tensor,
    kinds: list[str],
    max_batch: int,
    skip_tol: float = 0.0,
    precision: str = "fp32",
    states_per_call: int = STATES_PER_CALL,
    progress: bool = True,
) -> dict:
    """Exact MI labels for tokens[N, L] (batched over several states per call).

    ``skip_tol`` and ``precision`` are the optional accelerations of :mod:`mdmi.core.mi` (exact: 0, fp32).
    """
    mi_rows, passes, t0 = [], 0, time.perf_counter()
    for s in tqdm(
        range(0, tokens.shape[0], states_per_call),
        desc="exact MI",
        unit="batch",
        disable=not progress,
    ):
        row, n = exact_mi_batch(
            model,
            tokens[s : s + states_per_call],
            max_batch=max_batch,
            skip_tol=skip_tol,
            symmetric=False,
            precision=precision,
        )
        mi_rows.append(row.cpu())
        passes += n
    seconds = time.perf_counter() - t0
    mi_row = torch.cat(mi_rows)
    return {
        "tokens": tokens.cpu(),
        "mi": symmetrise(mi_row),
        "mi_row": mi_row,
        "kind": kinds,
        "clamped_passes": passes,
        "seconds": seconds,
        "skip_tol": skip_tol,
        "precision": precision,
    }


SPLIT_SEED_OFFSET = {"train": 1, "val": 2, "test": 3}


def train_label_fingerprint(domain, data_dir: Path, seed: int) -> str:
    """Short hash of what :func:`label_split` draws the train split's states from: the domain's training
    sequences and its own label starts, if it has them (drawn with the train split's seed)."""
    gen = torch.Generator().manual_seed(seed + SPLIT_SEED_OFFSET["train"])
    complete = domain.train_sequences(data_dir)
    own = domain.label_starts(data_dir, gen)
    return tensor_fingerprint(*((complete,) if own is None else (complete, own)))


def label_split(model, domain, data_dir: Path, split: str, lcfg: dict, seed: int) -> dict:
    """The label set of one split (the ``label`` stage): states sampled from the split's starts,
    labelled exactly.

    train: 256 training sequences masked at random ratios (or the domain's own ``label_starts``,
    shaped like its tasks), ``lcfg["train_states"]`` states, at ``train_skip_tol`` when set; val and
    test: the split's tasks, ``lcfg["val_states"]`` states, at ``skip_tol`` (the labels that judge the
    estimator). The seed is offset per split.
    """
    gen = seed_everything(seed + SPLIT_SEED_OFFSET[split])
    tol = lcfg["skip_tol"]
    if split == "train":
        complete = domain.train_sequences(data_dir)
        pick = complete[torch.randperm(complete.shape[0], generator=gen)[:256]]
        starts, _, _ = random_mask(
            pick, lcfg["mask_min"], lcfg["mask_max"], model.mask_id, gen, pad_id(model)
        )
        own = domain.label_starts(data_dir, gen)
        if own is not None:
            starts = own
        n = lcfg["train_states"]
        if lcfg.get("train_skip_tol") is not None:
            tol = lcfg["train_skip_tol"]
    else:
        task = domain.load_task(data_dir, split)
        known = (task.target >= 0).all(-1)  # rows with a reference (not unconditional generation)
        starts, complete, n = task.init, task.target[known], lcfg["val_states"]
    tokens, kinds = sample_states(model, starts, complete, n, lcfg, gen)
    return label_states(model, tokens, kinds, lcfg["max_batch"], tol, lcfg["precision"])
