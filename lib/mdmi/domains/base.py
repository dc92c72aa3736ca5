"""The contract through which a domain plugs into the workflow: a :class:`DomainSpec` and a :class:`Domain`.

The core (exact MI, estimator, decoders, training loops) sees only token tensors, and the shared
code (CLI, tables, claims, manifest, rules, notebooks) sees only what a domain declares here. A
domain is a module (or package) that defines ``SPEC = DomainSpec(...)``:

- its config section (``schema``: a JSON-schema fragment merged into the top-level schema, and the
  stage each of its own keys belongs to, ``stage_keys``),
- how its data are made (``Domain.make_data``: one command, whatever the steps inside; the stages
  after it read the data through the domain object, never by file name),
- its backbone (``Domain.build_model``), quality metrics (``Domain.quality``), optional relations
  (``Domain.relations``) and analyses (``analyses``: steps after the estimator, e.g. contact maps or
  a comparison with ground truth),
- its claims (``title``, ``paper_passes``, ``relation_claim``, ``claims``) and figures (``figures``,
  ``fig3_metrics``).

Registration: a module inside ``mdmi.domains`` is found by itself; one elsewhere is listed in the
config (``plugins: [my_package.my_domain]`` or a path to a ``.py`` file) or declared as a Python
entry point in the group ``mdmi.domains``. See docs/extending.md.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

# annotations only: the Snakefile imports the registry, and a parse should not load torch
if TYPE_CHECKING:
    import pandas as pd
    import torch


@dataclass
class Task:
    """A set of sequences to complete.

    init:   LongTensor[N, L] - ``mask_id`` where a position is to be filled
    target: LongTensor[N, L] - a reference completion (e.g. a puzzle's unique solution)
    meta:   one row per sequence (difficulty, givens, ...)
    """

    name: str
    init: torch.Tensor
    target: torch.Tensor
    meta: pd.DataFrame


class Domain:
    """A configured domain, built by ``SPEC.make(section)`` from its config section.

    Every hook the shared code calls is declared here. The six without a default (``make_data``,
    ``build_model``, ``train_sequences``, ``load_task``, ``quality``, ``workload``) must be defined by
    each domain; the others have defaults that say "this domain has none" and are overridden where a
    domain has something to add.
    """

    name: str
    cfg: dict  # its config section (with the global seed added)
    # the column of quality() that summarises success, higher is better (e.g. 'solved')
    primary_metric: str
    extra_metrics: tuple = ()  # further quality() columns reported in the tables
    # True: the backbone comes with weights and is not trained by the workflow
    pretrained: bool = False
    # True: quality() scores every pass's set, so decode records the states
    wants_states: bool = False

    # -- required ---------------------------------------------------------------------------------
    def make_data(self, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
        """Write the domain's datasets (train sequences, val/test tasks, anything its analyses read)
        into out_dir; ``repo`` is the folder that relative paths to shipped inputs are under."""
        raise NotImplementedError(f"{type(self).__name__}.make_data")

    def build_model(self, cfg: dict) -> torch.nn.Module:
        """A fresh masked model (protocol of mdmi.core.protocol) from the model section of the config.
        A domain whose backbone is pretrained (``pretrained = True``) loads its weights here and is
        not trained by the workflow."""
        raise NotImplementedError(f"{type(self).__name__}.build_model")

    def train_sequences(self, data_dir: Path) -> torch.Tensor:
        """LongTensor[N, L] complete sequences for masked-diffusion training."""
        raise NotImplementedError(f"{type(self).__name__}.train_sequences")

    def load_task(self, data_dir: Path, split: str) -> Task:
        """The val/test task of a split."""
        raise NotImplementedError(f"{type(self).__name__}.load_task")

    def quality(self, final: torch.Tensor, task: Task, model=None) -> pd.DataFrame:
        """Per-sequence quality of completed sequences final[N, L] (must include primary_metric);
        ``model`` is the MDM, for model-based scores such as pseudo-perplexity."""
        raise NotImplementedError(f"{type(self).__name__}.quality")

    def workload(self) -> dict:
        """Nominal sizes from the config alone, for cost projections (``python -m mdmi project``):
        ``length`` (typical L), ``values`` (V), ``architecture`` (an untrained model of the configured
        architecture, weights not loaded), ``tasks`` {split: (sequences, masked positions each)}."""
        raise NotImplementedError(f"{type(self).__name__}.workload")

    # -- optional, with defaults ------------------------------------------------------------------
    def train_masks(self, data_dir: Path) -> torch.Tensor | None:
        """BoolTensor[N, L] aligned with train_sequences: each sequence's *natural* mask (True =
        hidden, e.g. a puzzle's blanks; an all-False row has none), or None (the default). The
        trainer draws ``train.puzzle_fraction`` of each batch from rows that have one."""
        return None

    def augment(self, batch: torch.Tensor, gen: torch.Generator, mask: torch.Tensor | None = None):
        """Validity-preserving random transform of complete sequences (default: none); with ``mask``
        (BoolTensor[B, L]) the same transform moves the mask and (batch, mask) is returned."""
        return batch if mask is None else (batch, mask)

    def relations(self) -> tuple[torch.Tensor, list[str]] | None:
        """LongTensor[L, L] relation ids with their names, for MI-by-relation; None (default): none."""
        return None

    def heldout_sequences(self, data_dir: Path) -> torch.Tensor | None:
        """LongTensor[N, L] held-out complete sequences whose masked loss is logged beside the
        training loss; None (default): none."""
        return None

    def model_config(self, model_cfg: dict, data_dir: Path) -> dict:
        """The model section completed with what the data fix (e.g. a family's number of columns);
        default: as configured."""
        return model_cfg

    def label_starts(self, data_dir: Path, gen: torch.Generator) -> torch.Tensor | None:
        """LongTensor[N, L] start states for the estimator's training labels, shaped like the tasks;
        None (default): random masks of the training sequences."""
        return None

    def inference_loops(self) -> int | None:
        """Loops per forward pass of a looped backbone at inference; None (default): as trained."""
        return None

    def extra_rule_passes(self, work: dict) -> dict[str, float]:
        """Forward passes of the domain's own expensive steps (e.g. contact maps), for ``python -m
        mdmi project``; ``work`` is :meth:`workload`'s answer. Default: none."""
        return {}


@dataclass(frozen=True)
class Figure:
    """A figure notebook of a domain (papermill; parameters ``results``, ``scale``, ``config_path``).

    item: manifest key (e.g. 'fig1'); notebook: path to the .ipynb (relative to the repository for the
    built-in domains, else absolute); inputs: files it reads, relative to the results folder; files:
    what the manifest lists for it besides the figure itself; caption: its caption in the Snakemake
    report (reStructuredText, a path like ``notebook``; a generic one when not given)."""

    item: str
    notebook: str
    inputs: tuple[str, ...]
    files: tuple[str, ...] = ()
    caption: str | None = None

    @property
    def stem(self) -> str:
        return Path(self.notebook).stem

    @property
    def caption_path(self) -> str:
        return self.caption or "workflow/report/figure.rst"


@dataclass(frozen=True)
class Analysis:
    """A step after the estimator: ``run(domain, model, head, data_dir, out_dir, cfg, device, label)``
    writes ``<name>.csv`` (and anything else) into ``results/<domain>/analysis/<name>/``; that table is
    copied to ``results/tables/<name>.csv``, and every CSV of the folder is handed, by file stem, to the
    domain's ``claims`` and ``table1_rows``."""

    name: str
    run: Callable


@dataclass(frozen=True)
class Command:
    """A command a domain adds to ``python -m mdmi``: ``module`` defines ``add_arguments(parser)`` and
    ``run(args)`` and is imported only when the command is the one asked for (``help`` lists it)."""

    help: str
    module: str


@dataclass(frozen=True)
class DomainSpec:
    """Everything the shared workflow knows about a domain (see the module docstring)."""

    name: str  # config section, results folder, --domain value
    title: str  # how tables and claims name it (a display name)
    make: Callable[[dict], "Domain"]  # the configured domain from its config section
    schema: dict  # JSON schema of the config section
    stage_keys: dict = field(default_factory=dict)  # own config keys -> stage (data, model, ...)
    # files the data step reads (rerun triggers)
    shipped_inputs: Callable[[dict, Path], list] | None = None
    validate: Callable[[dict, str], None] | None = None  # cross-field checks of the section
    paper_passes: tuple | None = None  # (paper's mean passes, band or None, 'what the band is')
    relation_claim: str | None = None  # claim text when relations() exist
    analyses: tuple[Analysis, ...] = ()
    claims: Callable | None = None  # (section, context, rules, seed) -> claim rows; context holds
    # 'tables' (analysis tables by name), 'test' (decode rows), 'table2'
    # (analysis tables) -> extra Table 1 rows (e.g. fidelity to truth)
    table1_rows: Callable | None = None
    # (domain, model, data_dir, out_dir, seed) -> {name: value}: validation
    ablation_scores: Callable | None = None
    # scores of an ablation variant beside its decoding (e.g. val contacts)
    not_run_claims: tuple[str, ...] = ()  # claims listed as 'not run' when a config leaves it out
    figures: tuple[Figure, ...] = ()
    fig3_metrics: tuple[str, ...] = ()  # quality columns of its Figure 3 panels (primary first)
    lower_is_better: tuple[str, ...] = ()  # metrics where lower is better (axis labels)
    ship_data: tuple[
        str, ...
    ] = ()  # generated data files slow to remake, shipped gzipped with a model
    # a line for the manifest (e.g. model caveats)
    manifest_note: Callable[[dict], str | None] | None = None
    commands: dict = field(
        default_factory=dict
    )  # extra CLI commands: name -> module with HELP, add_arguments, run
    docs: str = ""  # one line: what the domain is, for listings


def lazy(module: str, name: str) -> Callable:
    """``module.name`` imported on first call: a SPEC can name its domain's heavy code (torch models,
    biopython) while listing the registry stays cheap."""

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__qualname__ = f"lazy({module}.{name})"
    return call
