"""Sudoku: an MDM trained here on generated puzzles; MI maps vs the row/column/box constraints.

What the domain declares to the workflow (docs/extending.md explains each field)."""

from __future__ import annotations

from pathlib import Path

from mdmi.domains.base import Command, DomainSpec, Figure, lazy
from mdmi.util.io import parse_yaml


def _shipped(section: dict, repo: Path) -> list[str]:
    f = section["data"].get("train_puzzles_file")
    return [f if Path(f).is_absolute() else str(Path(repo) / f)] if f else []


SPEC = DomainSpec(
    name="sudoku",
    title="Sudoku",
    make=lazy(f"{__name__}.domain", "SudokuDomain"),
    schema=parse_yaml((Path(__file__).with_name("schema.yaml")).read_text()),
    stage_keys={"box": "data", "inference_loops": "model", "ablation": "none"},
    shipped_inputs=_shipped,
    paper_passes=(15.2, "hard", "hard test puzzles"),
    relation_claim="Sudoku: MI maps recover the row/column/box constraints",
    not_run_claims=(
        "Sudoku: 3-5x fewer forward passes than sequential decoding",
        "Sudoku: about 15.2 average forward passes",
    ),
    figures=(
        Figure(
            "fig1",
            "notebooks/fig1_sudoku_mi.ipynb",
            caption="workflow/report/fig1_sudoku_mi.rst",
            inputs=(
                "sudoku/estimator/example_state.npz",
                "sudoku/estimator/mi_by_relation.csv",
                "sudoku/estimator/eval.json",
            ),
            files=("sudoku/estimator/mi_by_relation.csv",),
        ),
    ),
    fig3_metrics=("solved", "cell_acc"),
    commands={
        "solve": Command(
            "solve your own Sudoku puzzle file with a trained model", f"{__name__}.solve"
        )
    },
    ship_data=("train_puzzles.txt",),
    docs="9x9 (or 4x4) Sudoku: generated puzzles by difficulty band, an MDM trained here",
)
