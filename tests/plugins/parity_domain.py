"""A domain that lives outside the mdmi package: bit strings whose last bit is the parity of the others.

The conformance test copies this file into a temporary folder and runs the whole workflow on it by
configuration alone (``plugins: [parity_domain.py]``); docs/extending.md walks through the same shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mdmi.domains.base import Domain, DomainSpec, Task
from mdmi.models.transformer import MaskedTransformer, TransformerConfig
from mdmi.util.io import write_text


class ParityDomain(Domain):
    name = "parity"
    primary_metric = "valid"  # the completed string has even parity
    extra_metrics = ("keeps",)
    pretrained = False

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.length = int(cfg["length"])
        self.mask_id = 2

    def _strings(self, n: int, rng) -> np.ndarray:
        x = rng.integers(0, 2, size=(n, self.length))
        x[:, -1] = x[:, :-1].sum(1) % 2
        return x

    def make_data(self, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
        rng = np.random.default_rng(int(self.cfg["seed"]))
        out_dir = Path(out_dir)
        write_text(
            out_dir / "train.txt",
            "\n".join("".join(map(str, r)) for r in self._strings(self.cfg["samples"], rng)) + "\n",
        )
        for split in ("val", "test"):
            x = self._strings(self.cfg["tasks"], rng)
            hide = rng.random(x.shape) < 0.5
            init = ["".join("." if h else str(v) for v, h in zip(r, m)) for r, m in zip(x, hide)]
            pd.DataFrame(
                {"init": init, "target": ["".join(map(str, r)) for r in x], "band": "half"}
            ).to_csv(out_dir / f"{split}.csv", index=False)

    def train_sequences(self, data_dir: Path) -> torch.Tensor:
        return torch.tensor(
            [[int(c) for c in s] for s in (Path(data_dir) / "train.txt").read_text().split()]
        )

    def train_masks(self, data_dir: Path):
        return None

    def augment(self, batch, gen, mask=None):
        return batch if mask is None else (batch, mask)

    def load_task(self, data_dir: Path, split: str) -> Task:
        df = pd.read_csv(Path(data_dir) / f"{split}.csv", dtype=str)
        init = torch.tensor([[self.mask_id if c == "." else int(c) for c in s] for s in df.init])
        target = torch.tensor([[int(c) for c in s] for s in df.target])
        return Task(split, init, target, df[["band"]])

    def build_model(self, model_cfg: dict):
        return MaskedTransformer(
            TransformerConfig(
                num_values=2,
                length=self.length,
                d_model=model_cfg["d_model"],
                n_layers=model_cfg["n_layers"],
                n_heads=model_cfg["n_heads"],
                d_ff=model_cfg["d_ff"],
            )
        )

    def quality(self, final: torch.Tensor, task: Task, model=None) -> pd.DataFrame:
        keeps = ((task.init == self.mask_id) | (final == task.init)).all(-1)
        return pd.DataFrame({"valid": (final.sum(-1) % 2 == 0).numpy(), "keeps": keeps.numpy()})

    def relations(self):
        return None

    def workload(self) -> dict:
        return {
            "length": self.length,
            "values": 2,
            "architecture": lambda: self.build_model(self.cfg["model"]),
            "tasks": {s: (self.cfg["tasks"], self.length / 2) for s in ("val", "test")},
        }


SPEC = DomainSpec(
    name="parity",
    title="Parity",
    make=ParityDomain,
    schema={
        "type": "object",
        "required": [
            "length",
            "samples",
            "tasks",
            "model",
            "train",
            "labels",
            "estimator",
            "decode",
        ],
        "properties": {
            "length": {"type": "integer", "minimum": 2},
            "train": {"$ref": "#/$defs/train"},
            "tasks": {"type": "integer", "minimum": 1},
            "samples": {"type": "integer", "minimum": 1},
            "model": {"type": "object"},
            "labels": {"$ref": "#/$defs/labels"},
            "estimator": {"$ref": "#/$defs/estimator"},
            "decode": {"$ref": "#/$defs/decode"},
            "checkpoint": {"$ref": "#/$defs/checkpoint"},
        },
        "additionalProperties": False,
    },
    stage_keys={"length": "data", "tasks": "data", "samples": "data"},
    fig3_metrics=("valid",),
)
