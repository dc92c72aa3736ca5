"""Exact MI against brute-force enumeration on small explicit joints."""
import itertools

import pytest
import torch

from joint_models import JointModel, brute_force_mi, product_joint, random_joint
from mdmi.mi import exact_mi, exact_mi_batch, exact_mi_rows


def _states(L, V, seed, n=4):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        t = torch.randint(0, V, (L,), generator=g)
        m = torch.rand(L, generator=g) < 0.6
        m[torch.randint(0, L, (2,), generator=g)] = True
        out.append(torch.where(m, torch.full_like(t, V), t))
    return torch.stack(out)


@pytest.mark.parametrize("L,V,seed", [(3, 2, 0), (4, 2, 1), (3, 3, 2), (4, 3, 3), (5, 2, 4)])
def test_exact_mi_matches_brute_force(L, V, seed):
    joint = random_joint(L, V, seed, concentration=0.5)
    model = JointModel(joint)
    for tokens in _states(L, V, seed):
        mi = exact_mi(model, tokens)
        row = exact_mi(model, tokens, symmetric=False)
        masked = (tokens == V).tolist()
        for i, j in itertools.product(range(L), repeat=2):
            if i != j and masked[i] and masked[j]:
                ref = brute_force_mi(joint, tokens.tolist(), i, j, V)
                assert mi[i, j].item() == pytest.approx(ref, abs=2e-5)
                assert row[i, j].item() == pytest.approx(ref, abs=2e-5)   # a consistent model: rows agree
            else:
                assert mi[i, j].item() == 0.0


def test_mi_nonnegative_symmetric_zero_diagonal():
    model = JointModel(random_joint(5, 3, 7))
    tokens = torch.tensor([3, 3, 1, 3, 3])
    mi = exact_mi(model, tokens)
    assert (mi >= 0).all()
    assert torch.allclose(mi, mi.T)
    assert torch.all(mi.diagonal() == 0)
    assert torch.all(mi[2] == 0) and torch.all(mi[:, 2] == 0)   # visible position
    assert mi[0, 1] > 0


def test_product_distribution_gives_zero():
    model = JointModel(product_joint(4, 3, 0))
    mi = exact_mi(model, torch.tensor([3, 3, 3, 3]))
    assert mi.abs().max().item() < 1e-6


def test_batch_and_chunking_agree_with_single_state():
    joint = random_joint(4, 3, 11)
    model = JointModel(joint)
    tokens = _states(4, 3, 5, n=5)
    batch, passes = exact_mi_batch(model, tokens, max_batch=4)
    assert passes == int((tokens == 3).sum()) * 3
    for b in range(tokens.shape[0]):
        assert torch.allclose(batch[b], exact_mi(model, tokens[b], max_batch=1000), atol=1e-6)


def test_p_skip_is_reported_and_zero_means_exact():
    joint = random_joint(4, 3, 3, concentration=0.3)
    model = JointModel(joint)
    tokens = torch.tensor([3, 3, 3, 1])
    rows = torch.tensor([[0, 0], [0, 1], [0, 2]])
    exact = exact_mi_rows(model, tokens[None], rows)
    assert exact.skipped_mass.abs().max() == 0 and exact.clamped_passes == 9
    approx = exact_mi_rows(model, tokens[None], rows, p_skip=0.2)
    assert approx.clamped_passes < 9 and (approx.skipped_mass > 0).any()
    assert (approx.mi >= 0).all()


def test_rows_must_be_masked():
    model = JointModel(random_joint(3, 2, 0))
    with pytest.raises(ValueError, match="masked"):
        exact_mi_rows(model, torch.tensor([[0, 2, 2]]), torch.tensor([[0, 0]]))
