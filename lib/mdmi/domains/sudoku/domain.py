"""Sudoku as a masked-sequence domain (box size b: n = b*b digits, L = n*n cells).

Token ids are digits minus one (0..n-1); the mask id is n. Datasets live in ``data_dir``:
``train_grids.txt`` (complete solution grids for MDM training), ``train_puzzles.txt`` (puzzles with
their solutions, for puzzle-shaped training masks; empty unless ``data.train_puzzles`` asks for
some) and ``{split}.txt`` puzzle files (``puzzle,solution`` per line) with ``{split}_meta.csv``
(band, givens). Val/test solution grids are disjoint from every training grid and puzzle.
"""

from __future__ import annotations

import logging
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from mdmi.domains.base import Domain, Task
from mdmi.domains.sudoku.grid import (
    count_violations,
    difficulty,
    make_puzzle,
    random_full_grid,
    sparsify,
)
from mdmi.domains.sudoku.puzzles import PuzzleError, format_grid, read_puzzles
from mdmi.errors import GenerationError
from mdmi.models.transformer import MaskedTransformer, TransformerConfig
from mdmi.util.io import write_text

log = logging.getLogger(__name__)

RELATION_NAMES = ["none", "row", "column", "unused", "box", "row+box", "column+box", "self"]


def relation_matrix(box: int) -> torch.Tensor:
    """LongTensor[L, L]: 1*same row + 2*same column + 4*same box (7 on the diagonal)."""
    n = box * box
    c = torch.arange(n * n)
    r, k = c // n, c % n
    b = (r // box) * box + k // box
    return (
        (r[:, None] == r[None]).long()
        + 2 * (k[:, None] == k[None]).long()
        + 4 * (b[:, None] == b[None]).long()
    )


def _grid_attempt(args):
    box, seed = args
    return format_grid(random_full_grid(box, random.Random(seed)))


def _puzzle_attempt(args):
    box, seed, hard_max_givens = args
    rng = random.Random(seed)
    solution = random_full_grid(box, rng)
    puzzle = make_puzzle(solution, box, rng)
    band = difficulty(puzzle, box)
    givens = sum(1 for v in puzzle if v)
    if band == "hard" and givens > hard_max_givens:
        band = "other"
    return solution, puzzle, band, givens


def _sparse_attempt(args):
    """A minimal puzzle hill-climbed to <= ``target`` givens: band 'sparse', or None when it stalls."""
    box, seed, target, steps = args
    rng = random.Random(seed)
    solution = random_full_grid(box, rng)
    puzzle = sparsify(make_puzzle(solution, box, rng), solution, box, rng, target, steps)
    givens = sum(1 for v in puzzle if v)
    return (solution, puzzle, "sparse", givens) if givens <= target else None


class SudokuDomain(Domain):
    name = "sudoku"
    primary_metric = "solved"
    extra_metrics = ("cell_acc", "violations")
    pretrained = False

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.box = int(cfg["box"])
        self.n = self.box * self.box
        self.length = self.n * self.n
        self.mask_id = self.n

    # ---------------------------------------------------------------- data
    def make_data(self, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
        """Training grids and puzzles, val/test puzzles (see the module docstring); a shipped
        ``data.train_puzzles_file`` given relative to the repository is read under ``repo``."""
        data = dict(self.cfg["data"])
        if (
            data.get("train_puzzles_file")
            and repo is not None
            and not Path(data["train_puzzles_file"]).is_absolute()
        ):
            data["train_puzzles_file"] = str(Path(repo) / data["train_puzzles_file"])
        seed = int(self.cfg["seed"])
        out_dir = Path(out_dir)
        train, seen, attempt = [], set(), 0
        with ProcessPoolExecutor(max_workers=max(1, threads)) as pool:
            while len(train) < data["train_grids"]:
                if attempt >= data["max_attempts"] + data["train_grids"]:
                    raise GenerationError(
                        f"only {len(train)} distinct training grids in {attempt} attempts "
                        f"(a {self.n}x{self.n} Sudoku has few grids); lower data.train_grids"
                    )
                batch = [(self.box, seed * 7_919 + attempt + i) for i in range(512)]
                attempt += len(batch)
                for key in pool.map(_grid_attempt, batch, chunksize=64):
                    if key not in seen and len(train) < data["train_grids"]:
                        seen.add(key)
                        train.append(key)
        for offset, split in enumerate(["val", "test"], start=1):
            want = dict(data[f"{split}_puzzles"])
            rows = self._puzzles(want, seed * 1_000_003 + offset * 10_000_019, seen, threads, data)
            write_text(
                out_dir / f"{split}.txt",
                "".join(f"{format_grid(p)},{format_grid(s)}\n" for p, s, _, _ in rows),
            )
            meta = pd.DataFrame([{"band": b, "givens": g} for _, _, b, g in rows])
            write_text(out_dir / f"{split}_meta.csv", meta.to_csv(index=False))
            log.info("%s: %s", split, meta.groupby("band").givens.describe().to_string())
        if data.get("train_puzzles_file"):  # the shipped training puzzles of a pretrained model
            src = Path(data["train_puzzles_file"])
            pairs = read_puzzles(src, self.box)
            clash = sum(format_grid(s) in seen for _, s in pairs)
            if clash:
                raise PuzzleError(
                    f"{src}: {clash} training puzzles share their solution with a val/test puzzle or a "
                    f"training grid; generate them instead (data.train_puzzles) or change the seed"
                )
            rows = [(p, s, "", sum(1 for v in p if v)) for p, s in pairs]
        else:
            want = dict(data.get("train_puzzles") or {})
            rows = (
                self._puzzles(want, seed * 1_000_003 + 3 * 10_000_019, seen, threads, data)
                if want
                else []
            )
        write_text(
            out_dir / "train_puzzles.txt",
            "".join(f"{format_grid(p)},{format_grid(s)}\n" for p, s, _, _ in rows),
        )
        if rows:
            meta = pd.DataFrame([{"band": b, "givens": g} for _, _, b, g in rows])
            log.info("train puzzles: %s", meta.groupby("band").givens.describe().to_string())
        write_text(out_dir / "train_grids.txt", "\n".join(train) + "\n")

    def _puzzles(self, want: dict, base_seed: int, seen: set, threads: int, data: dict):
        """Puzzles per band, unique solution, solution grids disjoint from ``seen`` (updated).

        easy / hard / other come from random minimal puzzles; 'sparse' (<= data.sparse_max_givens givens)
        from its own seed stream of hill-climbed ones, so asking for it leaves the other bands unchanged.
        """
        rows, have = [], {b: 0 for b in want}
        max_attempts = int(data["max_attempts"])
        target, steps = int(data.get("sparse_max_givens", 21)), int(data.get("sparse_steps", 1500))
        bar = tqdm(total=sum(want.values()), desc="puzzles", unit="pz")
        streams = [
            (
                [b for b in want if b != "sparse"],
                _puzzle_attempt,
                64,
                lambda seed: (self.box, seed, data["hard_max_givens"]),
                base_seed,
            ),
            (
                ["sparse"] if "sparse" in want else [],
                _sparse_attempt,
                8,
                lambda seed: (self.box, seed, target, steps),
                base_seed + 500_000_003,
            ),
        ]
        with ProcessPoolExecutor(max_workers=max(1, threads)) as pool:
            for bands, fn, chunk, make_args, seed0 in streams:
                attempts = 0
                while any(have[b] < want[b] for b in bands):
                    if attempts >= max_attempts:
                        raise GenerationError(
                            f"could not generate the requested puzzle bands {want} (got {have}) "
                            f"in {max_attempts} attempts; lower the counts or raise data.max_attempts"
                        )
                    batch = [make_args(seed0 + attempts + i) for i in range(chunk)]
                    attempts += len(batch)
                    for out in pool.map(fn, batch):
                        if out is None:
                            continue
                        solution, puzzle, band, givens = out
                        key = format_grid(solution)
                        if band in want and have[band] < want[band] and key not in seen:
                            seen.add(key)
                            have[band] += 1
                            rows.append((puzzle, solution, band, givens))
                            bar.update(1)
        bar.close()
        return rows

    def _train_puzzles(self, data_dir: Path):
        path = Path(data_dir) / "train_puzzles.txt"
        return read_puzzles(path, self.box) if path.exists() and path.read_text().strip() else []

    @staticmethod
    def _train_grid_lines(data_dir: Path) -> list[str]:
        return [
            ln.strip()
            for ln in (Path(data_dir) / "train_grids.txt").read_text().splitlines()
            if ln.strip()
        ]

    def train_sequences(self, data_dir: Path) -> torch.Tensor:
        """LongTensor[G + P, L]: the training grids, then the solutions of the training puzzles."""
        grids = [[int(ch) - 1 for ch in ln] for ln in self._train_grid_lines(data_dir)]
        grids += [[v - 1 for v in sol] for _, sol in self._train_puzzles(data_dir)]
        return torch.tensor(grids, dtype=torch.long)

    def inference_loops(self) -> int | None:
        return self.cfg.get("inference_loops")

    def train_masks(self, data_dir: Path) -> torch.Tensor | None:
        """BoolTensor[G + P, L] aligned with :meth:`train_sequences`: True on a puzzle's blanks (its
        natural mask), all False for a bare grid; None when there are no training puzzles."""
        puzzles = self._train_puzzles(data_dir)
        if not puzzles:
            return None
        n_grids = len(self._train_grid_lines(data_dir))
        masks = torch.zeros(n_grids + len(puzzles), self.length, dtype=torch.bool)
        masks[n_grids:] = torch.tensor([[v == 0 for v in p] for p, _ in puzzles])
        return masks

    def augment(self, batch: torch.Tensor, gen: torch.Generator, mask: torch.Tensor | None = None):
        """Random digit relabelling, band/stack and row/column-within-band permutations, transpose.

        batch: LongTensor[B, L] complete grids; mask: optional BoolTensor[B, L] moved with the cells.
        Returns the transformed batch, or (batch, mask) when a mask is given.
        """
        B = batch.shape[0]
        b, n = self.box, self.n
        dev = batch.device
        digit_perm = torch.argsort(torch.rand(B, n, generator=gen), -1).to(dev)
        out = torch.gather(digit_perm, 1, batch)

        def line_perm():
            bands = torch.argsort(torch.rand(B, b, generator=gen), -1)
            inner = torch.argsort(torch.rand(B, b, b, generator=gen), -1)
            return (
                bands[:, :, None] * b + torch.gather(inner, 1, bands[:, :, None].expand(-1, -1, b))
            ).reshape(B, n)

        rows, cols = line_perm().to(dev), line_perm().to(dev)
        src = rows[:, :, None] * n + cols[:, None, :]  # [B, n, n]
        transpose = (torch.rand(B, generator=gen) < 0.5).to(dev)
        src = torch.where(transpose[:, None, None], src.transpose(1, 2), src).reshape(B, -1)
        out = torch.gather(out, 1, src)
        return out if mask is None else (out, torch.gather(mask, 1, src))

    def load_task(self, data_dir: Path, split: str) -> Task:
        data_dir = Path(data_dir)
        pairs = read_puzzles(data_dir / f"{split}.txt", self.box)
        meta = pd.read_csv(data_dir / f"{split}_meta.csv")
        return self.task_from_pairs(split, pairs, meta)

    def task_from_pairs(self, name: str, pairs, meta: pd.DataFrame | None = None) -> Task:
        init = torch.tensor(
            [[v - 1 if v else self.mask_id for v in p] for p, _ in pairs], dtype=torch.long
        )
        target = torch.tensor(
            [[v - 1 for v in s] if s else [-1] * self.length for _, s in pairs], dtype=torch.long
        )
        if meta is None:
            meta = pd.DataFrame({"givens": [(sum(1 for v in p if v)) for p, _ in pairs]})
        return Task(name=name, init=init, target=target, meta=meta.reset_index(drop=True))

    # ---------------------------------------------------------------- model
    def build_model(self, model_cfg: dict) -> torch.nn.Module:
        cfg = TransformerConfig(
            num_values=self.n,
            length=self.length,
            num_relations=8,
            d_model=model_cfg["d_model"],
            n_layers=model_cfg["n_layers"],
            n_loops=model_cfg.get("n_loops", 1),
            n_heads=model_cfg["n_heads"],
            d_ff=model_cfg["d_ff"],
            dropout=model_cfg.get("dropout", 0.0),
            pos_embedding=model_cfg.get("pos_embedding", True),
        )
        return MaskedTransformer(cfg, relations=relation_matrix(self.box))

    def workload(self) -> dict:
        d = self.cfg["data"]
        givens = {
            "easy": 0.45 * self.length,
            "hard": min(d["hard_max_givens"], 0.3 * self.length),
        }  # typical
        tasks = {}
        for split in ("val", "test"):
            bands = d[f"{split}_puzzles"]
            n = sum(bands.values())
            masked = sum(
                c * (self.length - givens.get(b, givens["easy"])) for b, c in bands.items()
            ) / max(1, n)
            tasks[split] = (n, masked)
        return {
            "length": self.length,
            "values": self.n,
            "architecture": lambda: self.build_model(self.cfg["model"]),
            "tasks": tasks,
        }

    # ---------------------------------------------------------------- quality
    def quality(self, final: torch.Tensor, task: Task, model=None) -> pd.DataFrame:
        """solved (valid grid keeping the givens), cell_acc on blanks vs the known solution, violations."""
        rows = []
        for f, init, tgt in zip(final.tolist(), task.init.tolist(), task.target.tolist()):
            grid = [v + 1 if 0 <= v < self.n else 0 for v in f]
            blanks = [i for i, v in enumerate(init) if v == self.mask_id]
            keeps = all(f[i] == init[i] for i in range(self.length) if init[i] != self.mask_id)
            viol = count_violations(grid, self.box)
            complete = all(grid)
            has_tgt = tgt[0] >= 0
            acc = (
                sum(f[i] == tgt[i] for i in blanks) / max(1, len(blanks))
                if has_tgt
                else float("nan")
            )
            rows.append(
                {
                    "solved": bool(complete and viol == 0 and keeps),
                    "cell_acc": acc,
                    "violations": viol,
                }
            )
        return pd.DataFrame(rows)

    def relations(self):
        return relation_matrix(self.box), RELATION_NAMES
