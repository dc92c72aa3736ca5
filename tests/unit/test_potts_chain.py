"""The Potts chain's exact quantities against brute-force enumeration of all q^L sequences."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from mdmi.domains.potts.chain import PottsChain


def _brute(chain: PottsChain):
    seqs = np.array(list(product(range(chain.states), repeat=chain.length)))
    e = chain.energy(seqs)
    p = np.exp(e - e.max())
    return seqs, p / p.sum(), e


@pytest.fixture(
    params=[(6, 3, [1.0, 0.7]), (5, 2, [1.5]), (7, 2, [0.8, 0.5, 1.1])], ids=["K2", "K1", "K3"]
)
def chain(request):
    L, q, scales = request.param
    return PottsChain.random(L, q, scales, field_scale=0.5, seed=3)


def _conditioned(seqs, p, x, visible):
    ok = np.all((seqs == x) | ~visible, axis=1)
    w = np.where(ok, p, 0.0)
    return w / w.sum()


def test_log_z_and_log_prob_match_enumeration(chain):
    seqs, p, e = _brute(chain)
    lz = np.log(np.exp(e - e.max()).sum()) + e.max()
    assert chain.log_z(np.full((1, chain.length), -1))[0] == pytest.approx(lz, abs=1e-10)
    assert np.allclose(chain.log_prob(seqs[:50]), np.log(p[:50]), atol=1e-10)
    clamp = np.full((1, chain.length), -1)
    clamp[0, [1, 3]] = [1, 0]
    ok = (seqs[:, 1] == 1) & (seqs[:, 3] == 0)
    assert chain.log_z(clamp)[0] == pytest.approx(
        np.log(np.exp(e[ok] - e.max()).sum()) + e.max(), abs=1e-10
    )


def test_conditionals_pair_marginals_and_mi_match_enumeration(chain):
    seqs, p, _ = _brute(chain)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = seqs[rng.choice(len(seqs), p=p)]
        free = rng.random(chain.length) < 0.6
        free[:3] = True  # at least three unknown positions
        w = _conditioned(seqs, p, x, ~free)
        marg = chain.marginals(x[None], free[None])[0]
        for i in range(chain.length):
            want = np.bincount(seqs[:, i], weights=w, minlength=chain.states)
            assert np.allclose(marg[i], want, atol=1e-10)
        idx, single, pair = chain.pair_marginals(x, free)
        mi = chain.conditional_mi(x, free)
        for m, i in enumerate(idx):
            for n, j in enumerate(idx):
                joint = np.zeros((chain.states, chain.states))
                np.add.at(joint, (seqs[:, i], seqs[:, j]), w)
                assert np.allclose(pair[m, n], joint, atol=1e-10)
                if i != j:
                    pi, pj = joint.sum(1), joint.sum(0)
                    nz = joint > 0
                    want = np.sum(joint[nz] * np.log(joint[nz] / np.outer(pi, pj)[nz]))
                    assert mi[i, j] == pytest.approx(want, abs=1e-9)
        assert np.allclose(mi, mi.T) and np.all(mi[~free] == 0) and np.all(mi[:, ~free] == 0)


def test_visible_positions_cut_a_range_one_chain():
    chain = PottsChain.random(8, 3, [1.5], field_scale=0.3, seed=1)
    x = np.zeros(8, dtype=int)
    free = np.ones(8, dtype=bool)
    free[4] = False  # x_4 visible: the two halves are independent
    mi = chain.conditional_mi(x, free)
    assert mi[:4, 5:].max() < 1e-12 and mi[3, 2] > 1e-3


def _brute_tc(chain, seqs, p, x, visible, S) -> float:
    """Total correlation of the set S given the visible positions of x, by enumerating every sequence."""
    w = _conditioned(seqs, p, x, visible)
    joint = {}
    for s, ws in zip(map(tuple, seqs[:, S]), w):
        joint[s] = joint.get(s, 0.0) + ws
    singles = [np.bincount(seqs[:, i], weights=w, minlength=chain.states) for i in S]
    return sum(
        v * np.log(v / np.prod([singles[k][a] for k, a in enumerate(s)]))
        for s, v in joint.items()
        if v > 0
    )


def test_total_correlation_matches_enumeration(chain):
    seqs, p, _ = _brute(chain)
    x = seqs[int(np.argmax(p))]
    visible = np.zeros(chain.length, dtype=bool)
    visible[-1] = True
    filled = np.zeros(chain.length, dtype=bool)
    filled[[0, 1, 3]] = True
    want = _brute_tc(chain, seqs, p, x, visible, [0, 1, 3])
    assert chain.total_correlation(x, visible, filled, max_set=6) == pytest.approx(want, abs=1e-9)
    assert np.isnan(chain.total_correlation(x, visible, filled, max_set=2))
    one = np.zeros(chain.length, dtype=bool)
    one[2] = True
    assert chain.total_correlation(x, visible, one, max_set=6) == 0.0


def test_samples_follow_the_exact_distribution():
    chain = PottsChain.random(5, 2, [1.2, 0.6], field_scale=0.5, seed=2)
    seqs, p, _ = _brute(chain)
    n = 40000
    x = chain.sample(n, seed=0)
    codes = (x * (2 ** np.arange(5)[::-1])).sum(1)  # index of each sequence in `seqs` order
    freq = np.bincount(codes, minlength=len(seqs)) / n
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) < 5 * se + 1e-4)
    assert np.array_equal(chain.sample(100, seed=5), chain.sample(100, seed=5))


def test_batched_total_correlations_match_each_set_by_enumeration(chain):
    """Many sets at once (sizes 0..L, some above max_set, split over several log Z batches) give each set's
    brute-force total correlation, 0 below two positions and NaN above max_set."""
    seqs, p, _ = _brute(chain)
    rng = np.random.default_rng(5)
    L, max_set = chain.length, 3
    xs, vis, fill, want = [], [], [], []
    for k in range(12):
        x = seqs[rng.choice(len(seqs), p=p)]
        visible = rng.random(L) < 0.2
        free = np.nonzero(~visible)[0]
        filled = np.zeros(L, dtype=bool)
        filled[rng.choice(free, min(len(free), k % (max_set + 2)), replace=False)] = True
        S = np.nonzero(filled)[0]
        if len(S) > max_set:
            expect = np.nan
        elif len(S) < 2:
            expect = 0.0
        else:
            expect = _brute_tc(chain, seqs, p, x, visible, S)
        xs.append(x)
        vis.append(visible)
        fill.append(filled)
        want.append(expect)
    got = chain.total_correlations(
        np.array(xs), np.array(vis), np.array(fill), max_set, max_rows=40
    )
    np.testing.assert_allclose(got, np.array(want), atol=1e-9, equal_nan=True)
    assert np.isnan(got).sum() == np.isnan(want).sum() > 0 and (got == 0).any()
