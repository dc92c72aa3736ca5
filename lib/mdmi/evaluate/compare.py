"""Are two runs' tables the same? Same seed, same config, same machine must give identical tables,
wall-clock columns aside; this is how a run on a cluster (`make test-slurm`) or a resumed run is
checked against a plain local one.

    python -m mdmi compare-tables results/a/tables results/b/tables
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mdmi.errors import MdmiError

# columns that hold measured time: they differ between any two runs and are left out of the comparison
TIMING = ("seconds", "_s_per_state", "_ms_per_seq", "wall_speedup")


class TablesDiffer(MdmiError):
    """Two runs' tables differ (or one has a table the other lacks)."""


def timing_free(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not any(t in c for t in TIMING)]]


def differences(a: Path, b: Path) -> list[str]:
    """Every CSV table of folder ``a`` against the same file in ``b``: one line per difference."""
    names_a = {p.name for p in Path(a).glob("*.csv")}
    names_b = {p.name for p in Path(b).glob("*.csv")}
    if not names_a:
        return [f"{a}: no CSV tables"]
    out = [f"{n}: only in {a}" for n in sorted(names_a - names_b)]
    out += [f"{n}: only in {b}" for n in sorted(names_b - names_a)]
    for name in sorted(names_a & names_b):
        x, y = (timing_free(pd.read_csv(Path(d) / name, keep_default_na=False)) for d in (a, b))
        if list(x.columns) != list(y.columns) or x.shape != y.shape:
            out.append(f"{name}: columns or shape differ ({x.shape} vs {y.shape})")
            continue
        diff = x.astype(str) != y.astype(str)
        if diff.to_numpy().any():
            col = diff.columns[diff.any()].tolist()
            row = int(diff.any(axis=1).to_numpy().argmax())
            out.append(
                f"{name}: {int(diff.to_numpy().sum())} cells differ, columns {col}; first at row {row}: "
                f"{x.iloc[row][col].tolist()} vs {y.iloc[row][col].tolist()}"
            )
    return out


def check(a: Path, b: Path) -> int:
    """Raise TablesDiffer naming the first differences; return the number of tables compared."""
    found = differences(a, b)
    if found:
        raise TablesDiffer(f"tables differ between {a} and {b}: " + "; ".join(found[:5]))
    return len(list(Path(a).glob("*.csv")))
