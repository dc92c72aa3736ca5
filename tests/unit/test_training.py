"""Estimator and MDM training: the loss goes down, and a checkpoint resumes to the same result."""

import random

import pytest
import torch

from mdmi.domains.sudoku.domain import SudokuDomain
from mdmi.domains.sudoku.grid import random_full_grid
from mdmi.errors import UsageError
from mdmi.train.estimator import estimator_loss, load_estimator, mdm_features, train_estimator
from mdmi.train.labels import label_states, sample_states
from mdmi.train.mdm import load_mdm, train_mdm

ECFG = {
    "rank": 16,
    "hidden": 16,
    "entropy_bound": "mean",
    "steps": 40,
    "batch_size": 8,
    "lr": 0.01,
    "weight_decay": 0.0,
    "warmup": 2,
    "log_every": 5,
    "checkpoint_every": 20,
}
MCFG = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "pos_embedding": False}
TCFG = {
    "steps": 30,
    "batch_size": 16,
    "lr": 3e-3,
    "weight_decay": 0.0,
    "warmup": 5,
    "mask_min": 0.1,
    "mask_max": 0.9,
    "weighting": "uniform",
    "augment": True,
    "grad_clip": 1.0,
    "log_every": 5,
    "checkpoint_every": 15,
}


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
    lcfg = {
        "trajectory_fraction": 0.5,
        "trajectory_method": "threshold",
        "trajectory_tau": 0.9,
        "mask_min": 0.4,
        "mask_max": 0.9,
        "max_batch": 512,
    }
    from mdmi.core.masking import random_mask

    starts, _, _ = random_mask(complete[:16], 0.6, 0.9, model.mask_id, gen)
    tokens, kinds = sample_states(model, starts, complete, 24, lcfg, gen)
    labels = label_states(model, tokens, kinds, max_batch=512, progress=False)
    return dom, cfg, d, model, labels


def test_mdm_loss_decreases_and_resume_is_exact(trained, tmp_path):
    dom, cfg, d, model, _ = trained
    log = torch.load(d / "model.pt", weights_only=False)["train_log"]
    assert log[-1]["loss"] < log[0]["loss"]
    assert not (d / "ckpt.pt").exists()  # removed once the model is written
    # an interrupted run (stopped at step 12) resumed to the end equals the uninterrupted run
    assert (
        train_mdm(
            dom,
            cfg,
            d,
            tmp_path / "resumed.pt",
            tmp_path / "ckpt.pt",
            torch.device("cpu"),
            progress=False,
            stop_after=12,
        )
        is None
    )
    assert (
        torch.load(tmp_path / "ckpt.pt", weights_only=False)["step"] == 12
        and not (tmp_path / "resumed.pt").exists()
    )
    train_mdm(
        dom,
        cfg,
        d,
        tmp_path / "resumed.pt",
        tmp_path / "ckpt.pt",
        torch.device("cpu"),
        progress=False,
    )
    a = torch.load(d / "model.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "resumed.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_with_other_config_is_refused(trained, tmp_path):
    dom, cfg, d, _, _ = trained
    train_mdm(
        dom,
        cfg,
        d,
        tmp_path / "m.pt",
        tmp_path / "ckpt.pt",
        torch.device("cpu"),
        progress=False,
        stop_after=5,
    )
    other = {**cfg, "train": {**cfg["train"], "lr": 0.5}}
    with pytest.raises(UsageError, match="different config"):
        train_mdm(
            dom,
            other,
            d,
            tmp_path / "m.pt",
            tmp_path / "ckpt.pt",
            torch.device("cpu"),
            progress=False,
        )


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
    out = train_estimator(
        model, labels, ECFG, 0, tmp_path / "head.pt", tmp_path / "ckpt.pt", dev, progress=False
    )
    head = load_estimator(tmp_path / "head.pt", dev)
    from mdmi.core.estimator import EstimatorConfig, MIHead

    torch.manual_seed(0)
    fresh = MIHead(EstimatorConfig(**out["cfg"]))
    with torch.no_grad():
        before = estimator_loss(fresh, hidden, probs, masked, labels["mi"])
        after = estimator_loss(head, hidden, probs, masked, labels["mi"])
    assert after < before
    assert out["train_log"][-1]["loss"] < out["train_log"][0]["loss"]
    # an interrupted run resumed from its checkpoint gives the same head
    assert (
        train_estimator(
            model,
            labels,
            ECFG,
            0,
            tmp_path / "head2.pt",
            tmp_path / "ck2.pt",
            dev,
            progress=False,
            stop_after=13,
        )
        is None
    )
    train_estimator(
        model, labels, ECFG, 0, tmp_path / "head2.pt", tmp_path / "ck2.pt", dev, progress=False
    )
    a, b = (
        torch.load(tmp_path / "head.pt", weights_only=False),
        torch.load(tmp_path / "head2.pt", weights_only=False),
    )
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


@pytest.mark.parametrize("bound", ["min", "mean"])
def test_estimator_output_respects_entropy_bound(trained, bound):
    _, _, _, model, labels = trained
    from mdmi.core.estimator import EstimatorConfig, MIHead, ceiling
    from mdmi.core.mi import entropy

    hidden, probs, masked = mdm_features(model, labels["tokens"])
    head = MIHead(
        EstimatorConfig(
            d_in=hidden.shape[-1],
            rank=8,
            hidden=8,
            entropy_bound=bound,
            n_values=probs.shape[-1],
            mixer_layers=1,
            mixer_heads=2,
        )
    )
    with torch.no_grad():
        pred = head(hidden, probs, masked)
    H = entropy(probs)
    assert (pred >= 0).all() and torch.allclose(pred, pred.transpose(1, 2), atol=1e-6)
    assert (pred <= ceiling(H, bound) + 1e-6).all()
    assert (pred[~masked] == 0).all()


@pytest.mark.parametrize("bound", ["min", "mean", "none"])
def test_head_equals_its_dense_definition_on_every_pair(trained, bound):
    """The head evaluates its pair MLP only on masked pairs i < j; the result must be the dense
    definition: the MLP on [u_i * u_j, u_i + u_j] for every pair, + the symmetrised bias, through the
    ceiling, times the pair mask (including a state with nothing masked)."""
    _, _, _, model, labels = trained
    import torch.nn.functional as F

    from mdmi.core.estimator import EstimatorConfig, MIHead, ceiling, pair_mask
    from mdmi.core.mi import entropy

    hidden, probs, masked = mdm_features(model, labels["tokens"][:6])
    masked = masked.clone()
    masked[0] = False
    L = hidden.shape[1]
    torch.manual_seed(0)
    head = MIHead(
        EstimatorConfig(
            d_in=hidden.shape[-1],
            rank=8,
            hidden=8,
            entropy_bound=bound,
            max_len=L,
            n_values=probs.shape[-1],
            mixer_layers=1,
            mixer_heads=2,
            pair_bias=True,
        )
    )
    with torch.no_grad():
        head.bias.copy_(torch.randn(L, L))
        pred = head(hidden, probs, masked)
        H = entropy(probs)
        u = head.proj(torch.cat([head.norm(hidden), probs, H[..., None]], -1)) + head.pos.weight[:L]
        for layer in head.mixer:
            u = layer(u, src_key_padding_mask=~masked & masked.any(-1, keepdim=True))
        ui, uj = u[:, :, None], u[:, None, :]
        s = head.mlp(torch.cat([ui * uj, ui + uj], -1)).squeeze(-1) + 0.5 * (
            head.bias + head.bias.T
        )
        cap = ceiling(H, bound)
        dense = (F.softplus(s) if cap is None else cap * torch.sigmoid(s)) * pair_mask(masked)
    assert (pred[0] == 0).all() and pred.shape == dense.shape
    assert torch.allclose(pred, dense, atol=1e-6, rtol=1e-5)


def test_pair_batch_padding_is_bounded_and_takes_few_sizes():
    from mdmi.core.estimator import padded_size

    assert [padded_size(n) for n in (0, 1, 8, 9, 17, 100, 1000)] == [0, 1, 8, 10, 20, 112, 1024]
    assert all(n <= padded_size(n) < 1.25 * n + 1 for n in range(1, 70000))
    assert len({padded_size(n) for n in range(4097, 8193)}) == 4  # 4 sizes per power of two


GRAD_HASH = """
import hashlib, torch
from mdmi.core.estimator import EstimatorConfig, MIHead
torch.set_num_threads(2)
torch.manual_seed(0)
B, L = 8, 200
head = MIHead(EstimatorConfig(d_in=16, rank=32, hidden=32, max_len=L, n_values=4, mixer_layers=1, pair_bias=True))
hidden, probs, masked = torch.randn(B, L, 16), torch.softmax(torch.randn(B, L, 4), -1), torch.rand(B, L) < 0.7
head(hidden, probs, masked).pow(2).sum().backward()
h = hashlib.sha256()
for p in head.parameters():
    h.update(p.grad.numpy().tobytes())
print(h.hexdigest())
"""


def test_head_gradients_are_bit_identical_across_processes():
    """Same seed, same tables: the head's backward must not depend on thread timing. Gathering the pair
    features by advanced indexing (u[b, i]) summed their gradients with atomic adds on 2 CPU threads and
    gave a different gradient in every process (a different head after training); index_select does not."""
    import subprocess
    import sys

    hashes = {
        subprocess.run(
            [sys.executable, "-c", GRAD_HASH], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(3)
    }
    assert len(hashes) == 1, hashes


def test_pair_bias_stays_symmetric_and_log_loss_matches_its_definition(trained):
    _, _, _, model, labels = trained
    from mdmi.core.estimator import EstimatorConfig, MIHead, pair_mask

    hidden, probs, masked = mdm_features(model, labels["tokens"])
    L = hidden.shape[1]
    head = MIHead(
        EstimatorConfig(d_in=hidden.shape[-1], rank=8, hidden=8, max_len=L, pair_bias=True)
    )
    with torch.no_grad():
        head.bias.copy_(torch.randn(L, L) * 3)  # an asymmetric table
        pred = head(hidden, probs, masked)
        assert torch.allclose(pred, pred.transpose(1, 2), atol=1e-6) and (pred[~masked] == 0).all()
        pm = pair_mask(masked)
        target = labels["mi"].float()
        want = ((torch.log(pred + 1e-3) - torch.log(target.clamp_min(0) + 1e-3)) ** 2)[pm].mean()
        assert torch.isclose(
            estimator_loss(head, hidden, probs, masked, target, "log_mse", 1e-3), want
        )
        assert torch.isclose(
            estimator_loss(head, hidden, probs, masked, target), ((pred - target) ** 2)[pm].mean()
        )
    with pytest.raises(ValueError, match="positions"):
        EstimatorConfig(d_in=4, pair_bias=True)


def test_exact_labels_respect_the_mean_ceiling(trained):
    """Every symmetrised exact label is <= (H_i + H_j) / 2 of the model's own marginals, even for a
    barely trained model whose conditionals are not self-consistent (the min ceiling need not hold)."""
    _, _, _, model, labels = trained
    from mdmi.core.estimator import ceiling, pair_mask
    from mdmi.core.mi import entropy

    _, probs, masked = mdm_features(model, labels["tokens"])
    H = entropy(probs)
    pm = pair_mask(masked)
    mi = labels["mi"].float()
    assert (mi[pm] > 1e-4).any()  # a non-trivial label set
    assert (mi[pm] <= ceiling(H, "mean")[pm] + 1e-5).all()


def test_looped_model_shares_weights_and_reports_every_loop():
    from mdmi.models.transformer import MaskedTransformer, TransformerConfig

    torch.manual_seed(0)
    cfg = TransformerConfig(
        num_values=4, length=16, d_model=16, n_layers=1, n_loops=3, n_heads=2, d_ff=32
    )
    looped = MaskedTransformer(cfg)
    plain = MaskedTransformer(TransformerConfig(**{**cfg.__dict__, "n_loops": 1}))
    assert looped.num_parameters() == plain.num_parameters()  # loops add no weights
    x = torch.randint(0, 5, (3, 16))
    per_loop = looped.loop_logits(x)
    logits, hidden = looped(x)
    assert len(per_loop) == 3 and torch.allclose(per_loop[-1], logits)
    # by hand: the block applied three times with the embedding re-injected before each
    plain.load_state_dict(looped.state_dict())
    e = looped.embed(x) + looped.pos
    h = torch.zeros_like(e)
    for _ in range(3):
        h = looped.blocks[0](h + e, looped.relations)
    assert torch.allclose(looped.head(looped.ln_f(h)), logits, atol=1e-5)
    assert torch.allclose(
        plain.loop_logits(x)[0], per_loop[0], atol=1e-6
    )  # loop 1 = the plain model


def test_reveal_part_keeps_a_hidden_subset():
    from mdmi.core.masking import reveal_part

    gen = torch.Generator().manual_seed(0)
    natural = torch.rand(200, 81, generator=gen) < 0.7
    kept = reveal_part(natural, 0.8, gen)
    assert not (kept & ~natural).any() and (kept.sum(-1) >= 1).all()
    frac = kept.sum(-1).float() / natural.sum(-1).float()
    assert 0.45 < float(frac.mean()) < 0.75 and float(frac.min()) < 0.4  # ~U(0, 0.8) revealed
    assert torch.equal(reveal_part(natural, 0.0, gen), natural)


def test_ship_copies_the_model_with_its_records_and_the_checksum_is_enforced(trained, tmp_path):
    import shutil

    from mdmi.pipeline.cache import CheckpointMismatch
    from mdmi.pipeline.shipped import ship, shipped_model

    _, _, d, _, _ = trained
    results = tmp_path / "results"
    (results / "sudoku" / "mdm").mkdir(parents=True)
    (results / "logs").mkdir()
    shutil.copy(d / "model.pt", results / "sudoku" / "mdm" / "model.pt")
    (results / "logs" / "sudoku_train_mdm.log").write_text("training log\n")
    cfg = tmp_path / "pretrain.yaml"
    cfg.write_text("scale: pretrain\n")
    out = tmp_path / "repo" / "data" / "sudoku" / "pretrained"
    snippet = ship(results, "sudoku", cfg, out)
    assert "sha256:" in snippet and (out / "train_log.csv").read_text().startswith("step,loss")
    assert (out / "config.yaml").read_text() == "scale: pretrain\n" and (
        out / "train_mdm.log"
    ).exists()
    assert shipped_model("sudoku", root=tmp_path / "repo") == out / "model.pt"
    (results / "config.yaml").write_text(
        "scale: pretrain\nresolved: true\n"
    )  # what the run read wins
    ship(results, "sudoku", cfg, out)
    assert (out / "config.yaml").read_text() == "scale: pretrain\nresolved: true\n"
    from mdmi.pipeline.shipped import adopt_in_config
    from mdmi.util.io import file_sha256

    default = tmp_path / "default.yaml"
    default.write_text(
        f"sudoku:\n  checkpoint:   # shipped\n    path: {out / 'model.pt'}\n    sha256: {'0' * 64}\n"
    )
    assert (
        adopt_in_config(default, out / "model.pt")
        and file_sha256(out / "model.pt") in default.read_text()
    )
    assert "# shipped" in default.read_text() and not adopt_in_config(
        default, tmp_path / "other.pt"
    )
    with open(out / "model.pt", "ab") as fh:  # a damaged or replaced file is refused
        fh.write(b"\0")
    with pytest.raises(CheckpointMismatch, match="SHA-256"):
        shipped_model("sudoku", root=tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match="make models"):
        shipped_model("sudoku", root=tmp_path / "elsewhere")


def test_shipped_head_carries_its_record_and_is_adopted_only_under_it(trained, tmp_path):
    """A head trained with a record ships with its logs and checksum; adopting it needs the same record
    (config, seed, MDM weights, label states); a head without one, or another file, is refused."""
    from mdmi.pipeline.cache import CheckpointMismatch, adopt_checkpoint, checksum_snippet
    from mdmi.pipeline.shipped import adopt_in_config, ship_estimator
    from mdmi.train.labels import train_label_fingerprint
    from mdmi.train.loop import model_fingerprint
    from mdmi.util.io import file_sha256

    dom, _, d, model, labels = trained
    dev = torch.device("cpu")
    record = {
        "domain": "sudoku",
        "config": {"labels": {"train_states": 24}, "estimator": ECFG},
        "seed": 0,
        "model": model_fingerprint(model),
        "label_states": train_label_fingerprint(dom, d, 0),
    }
    assert record["label_states"] == train_label_fingerprint(dom, d, 0)  # deterministic
    results = tmp_path / "results"
    head = results / "sudoku" / "estimator" / "head.pt"
    head.parent.mkdir(parents=True)
    train_estimator(
        model, labels, ECFG, 0, head, tmp_path / "ck.pt", dev, progress=False, record=record
    )
    (results / "logs").mkdir()
    (results / "logs" / "sudoku_train_estimator.log").write_text("step 1\rstep 40\ndone\n")
    out = tmp_path / "data" / "sudoku" / "pretrained" / "estimator"
    snippet = ship_estimator(results, "sudoku", tmp_path / "estimators.yaml", out)
    assert "estimator_checkpoint:" in snippet and "estimator_checkpoint:" in checksum_snippet(head)
    assert (out / "SHA256").read_text().split()[0] == file_sha256(out / "head.pt")
    assert (out / "train_estimator.log").read_text() == "step 40\ndone\n"
    assert (out / "train_log.csv").read_text().startswith("step,loss")
    spec = {"path": str(out / "head.pt"), "sha256": file_sha256(out / "head.pt")}
    adopted = adopt_checkpoint(
        "sudoku", spec, record, tmp_path / "a.pt", key="estimator_checkpoint"
    )
    assert adopted["cached_from"]["sha256"] == spec["sha256"]
    a, b = load_estimator(head, dev), load_estimator(tmp_path / "a.pt", dev)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    changed = {**model.state_dict()}
    first = next(k for k, v in changed.items() if v.is_floating_point())
    changed[first] = changed[first] + 1e-3
    other = load_mdm(dom, d / "model.pt", dev)
    other.load_state_dict(changed)
    assert model_fingerprint(other) != record["model"]
    for wanted, match in [
        ({**record, "model": model_fingerprint(other)}, "model: checkpoint"),
        ({**record, "seed": 1}, "seed: checkpoint"),
        ({**record, "config": {**record["config"], "labels": {"train_states": 9}}}, "train_states"),
    ]:
        with pytest.raises(CheckpointMismatch, match=match):
            adopt_checkpoint("sudoku", spec, wanted, tmp_path / "no.pt", key="estimator_checkpoint")
    train_estimator(
        model, labels, ECFG, 0, tmp_path / "bare.pt", tmp_path / "c2.pt", dev, progress=False
    )
    bare = {"path": str(tmp_path / "bare.pt"), "sha256": file_sha256(tmp_path / "bare.pt")}
    with pytest.raises(CheckpointMismatch, match="not a trained sudoku MI head"):
        adopt_checkpoint("sudoku", bare, record, tmp_path / "no.pt", key="estimator_checkpoint")
    assert not (tmp_path / "no.pt").exists()
    default = tmp_path / "default.yaml"
    default.write_text(
        f"sudoku:\n  estimator_checkpoint:\n    path: {out / 'head.pt'}\n    sha256: {'0' * 64}\n"
    )
    assert adopt_in_config(default, out / "head.pt") and spec["sha256"] in default.read_text()


def test_inference_loops_override_the_trained_count(trained, tmp_path):
    dom, cfg, d, _, _ = trained
    looped_cfg = {
        **cfg,
        "model": {**MCFG, "n_layers": 1, "n_loops": 2},
        "train": {**TCFG, "steps": 3},
    }
    train_mdm(
        dom,
        looped_cfg,
        d,
        tmp_path / "looped.pt",
        tmp_path / "ck.pt",
        torch.device("cpu"),
        progress=False,
    )
    assert load_mdm(dom, tmp_path / "looped.pt", torch.device("cpu")).cfg.n_loops == 2
    assert load_mdm(dom, tmp_path / "looped.pt", torch.device("cpu"), loops=5).cfg.n_loops == 5
    with_knob = SudokuDomain({"box": 2, "inference_loops": 4})
    assert load_mdm(with_knob, tmp_path / "looped.pt", torch.device("cpu")).cfg.n_loops == 4
    with pytest.raises(ValueError, match="need a looped backbone"):
        load_mdm(with_knob, d / "model.pt", torch.device("cpu"))  # trained without n_loops


def test_checkpoints_of_the_wrong_kind_are_refused_in_one_line(trained, tmp_path):
    """Another domain, another architecture, an MI head given as a model and vice versa, and a head
    trained for another model: each is the project's own error, naming the file and the fix."""
    from mdmi.core.estimator import EstimatorConfig, MIHead
    from mdmi.util.checkpoint_io import NotACheckpoint, save_torch

    dom, _, d, model, labels = trained
    dev = torch.device("cpu")
    state = torch.load(d / "model.pt", weights_only=True)
    save_torch(tmp_path / "protein.pt", {**state, "domain": "protein"})
    with pytest.raises(NotACheckpoint, match="for domain 'protein', not 'sudoku'"):
        load_mdm(dom, tmp_path / "protein.pt", dev)
    with pytest.raises(NotACheckpoint, match="do not fit the architecture"):
        load_mdm(SudokuDomain({"box": 3}), d / "model.pt", dev)  # a 4x4 model read as 9x9
    train_estimator(
        model, labels, ECFG, 0, tmp_path / "head.pt", tmp_path / "ck.pt", dev, progress=False
    )
    with pytest.raises(NotACheckpoint, match="not an MDM checkpoint"):
        load_mdm(dom, tmp_path / "head.pt", dev)
    with pytest.raises(NotACheckpoint, match="not an MI head"):
        load_estimator(d / "model.pt", dev)
    hidden, probs, masked = mdm_features(model, labels["tokens"][:2])
    other = MIHead(EstimatorConfig(d_in=hidden.shape[-1] + 8, rank=4, hidden=4))
    with pytest.raises(UsageError, match="trained on an MDM with hidden size"):
        other(hidden, probs, masked)


class _WithHeldout(SudokuDomain):
    """Sudoku with held-out grids: the trainer logs their masked loss and accuracy."""

    def __init__(self, cfg, heldout):
        super().__init__(cfg)
        self._heldout = heldout

    def heldout_sequences(self, data_dir):
        return self._heldout


def test_heldout_loss_is_logged_and_does_not_change_training(trained, tmp_path):
    dom, cfg, d, _, _ = trained
    rng = random.Random(99)
    held = (
        torch.tensor([random_full_grid(2, rng) for _ in range(8)]) - 1
    )  # digits 1..4 -> tokens 0..3
    withheld = _WithHeldout({"box": 2}, held)
    train_mdm(
        withheld,
        cfg,
        d,
        tmp_path / "h.pt",
        tmp_path / "ckpt.pt",
        torch.device("cpu"),
        progress=False,
    )
    state = torch.load(tmp_path / "h.pt", weights_only=False)
    log = state["train_log"]
    assert all({"heldout_loss", "heldout_acc"} <= row.keys() for row in log)
    assert all(0 <= row["heldout_acc"] <= 1 and row["heldout_loss"] > 0 for row in log)
    assert log[-1]["heldout_loss"] < log[0]["heldout_loss"]  # 4x4 grids: it generalises at once
    plain = torch.load(d / "model.pt", weights_only=False)
    assert [r["loss"] for r in log] == [
        r["loss"] for r in plain["train_log"]
    ]  # evaluation draws nothing
    assert all(
        torch.equal(state["state_dict"][k], plain["state_dict"][k]) for k in plain["state_dict"]
    )


@pytest.mark.parametrize("bound", ["mean", "none"])
def test_output_init_starts_the_head_at_the_labels_size(trained, bound):
    """A model with tiny MI (labels scaled to 1e-6 of the real ones): with output_init labels the head's first
    predictions sit at the labels' typical size (geometric mean within a factor e), where the zero bias starts
    them orders of magnitude above, in the flat tail of the sigmoid once the first steps overshoot."""
    _, _, _, model, labels = trained
    from mdmi.core.estimator import EstimatorConfig, MIHead, pair_mask
    from mdmi.train.estimator import init_output_bias

    hidden, probs, masked = mdm_features(model, labels["tokens"])
    target, delta = labels["mi"].float() * 1e-6, 1e-9
    pm = pair_mask(masked)
    torch.manual_seed(0)
    head = MIHead(EstimatorConfig(d_in=hidden.shape[-1], rank=8, hidden=8, entropy_bound=bound))
    want = float(torch.log(target.clamp_min(0) + delta)[pm].mean())

    def log_mean():
        with torch.no_grad():
            return float(torch.log(head(hidden, probs, masked) + delta)[pm].mean())

    before = log_mean()
    r = init_output_bias(head, hidden, probs, masked, target, delta)
    assert 0 < r < 0.5 and abs(log_mean() - want) < 1.0 < abs(before - want)


SIGTERM_SCRIPT = """
import sys, time, torch
from pathlib import Path
from mdmi.train.loop import Checkpointer, run_steps, seed_everything
gen = seed_everything(0)
module = torch.nn.Linear(4, 1)
opt = torch.optim.AdamW(module.parameters(), lr=0.01)
x = torch.randn(64, 4, generator=gen)
def loss_fn():
    time.sleep(float(sys.argv[3]))
    idx = torch.randint(0, 64, (8,), generator=gen)
    return (module(x[idx]) ** 2).mean()
Path(sys.argv[2]).write_text("started")
try:
    run_steps(module, opt, gen, Checkpointer(sys.argv[1], "h"), loss_fn, total=400, lr=0.01, warmup=5,
              log_every=50, checkpoint_every=1000, desc="toy", progress=False)
except Exception as e:
    print(type(e).__name__, e, file=sys.stderr)
    sys.exit(3)
torch.save(module.state_dict(), sys.argv[1] + ".final")
"""


def test_sigterm_checkpoints_and_the_rerun_resumes_to_the_same_weights(tmp_path):
    """What Slurm sends on preemption: the step ends, the checkpoint is written, the rerun resumes."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "train.py"
    script.write_text(SIGTERM_SCRIPT)
    run = lambda ck, delay: [
        sys.executable,
        str(script),
        str(ck),
        str(tmp_path / "started"),
        str(delay),
    ]  # noqa: E731
    ck = tmp_path / "ck.pt"
    proc = subprocess.Popen(run(ck, 0.01), stderr=subprocess.PIPE, text=True)
    while not (tmp_path / "started").exists():
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "Interrupted" in err and "stopped by SIGTERM at step" in err, (
        err
    )
    step = torch.load(ck, weights_only=True)["step"]
    assert 0 < step < 400
    assert subprocess.run(run(ck, 0), capture_output=True).returncode == 0  # resumes from ck
    straight = tmp_path / "straight.pt"
    assert (
        subprocess.run(run(straight, 0), capture_output=True).returncode == 0
    )  # never interrupted
    a = torch.load(str(ck) + ".final", weights_only=True)
    b = torch.load(str(straight) + ".final", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
