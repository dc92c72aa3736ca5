"""A synthetic Potts chain as a masked-sequence domain: the one domain whose true MI is known.

Sequences are exact samples of a Potts chain (``chain.PottsChain``: L positions, q states, couplings
of range K, all drawn from ``potts.chain.seed``). The MDM is trained on them like any domain; but
here every conditional the MDM is supposed to learn can be computed exactly, so

- the model's exact MI and the estimator's MI can be compared with the *true* conditional MI
  (the ``truth`` analysis, ``workflow.truth``), and
- every decoded sequence is scored exactly: ``loglik`` is its true log p(x), ``cond_ll`` its true
  conditional log-likelihood per filled position, log p(x_M | x_V) / |M|, and ``parallel_tc`` the summed total correlation of the
  sets filled in parallel, KL(p(x_S | x_V) || prod p(x_i | x_V)) per pass (0 when every set was
  conditionally independent given what was visible: nothing lost by filling it at once).

Data (``data_dir``): ``train.txt`` (one sample per line, states as characters 0-9a-z),
``{split}_tasks.csv`` (init with '.' for masked positions, the sample it came from, band:
``inpaint`` = part masked, ``generate`` = all masked).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mdmi.domains.base import Domain, Task
from mdmi.domains.potts.chain import PottsChain
from mdmi.errors import MissingInput
from mdmi.models.transformer import MaskedTransformer, TransformerConfig
from mdmi.util.io import write_text

log = logging.getLogger(__name__)

SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"


def chain_from_config(section: dict) -> PottsChain:
    c = section["chain"]
    return PottsChain.random(
        c["length"], c["states"], c["coupling_scale"], c["field_scale"], c["seed"]
    )


def _encode(x) -> str:
    return "".join(SYMBOLS[v] for v in x)


def _decode(s: str) -> list[int]:
    return [SYMBOLS.index(ch) for ch in s]


class PottsDomain(Domain):
    name = "potts"
    primary_metric = "cond_ll"
    extra_metrics = ("loglik", "parallel_tc", "tc_tractable")
    pretrained = False
    wants_states = True  # quality() scores each pass's parallel set: decode records the states

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.chain = chain_from_config(cfg)
        self.length, self.q = self.chain.length, self.chain.states
        self.mask_id = self.q

    # ---------------------------------------------------------------- data
    def make_data(self, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
        data, seed = self.cfg["data"], int(self.cfg["seed"])
        out_dir = Path(out_dir)
        train = self.chain.sample(int(data["train"]), seed=seed * 1_000_003 + 11)
        write_text(out_dir / "train.txt", "\n".join(_encode(x) for x in train) + "\n")
        for offset, split in enumerate(["val", "test"], start=1):
            rng = np.random.default_rng(seed * 1_000_003 + 11 + offset)
            bands = data[f"{split}_tasks"]
            n = sum(bands.values())
            x = self.chain.sample(n, seed=seed * 1_000_003 + 11 + 10 * offset)
            rows = []
            k = 0
            for band, count in bands.items():
                for _ in range(count):
                    if band == "generate":
                        masked = np.ones(self.length, dtype=bool)
                    else:
                        frac = rng.uniform(data["mask_min"], data["mask_max"])
                        m = max(1, int(round(frac * self.length)))
                        masked = np.zeros(self.length, dtype=bool)
                        masked[rng.choice(self.length, size=m, replace=False)] = True
                    init = "".join("." if masked[i] else SYMBOLS[v] for i, v in enumerate(x[k]))
                    rows.append(
                        {
                            "init": init,
                            "sample": _encode(x[k]),
                            "band": band,
                            "masked": int(masked.sum()),
                        }
                    )
                    k += 1
            write_text(out_dir / f"{split}_tasks.csv", pd.DataFrame(rows).to_csv(index=False))
        log.info(
            "potts chain L=%d q=%d K=%d: %d training samples, mean log p %.2f nats",
            self.length,
            self.q,
            self.chain.range,
            len(train),
            float(self.chain.log_prob(train[:2000]).mean()),
        )

    def train_sequences(self, data_dir: Path) -> torch.Tensor:
        path = Path(data_dir) / "train.txt"
        if not path.exists():
            raise MissingInput(f"{path}: no Potts training samples; run the data step")
        return torch.tensor([_decode(s) for s in path.read_text().split()], dtype=torch.long)

    def train_masks(self, data_dir: Path) -> None:
        return None

    def augment(self, batch: torch.Tensor, gen: torch.Generator, mask: torch.Tensor | None = None):
        return (
            batch if mask is None else (batch, mask)
        )  # positions are not exchangeable: no symmetry

    def load_task(self, data_dir: Path, split: str) -> Task:
        path = Path(data_dir) / f"{split}_tasks.csv"
        if not path.exists():
            raise MissingInput(f"{path}: no Potts tasks for split {split!r}; run the data step")
        df = pd.read_csv(
            path, keep_default_na=False, dtype={"init": str, "sample": str, "band": str}
        )
        init = torch.tensor(
            [[self.mask_id if ch == "." else SYMBOLS.index(ch) for ch in s] for s in df.init]
        )
        target = torch.tensor([_decode(s) for s in df["sample"]])
        return Task(
            name=split, init=init, target=target, meta=df[["band", "masked"]].reset_index(drop=True)
        )

    # ---------------------------------------------------------------- model
    def build_model(self, model_cfg: dict) -> torch.nn.Module:
        cfg = TransformerConfig(
            num_values=self.q,
            length=self.length,
            d_model=model_cfg["d_model"],
            n_layers=model_cfg["n_layers"],
            n_heads=model_cfg["n_heads"],
            d_ff=model_cfg["d_ff"],
            dropout=model_cfg.get("dropout", 0.0),
            pos_embedding=True,
        )
        return MaskedTransformer(cfg)

    def workload(self) -> dict:
        d = self.cfg["data"]
        frac = (d["mask_min"] + d["mask_max"]) / 2
        tasks = {}
        for split in ("val", "test"):
            bands = d[f"{split}_tasks"]
            n = sum(bands.values())
            masked = sum(
                c * (self.length if b == "generate" else frac * self.length)
                for b, c in bands.items()
            )
            tasks[split] = (n, masked / max(1, n))
        return {
            "length": self.length,
            "values": self.q,
            "architecture": lambda: self.build_model(self.cfg["model"]),
            "tasks": tasks,
        }

    # ---------------------------------------------------------------- quality
    def quality(
        self, final: torch.Tensor, task: Task, model=None, states: list | None = None
    ) -> pd.DataFrame:
        """cond_ll: true log p(x_M | x_V) / |M| of each completion; loglik: its true log p(x) (nats);
        parallel_tc: summed total correlation
        of the sets filled in one pass (from ``states``, the decoder's states before each pass; NaN when a
        set exceeds ``quality.max_set`` positions), tc_tractable: whether every set could be scored."""
        x = final.numpy()
        init = task.init.numpy()
        visible = init != self.mask_id
        n_masked = np.maximum(1, (~visible).sum(1))
        free = np.full(self.length, -1)
        lz_all = self.chain.log_z(free[None])[0]
        lz_vis = self.chain.log_z(np.where(visible, init, -1))
        loglik = self.chain.log_prob(x)
        cond_ll = (loglik - (lz_vis - lz_all)) / n_masked
        out = pd.DataFrame({"cond_ll": cond_ll, "loglik": loglik})
        if states:
            max_set = int(self.cfg["quality"]["max_set"])
            steps = [s.numpy() for s in states] + [x]
            sets = []  # (sequence, state before the pass, positions filled by it): every set of >= 2
            for before, after in zip(steps[:-1], steps[1:]):
                filled = (before == self.mask_id) & (after != self.mask_id)
                sets += [(b, before[b], filled[b]) for b in np.nonzero(filled.sum(1) >= 2)[0]]
            tc = np.zeros(len(x))
            if sets:
                b = np.array([s[0] for s in sets])
                each = self.chain.total_correlations(
                    x[b],
                    np.stack([s[1] for s in sets]) != self.mask_id,
                    np.stack([s[2] for s in sets]),
                    max_set,
                )
                for k, v in zip(b, each):  # summed pass by pass, in order
                    tc[k] += v
            out["parallel_tc"] = tc
            out["tc_tractable"] = np.isfinite(tc)
        return out

    def relations(self):
        """Relation id = |i - j| for pairs within the coupling range K (directly coupled), else 0."""
        L, K = self.length, self.chain.range
        d = (torch.arange(L)[:, None] - torch.arange(L)[None, :]).abs()
        rel = torch.where((d >= 1) & (d <= K), d, torch.zeros_like(d))
        return rel.long(), ["uncoupled"] + [f"distance {k}" for k in range(1, K + 1)]
