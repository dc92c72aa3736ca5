"""Result tables: a CSV read after checking its writer's record, a DataFrame written as CSV and
Markdown atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mdmi.errors import MissingInput
from mdmi.util.io import write_text
from mdmi.util.records import verify_file


def read_csv(path, **kwargs):
    """A CSV (or, with ``sep``, TSV) results file as a DataFrame, checked against its writer's record first."""
    path = Path(path)
    if not path.exists():
        raise MissingInput(
            f"{path}: file not found; run the step that produces it (e.g. `snakemake {path}`)"
        )
    verify_file(path)
    return pd.read_csv(path, **kwargs)


def write_table(df, stem) -> None:
    """Write a pandas DataFrame as ``stem.csv`` and ``stem.md`` atomically."""
    stem = Path(stem)
    csv, md = (
        df.to_csv(index=False),
        df.to_markdown(index=False) + "\n",
    )  # both rendered before either is written
    write_text(stem.with_suffix(".csv"), csv)
    write_text(stem.with_suffix(".md"), md)
