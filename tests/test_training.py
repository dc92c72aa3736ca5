"""Estimator and MDM training: the loss goes down, and a checkpoint resumes to the same result."""
import pytest
import torch

from mdmi.domains.sudoku.domain import SudokuDomain
from mdmi.domains.sudoku.grid import random_full_grid
from mdmi.labels import label_states, sample_states
from mdmi.train_estimator import estimator_loss, load_estimator, mdm_features, train_estimator
from mdmi.train_mdm import load_mdm, train_mdm

import random

ECFG = {"rank": 16, "hidden": 16, "entropy_bound": "mean", "steps": 40, "batch_size": 8, "lr": 0.01,
        "weight_decay": 0.0, "warmup": 2, "log_every": 5, "checkpoint_every": 20}
MCFG = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "pos_embedding": False}
TCFG = {"steps": 30, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.0, "warmup": 5, "mask_min": 0.1, "mask_max": 0.9,
        "weighting": "uniform", "augment": True, "grad_clip": 1.0, "log_every": 5, "checkpoint_every": 15}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny 4x4 Sudoku MDM trained for a few steps, and exact labels for some of its states."""
    d = tmp_path_factory.mktemp("sudoku")
    rng = random.Random(0)
    grids = {"".join(map(str, random_full_grid(2, rng))) for _ in range(200)}
    (d / "train_grids.txt").write_text("\n".join(sorted(grids)) + "\n")
    dom = SudokuDomain({"box": 2})
    cfg = {"box": 2, "seed": 0, "model": MCFG, "train": TCFG}
    train_mdm(dom, cfg, d, d / "model.pt", d / "ckpt.pt", torch.device("cpu"), progress=False)
    model = load_mdm(dom, d / "model.pt", torch.device("cpu"))
    complete = dom.train_sequences(d)
    gen = torch.Generator().manual_seed(0)
    lcfg = {"trajectory_fraction": 0.5, "trajectory_method": "threshold", "trajectory_tau": 0.9, "mask_min": 0.4,
            "mask_max": 0.9, "max_batch": 512}
    from mdmi.train_mdm import random_mask
    starts, _, _ = random_mask(complete[:16], 0.6, 0.9, model.mask_id, gen)
    tokens, kinds = sample_states(model, starts, complete, 24, lcfg, gen)
    labels = label_states(model, tokens, kinds, max_batch=512, progress=False)
    return dom, cfg, d, model, labels


def test_mdm_loss_decreases_and_resume_is_exact(trained, tmp_path):
    dom, cfg, d, model, _ = trained
    log = torch.load(d / "model.pt", weights_only=False)["train_log"]
    assert log[-1]["loss"] < log[0]["loss"]
    assert not (d / "ckpt.pt").exists()          # removed once the model is written
    # an interrupted run (stopped at step 12) resumed to the end equals the uninterrupted run
    assert train_mdm(dom, cfg, d, tmp_path / "resumed.pt", tmp_path / "ckpt.pt", torch.device("cpu"),
                     progress=False, stop_after=12) is None
    assert torch.load(tmp_path / "ckpt.pt", weights_only=False)["step"] == 12 and not (tmp_path / "resumed.pt").exists()
    train_mdm(dom, cfg, d, tmp_path / "resumed.pt", tmp_path / "ckpt.pt", torch.device("cpu"), progress=False)
    a = torch.load(d / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "resumed.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_with_other_config_is_refused(trained, tmp_path):
    dom, cfg, d, _, _ = trained
    train_mdm(dom, cfg, d, tmp_path / "m.pt", tmp_path / "ckpt.pt", torch.device("cpu"), progress=False, stop_after=5)
    other = {**cfg, "train": {**cfg["train"], "lr": 0.5}}
    with pytest.raises(RuntimeError, match="different config"):
        train_mdm(dom, other, d, tmp_path / "m.pt", tmp_path / "ckpt.pt", torch.device("cpu"), progress=False)


def test_labels_are_valid(trained):
    _, _, _, model, labels = trained
    mi, tokens = labels["mi"], labels["tokens"]
    assert mi.shape == (tokens.shape[0], 16, 16)
    assert (mi >= 0).all() and torch.allclose(mi, mi.transpose(1, 2))
    vis = tokens != model.mask_id
    assert (mi[vis] == 0).all()
    assert set(labels["kind"]) == {"random", "trajectory"}


def test_estimator_training_lowers_loss_and_resumes(trained, tmp_path):
    _, _, _, model, labels = trained
    dev = torch.device("cpu")
    hidden, probs, masked = mdm_features(model, labels["tokens"])
    out = train_estimator(model, labels, ECFG, 0, tmp_path / "head.pt", tmp_path / "ckpt.pt", dev, progress=False)
    head = load_estimator(tmp_path / "head.pt", dev)
    from mdmi.estimator import EstimatorConfig, MIHead
    torch.manual_seed(0)
    fresh = MIHead(EstimatorConfig(**out["cfg"]))
    with torch.no_grad():
        before = estimator_loss(fresh, hidden, probs, masked, labels["mi"])
        after = estimator_loss(head, hidden, probs, masked, labels["mi"])
    assert after < before
    assert out["train_log"][-1]["loss"] < out["train_log"][0]["loss"]
    # an interrupted run resumed from its checkpoint gives the same head
    assert train_estimator(model, labels, ECFG, 0, tmp_path / "head2.pt", tmp_path / "ck2.pt", dev, progress=False,
                           stop_after=13) is None
    train_estimator(model, labels, ECFG, 0, tmp_path / "head2.pt", tmp_path / "ck2.pt", dev, progress=False)
    a, b = torch.load(tmp_path / "head.pt", weights_only=False), torch.load(tmp_path / "head2.pt", weights_only=False)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


@pytest.mark.parametrize("bound", ["min", "mean"])
def test_estimator_output_respects_entropy_bound(trained, bound):
    _, _, _, model, labels = trained
    from mdmi.estimator import EstimatorConfig, MIHead, ceiling
    from mdmi.mi import entropy
    hidden, probs, masked = mdm_features(model, labels["tokens"])
    head = MIHead(EstimatorConfig(d_in=hidden.shape[-1], rank=8, hidden=8, entropy_bound=bound,
                                  n_values=probs.shape[-1], mixer_layers=1, mixer_heads=2))
    with torch.no_grad():
        pred = head(hidden, probs, masked)
    H = entropy(probs)
    assert (pred >= 0).all() and torch.allclose(pred, pred.transpose(1, 2), atol=1e-6)
    assert (pred <= ceiling(H, bound) + 1e-6).all()
    assert (pred[~masked] == 0).all()


def test_exact_labels_respect_the_mean_ceiling(trained):
    """Every symmetrised exact label is <= (H_i + H_j) / 2 of the model's own marginals, even for a
    barely trained model whose conditionals are not self-consistent (the min ceiling need not hold)."""
    _, _, _, model, labels = trained
    from mdmi.estimator import ceiling, pair_mask
    from mdmi.mi import entropy
    _, probs, masked = mdm_features(model, labels["tokens"])
    H = entropy(probs)
    pm = pair_mask(masked)
    mi = labels["mi"].float()
    assert (mi[pm] > 1e-4).any()                                   # a non-trivial label set
    assert (mi[pm] <= ceiling(H, "mean")[pm] + 1e-5).all()
