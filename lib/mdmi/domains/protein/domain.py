"""Proteins as a masked-sequence domain (docs/method.md §5): ESM-C, a family model trained here, or a
small ESM-C-architecture fallback.

Data (in ``data_dir``, written by :func:`.prepare.prepare`): ``train.fasta`` for the fallback's
masked-diffusion training; ``{split}_tasks.tsv`` decoding tasks (inpainting + unconditional) for
val/test; ``chains.json`` for the contact analysis. Tokens: 0..19 residues, 20 mask, 21 padding.

``backbone: family`` works in the column space of the family alignment instead (``family_*`` files,
:mod:`.family_model`): every sequence is a row over the same columns, 21 is a (visible) gap.
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mdmi.domains.base import Domain, Task
from mdmi.domains.protein.alignment import residue_columns
from mdmi.domains.protein.alphabet import AA_INDEX, AMINO_ACIDS, pad_batch, to_letters
from mdmi.domains.protein.claims import make_data
from mdmi.domains.protein.contacts import residue_positions
from mdmi.domains.protein.esmc import (
    MASK_ID,
    PAD_ID,
    ESMCMaskedModel,
    build_fallback,
    load_pretrained,
    parameter_count,
)
from mdmi.domains.protein.family_model import GAP_ID, FamilyPottsMDM
from mdmi.domains.protein.mimap import design_cost
from mdmi.domains.protein.quality import longest_run, low_complexity, pseudo_perplexity
from mdmi.domains.protein.sequences import read_columns, read_fasta
from mdmi.errors import MissingInput
from mdmi.models.hf_masked_lm import load_hf_masked_lm
from mdmi.util.io import read_json

TOKEN_IDS = {
    **AA_INDEX,
    "#": MASK_ID,
    "-": PAD_ID,
}  # letters of the data files: '#' masked, '-' a family gap


def _missing(path: Path, family: bool) -> MissingInput:
    why = "the data step has not run or predates it"
    if family:
        why = f"no family alignment among protein.data.sequences, or {why}"
    return MissingInput(f"{path} is missing: {why}; run it (snakemake --forcerun data)")


log = logging.getLogger(__name__)


class ProteinDomain(Domain):
    name = "protein"
    primary_metric = "recovery"
    extra_metrics = ("pppl", "low_complexity", "max_run")

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.mask_id = MASK_ID
        self.pad_id = PAD_ID
        # per model, every (completion, position) already scored: knob settings often agree
        self._pll_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def backbone(self) -> str:
        """Read when needed: the data step's slice of the config has no model keys."""
        return self.cfg["backbone"]

    @property
    def pretrained(self) -> bool:
        return self.backbone.startswith("esmc") or self.backbone == "hf"

    @property
    def family(self) -> bool:
        """True for the family model: sequences are rows over the family alignment's kept columns."""
        return self.backbone == "family"

    def _file(self, data_dir: Path, name: str) -> Path:
        """A data file of this backbone's sequence space (``family_<name>`` for the family model)."""
        path = Path(data_dir) / (f"family_{name}" if self.family else name)
        if not path.exists():
            raise _missing(path, self.family)
        return path

    # ---------------------------------------------------------------- labels for outputs
    def model_label(self, n_params: int | None = None, columns: int | None = None) -> str:
        """How every output names the model; a model trained here (the family model, the fallback) is never
        passed off as ESM-C: its label starts with FALLBACK (a stand-in for the paper's pretrained model)."""
        if self.backbone == "hf":
            return f"{self.cfg['hf']['source']} (pretrained masked LM)"
        if self.pretrained:
            return f"ESM-C {self.backbone.split('_')[1].upper()} (pretrained)"
        size = f" {n_params / 1e6:.2f}M" if n_params else ""
        names = ", ".join(Path(f).name.split(".")[0] for f in self.cfg["data"]["sequences"])
        if self.family:
            cols = f" over {columns} alignment columns" if columns else ""
            rank = self.cfg["model"]["family"]["rank"]
            return (
                f"FALLBACK: family Potts MDM{size} (rank {rank}{cols}) trained here on the bundled {names} "
                f"alignment, not ESM-C 300M"
            )
        return (
            f"FALLBACK: family MDM{size} (ESM-C architecture) trained here on the bundled {names} "
            f"sequences, not ESM-C 300M"
        )

    # ---------------------------------------------------------------- data
    def make_data(self, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
        """The family alignment and structures (bundled copy or download) -> splits, tasks, chains."""
        make_data(self, out_dir, threads, repo)

    def _padded(self, path: Path) -> torch.Tensor:
        """LongTensor[N, L] of a FASTA file: residues, and PAD_ID (the family model's gap) for '-' and
        the right padding."""
        if self.family:
            return torch.tensor(
                [[TOKEN_IDS[c] for c in s] for _, s in read_columns(path)], dtype=torch.long
            )
        records, _ = read_fasta(path, "reject")
        return pad_batch([s for _, s in records], PAD_ID)

    def train_sequences(self, data_dir: Path) -> torch.Tensor:
        return self._padded(self._file(data_dir, "train.fasta"))

    def heldout_sequences(self, data_dir: Path) -> torch.Tensor:
        """The validation sequences (never trained on), padded: the MDM's held-out loss and accuracy."""
        return self._padded(self._file(data_dir, "val.fasta"))

    @staticmethod
    def _family_columns(data_dir: Path) -> dict:
        """The data step's ``family.json``: the family file and its kept match columns."""
        path = Path(data_dir) / "family.json"
        if not path.exists():
            raise _missing(path, family=True)
        return read_json(path)

    def model_config(self, model_cfg: dict, data_dir: Path) -> dict:
        """The model config completed from the data: the family model's number of columns."""
        if not self.family:
            return model_cfg
        columns = len(self._family_columns(data_dir)["columns"])
        return {**model_cfg, "family": {**model_cfg["family"], "columns": columns}}

    def chain_reader(self, data_dir: Path):
        """How the model reads a structure chain (``contacts.analyse_chains``' ``positions``): its residues,
        or, for the family model, its aligned row over the kept columns (None for a chain of another
        family: a family model has no positions for it)."""
        if not self.family:
            return residue_positions

        fam = self._family_columns(data_dir)
        kept = {c: k for k, c in enumerate(fam["columns"])}  # match column -> model position

        def read(chain: dict):
            if chain.get("family") != fam["family"]:
                return None
            match = residue_columns(
                chain["aligned_row"], chain["sequence"]
            )  # residue -> match column
            index = np.array([kept.get(int(c), -1) for c in match], dtype=np.int64)
            tokens = torch.full((len(kept),), GAP_ID, dtype=torch.long)
            have = index >= 0
            tokens[torch.from_numpy(index[have])] = torch.tensor(
                [TOKEN_IDS[a] for a, h in zip(chain["sequence"], have) if h], dtype=torch.long
            )
            return tokens, index

        return read

    def augment(self, batch: torch.Tensor, gen: torch.Generator, mask: torch.Tensor | None = None):
        return batch if mask is None else (batch, mask)

    def train_masks(self, data_dir: Path) -> None:
        return None

    def load_task(self, data_dir: Path, split: str) -> Task:
        path = self._file(data_dir, f"{split}_tasks.tsv")
        df = pd.read_csv(path, sep="\t", keep_default_na=False)
        L = int(df.length.max())
        init = torch.full((len(df), L), PAD_ID, dtype=torch.long)
        target = torch.full((len(df), L), PAD_ID, dtype=torch.long)
        for k, row in enumerate(df.itertuples()):
            init[k, : row.length] = torch.tensor([TOKEN_IDS[c] for c in row.init])
            if row.native:
                target[k, : row.length] = torch.tensor([TOKEN_IDS[c] for c in row.native])
            else:
                target[k] = -1
        meta = df[["name", "band", "length"]].reset_index(drop=True)
        return Task(name=split, init=init, target=target, meta=meta)

    # ---------------------------------------------------------------- model
    def build_model(self, model_cfg: dict) -> torch.nn.Module:
        if (
            self.backbone == "hf"
        ):  # any transformers masked LM, e.g. ESM-2 (mdmi.models.hf_masked_lm)
            hf = self.cfg["hf"]
            return load_hf_masked_lm(
                hf["source"],
                AMINO_ACIDS,
                int(self.cfg.get("hidden_layer", -1)),
                vocab=hf.get("vocab"),
                sha256=hf.get("sha256"),
                label=self.model_label(),
            )
        if self.pretrained:
            net = load_pretrained(self.backbone, self.cfg.get("weights"), torch.device("cpu"))
            return ESMCMaskedModel(
                net, int(self.cfg.get("hidden_layer", -1)), label=self.model_label()
            )
        return self._untrained(model_cfg)

    def _untrained(self, model_cfg: dict) -> torch.nn.Module:
        """A fresh model of the configured size (no weights loaded): the family model, or the ESM-C
        architecture."""
        if self.family:
            f = model_cfg["family"]
            columns = (
                f.get("columns")
                or (self.cfg["data"]["min_length"] + self.cfg["data"]["max_length"]) // 2
            )
            model = FamilyPottsMDM(
                columns, f["rank"], f["penalty"], prior=f.get("prior", "factors")
            )
            model.label = self.model_label(parameter_count(model), f.get("columns"))
            return model
        net = build_fallback(model_cfg["d_model"], model_cfg["n_heads"], model_cfg["n_layers"])
        return ESMCMaskedModel(
            net, int(self.cfg.get("hidden_layer", -1)), label=self.model_label(parameter_count(net))
        )

    def workload(self) -> dict:
        d, t, m = self.cfg["data"], self.cfg["tasks"], self.cfg["model"]
        L = (d["min_length"] + d["max_length"]) / 2
        inp, unc = t["inpaint"], t["unconditional"]
        n = inp["sequences"] * len(inp["fractions"]) * len(inp["patterns"]) + unc["count"]
        masked = (
            inp["sequences"] * len(inp["patterns"]) * sum(inp["fractions"]) * L
            + unc["count"] * unc["length"]
        ) / max(1, n)
        return {
            "length": int(L),
            "values": len(AMINO_ACIDS),
            "tasks": {"val": (n, masked), "test": (n, masked)},
            "architecture": lambda: self._untrained(m),
        }

    # ---------------------------------------------------------------- quality
    def extra_rule_passes(self, work: dict) -> dict[str, float]:
        """The contact maps' passes: chains x states of the mask design x (1 + masked L V)."""
        if "contacts" not in self.cfg:
            return {}
        c = self.cfg["contacts"]
        _, passes = design_cost(
            int(work["length"]),
            work["values"],
            c["design"],
            fraction=c["mask_fraction"],
            rounds=c["rounds"],
            groups=c["groups"],
        )
        return {"contacts": len(self.cfg["data"]["structures"]) * passes}

    def quality(self, final: torch.Tensor, task: Task, model=None) -> pd.DataFrame:
        """recovery (inpainting), pseudo-perplexity of the generated positions, low complexity, longest run."""
        qcfg = self.cfg["quality"]
        rows, positions = [], []
        for f, init, tgt in zip(final.tolist(), task.init.tolist(), task.target.tolist()):
            gen_pos = [i for i, v in enumerate(init) if v == MASK_ID]
            positions.append(gen_pos)
            seq = to_letters([v for v in f if v != PAD_ID])
            rec = (
                float("nan")
                if tgt[0] < 0
                else sum(f[i] == tgt[i] for i in gen_pos) / max(1, len(gen_pos))
            )
            rows.append(
                {
                    "recovery": rec,
                    "complete": all(0 <= v < 20 for v in f if v != PAD_ID),
                    "low_complexity": low_complexity(
                        seq, qcfg["lc_window"], qcfg["lc_min_entropy"]
                    ),
                    "max_run": longest_run(seq),
                }
            )
        df = pd.DataFrame(rows)
        if model is not None:
            df["pppl"] = pseudo_perplexity(
                model,
                final,
                positions,
                qcfg["max_batch"],
                qcfg["pppl_max_positions"],
                cache=self._pll_cache.setdefault(model, {}),
            )
        return df

    def relations(self):
        return None
