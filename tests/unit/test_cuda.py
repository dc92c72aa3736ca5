"""The CUDA path computes what the CPU path computes (skipped where no GPU is present: CI has none).

Run on a GPU host: ``python -m pytest -q tests/test_cuda.py``. Each check draws random inputs, runs
the same function in float32 on the CPU and on the GPU (matrix products in full float32: PyTorch's
default, no TF32), and compares by relative norm.
"""

import pytest
import torch

from joint_models import JointModel, brute_force_mi, random_joint
from mdmi.core.decoding import decode
from mdmi.core.estimator import EstimatorConfig, MIHead
from mdmi.core.knobs import METHODS
from mdmi.core.mi import exact_mi_batch, marginals
from mdmi.domains.protein.family_model import GAP_ID, MASK_ID, FamilyPottsMDM

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().cpu(), b.double().cpu()
    assert torch.isfinite(a).all()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _family(columns: int, rank: int, seed: int) -> FamilyPottsMDM:
    torch.manual_seed(seed)
    model = FamilyPottsMDM(columns, rank, penalty=0.1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model.eval()


def _states(B: int, C: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, 20, (B, C), generator=g)
    t = torch.where(torch.rand(B, C, generator=g) < 0.1, torch.full_like(t, GAP_ID), t)
    masked = (torch.rand(B, C, generator=g) < 0.6) & (t != GAP_ID)
    return torch.where(masked, torch.full_like(t, MASK_ID), t)


def test_exact_mi_on_cuda_matches_brute_force_enumeration():
    joint = random_joint(4, 3, seed=int(torch.randint(0, 10**6, ())), concentration=0.5)
    model = JointModel(joint).to(CUDA)
    x = torch.tensor([[3, 3, 3, 3], [0, 3, 3, 3], [3, 1, 3, 3]])
    mi, _ = exact_mi_batch(model, x, max_batch=7)
    assert mi.device.type == "cuda"
    for b, row in enumerate(x.tolist()):
        masked = [i for i, t in enumerate(row) if t == model.mask_id]
        ref = torch.zeros(4, 4, dtype=torch.float64)
        for i in masked:
            for j in masked:
                if i != j:
                    ref[i, j] = brute_force_mi(joint, row, i, j, model.mask_id)
        assert _rel(mi[b], ref) < 1e-5


@pytest.mark.parametrize("rank", [0, 8])
def test_family_model_and_its_exact_mi_agree_across_devices(rank):
    model = _family(12, rank, seed=rank)
    x = _states(5, 12, seed=rank + 1)
    p_cpu, h_cpu = marginals(model, x)
    mi_cpu, n_cpu = exact_mi_batch(model, x, max_batch=16)
    model.to(CUDA)
    p_gpu, h_gpu = marginals(model, x.to(CUDA))
    assert p_gpu.device.type == "cuda" and _rel(p_gpu, p_cpu) < 1e-5 and _rel(h_gpu, h_cpu) < 1e-5
    mi_gpu, n_gpu = exact_mi_batch(model, x, max_batch=16)
    assert n_cpu == n_gpu and _rel(mi_gpu, mi_cpu) < 1e-4


def test_estimator_head_agrees_across_devices():
    torch.manual_seed(1)
    head = MIHead(
        EstimatorConfig(
            d_in=20, rank=16, hidden=16, max_len=12, n_values=20, mixer_layers=1, pair_bias=True
        )
    ).eval()
    with torch.no_grad():
        head.bias.normal_()
    model = _family(12, 8, seed=2)
    x = _states(4, 12, seed=3)
    probs, hidden = marginals(model, x)
    masked = x == MASK_ID
    with torch.no_grad():
        ref = head(hidden, probs, masked)
        out = head.to(CUDA)(hidden.to(CUDA), probs.to(CUDA), masked.to(CUDA))
    assert out.device.type == "cuda" and _rel(out, ref) < 1e-4


@pytest.mark.parametrize("method", METHODS)
def test_every_decoder_runs_on_cuda_and_fills_the_masks(method):
    torch.manual_seed(4)
    model = _family(12, 8, seed=5).to(CUDA)
    head = MIHead(EstimatorConfig(d_in=20, rank=8, hidden=8, max_len=12, n_values=20)).to(CUDA)
    x = _states(6, 12, seed=6)
    knobs = {
        "topk": {"k": 2},
        "threshold": {"tau": 0.5},
        "eb": {"gamma": 0.5},
        "mi": {"eps": 0.05},
        "mi-exact": {"eps": 0.05},
    }.get(method, {})
    res = decode(model, x, method, estimator=head, max_batch=32, **knobs)
    masked = x == MASK_ID
    tokens = res.tokens.cpu()
    assert not (tokens == MASK_ID).any() and torch.equal(tokens[~masked], x[~masked])
    assert ((res.passes.cpu() >= 1) | ~masked.any(-1)).all()
    if method == "sequential":  # one position per pass: the same argmax path as on the CPU
        assert torch.equal(tokens, decode(model.cpu(), x, method, max_batch=32).tokens.cpu())
