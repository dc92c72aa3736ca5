"""Alignment column MI: the classical contact baseline a family model has to match (issue: protein MI
that shows contacts offline). From a family's multiple sequence alignment, the mutual information
between two match columns, with sequence reweighting and a pseudocount, then the average product
correction (APC, Dunn et al. 2008); mapped onto a chain through that chain's own aligned row.

Inputs are A2M/aligned FASTA match columns: upper-case residues and '-' gaps (lower-case insert
states and '.' are not match columns and are dropped). States are the 20 amino acids plus the gap.
"""

from __future__ import annotations

import numpy as np
import torch

from mdmi.domains.protein.alphabet import AA_INDEX, ProteinDataError
from mdmi.train.mdm import identity_weights

GAP = 20
STATES = 21


def match_columns(row: str) -> str:
    """The match columns of an A2M row: upper-case letters and '-'; inserts ('.', lower case) dropped."""
    return "".join(c for c in row if c == "-" or c.isupper())


def row_sequence(row: str) -> str:
    """The residues an aligned row spells: gaps ('-', '.') dropped, inserts upper-cased."""
    return row.replace("-", "").replace(".", "").upper()


def encode_alignment(rows: list[str]) -> np.ndarray:
    """uint8[N, C] of the match columns (0..19 amino acids, 20 gap and any non-standard letter)."""
    cols = [match_columns(r) for r in rows]
    if not cols or len({len(c) for c in cols}) != 1:
        raise ProteinDataError(
            "alignment rows differ in their number of match columns (give an A2M or "
            "aligned FASTA whose rows all have the same match columns)"
        )
    return np.array([[AA_INDEX.get(c, GAP) for c in r] for r in cols], dtype=np.uint8)


def sequence_weights(msa: np.ndarray, identity: float = 0.8) -> np.ndarray:
    """w[N] = 1 / (number of rows at least ``identity`` identical to this one, itself included): the
    usual down-weighting of redundant family members."""

    return identity_weights(torch.from_numpy(np.asarray(msa)), identity).double().numpy()


def column_mi(
    msa: np.ndarray, weights: np.ndarray | None = None, pseudocount: float = 0.5, block: int = 32
) -> np.ndarray:
    """MI[C, C] in nats between match columns, from weighted pair counts with ``pseudocount`` spread
    evenly over the 21 x 21 states (and 21 for the singles); zero diagonal. Computed ``block`` columns
    against all at a time: memory about block x C x 21^2 x 8 bytes (the full pair table of a
    441-column family would take 0.7 GB per copy)."""
    n, c = msa.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    onehot = np.zeros((n, c * STATES))  # [N, C*S]
    onehot[np.arange(n)[:, None], np.arange(c)[None, :] * STATES + msa] = 1.0
    total = w.sum() + pseudocount
    single = ((w @ onehot).reshape(c, STATES) + pseudocount / STATES) / total  # [C, S]
    weighted = onehot * w[:, None]
    mi = np.zeros((c, c))
    for lo in range(0, c, block):
        hi = min(c, lo + block)
        counts = (
            weighted[:, lo * STATES : hi * STATES].T @ onehot
        )  # [b*S, C*S] weighted pair counts
        pair = (
            counts.reshape(hi - lo, STATES, c, STATES).transpose(0, 2, 1, 3)
            + pseudocount / STATES**2
        ) / total
        ratio = pair / (single[lo:hi, None, :, None] * single[None, :, None, :])  # [b, C, S, S]
        mi[lo:hi] = (pair * np.log(ratio)).sum((-1, -2))
    np.fill_diagonal(mi, 0.0)
    return mi


def apc(scores: np.ndarray) -> np.ndarray:
    """Average product correction of a symmetric matrix (diagonal ignored, zero on return)."""
    m = np.array(scores, dtype=float)
    np.fill_diagonal(m, 0.0)
    L = len(m)
    row = m.sum(1) / max(L - 1, 1)
    total = m.sum() / max(L * (L - 1), 1)
    out = m - np.outer(row, row) / max(total, 1e-12)
    np.fill_diagonal(out, 0.0)
    return out


def chain_scores(column_scores: np.ndarray, aligned_row: str, sequence: str) -> np.ndarray:
    """[L, L] scores over a chain's residues from [C, C] column scores, through the chain's aligned row
    (its residues in order, '-' where it has none). Residues on insert states get no column and
    score NaN; raises if the row's residues are not ``sequence``."""
    idx = residue_columns(aligned_row, sequence)
    out = np.full((len(idx), len(idx)), np.nan)
    ok = idx >= 0
    out[np.ix_(ok, ok)] = column_scores[np.ix_(idx[ok], idx[ok])]
    return out


def residue_columns(aligned_row: str, sequence: str) -> np.ndarray:
    """int[L]: the match column of each residue of a chain through its aligned row (-1 for a residue on
    an insert state); raises if the row's residues are not ``sequence``."""
    residues, columns, col = [], [], 0
    for ch in aligned_row:
        if ch == "-":
            col += 1
        elif ch == ".":
            continue
        elif ch.isupper():
            residues.append(ch)
            columns.append(col)
            col += 1
        else:  # lower case: an insert residue, no match column
            residues.append(ch.upper())
            columns.append(-1)
    if "".join(residues) != sequence:
        raise ProteinDataError(
            "the chain's aligned row does not spell its sequence; align the chain to the family"
        )
    return np.array(columns, dtype=np.int64)
