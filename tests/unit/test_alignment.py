"""Alignment column MI (the family baseline for protein contacts) against direct enumeration."""

import itertools
import math

import numpy as np
import pytest


def _direct_mi(a, b, w, pc, states=21):
    """MI of two columns by looping over every state pair (the definition, written out)."""
    total = sum(w) + pc
    pa = [(sum(wi for x, wi in zip(a, w) if x == s) + pc / states) / total for s in range(states)]
    pb = [(sum(wi for x, wi in zip(b, w) if x == s) + pc / states) / total for s in range(states)]
    mi = 0.0
    for s, t in itertools.product(range(states), repeat=2):
        p = (sum(wi for x, y, wi in zip(a, b, w) if x == s and y == t) + pc / states**2) / total
        mi += p * math.log(p / (pa[s] * pb[t]))
    return mi


def test_column_mi_equals_the_definition_and_finds_a_coupled_pair():
    from mdmi.domains.protein.alignment import column_mi, encode_alignment, sequence_weights

    rng = np.random.default_rng(0)
    letters = "ACD-"
    rows = []
    for _ in range(300):
        r = [letters[k] for k in rng.integers(0, 4, size=6)]
        r[4] = {"A": "W", "C": "Y", "D": "K", "-": "G"}[
            r[1]
        ]  # column 4 is a relabelling of column 1
        rows.append("".join(r))
    msa = encode_alignment(rows)
    w = sequence_weights(msa, 0.8)
    mi = column_mi(msa, w, pseudocount=0.5)
    for i, j in [(0, 2), (1, 4), (3, 5)]:
        assert mi[i, j] == pytest.approx(_direct_mi(msa[:, i], msa[:, j], w, 0.5), rel=1e-9)
    assert np.allclose(mi, mi.T) and np.all(np.diag(mi) == 0)
    assert np.allclose(
        column_mi(msa, w, pseudocount=0.5, block=4), mi, rtol=1e-12
    )  # computed in column blocks
    off = mi[np.triu_indices(6, 1)]
    assert (
        mi[1, 4] == off.max() and mi[1, 4] > 1.0 and np.median(off) < 0.05
    )  # about log 4 vs about 0


def test_weights_count_near_identical_rows_and_inserts_are_not_columns():
    from mdmi.domains.protein.alignment import encode_alignment, match_columns, sequence_weights

    assert match_columns("AC.d-E") == "AC-E"
    msa = encode_alignment(["ACDEFGHIKL", "ACDEFGHIKM", "WWWWWWWWWW"])
    assert sequence_weights(msa, 0.8).tolist() == [0.5, 0.5, 1.0]


def test_ragged_alignment_and_a_row_that_is_not_the_chain_are_rejected():
    from mdmi.domains.protein.alignment import ProteinDataError, chain_scores, encode_alignment

    with pytest.raises(ProteinDataError, match="match columns"):
        encode_alignment(["ACD", "AC"])
    scores = np.arange(16.0).reshape(4, 4)
    out = chain_scores(scores, "A-cDE", "ACDE")  # 'c' sits on an insert state: no column
    assert out.shape == (4, 4) and out[0, 2] == scores[0, 2] and out[2, 3] == scores[2, 3]
    assert np.isnan(out[1]).all() and np.isnan(out[:, 1]).all()
    with pytest.raises(ProteinDataError, match="does not spell"):
        chain_scores(scores, "A-cDE", "ACDF")


def test_apc_removes_a_rank_one_background():
    from mdmi.domains.protein.alignment import apc

    rng = np.random.default_rng(1)
    b = rng.uniform(0.5, 1.5, size=8)
    m = np.outer(b, b)
    m[2, 5] = m[5, 2] = m[2, 5] + 3.0
    out = apc(m)
    i, j = np.triu_indices(8, 1)
    assert np.argmax(out[i, j]) == list(zip(i, j)).index((2, 5))
