"""Exact MI against brute-force enumeration on small explicit joints."""

import itertools

import pytest
import torch

from joint_models import JointModel, brute_force_mi, product_joint, random_joint
from mdmi.core.mi import exact_mi, exact_mi_batch, exact_mi_rows


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
                assert row[i, j].item() == pytest.approx(
                    ref, abs=2e-5
                )  # a consistent model: rows agree
            else:
                assert mi[i, j].item() == 0.0


def test_mi_nonnegative_symmetric_zero_diagonal():
    model = JointModel(random_joint(5, 3, 7))
    tokens = torch.tensor([3, 3, 1, 3, 3])
    mi = exact_mi(model, tokens)
    assert (mi >= 0).all()
    assert torch.allclose(mi, mi.T)
    assert torch.all(mi.diagonal() == 0)
    assert torch.all(mi[2] == 0) and torch.all(mi[:, 2] == 0)  # visible position
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


def test_skip_zero_is_exact_and_reports_nothing_skipped():
    model = JointModel(random_joint(4, 3, 3, concentration=0.3))
    tokens = torch.tensor([3, 3, 3, 1])
    rows = torch.tensor([[0, 0], [0, 1], [0, 2]])
    exact = exact_mi_rows(model, tokens[None], rows)
    assert exact.skipped_mass.abs().max() == 0 and exact.error_bound.abs().max() == 0
    assert exact.clamped_passes == 9


def _peaked_joint(L, V, seed):
    """A joint whose conditionals put tiny mass on some values (as a confident model does)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*([V] * L), generator=g) * 8.0
    return torch.softmax(logits.flatten(), 0).view(*([V] * L)).double()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tol", [1e-6, 1e-4, 1e-2])
def test_skip_stays_within_its_certified_bound(seed, tol):
    L, V = 4, 4
    model = JointModel(_peaked_joint(L, V, seed))
    tokens = torch.full((1, L), V)
    rows = torch.tensor([[0, i] for i in range(L)])
    exact = exact_mi_rows(model, tokens, rows)
    approx = exact_mi_rows(model, tokens, rows, skip_tol=tol)
    assert approx.clamped_passes <= exact.clamped_passes
    assert (approx.error_bound <= tol + 1e-12).all()
    diff = (approx.mi - exact.mi).abs().max(-1).values  # [R] worst entry per row
    assert (diff <= approx.error_bound + 2e-6).all()  # + fp32 rounding
    assert (approx.mi >= 0).all()


def test_skip_saves_passes_on_confident_rows():
    model = JointModel(_peaked_joint(4, 4, 0))
    tokens = torch.full((1, 4), 4)
    rows = torch.tensor([[0, i] for i in range(4)])
    loose = exact_mi_rows(model, tokens, rows, skip_tol=1e-2)
    assert loose.clamped_passes < 16 and (loose.skipped_mass > 0).any()
    assert (loose.passes_per_row >= 1).all()  # the likeliest value is always clamped


def test_skip_error_bound_against_brute_force_truncation():
    """Dropping the mass d and renormalising moves the MI of a joint by at most the bound."""
    from mdmi.core.mi import entropy, skip_error_bound

    g = torch.Generator().manual_seed(1)
    worst = 0.0
    for _ in range(300):
        V = int(torch.randint(2, 6, (1,), generator=g))
        p = torch.softmax(torch.randn(V, generator=g, dtype=torch.float64) * 3, 0)
        q = torch.softmax(torch.randn(V, V, generator=g, dtype=torch.float64) * 3, -1)  # q[a, b]
        drop = p < p.max()
        drop &= torch.rand(V, generator=g) < 0.5
        d = float(p[drop].sum())
        if d > 0.5 or d == 0:
            continue
        mi = lambda w: float(entropy(w @ q) - (w * entropy(q)).sum())
        w = torch.where(drop, torch.zeros_like(p), p)
        err = abs(mi(p) - mi(w / w.sum()))
        bound = float(skip_error_bound(torch.tensor(d, dtype=torch.float64), V))
        assert err <= bound + 1e-12
        worst = max(worst, err / bound)
    assert worst > 0.05  # the check exercised cases near the bound, not only trivial ones


def test_skip_error_bound_is_infinite_past_half():
    from mdmi.core.mi import skip_error_bound

    b = skip_error_bound(torch.tensor([0.0, 1e-8, 0.4, 0.6]), 9)
    assert b[0] == 0 and 0 < b[1] < 1e-6 and torch.isfinite(b[2]) and torch.isinf(b[3])


def test_autocast_precision_is_validated():
    model = JointModel(random_joint(3, 2, 0))
    with pytest.raises(ValueError, match="precision"):
        exact_mi_rows(model, torch.tensor([[2, 2, 2]]), torch.tensor([[0, 0]]), precision="fp8")


def test_rows_must_be_masked():
    model = JointModel(random_joint(3, 2, 0))
    with pytest.raises(ValueError, match="masked"):
        exact_mi_rows(model, torch.tensor([[0, 2, 2]]), torch.tensor([[0, 0]]))


class _Inconsistent(torch.nn.Module):
    """Conditionals from a random two-layer net on the one-hot input: they come from no joint at all."""

    def __init__(self, L: int, V: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.num_values, self.mask_id, self.L = V, V, L
        self.w1 = torch.nn.Parameter(torch.randn(L * (V + 1), 16, generator=g), requires_grad=False)
        self.w2 = torch.nn.Parameter(2 * torch.randn(16, L * V, generator=g), requires_grad=False)

    def forward(self, tokens):
        x = torch.nn.functional.one_hot(tokens, self.num_values + 1).float().flatten(1)
        h = torch.tanh(x @ self.w1)
        return (h @ self.w2).view(-1, self.L, self.num_values), h[:, None].expand(-1, self.L, -1)


def _row_mi_by_enumeration(model, state: torch.Tensor, i: int, j: int) -> float:
    """I(i->j) as the MI of the joint p_i(a) q_a(b), enumerated value by value in float64."""
    V = model.num_values
    p = torch.softmax(model(state[None])[0][0, i].double(), -1)
    joint = torch.zeros(V, V, dtype=torch.float64)
    for a in range(V):
        clamped = state.clone()
        clamped[i] = a
        joint[a] = p[a] * torch.softmax(model(clamped[None])[0][0, j].double(), -1)
    pa, pb = joint.sum(1), joint.sum(0)
    return float(
        sum(
            joint[a, b] * torch.log(joint[a, b] / (pa[a] * pb[b]))
            for a in range(V)
            for b in range(V)
            if joint[a, b] > 0
        )
    )


@pytest.mark.parametrize("L,V,seed", [(4, 3, 0), (5, 2, 1), (6, 4, 2)])
def test_row_mi_of_a_model_that_is_not_self_consistent_matches_enumeration(L, V, seed):
    model = _Inconsistent(L, V, seed)
    tokens = _states(L, V, seed)
    row, _ = exact_mi_batch(model, tokens, symmetric=False)
    asym = []
    for b, state in enumerate(tokens):
        masked = (state == V).nonzero().flatten().tolist()
        for i, j in itertools.permutations(masked, 2):
            ref = _row_mi_by_enumeration(model, state, i, j)
            assert row[b, i, j].item() == pytest.approx(ref, abs=1e-5)
            asym.append(abs(ref - _row_mi_by_enumeration(model, state, j, i)))
    assert max(asym) > 1e-3  # the two directions differ: the model really is not self-consistent
