"""Antibody variable domains as a masked-sequence domain, on a pretrained antibody language model.

The MDM is AntiBERTy (Ruffolo et al. 2021, arXiv 2112.07782; MIT licence), a BERT masked LM trained on
558M antibody sequences, whose weights ship inside its PyPI wheel (``antiberty==0.1.3``): loaded through the
shared Hugging Face adapter (:mod:`mdmi.models.hf_masked_lm`), never through the package's own runner, the
weight file checked against ``antibody.backbone.sha256``. Nothing is trained here but the MI head.

Data (``data_dir``, from :func:`.germlines.germline_chains`): ``chains.tsv`` every germline chain with its
split (by gene) and IMGT positions; ``{split}_tasks.tsv`` the val/test tasks, one row per (chain, band):

* ``cdr1`` / ``cdr2``: a held-out gene's CDR1 or CDR2 masked (native: the germline loop);
* ``cdr3-<k>``: a CDR3 loop of k positions designed between the chain's V and J genes (no native);
* ``inpaint-<f>``: a fraction f of the chain's residues masked at random (native: the chain).

Tokens: 0..19 residues (``AMINO_ACIDS``), 20 mask, 21 right padding. Quality (:meth:`quality`): ``pll``, the
model's pseudo-log-likelihood per scored filled position (primary: every task has it), ``recovery`` of the
native residues where there is one, and ``filled``, the residues a method put in (for the comparison of
output distributions with sequential decoding).
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mdmi.core.pseudo_likelihood import pseudo_log_likelihood
from mdmi.domains.antibody.germlines import (
    AMINO_ACIDS,
    Chain,
    GermlineError,
    design_chain,
    germline_chains,
    region_of,
)
from mdmi.domains.base import Domain, Task
from mdmi.errors import MissingInput
from mdmi.models.hf_masked_lm import load_hf_masked_lm, resolve_source
from mdmi.util.io import write_text

log = logging.getLogger(__name__)

MASK_ID, PAD_ID = 20, 21
TOKEN_IDS = {**{a: i for i, a in enumerate(AMINO_ACIDS)}, "#": MASK_ID}


def encode(seq: str) -> list[int]:
    return [TOKEN_IDS[a] for a in seq]


def pad_rows(rows: list[list[int]], fill: int = PAD_ID) -> torch.Tensor:
    """LongTensor[N, max length] of rows right-padded with ``fill``."""
    out = torch.full((len(rows), max((len(r) for r in rows), default=0)), fill, dtype=torch.long)
    for k, r in enumerate(rows):
        out[k, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def _positions(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(","))


class AntibodyDomain(Domain):
    name = "antibody"
    primary_metric = "pll"
    extra_metrics = ("recovery",)
    pretrained = True

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.mask_id = MASK_ID
        self.pad_id = PAD_ID
        # per model, every (completion, position) already scored: knob settings often agree
        self._pll_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def backbone(self) -> str:
        return self.cfg["backbone"]["name"]

    # ---------------------------------------------------------------- data
    def chains(self) -> list[Chain]:
        d = self.cfg["data"]
        return germline_chains(
            d["species"], d["chains"], int(d["seed"]), d["val_fraction"], d["test_fraction"]
        )

    def make_data(self, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
        out_dir = Path(out_dir)
        chains = self.chains()
        table = pd.DataFrame(
            [
                {
                    "name": c.name,
                    "v": c.v,
                    "j": c.j,
                    "species": c.species,
                    "chain": c.chain,
                    "split": c.split,
                    "sequence": c.sequence,
                    "positions": ",".join(map(str, c.positions)),
                }
                for c in chains
            ]
        )
        write_text(out_dir / "chains.tsv", table.to_csv(sep="\t", index=False))
        for offset, split in enumerate(("val", "test"), start=1):
            rng = np.random.default_rng(int(self.cfg["seed"]) * 1_000_003 + 29 + offset)
            tasks = self.tasks(
                [c for c in chains if c.split == split], int(self.cfg["tasks"]["chains"]), rng
            )
            write_text(out_dir / f"{split}_tasks.tsv", tasks.to_csv(sep="\t", index=False))
        counts = table.groupby(["split", "chain"]).size().to_dict()
        log.info("antibody germline chains by (split, chain type): %s", counts)

    def bands(self) -> list[str]:
        t = self.cfg["tasks"]
        return (
            [r.lower() for r in t["cdrs"]]
            + [f"cdr3-{k}" for k in t["cdr3_lengths"]]
            + [f"inpaint-{round(100 * f)}" for f in t["inpaint_fractions"]]
        )

    def pick_chains(self, chains: list[Chain], n: int, rng: np.random.Generator) -> list[Chain]:
        """n chains, half heavy and half light (kappa or lambda) where there are enough, seeded."""
        heavy = [c for c in chains if c.chain == "H"]
        light = [c for c in chains if c.chain != "H"]
        n_h = min(len(heavy), (n + 1) // 2) if light else min(len(heavy), n)
        n_l = min(len(light), n - n_h)
        pick = [heavy[i] for i in rng.choice(len(heavy), n_h, replace=False)] + [
            light[i] for i in rng.choice(len(light), n_l, replace=False)
        ]
        if len(pick) < n:
            raise GermlineError(
                f"a split has {len(chains)} chains, fewer than antibody.tasks.chains = {n}: lower it, "
                f"or raise data.val_fraction / test_fraction"
            )
        return pick

    def tasks(self, chains: list[Chain], n: int, rng: np.random.Generator) -> pd.DataFrame:
        """One row per (chain, band): init ('#' masked), native ('' when designed), IMGT positions."""
        t = self.cfg["tasks"]
        rows = []
        for c in self.pick_chains(chains, n, rng):
            for region in t["cdrs"]:
                span = set(c.span(region))
                init = "".join("#" if k in span else a for k, a in enumerate(c.sequence))
                rows.append((c, region.lower(), init, c.sequence, c.positions))
            for k in t["cdr3_lengths"]:
                init, pos, _ = design_chain(c, int(k))
                rows.append((c, f"cdr3-{k}", init, "", pos))
            for f in t["inpaint_fractions"]:
                m = max(2, int(round(f * len(c.sequence))))
                hide = set(rng.choice(len(c.sequence), m, replace=False).tolist())
                init = "".join("#" if k in hide else a for k, a in enumerate(c.sequence))
                rows.append((c, f"inpaint-{round(100 * f)}", init, c.sequence, c.positions))
        return pd.DataFrame(
            [
                {
                    "name": c.name,
                    "chain": c.chain,
                    "band": band,
                    "init": init,
                    "native": native,
                    "positions": ",".join(map(str, pos)),
                    "length": len(init),
                    "masked": init.count("#"),
                }
                for c, band, init, native, pos in rows
            ]
        )

    def _chains_table(self, data_dir: Path) -> pd.DataFrame:
        path = Path(data_dir) / "chains.tsv"
        if not path.exists():
            raise MissingInput(
                f"{path}: no antibody chains; run the data step (snakemake --forcerun data)"
            )
        return pd.read_csv(path, sep="\t", keep_default_na=False)

    def train_sequences(self, data_dir: Path) -> torch.Tensor:
        """LongTensor[N, L]: the train genes' chains, right-padded (the label states are drawn from them)."""
        df = self._chains_table(data_dir)
        return pad_rows([encode(s) for s in df[df.split == "train"].sequence])

    def label_starts(self, data_dir: Path, gen: torch.Generator, n: int = 256) -> torch.Tensor:
        """Start states for the estimator's training labels, drawn like the tasks (the same bands) from train
        genes only: LongTensor[n', L]."""
        df = self._chains_table(data_dir)
        chains = [
            Chain(
                r.name, r.v, r.j, r.species, r.chain, r.sequence, _positions(r.positions), r.split
            )
            for r in df[df.split == "train"].itertuples()
        ]
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        rng = np.random.default_rng(seed)
        tasks = self.tasks(chains, min(len(chains), max(1, n // len(self.bands()))), rng)
        return pad_rows([encode(s) for s in tasks.init])

    def train_masks(self, data_dir: Path) -> None:
        return None

    def augment(self, batch: torch.Tensor, gen: torch.Generator, mask: torch.Tensor | None = None):
        return batch if mask is None else (batch, mask)

    def load_task(self, data_dir: Path, split: str) -> Task:
        path = Path(data_dir) / f"{split}_tasks.tsv"
        if not path.exists():
            raise MissingInput(f"{path}: no antibody tasks for split {split!r}; run the data step")
        df = pd.read_csv(path, sep="\t", keep_default_na=False)
        init = pad_rows([encode(s) for s in df.init])
        target = torch.full_like(init, PAD_ID)
        for k, native in enumerate(df.native):
            if native:
                target[k, : len(native)] = torch.tensor(encode(native))
            else:
                target[k] = -1
        return Task(
            name=split,
            init=init,
            target=target,
            meta=df[["name", "chain", "band", "length", "masked"]].reset_index(drop=True),
        )

    def imgt_positions(self, data_dir: Path, split: str) -> list[tuple[int, ...]]:
        """IMGT position of every residue of each task of a split (the region analysis reads them)."""
        df = pd.read_csv(Path(data_dir) / f"{split}_tasks.tsv", sep="\t", keep_default_na=False)
        return [_positions(p) for p in df.positions]

    # ---------------------------------------------------------------- model
    def model_label(self) -> str:
        b = self.cfg["backbone"]
        return f"{b['title']} (pretrained, {b['source']})"

    def build_model(self, model_cfg: dict | None = None) -> torch.nn.Module:
        b = self.cfg["backbone"]
        return load_hf_masked_lm(
            b["source"],
            AMINO_ACIDS,
            int(b["hidden_layer"]),
            vocab=b.get("vocab"),
            sha256=b.get("sha256"),
            label=self.model_label(),
        )

    def workload(self) -> dict:
        t = self.cfg["tasks"]
        n = int(t["chains"]) * len(self.bands())
        L = 112
        masked = (
            10 * len(t["cdrs"]) + sum(t["cdr3_lengths"]) + L * sum(t["inpaint_fractions"])
        ) / len(self.bands())

        def architecture():
            from transformers import AutoConfig, AutoModelForMaskedLM  # noqa: PLC0415

            return AutoModelForMaskedLM.from_config(
                AutoConfig.from_pretrained(resolve_source(self.cfg["backbone"]["source"]))
            )

        return {
            "length": L,
            "values": len(AMINO_ACIDS),
            "architecture": architecture,
            "tasks": {"val": (n, masked), "test": (n, masked)},
        }

    # ---------------------------------------------------------------- quality
    def quality(self, final: torch.Tensor, task: Task, model=None) -> pd.DataFrame:
        """pll (mean log p(x_i | rest) over at most quality.pll_positions filled positions; higher is better),
        recovery of the native residues (NaN for designed loops), filled (the residues put in, in order)."""
        q = self.cfg["quality"]
        rows, positions = [], []
        for f, init, tgt in zip(final.tolist(), task.init.tolist(), task.target.tolist()):
            pos = [i for i, v in enumerate(init) if v == MASK_ID]
            positions.append(pos)
            rec = (
                float("nan") if tgt[0] < 0 else sum(f[i] == tgt[i] for i in pos) / max(1, len(pos))
            )
            rows.append(
                {
                    "recovery": rec,
                    "filled": "".join(AMINO_ACIDS[f[i]] if 0 <= f[i] < 20 else "?" for i in pos),
                }
            )
        df = pd.DataFrame(rows)
        if model is not None:
            df.insert(
                0,
                "pll",
                pseudo_log_likelihood(
                    model,
                    final,
                    positions,
                    q["max_batch"],
                    q["pll_positions"],
                    cache=self._pll_cache.setdefault(model, {}),
                ),
            )
        return df

    def relations(self):
        return None


def region_pairs(positions: tuple[int, ...], masked: np.ndarray) -> pd.DataFrame:
    """Every masked pair (i < j) of a state with its IMGT relation: ``within CDR`` (the same CDR), ``CDR-CDR``
    (two different CDRs), ``CDR-FR`` or ``FR-FR``; and whether the residues are sequence neighbours."""
    idx = np.nonzero(masked)[0]
    iu, ju = np.triu_indices(len(idx), k=1)
    i, j = idx[iu], idx[ju]
    reg = [region_of(positions[k]) if k < len(positions) else "pad" for k in range(len(masked))]

    def relation(a: str, b: str) -> str:
        ca, cb = a.startswith("CDR"), b.startswith("CDR")
        if ca and cb:
            return "within CDR" if a == b else "CDR-CDR"
        return "CDR-FR" if ca or cb else "FR-FR"

    return pd.DataFrame(
        {
            "i": i,
            "j": j,
            "relation": [relation(reg[a], reg[b]) for a, b in zip(i, j)],
            "adjacent": (j - i) == 1,
        }
    )
