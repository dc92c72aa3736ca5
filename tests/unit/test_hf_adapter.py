"""The Hugging Face masked-LM adapter (lib/mdmi/models/hf_masked_lm.py): the real loading code on a tiny
randomly initialised ESM-2 written to a temporary folder, and on AntiBERTy's shipped weights."""

from __future__ import annotations

import pickle

import pytest
import torch

from mdmi.models.hf_masked_lm import HFModelError, load_hf_masked_lm

AA = "ACDEFGHIKLMNPQRSTVWY"
ESM_VOCAB = [
    "<cls>",
    "<pad>",
    "<eos>",
    "<unk>",
    "L",
    "A",
    "G",
    "V",
    "S",
    "E",
    "R",
    "T",
    "I",
    "D",
    "P",
    "K",
    "Q",
    "N",
    "F",
    "Y",
    "M",
    "H",
    "W",
    "C",
    "X",
    "B",
    "U",
    "Z",
    "O",
    ".",
    "-",
    "<null_1>",
    "<mask>",
]


@pytest.fixture(scope="module")
def tiny_esm2(tmp_path_factory):
    """A 2-layer ESM-2 with random weights, saved as a transformers folder (safetensors + vocab.txt)."""
    from transformers import EsmConfig, EsmForMaskedLM

    folder = tmp_path_factory.mktemp("esm2_tiny")
    torch.manual_seed(0)
    cfg = EsmConfig(
        vocab_size=len(ESM_VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=1,
        mask_token_id=32,
        position_embedding_type="rotary",
        token_dropout=True,
        emb_layer_norm_before=False,
    )
    lm = EsmForMaskedLM(cfg).eval()
    lm.save_pretrained(folder, safe_serialization=True)
    (folder / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    return folder, lm


def test_tiny_esm2_matches_the_model_itself(tiny_esm2):
    folder, lm = tiny_esm2
    net = load_hf_masked_lm(str(folder), AA)
    assert (net.num_values, net.mask_id, net.pad_id) == (20, 20, 21)
    seq = "MKTAYIAKQR"
    tokens = torch.tensor([[AA.index(a) for a in seq]])
    tokens[0, 3] = net.mask_id
    logits, hidden = net(tokens)
    assert logits.shape == (1, 10, 20) and hidden.shape == (1, 10, 32)
    vocab = {t: i for i, t in enumerate(ESM_VOCAB)}
    ids = [vocab["<cls>"]] + [vocab[a] for a in seq] + [vocab["<eos>"]]
    ids[4] = vocab["<mask>"]
    with torch.no_grad():
        ref = lm(input_ids=torch.tensor([ids])).logits[0, 1:-1]
    cols = torch.tensor([vocab[a] for a in AA])
    torch.testing.assert_close(logits[0], ref[:, cols])


def test_padding_is_not_attended(tiny_esm2):
    folder, _ = tiny_esm2
    net = load_hf_masked_lm(str(folder), AA)
    short = torch.tensor([[AA.index(a) for a in "MKTAYIA"]])
    short[0, 2] = net.mask_id
    padded = torch.cat([short, torch.full((1, 5), net.pad_id)], 1)
    batch = torch.cat([padded, torch.tensor([[AA.index(a) for a in "GGSGGSGGSGGS"]])])
    with torch.no_grad():
        a, _ = net(short)
        b, _ = net(batch)
    torch.testing.assert_close(a[0], b[0, :7], atol=1e-5, rtol=1e-5)


def test_checksum_mismatch_is_refused(tiny_esm2):
    folder, _ = tiny_esm2
    with pytest.raises(HFModelError, match="sha256"):
        load_hf_masked_lm(str(folder), AA, sha256="0" * 64)


def test_unknown_letter_and_missing_weights(tiny_esm2, tmp_path):
    folder, _ = tiny_esm2
    with pytest.raises(HFModelError, match="no token for"):
        load_hf_masked_lm(str(folder), AA + "J")
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(HFModelError, match="no model.safetensors or pytorch_model.bin"):
        load_hf_masked_lm(str(tmp_path), AA)


class Boom:
    def __reduce__(self):
        return (print, ("unpickled",))


def test_a_pickle_is_never_unpickled(tiny_esm2, tmp_path, capsys):
    """A .bin whose pickle would run code is refused by weights_only loading; nothing runs."""
    folder, _ = tiny_esm2
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    (tmp_path / "vocab.txt").write_text((folder / "vocab.txt").read_text())
    with open(tmp_path / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"x": Boom()}, fh)
    with pytest.raises(HFModelError, match="not a weights file"):
        load_hf_masked_lm(str(tmp_path), AA)
    assert "unpickled" not in capsys.readouterr().out


def test_weights_of_another_architecture(tiny_esm2, tmp_path):
    from safetensors.torch import save_file

    folder, _ = tiny_esm2
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    (tmp_path / "vocab.txt").write_text((folder / "vocab.txt").read_text())
    save_file({"something.else": torch.zeros(3)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(HFModelError, match="another architecture"):
        load_hf_masked_lm(str(tmp_path), AA)


def test_no_such_folder_is_a_usage_error():
    from mdmi.errors import UsageError

    with pytest.raises(UsageError, match="no such model folder"):
        load_hf_masked_lm("./does/not/exist", AA)


@pytest.fixture(scope="module")
def antiberty():
    import yaml

    from mdmi.pipeline.config import CONFIG_DIR

    b = yaml.safe_load((CONFIG_DIR / "base.yaml").read_text())["antibody"]["backbone"]
    return load_hf_masked_lm(
        b["source"], AA, b["hidden_layer"], vocab=b["vocab"], sha256=b["sha256"]
    )


def test_antiberty_recovers_masked_residues(antiberty):
    """AntiBERTy's shipped weights, checksum-pinned, through the adapter: a heavy chain (trastuzumab VH) with
    15% of its residues masked comes back mostly right; a random model would get ~5%."""
    seq = (
        "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTAYLQMNSLRAEDTAVYYC"
        "SRWGGDGFYAMDYWGQGTLVTVSS"
    )
    x = torch.tensor([[AA.index(a) for a in seq]])
    hide = torch.rand(len(seq), generator=torch.Generator().manual_seed(1)) < 0.15
    xm = x.clone()
    xm[0, hide] = antiberty.mask_id
    with torch.no_grad():
        logits, hidden = antiberty(xm)
    assert hidden.shape == (1, len(seq), 512)
    acc = (logits[0, hide].argmax(-1) == x[0, hide]).float().mean().item()
    assert acc > 0.7, acc


def test_protein_domain_takes_a_hf_backbone(tiny_esm2):
    """protein.backbone: hf (config/esm2_650m.yaml's switch) builds the adapter from protein.hf.source."""
    from mdmi.domains import get_domain
    from mdmi.pipeline.config import ConfigError, domain_config, load_config, validate

    folder, _ = tiny_esm2
    from mdmi.pipeline.config import CONFIG_DIR

    cfg = load_config(CONFIG_DIR / "esm2_650m.yaml")
    cfg["protein"]["hf"] = {"source": str(folder)}
    d = get_domain("protein", domain_config(cfg, "protein"))
    net = d.build_model(cfg["protein"]["model"])
    assert (
        d.pretrained
        and net.num_values == 20
        and net.pad_id == d.pad_id
        and net.mask_id == d.mask_id
    )
    assert str(folder) in net.label
    del cfg["protein"]["hf"]
    with pytest.raises(ConfigError, match="protein.hf"):
        validate(cfg)


def test_loading_a_masked_lm_leaves_scikit_learn_alone(tiny_esm2):
    """transformers imports scikit-learn (2 s) for assisted generation whenever it is installed; loading a
    masked LM must not (every antibody job loads AntiBERTy)."""
    import subprocess
    import sys

    folder, _ = tiny_esm2
    code = (
        "import sys\n"
        "from mdmi.models.hf_masked_lm import load_hf_masked_lm\n"
        f"load_hf_masked_lm({str(folder)!r}, {AA!r})\n"
        "print('sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr[-500:]
