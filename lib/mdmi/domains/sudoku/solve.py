"""``python -m mdmi solve``: solve your own Sudoku puzzles with a trained (by default the shipped) MDM.

    python -m mdmi solve data/sudoku/examples.txt                      # one cell per pass, margin order
    python -m mdmi solve puzzles.txt --method mi --estimator results/sudoku/estimator/head.pt

A command the Sudoku domain declares (``SPEC.commands``); the CLI adds it without naming the domain.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from mdmi.core.decoding import decode
from mdmi.core.knobs import check_knobs, parse_knobs
from mdmi.domains.sudoku.domain import SudokuDomain
from mdmi.domains.sudoku.puzzles import format_grid, read_puzzles
from mdmi.errors import UsageError
from mdmi.pipeline.config import load_config
from mdmi.pipeline.shipped import REPO, shipped_model
from mdmi.train.estimator import load_estimator
from mdmi.train.mdm import load_mdm
from mdmi.util.checkpoint_io import NotACheckpoint, load_torch
from mdmi.util.device import pick_device


def add_arguments(p) -> None:
    p.add_argument(
        "file", help="one puzzle per line: n*n characters, 0 or . for blanks (optional ,solution)"
    )
    p.add_argument(
        "--model",
        help="trained MDM (default: the shipped data/sudoku/pretrained/model.pt, checksum verified)",
    )
    p.add_argument(
        "--method",
        default="sequential",
        choices=["sequential", "topk", "threshold", "eb", "mi", "mi-exact"],
        help="decoder (default sequential: one cell per pass, margin order)",
    )
    p.add_argument(
        "--knob",
        action="append",
        help="decoder knob name=value (repeatable), e.g. --knob gamma=0.4 --knob lam=2",
    )
    p.add_argument("--estimator", help="trained MI head for --method mi")
    p.add_argument(
        "--loops",
        type=int,
        help="loops per pass of a looped model (default: config/default.yaml's "
        "sudoku.inference_loops for the shipped model, else as trained)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--batch",
        type=int,
        default=512,
        help="puzzles decoded together (default 512): a file of any "
        "length is solved batch by batch, its lines printed as each batch finishes, in bounded memory",
    )


def run(args):
    knobs = check_knobs(
        args.method, parse_knobs(args.knob)
    )  # the options first: nothing loaded yet
    if args.batch < 1:
        raise UsageError(
            f"--batch {args.batch}: give a positive number of puzzles per batch (default 512)"
        )
    if args.method == "mi" and args.estimator is None:
        raise UsageError(
            "--method mi needs --estimator PATH (results/sudoku/estimator/head.pt, after `make paper`)"
        )
    loops = args.loops
    if args.model is None:
        args.model = str(shipped_model("sudoku"))
        if loops is None:  # the shipped model with the default config's setting
            loops = load_config(REPO / "config" / "default.yaml")["sudoku"].get("inference_loops")
    state = load_torch(args.model)
    if not isinstance(state, dict) or state.get("domain") != "sudoku" or "domain_cfg" not in state:
        what = (
            f"domain {state.get('domain')!r}"
            if isinstance(state, dict) and state.get("domain")
            else "no domain"
        )
        raise NotACheckpoint(
            f"{args.model}: not a Sudoku MDM checkpoint ({what}); pass a model.pt written by "
            f"train-mdm, or leave --model out for the shipped one"
        )
    box = state["domain_cfg"]["box"]
    domain = SudokuDomain(state["domain_cfg"])
    device = pick_device(args.device)
    model = load_mdm(domain, Path(args.model), device, loops=loops)
    pairs = read_puzzles(args.file, box)
    if args.method == "sequential":
        knobs.setdefault(
            "order", "margin"
        )  # the better order for Sudoku (Kim et al. 2025; our Table 2)
    est = load_estimator(Path(args.estimator), device) if args.method == "mi" else None
    solved, passes = 0, 0
    with tqdm(
        total=len(pairs),
        desc="solving",
        unit="puzzle",
        file=sys.stderr,
        disable=len(pairs) <= args.batch,
    ) as bar:
        for start in range(0, len(pairs), args.batch):
            chunk = pairs[start : start + args.batch]
            task = domain.task_from_pairs(Path(args.file).name, chunk)
            res = decode(model, task.init, args.method, estimator=est, **knobs)
            q = domain.quality(res.tokens, task)
            lines = []
            for k, (grid, p) in enumerate(zip(res.tokens.tolist(), res.passes.tolist())):
                sol = format_grid([v + 1 for v in grid])
                ok = "valid" if q.solved[k] else f"INVALID ({q.violations[k]} violations)"
                extra = (
                    f" label_passes={int(res.label_passes[k])}" if args.method == "mi-exact" else ""
                )
                match = (
                    ""
                    if chunk[k][1] is None
                    else (
                        " matches-solution"
                        if sol == format_grid(chunk[k][1])
                        else " differs-from-solution"
                    )
                )
                lines.append(f"{sol} passes={p}{extra} {ok}{match}")
            print("\n".join(lines), flush=True)
            solved, passes = solved + int(q.solved.sum()), passes + int(res.passes.sum())
            bar.update(len(chunk))
    print(f"# {solved}/{len(pairs)} solved, mean passes {passes / len(pairs):.2f}", file=sys.stderr)
