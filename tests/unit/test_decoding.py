"""The decoding harness: pass counting, fills, and the MI rules on exact joints."""

import pytest
import torch

from joint_models import JointModel, potts_joint, product_joint, random_joint
from mdmi.core.decoding import decode, first_pass
from mdmi.core.estimator import EstimatorConfig, MIHead
from mdmi.core.knobs import METHODS

KNOBS = {
    "sequential": {},
    "all-at-once": {},
    "topk": {"k": 2},
    "threshold": {"tau": 0.5},
    "eb": {"gamma": 0.5},
    "mi": {"gamma": 0.5, "lam": 1.0},
    "mi-exact": {"gamma": 3.0, "lam": 1.0},
}


def _start(B, L, V, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, V, (B, L), generator=g)
    m = torch.rand(B, L, generator=g) < 0.7
    m[:, 0] = True
    return torch.where(m, torch.full_like(t, V), t)


@pytest.fixture(scope="module")
def model():
    return JointModel(random_joint(5, 3, 0, concentration=0.5))


@pytest.fixture(scope="module")
def head():
    torch.manual_seed(0)
    return MIHead(EstimatorConfig(d_in=4, rank=8, hidden=8))


def test_sequential_uses_exactly_one_pass_per_mask(model):
    x = _start(6, 5, 3)
    for order in ("confidence", "margin"):
        res = decode(model, x, "sequential", order=order)
        assert torch.equal(res.passes, (x == 3).sum(-1))
        assert all(step["max_set"] == 1 for step in res.trace)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_fills_all_and_keeps_visible(model, head, method):
    x = _start(6, 5, 3, seed=1)
    res = decode(model, x, method, estimator=head, **KNOBS[method])
    assert not (res.tokens == 3).any()
    vis = x != 3
    assert torch.equal(res.tokens[vis], x[vis])
    assert (res.passes >= 1).all() and (res.passes <= (x == 3).sum(-1)).all()
    if method == "mi-exact":  # rows are computed only where the entropy term alone does not decide
        assert (res.label_passes > 0).any()
    else:
        assert (res.label_passes == 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_a_shared_first_pass_changes_nothing_but_the_time(model, head, method):
    """A sweep computes the first pass once (evaluate.sweep): every method decodes exactly as it would
    alone, with one pass fewer of the model, and the pass is refused for other tokens."""
    x = _start(7, 5, 3, seed=4)
    x[2] = torch.tensor([0, 1, 2, 0, 1])  # a sequence with nothing masked: not in the first pass
    calls = []
    counting = JointModel(
        random_joint(5, 3, 0, concentration=0.5)
    )  # the fixture's joint, calls counted
    counting.register_forward_hook(lambda *_: calls.append(1))
    alone = decode(counting, x, method, estimator=head, seed=3, **KNOBS[method])
    n_alone = len(calls)
    fp = first_pass(counting, x)
    assert fp.tokens.shape[0] == 6 and fp.seconds >= 0
    calls.clear()
    shared = decode(counting, x, method, estimator=head, seed=3, first=fp, **KNOBS[method])
    assert len(calls) == n_alone - 1
    for f in ("tokens", "passes", "label_passes"):
        assert torch.equal(getattr(shared, f), getattr(alone, f)), f
    assert shared.trace == alone.trace and shared.seconds >= fp.seconds
    with pytest.raises(ValueError, match="other tokens"):
        decode(model, _start(7, 5, 3, seed=5), method, estimator=head, first=fp, **KNOBS[method])


def test_mi_with_infinite_budget_fills_everything_in_one_pass(model, head):
    x = _start(4, 5, 3, seed=2)
    for knobs in (
        {"rule": "prefix", "eps": float("inf")},
        {"rule": "budget", "gamma": float("inf")},
        {"rule": "tc", "gamma": float("inf")},
    ):
        res = decode(model, x, "mi", estimator=head, **knobs)
        assert (res.passes == 1).all()


def test_exact_mi_on_product_model_fills_everything_in_one_pass():
    model = JointModel(product_joint(5, 3, 1))
    x = torch.full((3, 5), 3)
    for rule in ("prefix", "pairwise"):
        res = decode(model, x, "mi-exact", eps=1e-6, rule=rule)
        assert (res.passes == 1).all()
    res = decode(model, x, "mi-exact", gamma=1e-6, rule="tc")  # independent: tc charges nothing
    assert (res.passes == 1).all()


def test_exact_mi_on_fully_dependent_model_never_fills_two_at_once():
    model = JointModel(potts_joint(5, 2, coupling=1.0))
    x = torch.full((3, 5), 2)
    for rule in ("prefix", "pairwise"):
        res = decode(model, x, "mi-exact", eps=1e-4, rule=rule)
        assert all(step["max_set"] == 1 for step in res.trace)
        assert (res.passes == 5).all()


def test_lazy_oracle_matches_full_matrix_selection():
    """The oracle computes MI rows lazily; its choice must equal selection from the full matrix."""
    from mdmi.core.mi import exact_mi_batch

    class Exact(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, hidden, probs, masked):
            return self.tokens_mi

    model = JointModel(random_joint(6, 2, 3, concentration=0.5))
    x = torch.full((1, 6), 2)
    x[0, 1] = 0
    est = Exact(model)
    est.tokens_mi, _ = exact_mi_batch(model, x)
    for eps in (0.001, 0.02, 0.2):
        for knobs in (
            {"rule": "prefix", "eps": eps},
            {"rule": "budget", "gamma": 10 * eps, "lam": 5.0},
            {"rule": "tc", "gamma": 10 * eps},
        ):
            a = decode(model, x, "mi-exact", oracle_chunk=1, **knobs)
            b = decode(model, x, "mi", estimator=est, **knobs)
            assert a.trace[0]["max_set"] == b.trace[0]["max_set"]


def test_min_conf_gate_and_max_set(model, head):
    x = torch.full((2, 5), 3)
    res = decode(model, x, "mi", estimator=head, gamma=float("inf"), max_set=2)
    assert all(step["max_set"] <= 2 for step in res.trace)
    res = decode(model, x, "mi", estimator=head, gamma=float("inf"), min_conf=1.01)
    assert all(step["max_set"] == 1 for step in res.trace)


def test_bad_arguments_raise_clear_errors(model):
    x = _start(1, 5, 3)
    with pytest.raises(ValueError, match="unknown decoding method"):
        decode(model, x, "bogus")
    with pytest.raises(ValueError, match="estimator"):
        decode(model, x, "mi")
    with pytest.raises(ValueError, match="order"):
        decode(model, x, "sequential", order="random")
    with pytest.raises(ValueError, match="eps does nothing with rule=budget"):
        decode(model, x, "mi-exact", eps=0.1)  # the default rule takes gamma and lam
    with pytest.raises(ValueError, match="unknown MI rule 'bogus'"):
        decode(model, x, "mi-exact", rule="bogus", eps=0.1)  # one line, not a KeyError
    with pytest.raises(ValueError, match="lam does nothing with rule=tc"):
        decode(model, x, "mi-exact", rule="tc", lam=1.0)
    from mdmi.core.knobs import check_knobs

    with pytest.raises(ValueError, match="gamma does nothing with rule=prefix"):
        check_knobs("mi", {"rule": "prefix", "gamma": 1.0})


def test_sampling_is_seeded(model):
    x = _start(8, 5, 3, seed=4)
    a = decode(model, x, "topk", k=2, fill="sample", seed=3)
    b = decode(model, x, "topk", k=2, fill="sample", seed=3)
    assert torch.equal(a.tokens, b.tokens)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eps", [1e-3, 0.02, 0.2])
def test_bounded_lazy_oracle_equals_full_matrix_rule(seed, eps):
    """The oracle's entropy-bounded lazy row computation picks exactly what the rule picks on the
    full exact MI matrix, for every prefix rule, and never needs more rows than |M|."""
    from mdmi.core.decoding import _scores, _select_mi, _select_mi_exact, _sorted_candidates
    from mdmi.core.mi import entropy, exact_mi_batch

    model = JointModel(random_joint(6, 3, seed, concentration=0.4))
    x = _start(5, 6, 3, seed=seed)
    logits, _ = model(x)
    probs = torch.softmax(logits, -1)
    masked = x == 3
    H = entropy(probs)
    full, _ = exact_mi_batch(model, x)
    for rule, budget in (("prefix", eps), ("budget", 20 * eps), ("tc", 20 * eps)):
        score = _scores(probs, "confidence") if rule == "prefix" else -H
        order, valid = _sorted_candidates(score, masked)
        conf = torch.gather(probs.max(-1).values, 1, order)
        H_sorted = torch.where(valid, torch.gather(H, 1, order), torch.zeros_like(H))
        for min_conf, max_set in [(0.0, None), (0.5, None), (0.0, 2)]:
            knobs = dict(
                eps=budget,
                gamma=budget,
                lam=3.0,
                rule=rule,
                min_conf=min_conf,
                max_set=max_set,
                skip_tol=0.0,
            )
            want = _select_mi(full, order, valid, conf, H_sorted, masked, knobs)
            for chunk in (1, 3, 8):
                got, cost = _select_mi_exact(
                    model, x, probs, order, valid, conf, H_sorted, masked, knobs, 64, chunk
                )
                assert torch.equal(got, want)
                assert (cost <= masked.sum(-1) * 3).all()


def _brute_cost(rule, H, I, members, lam=0.0):
    """A set's cost by its definition, members in entropy order (plain Python loops)."""
    h = [float(H[i]) for i in members]
    cost = sum(h) - max(h)
    if rule == "budget":
        cost += lam * sum(float(I[a, b]) for x, a in enumerate(members) for b in members[x + 1 :])
    if rule == "tc":
        cost = sum(
            min(float(H[a]), sum(float(I[a, b]) for b in members[x + 1 :]))
            for x, a in enumerate(members[:-1])
        )
    return cost


@pytest.mark.parametrize("seed", range(5))
def test_budget_and_tc_rules_against_brute_force_and_eb(seed):
    """On exact joints: the budget and tc rules take the longest entropy-ordered prefix whose cost,
    computed by its definition from the exact MI, stays within gamma; lam = 0 and an uninformative
    estimator (every I >= H) reproduce EB's sets exactly."""
    from mdmi.core.mi import entropy, exact_mi_batch

    class Fixed(torch.nn.Module):  # an 'estimator' that returns a given MI matrix [B, L, L]
        def __init__(self, mi):
            super().__init__()
            self.mi = mi

        def forward(self, hidden, probs, masked):
            return self.mi

    model = JointModel(random_joint(6, 3, seed, concentration=0.4))
    x = _start(4, 6, 3, seed=10 + seed)
    logits, _ = model(x)
    probs = torch.softmax(logits, -1)
    H = entropy(probs)
    I, _ = exact_mi_batch(model, x)
    exact, blind = Fixed(I), Fixed(torch.full_like(I, 1e3))
    for gamma in (0.0, 0.3, 1.0, 3.0):
        eb = _first_set(model, x, "eb", gamma=gamma)
        assert (
            _first_set(model, x, "mi", estimator=Fixed(I), rule="budget", gamma=gamma, lam=0.0)
            == eb
        )
        assert _first_set(model, x, "mi", estimator=blind, rule="tc", gamma=gamma) == eb
        for rule, lam in (("budget", 0.5), ("budget", 4.0), ("tc", 0.0)):
            knobs = {"rule": rule, "gamma": gamma} | ({"lam": lam} if rule == "budget" else {})
            got = _first_set(model, x, "mi", estimator=exact, **knobs)
            assert got == _first_set(model, x, "mi-exact", **knobs)  # the lazy oracle agrees
            for b in range(x.shape[0]):
                cand = sorted(
                    (x[b] == 3).nonzero().flatten().tolist(), key=lambda i: (float(H[b, i]), i)
                )
                n = max(
                    m
                    for m in range(1, len(cand) + 1)
                    if m == 1 or _brute_cost(rule, H[b], I[b], cand[:m], lam) <= gamma + 1e-6
                )
                assert got[b] == set(cand[:n]), (rule, lam, gamma, b)


def test_tc_rule_charges_the_exact_total_correlation_on_a_chain():
    """On a Markov chain X1 - X2 - X3 the chain-rule terms the tc rule charges are exact when the
    members are taken in chain order: I(X1; X2, X3) = I(X1; X2) and I(X2; X3). Check the tc cost
    of the whole set, from the exact pairwise MI, against the total correlation computed from the
    enumerated joint, where the entropy order is the chain order."""
    from mdmi.core.decoding import set_costs

    p1 = torch.tensor([0.97, 0.03])
    T = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    joint = torch.einsum("a,ab,bc->abc", p1, T, T)  # [2, 2, 2]
    flat = joint.reshape(-1)

    def H(p):
        p = p[p > 0]
        return float(-(p * p.log()).sum())

    margs = [joint.sum((1, 2)), joint.sum((0, 2)), joint.sum((0, 1))]
    Hs = torch.tensor([H(m) for m in margs])
    assert bool((Hs[:-1] <= Hs[1:]).all())  # entropy order == chain order
    pair = {(0, 1): joint.sum(2), (1, 2): joint.sum(0), (0, 2): joint.sum(1)}
    I = torch.zeros(3, 3)
    for (a, b), pj in pair.items():
        I[a, b] = I[b, a] = H(margs[a]) + H(margs[b]) - H(pj.reshape(-1))
    tc_exact = float(Hs.sum()) - H(flat)
    cost = set_costs("tc", Hs[None], I[None])[0, -1]
    # the chain rule charges I(X1; X2) + I(X2; X3) for the chain, but the tc rule charges
    # min(H1, I(1;2) + I(1;3)) + min(H2, I(2;3)): it over-counts I(1;3) (a redundant path), an upper bound here
    assert float(cost) >= tc_exact - 1e-6
    assert abs(float(cost) - (tc_exact + float(I[0, 2]))) < 1e-5


class _FixedMarginals(torch.nn.Module):
    """A 'model' whose marginals do not depend on the input: logits[L, V] for every sequence."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = torch.nn.Parameter(logits, requires_grad=False)
        self.num_values = logits.shape[1]
        self.mask_id = self.num_values

    def forward(self, x):
        out = self.logits.expand(x.shape[0], -1, -1)
        return out, out


def _first_set(model, x, method, **knobs) -> list[set[int]]:
    """Positions each sequence fills on the first pass."""
    res = decode(model, x, method, record_states=True, **knobs)
    after = res.states[1] if len(res.states) > 1 else res.tokens
    return [
        set(((x[b] == model.mask_id) & (after[b] != model.mask_id)).nonzero().flatten().tolist())
        for b in range(x.shape[0])
    ]


@pytest.mark.parametrize("seed", range(5))
def test_topk_threshold_and_eb_select_what_their_definitions_say(seed):
    g = torch.Generator().manual_seed(seed)
    L, V = 12, 5
    logits = torch.randn(L, V, generator=g) * torch.rand(L, 1, generator=g) * 4
    model = _FixedMarginals(logits)
    p = torch.softmax(logits, -1)
    conf = p.max(-1).values
    H = -(p * p.clamp_min(1e-30).log()).sum(-1)
    x = torch.randint(0, V, (6, L), generator=g)
    hidden = torch.rand(6, L, generator=g) < 0.6
    hidden[:, 0] = True
    x = torch.where(hidden, torch.full_like(x, V), x)
    for k in (1, 3, 20):
        for b, got in enumerate(_first_set(model, x, "topk", k=k)):
            cand = sorted(hidden[b].nonzero().flatten().tolist(), key=lambda i: -conf[i])
            assert got == set(cand[:k])
    for tau in (0.3, 0.6, 0.95):
        for b, got in enumerate(_first_set(model, x, "threshold", tau=tau)):
            cand = hidden[b].nonzero().flatten().tolist()
            want = {i for i in cand if conf[i] >= tau} | {max(cand, key=lambda i: conf[i])}
            assert got == want
    for gamma in (0.0, 0.5, 2.0):
        for b, got in enumerate(_first_set(model, x, "eb", gamma=gamma)):
            cand = sorted(hidden[b].nonzero().flatten().tolist(), key=lambda i: H[i])
            # the longest entropy-sorted prefix with sum(H) - max(H) <= gamma (at least one position)
            n = max(
                m
                for m in range(1, len(cand) + 1)
                if sum(H[i] for i in cand[:m]) - H[cand[m - 1]] <= gamma + 1e-6
            )
            assert got == set(cand[:n])
