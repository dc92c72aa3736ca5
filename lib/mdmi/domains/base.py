"""The one small interface through which a domain plugs into the core.

The core (exact MI, estimator, decoders, training loops) sees only token tensors. A domain says
how to make its data, build its backbone, score a completed sequence and, optionally, which
pairs of positions are related a priori (for MI-by-relation analyses).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
import torch


@dataclass
class Task:
    """A set of sequences to complete.

    init:   LongTensor[N, L] - ``mask_id`` where a position is to be filled
    target: LongTensor[N, L] - a reference completion (e.g. the unique Sudoku solution)
    meta:   one row per sequence (difficulty, givens, ...)
    """
    name: str
    init: torch.Tensor
    target: torch.Tensor
    meta: pd.DataFrame


class Domain(Protocol):
    name: str
    primary_metric: str          # column of quality() that summarises success, higher is better (e.g. 'solved')
    extra_metrics: tuple         # further quality() columns reported in the tables

    def generate(self, cfg: dict, out_dir: Path, threads: int = 1) -> None:
        """Write the domain's datasets (train sequences, val/test tasks) into out_dir."""

    def build_model(self, cfg: dict) -> torch.nn.Module:
        """A fresh masked model (protocol of mdmi.protocol) from the model section of the config.
        A domain whose backbone is pretrained (``pretrained = True``) loads its weights here and is
        not trained by the workflow."""

    def train_sequences(self, data_dir: Path) -> torch.Tensor:
        """LongTensor[N, L] complete sequences for masked-diffusion training."""

    def train_masks(self, data_dir: Path) -> torch.Tensor | None:
        """Optional BoolTensor[N, L] aligned with train_sequences: each sequence's *natural* mask
        (True = hidden, e.g. a puzzle's blanks; an all-False row has none), or None. The trainer
        draws ``train.puzzle_fraction`` of each batch from rows that have one."""

    def augment(self, batch: torch.Tensor, gen: torch.Generator, mask: torch.Tensor | None = None):
        """Validity-preserving random transform of complete sequences (identity if none); with
        ``mask`` (BoolTensor[B, L]) the same transform moves the mask and (batch, mask) is returned."""

    def load_task(self, data_dir: Path, split: str) -> Task:
        """The val/test task of a split."""

    def quality(self, final: torch.Tensor, task: Task, model=None) -> pd.DataFrame:
        """Per-sequence quality of completed sequences final[N, L] (must include primary_metric);
        ``model`` is the MDM, for model-based scores such as pseudo-perplexity."""

    def relations(self) -> tuple[torch.Tensor, list[str]] | None:
        """Optional LongTensor[L, L] relation ids with their names, for MI-by-relation."""

    def workload(self) -> dict:
        """Nominal sizes from the config alone, for cost projections (``python -m mdmi project``):
        ``length`` (typical L), ``values`` (V), ``architecture`` (an untrained model of the configured
        architecture, weights not loaded), ``tasks`` {split: (sequences, masked positions each)}."""
