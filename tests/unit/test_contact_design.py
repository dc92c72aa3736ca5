"""Mask designs for native-conditioned MI maps, separation ranges, the family baseline and the contact claims."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from mdmi.domains.protein.mimap import averaged_mi_map, design_cost, mask_states

MASK = 20


class _PairToy(torch.nn.Module):
    """Position j's logits read position i's residue (a coupled pair) for one pair (i, j): the exact
    conditional MI of (i, j) is positive only when both are masked together, the rest is independent."""

    num_values, mask_id = 20, MASK

    def __init__(self, L, i, j):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.bias = torch.randn(L, 20, generator=g)
        self.table = 4 * torch.randn(21, 20, generator=g)
        self.i, self.j = i, j
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = self.bias.expand(x.shape[0], -1, -1).clone()
        out[:, self.j] += self.table[x[:, self.i]]
        return out, out


def test_group_design_masks_two_groups_shows_the_rest_and_covers_every_pair():
    L, G = 23, 5
    tokens = torch.randint(0, 20, (L,), generator=torch.Generator().manual_seed(3))
    states = mask_states(tokens, "groups", MASK, torch.Generator().manual_seed(1), groups=G)
    assert states.shape == (G * (G - 1) // 2, L)
    masked = states == MASK
    assert (
        states[~masked] == tokens.expand_as(states)[~masked]
    ).all()  # the rest is the native sequence
    sizes = masked.sum(1)
    assert sizes.min() >= 2 * (L // G) and sizes.max() <= 2 * (L // G + 1)
    # every position is masked in G - 1 states; every pair (i != j) at least once
    assert (masked.sum(0) == G - 1).all()
    both = (masked[:, :, None] & masked[:, None, :]).sum(0)
    assert (both[~torch.eye(L, dtype=torch.bool)] >= 1).all()
    assert design_cost(L, 20, "groups", groups=G) == (
        states.shape[0],
        states.shape[0] + masked.sum().item() * 20,
    )


def test_design_cost_counts_the_passes_the_map_makes():
    L = 14
    model = _PairToy(L, 2, 9)
    tokens = torch.randint(0, 20, (L,), generator=torch.Generator().manual_seed(0))
    for design, kw in [
        ("all", {}),
        ("random", {"fraction": 0.4, "rounds": 3}),
        ("groups", {"groups": 4}),
    ]:
        states = mask_states(tokens, design, MASK, torch.Generator().manual_seed(0), **kw)
        out = averaged_mi_map(model, states)
        n_states, passes = design_cost(L, 20, design, **kw)
        assert out["states"] == n_states and out["clamped_passes"] + n_states == passes


def test_group_map_finds_the_coupled_pair_conditioned_on_the_native_sequence():
    L = 16
    model = _PairToy(L, 3, 12)
    tokens = torch.randint(0, 20, (L,), generator=torch.Generator().manual_seed(2))
    out = averaged_mi_map(
        model, mask_states(tokens, "groups", MASK, torch.Generator().manual_seed(0), groups=4)
    )
    mi = out["exact"]
    top = torch.triu(mi, 1).flatten().argmax().item()
    assert divmod(top, L) == (3, 12) and mi[3, 12] > 0.1
    off = mi.clone()
    off[3, 12] = off[12, 3] = 0
    assert off.abs().max() < 1e-5  # independent positions: no MI anywhere else


def test_precision_by_separation_range_and_nan_scores_rank_last():
    from mdmi.domains.protein.contacts import contact_rows, precision_at, range_mask

    L = 40
    contacts = np.zeros((L, L), dtype=bool)
    for i, j in [(0, 8), (5, 20), (1, 35)]:  # short, medium, long
        contacts[i, j] = contacts[j, i] = True
    scores = np.zeros((L, L))
    for (i, j), v in {(0, 8): 3.0, (5, 20): 2.0, (1, 35): 1.0, (2, 10): 5.0}.items():
        scores[i, j] = scores[j, i] = v
    rows = {
        r["range"]: r
        for r in contact_rows(
            "c",
            L,
            "m",
            "s",
            scores,
            contacts,
            6,
            {"short": (6, 11), "medium": (12, 23), "long": (24, None)},
            True,
        )
    }
    assert list(rows) == ["all", "short", "medium", "long"] and all(
        r["in_family"] for r in rows.values()
    )
    assert (
        rows["short"]["contacts"] == 1
        and rows["medium"]["contacts"] == 1
        and rows["long"]["contacts"] == 1
    )
    k = L // 5
    assert rows["long"]["p_at_L5"] == pytest.approx(
        1 / k
    )  # the long contact is the range's best pair
    pairs = [(i, j) for i, j in itertools.combinations(range(L), 2) if 6 <= j - i <= 11]
    assert rows["short"]["chance"] == pytest.approx(1 / len(pairs))
    assert range_mask(L, 24, None)[1, 35] and not range_mask(L, 6, 11)[0, 20]
    nan = scores.copy()
    nan[0, 8] = nan[8, 0] = np.nan  # a pair without a score is never ranked first
    assert precision_at(nan, contacts, 1, 6) == 0.0 and precision_at(scores, contacts, 2, 6) == 0.5


def test_family_row_finds_a_chain_in_an_alignment_and_claims_judge_in_family_chains():
    from mdmi.domains.protein.claims import CONTACT_CLAIM, FAMILY_CLAIM, claims
    from mdmi.domains.protein.prepare import family_row

    aligned = {"fam.a2m": {"x": "AC-de-F", "y": "ACGDE-F"}}
    assert family_row("ACDEF", aligned, 0.9) == {"family": "fam.a2m", "aligned_row": "AC-de-F"}
    assert family_row("ACDEW", aligned, 0.9) == {}
    rows = []
    for chain, fam, exact, align in [
        ("a", True, 0.40, 0.30),
        ("b", True, 0.50, 0.35),
        ("z", False, 0.0, np.nan),
    ]:
        for src, p in [("exact_apc", exact), ("alignment_apc", align), ("separation", 0.1)]:
            if np.isnan(p):
                continue
            for rng in ("all", "long"):
                rows.append(
                    {
                        "chain": chain,
                        "source": src,
                        "p_at_L5": p,
                        "p_at_L": p / 2,
                        "chance": 0.05,
                        "in_family": fam,
                        "range": rng,
                    }
                )
    section = {
        "claims": {
            "contact_chance_ratio": 2.0,
            "contact_source": "exact_apc",
            "alignment_margin": 0.02,
        }
    }
    rules = {"level": 0.95, "bootstrap": 500}
    out = {
        r["claim"]: r
        for r in claims(section, {"tables": {"contacts": pd.DataFrame(rows)}}, rules, 0)
    }
    c = out[CONTACT_CLAIM]
    assert (
        c["n"] == 2 and c["estimate"] == pytest.approx(9.0) and c["holds"] == "yes"
    )  # (0.4+0.5)/2 / 0.05
    f = out[FAMILY_CLAIM]
    assert f["n"] == 2 and f["estimate"] == pytest.approx(0.125) and f["holds"] == "yes"
    rows_worse = [dict(r, p_at_L5=0.0) if r["source"] == "exact_apc" else r for r in rows]
    out = {
        r["claim"]: r
        for r in claims(section, {"tables": {"contacts": pd.DataFrame(rows_worse)}}, rules, 0)
    }
    assert out[CONTACT_CLAIM]["holds"] == "no" and out[FAMILY_CLAIM]["holds"] == "no"


def test_in_family_only_for_a_model_trained_on_the_family_and_the_baseline_either_way(tmp_path):
    from mdmi.domains.protein.contacts import analyse_chains

    seq = "ACDEFGHIKLMNPQRSTVWY"
    rng = np.random.default_rng(0)
    chain = {
        "name": "c_A",
        "sequence": seq,
        "coords": (rng.normal(size=(20, 3)) * 6).tolist(),
        "family": "fam.a2m",
        "aligned_row": seq,
    }
    other = {
        "name": "o_A",
        "sequence": seq[::-1],
        "coords": (rng.normal(size=(20, 3)) * 6).tolist(),
    }
    letters = "ACDEFGHIKLMNPQRSTVWY"
    families = {
        "fam.a2m": ["".join(letters[k] for k in rng.integers(0, 20, size=20)) for _ in range(30)]
    }
    ccfg = {
        "design": "groups",
        "groups": 3,
        "mask_fraction": 0.3,
        "rounds": 1,
        "threshold": 8.0,
        "min_separation": 6,
        "ranges": {"long": [12, None]},
        "max_batch": 64,
        "baselines": ["alignment", "separation"],
        "alignment": {"identity": 0.8, "pseudocount": 0.5},
    }
    model = _PairToy(20, 2, 15)
    for trained, expect in [
        (True, {"c_A": True, "o_A": False}),
        (False, {"c_A": False, "o_A": False}),
    ]:
        rows, costs = analyse_chains(
            model,
            None,
            [chain, other],
            families,
            ccfg,
            0,
            "toy",
            tmp_path,
            progress=False,
            trained_on_families=trained,
        )
        df = pd.DataFrame(rows)
        assert df.groupby("chain").in_family.first().to_dict() == expect
        assert set(df[df.source == "alignment_apc"].chain) == {
            "c_A"
        }  # the baseline needs an aligned row
        assert set(df.range) == {"all", "long"} and all(c["pair_coverage"] == 1.0 for c in costs)
        assert (tmp_path / "c_A.npz").exists()
