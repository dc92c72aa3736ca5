"""Handler of ``notebook``: execute one of the paper's notebooks (its own module, so that a figure job
imports neither torch nor the tables code)."""

from __future__ import annotations

from pathlib import Path

from mdmi.pipeline.notebook import run_notebook


def cmd_notebook(args):
    run_notebook(Path(args.notebook), Path(args.out), Path(args.html), dict(args.param or []))
