"""The protein half: ESM-C adapter, sequence/structure parsing, contacts, downloader, quality scores."""

import gzip
import http.server
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import resolved_config
from mdmi.core.decoding import decode
from mdmi.core.estimator import EstimatorConfig, MIHead
from mdmi.core.knobs import METHODS
from mdmi.core.mi import exact_mi_batch
from mdmi.core.pseudo_likelihood import pseudo_log_likelihood
from mdmi.domains.protein.alphabet import (
    AMINO_ACIDS,
    ProteinDataError,
    clean_sequence,
    encode,
    to_letters,
)
from mdmi.domains.protein.contacts import chance_rate, precision_at
from mdmi.domains.protein.download import DownloadError, fetch
from mdmi.domains.protein.esmc import (
    MASK_ID,
    PAD_ID,
    ESMCMaskedModel,
    WeightsUnavailable,
    build_fallback,
    load_pretrained,
)
from mdmi.domains.protein.mimap import apc, averaged_mi_map, categorical_jacobian, mask_states
from mdmi.domains.protein.quality import longest_run, low_complexity, pseudo_perplexity
from mdmi.domains.protein.sequences import read_fasta
from mdmi.domains.protein.structure import chain_ids, contact_map, read_chain, structure_stem
from mdmi.util.io import file_sha256

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data" / "proteins"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ESMCMaskedModel(build_fallback(32, 2, 1)).eval()


# ---------------------------------------------------------------- adapter
def test_token_mapping_round_trips(model):
    seq = "".join(AMINO_ACIDS) + "MKV"
    assert to_letters(encode(seq)) == seq
    from esm.tokenization import get_esmc_model_tokenizers

    tok = get_esmc_model_tokenizers()
    x = torch.cat([encode(seq), torch.tensor([MASK_ID, PAD_ID, PAD_ID])])[None]
    esm = model.esm_tokens(x)[0]
    assert (
        esm[0] == tok.cls_token_id and esm[len(seq) + 2] == tok.eos_token_id
    )  # EOS after the mask, before pads
    assert tok.decode(esm[1 : len(seq) + 1].tolist()).replace(" ", "") == seq
    assert esm[len(seq) + 1] == tok.mask_token_id  # masked = ESM's <mask>
    assert (esm[len(seq) + 3 :] == tok.pad_token_id).all()


def test_logits_over_20_residues_and_hidden_shape(model):
    x = torch.randint(0, 20, (3, 17))
    x[0, 4] = MASK_ID
    logits, hidden = model(x)
    assert logits.shape == (3, 17, 20) and hidden.shape == (3, 17, 32)
    assert model.num_values == 20 and model.mask_id == MASK_ID


def test_padding_changes_nothing(model):
    x = torch.randint(0, 20, (1, 12))
    x[0, 3] = MASK_ID
    padded = torch.cat([x, torch.full((1, 5), PAD_ID)], 1)
    a, ha = model(x)
    b, hb = model(padded)
    assert torch.allclose(a, b[:, :12], atol=1e-5) and torch.allclose(ha, hb[:, :12], atol=1e-5)


def test_masked_positions_are_seen_as_masked(model):
    """A residue hidden under the mask cannot reach the model: two batches that differ only under the
    mask (drawn as the trainer draws it) give identical outputs everywhere; visible, they differ."""
    from mdmi.train.mdm import random_mask

    x = torch.randint(0, 20, (4, 12))
    xm, mask, _ = random_mask(x, 0.3, 0.6, MASK_ID, torch.Generator().manual_seed(0), PAD_ID)
    y = torch.where(
        mask, (x + 1 + torch.randint(0, 19, x.shape)) % 20, x
    )  # other residues under the mask
    assert mask.any() and not torch.equal(x, y)
    ym, mask_y, _ = random_mask(y, 0.3, 0.6, MASK_ID, torch.Generator().manual_seed(0), PAD_ID)
    assert torch.equal(mask, mask_y) and torch.equal(xm, ym)
    with torch.no_grad():
        assert torch.equal(model(xm)[0], model(ym)[0])
        assert not torch.allclose(model(x)[0], model(y)[0])  # unmasked, the same residues matter


def test_pretrained_without_weights_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(WeightsUnavailable, match="protein.weights"):
        load_pretrained("esmc_300m", str(tmp_path / "missing.pth"), torch.device("cpu"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(
        WeightsUnavailable, match="Hugging Face snapshot EvolutionaryScale/esmc-300m"
    ) as e:
        load_pretrained("esmc_300m", None, torch.device("cpu"))
    assert isinstance(e.value.__cause__, OSError)  # the cause is kept, not dropped
    bad = tmp_path / "bad.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(WeightsUnavailable, match="not an esmc_300m state dict") as e:
        load_pretrained("esmc_300m", str(bad), torch.device("cpu"))
    assert e.value.__cause__ is not None


def test_a_bug_inside_the_esmc_loader_is_not_called_missing_weights(tmp_path, monkeypatch):
    """Only a missing or unreadable snapshot means "get the weights"; anything else propagates."""
    import esm.models.esmc as esmc_module

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(esmc_module.ESMC, "from_pretrained", broken)
    with pytest.raises(TypeError, match="a bug"):
        load_pretrained("esmc_300m", None, torch.device("cpu"))


# ---------------------------------------------------------------- core on the protein adapter
def test_exact_mi_on_protein_states_is_symmetric_nonnegative(model):
    x = torch.randint(0, 20, (2, 9))
    x[:, [1, 4, 6]] = MASK_ID
    x = torch.cat([x, torch.full((2, 3), PAD_ID)], 1)
    mi, passes = exact_mi_batch(model, x, max_batch=64)
    assert passes == 2 * 3 * 20
    assert (mi >= 0).all() and torch.allclose(mi, mi.transpose(1, 2))
    visible = x != MASK_ID
    assert (mi[visible[:, :, None].expand_as(mi)] == 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_every_decoder_runs_on_the_protein_adapter(model, method):
    x = torch.randint(0, 20, (3, 14))
    x[:, ::2] = MASK_ID
    x[2, 10:] = PAD_ID  # a shorter sequence in the batch
    head = (
        MIHead(EstimatorConfig(d_in=32, rank=4, hidden=4, max_len=32)) if method == "mi" else None
    )
    knobs = {"mi": {"rule": "tc", "gamma": 0.05}, "mi-exact": {"rule": "prefix", "eps": 0.05}}.get(
        method, {}
    )
    res = decode(model, x, method, estimator=head, **knobs)
    assert not (res.tokens == MASK_ID).any()
    assert (res.tokens[x != MASK_ID] == x[x != MASK_ID]).all()  # visible residues and padding kept
    assert (res.tokens[2, 10:] == PAD_ID).all()
    assert (res.passes >= 1).all() and (res.passes <= (x == MASK_ID).sum(-1)).all()


# ---------------------------------------------------------------- sequences
def test_fasta_reading_and_errors(tmp_path):
    ok = tmp_path / "ok.fa"
    ok.write_text(">a\nMKV-LA.\n>b\nacdef\n")
    recs, excl = read_fasta(ok)
    assert recs == [("a", "MKVLA"), ("b", "ACDEF")] and excl == []
    notfasta = tmp_path / "x.fa"
    notfasta.write_text("MKVLA\n")
    with pytest.raises(ProteinDataError, match="not a FASTA file"):
        read_fasta(notfasta)
    empty = tmp_path / "e.fa"
    empty.write_text(">a\n\n>b\nMK\n")
    with pytest.raises(ProteinDataError, match="empty sequence"):
        read_fasta(empty)
    odd = tmp_path / "o.fa"
    odd.write_text(">good\nMKV\n>weird\nMKXV\n>sec\nMUK\n")
    with pytest.raises(ProteinDataError, match="weird'.*'X' at position 3"):
        read_fasta(odd, "reject")
    recs, excl = read_fasta(odd, "exclude")
    assert [n for n, _ in recs] == ["good"] and excl == ["weird", "sec"]
    with pytest.raises(ProteinDataError, match="'X'"):
        read_fasta(odd, "map")  # X cannot be mapped
    assert clean_sequence("MUK", "s", "map") == "MCK"
    dup = tmp_path / "d.fa"
    dup.write_text(">a\nMKV\n>a\nMKL\n")
    with pytest.raises(ProteinDataError, match="duplicate record name 'a'"):
        read_fasta(dup)
    ragged = tmp_path / "r.a2m"
    ragged.write_text(">a\nMK-VLA\n>b\nMKq-VLA\n>c\nMK-VL\n")  # c has 5 match columns, a and b 6
    with pytest.raises(ProteinDataError, match="ragged alignment: record 'c' has 5 match columns"):
        read_fasta(ragged)
    ragged.write_text(">a\nMK-VLA\n>b\nMKq-VLA\n")
    assert read_fasta(ragged)[0] == [
        ("a", "MKVLA"),
        ("b", "MKQVLA"),
    ]  # lower case = insert, not a column


def test_truncated_structures_and_residues_without_c_alpha(tmp_path, caplog):
    gz = (BUNDLED / "structures" / "1ubi.pdb.gz").read_bytes()
    cut = tmp_path / "cut.pdb.gz"
    cut.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(ProteinDataError, match="cannot read structure file"):
        read_chain(cut, "A")
    text = gzip.decompress(gz).decode()
    half = tmp_path / "half.pdb"
    atoms = [ln for ln in text.splitlines() if ln.startswith("ATOM")]
    half.write_text("\n".join(atoms[:200]) + "\n" + atoms[200][:40] + "\n")  # cut inside a line
    with pytest.raises(ProteinDataError, match="malformed PDB"):
        read_chain(half, "A")
    full = read_chain(BUNDLED / "structures" / "1ubi.pdb.gz", "A")
    no_ca = tmp_path / "noca.pdb"
    lines = [
        ln
        for ln in text.splitlines()
        if not (ln.startswith("ATOM") and ln[12:16] == " CA " and ln[22:26].strip() == "5")
    ]
    no_ca.write_text("\n".join(lines) + "\n")
    with caplog.at_level("WARNING"):
        chain = read_chain(no_ca, "A")
    assert (
        len(chain.sequence) == len(full.sequence) - 1
        and "without a C-alpha" in caplog.text
        and "5" in caplog.text
    )


# ---------------------------------------------------------------- structures and contacts
@pytest.mark.parametrize(
    "rel,chain,length,contacts",
    [("structures/1ubi.pdb.gz", "A", 76, 141), ("structures/5pti.cif.gz", "A", 58, 113)],
)
def test_contact_maps_match_a_direct_distance_computation(rel, chain, length, contacts):
    path = BUNDLED / rel
    ch = read_chain(path, chain)
    assert len(ch.sequence) == length and ch.name == f"{structure_stem(path)}_{chain}"
    cmap = contact_map(ch.coords)
    # direct: read C-beta (C-alpha for Gly) straight from the ATOM records / biopython atoms
    import io

    from Bio.PDB import MMCIFParser, PDBParser

    text = gzip.open(path, "rt").read()
    parser = MMCIFParser(QUIET=True) if ".cif" in path.name else PDBParser(QUIET=True)
    s = parser.get_structure("x", io.StringIO(text))[0][chain]
    xyz = np.array(
        [
            (r["CA"] if r.get_resname() == "GLY" else r["CB"]).coord
            for r in s
            if r.id[0] == " " and "CA" in r
        ]
    )
    L = len(xyz)
    direct = np.zeros((L, L), dtype=bool)
    for i in range(L):
        for j in range(L):
            direct[i, j] = abs(i - j) >= 6 and np.linalg.norm(xyz[i] - xyz[j]) < 8.0
    assert (cmap == direct).all() and np.triu(cmap, 1).sum() == contacts


def test_all_chains_of_a_file_and_chain_errors(tmp_path):
    assert chain_ids(BUNDLED / "structures" / "1hpv.pdb.gz") == ["A", "B"]
    with pytest.raises(ProteinDataError, match="no chain 'Z'"):
        read_chain(BUNDLED / "structures" / "1ubi.pdb.gz", "Z")
    bad = tmp_path / "bad.pdb"
    bad.write_text("HEADER    nothing here\nEND\n")
    with pytest.raises(ProteinDataError, match="no ATOM/HETATM records"):
        read_chain(bad, "A")
    broken = tmp_path / "broken.pdb"
    broken.write_text(
        "ATOM      1  CA  ALA A   1      xx.xxx  11.000  12.000  1.00  0.00           C\n"
    )
    with pytest.raises(ProteinDataError, match="malformed PDB"):
        read_chain(broken, "A")


def test_precision_and_chance_on_a_known_map():
    L = 12
    contacts = np.zeros((L, L), dtype=bool)
    contacts[0, 8] = contacts[8, 0] = contacts[2, 11] = contacts[11, 2] = True
    scores = np.zeros((L, L))
    scores[0, 8] = scores[8, 0] = 5.0  # the best pair is a contact
    scores[1, 9] = scores[9, 1] = 4.0  # the second is not
    assert precision_at(scores, contacts, 1, 6) == 1.0
    assert precision_at(scores, contacts, 2, 6) == 0.5
    pairs = sum(1 for i in range(L) for j in range(i + 1, L) if j - i >= 6)
    assert chance_rate(contacts, 6) == pytest.approx(2 / pairs)


def test_averaged_maps_and_jacobian(model):
    tokens = encode("MKVLAAGICWTEHHKL")
    gen = torch.Generator().manual_seed(0)
    full = averaged_mi_map(model, mask_states(tokens, "all", MASK_ID, gen))
    assert full["states"] == 1 and (full["coverage"] + torch.eye(16, dtype=torch.long) >= 1).all()
    assert torch.allclose(full["exact"], full["exact"].T) and (full["exact"] >= 0).all()
    part = averaged_mi_map(
        model, mask_states(tokens, "random", MASK_ID, gen, fraction=0.5, rounds=4)
    )
    assert part["states"] == 4 and part["clamped_passes"] == 4 * 8 * 20
    assert (part["exact"][part["coverage"] == 0] == 0).all()
    J = categorical_jacobian(model, tokens, max_batch=64)
    assert J.shape == (16, 16) and torch.allclose(J, J.T, atol=1e-6)


class _CoupledToy(torch.nn.Module):
    """Logits with independent per-position biases plus one coupling: positions 2 and 7 read each other's
    residue through a random V x V table (what a contact does to a language model's Jacobian)."""

    num_values, mask_id = 20, MASK_ID

    def __init__(self, L: int = 12):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.bias = torch.randn(L, 20, generator=g)
        self.couple = 3 * torch.randn(21, 20, generator=g)
        self.weight = torch.nn.Parameter(torch.zeros(1))  # a device for model_device

    def forward(self, x):
        out = self.bias.expand(x.shape[0], -1, -1).clone()
        out[:, 7] += self.couple[x[:, 2]]
        out[:, 2] += self.couple[x[:, 7]]
        return out, out


def test_categorical_jacobian_recovers_a_known_coupling():
    tokens = torch.randint(0, 20, (12,), generator=torch.Generator().manual_seed(1))
    J = categorical_jacobian(_CoupledToy(), tokens, max_batch=64)
    top = torch.triu(J, 1).flatten().argmax()
    assert divmod(int(top), 12) == (2, 7)
    off = J.clone()
    off[2, 7] = off[7, 2] = float("-inf")
    assert J[2, 7] > 0 and J[2, 7] > 10 * off.max().clamp_min(1e-9)


def test_apc_removes_a_rank_one_background():
    """APC subtracts row_i * row_j / mean: a pure outer-product background (diagonal ignored) is
    cancelled up to the diagonal's share, and a planted pair stands out on top of it."""
    g = torch.Generator().manual_seed(0)
    r = torch.rand(10, generator=g) + 0.5
    m = r[:, None] * r[None, :]
    planted = m.clone()
    planted[3, 8] += 2.0
    planted[8, 3] += 2.0
    out = apc(planted)
    assert torch.allclose(out, out.T)
    top = torch.triu(out, 1).flatten().argmax()
    assert divmod(int(top), 10) == (3, 8)
    assert apc(m).abs().max() < 0.2 * m.max()  # most of the background is gone


# ---------------------------------------------------------------- quality
def test_quality_scores(model):
    assert low_complexity("A" * 30) == 1.0
    assert low_complexity("ACDEFGHIKLMNPQRSTVWY" * 2) == 0.0
    assert longest_run("MKKKVA") == 3
    x = torch.randint(0, 20, (2, 10))
    ppl = pseudo_perplexity(model, x, [[1, 2, 3], []])
    assert ppl[0] > 1 and np.isnan(ppl[1])


def test_pll_cache_scores_each_pair_once_and_changes_nothing(model):
    """A shared cache returns what a cold call returns, by brute force per position, and a pair already
    scored (the same completion from another setting, or twice in one call) costs no forward pass."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 20, (3, 10), generator=g)
    x[2] = x[0]  # a repeated completion
    pos = [[1, 4, 7], [2, 3], [1, 4, 7]]
    seen = []
    real_forward = model.forward

    def counting(tokens):
        seen.append(len(tokens))
        return real_forward(tokens)

    brute = []
    for n, ps in enumerate(pos):
        lls = []
        for i in ps:
            y = x[n : n + 1].clone()
            y[0, i] = model.mask_id
            with torch.inference_mode():
                lp = torch.log_softmax(model(y)[0].float(), -1)
            lls.append(float(lp[0, i, x[n, i]]))
        brute.append(np.mean(lls))
    cache: dict = {}
    model.forward = counting
    try:
        first = pseudo_log_likelihood(model, x, pos, max_batch=4, cache=cache)
        again = pseudo_log_likelihood(model, x[:2], pos[:2], max_batch=4, cache=cache)
    finally:
        model.forward = real_forward
    assert np.allclose(first, brute, atol=1e-5) and first[0] == first[2]
    assert again == first[:2]
    # 3 + 2 distinct pairs scored; the repeated row and the second call cost nothing
    assert sum(seen) == 5 and len(cache) == 5


# ---------------------------------------------------------------- downloader vs a local HTTP server
class _Handler(http.server.BaseHTTPRequestHandler):
    state = {}

    def do_GET(self):
        if self.path.startswith("/flaky"):
            n = self.state.get(self.path, 0)
            self.state[self.path] = n + 1
            if n == 0:
                self.send_response(503)
                self.end_headers()
                return
        if self.path.startswith("/missing"):
            self.send_response(404)
            self.end_headers()
            return
        if self.path.startswith("/truncated"):  # promises 100 bytes, sends 10 and hangs up
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b">P1\nMKVLA\n")
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        body = b">P1\nMKVLA\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.state = {}
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_download_success_retry_404_checksum(server, tmp_path):
    good = hashlib_sha(b">P1\nMKVLA\n")
    dest = tmp_path / "seq.fasta"
    assert (
        fetch(f"{server}/ok", dest, retries=0, backoff=0) == good
        and dest.read_bytes() == b">P1\nMKVLA\n"
    )
    assert (
        fetch(f"{server}/flaky", tmp_path / "f.fasta", retries=2, backoff=0) == good
    )  # 503, then 200
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server}/missing", tmp_path / "m.fasta", retries=3, backoff=0)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(f"{server}/ok", tmp_path / "c.fasta", retries=0, backoff=0, expected_sha256="0" * 64)
    with pytest.raises(DownloadError, match="failed after 1 attempts"):
        fetch("http://127.0.0.1:9/", tmp_path / "n.fasta", retries=0, backoff=0, timeout=2)
    with pytest.raises(DownloadError, match="failed after 2 attempts \\(ChunkedEncodingError"):
        fetch(
            f"{server}/truncated", tmp_path / "t.fasta", retries=1, backoff=0
        )  # retried, then an error
    with pytest.raises(DownloadError, match="failed after 1 attempts \\(ReadTimeout"):
        fetch(f"{server}/slow", tmp_path / "s.fasta", retries=0, backoff=0, timeout=0.3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "f.fasta",
        "seq.fasta",
    ]  # no partial files
    assert file_sha256(dest) == good


def test_online_source_end_to_end_against_local_server(server, tmp_path):
    from mdmi.domains.protein.download import get_inputs

    ocfg = {
        "uniprot_url": server,
        "rcsb_url": server,
        "uniprot_query": None,
        "accessions": ["P1", "P2"],
        "max_sequences": 10,
        "structures": [],
        "checksums": {},
        "retries": 1,
        "timeout": 5,
        "backoff": 0,
    }
    info = get_inputs({"source": "online", "online": ocfg}, tmp_path / "raw")
    assert [e["file"] for e in info["sequences"]] == ["P1.fasta", "P2.fasta"]
    assert (tmp_path / "raw" / "sources.json").exists()


def hashlib_sha(b: bytes) -> str:
    import hashlib

    return hashlib.sha256(b).hexdigest()


def test_prepare_splits_and_lists_every_exclusion(tmp_path):
    from mdmi.domains.protein.prepare import prepare
    from mdmi.util.io import write_json

    raw = tmp_path / "raw"
    (raw / "sequences").mkdir(parents=True)
    (raw / "structures").mkdir()
    import random

    rng = random.Random(0)
    recs = [(f"s{k}", "".join(rng.choice(AMINO_ACIDS) for _ in range(60))) for k in range(20)]
    recs.append(("dup", recs[0][1]))
    recs.append(("odd", "MKXV" + recs[1][1][4:]))
    recs.append(("short", "MKV"))
    ubi = read_chain(BUNDLED / "structures" / "1ubi.pdb.gz", "A").sequence
    recs.append(("ubi_like", ubi))
    import shutil

    shutil.copy(BUNDLED / "structures" / "1ubi.pdb.gz", raw / "structures" / "1ubi.pdb.gz")
    shutil.copy(BUNDLED / "structures" / "5pti.cif.gz", raw / "structures" / "5pti.cif.gz")
    bpti = read_chain(BUNDLED / "structures" / "5pti.cif.gz", "A").sequence
    (raw / "sequences" / "x.fasta").write_text(
        "".join(f">{n}\n{s}\n" for n, s in recs + [("bpti_like", bpti)])
    )
    write_json(
        raw / "sources.json",
        {
            "source": "bundled",
            "sequences": [{"file": "x.fasta"}],
            "structures": [
                {"file": "1ubi.pdb.gz", "chain": "A"},
                {"file": "5pti.cif.gz", "chain": "A", "split": "val"},
            ],
        },
    )
    cfg = {
        "data": {
            "nonstandard": "exclude",
            "min_length": 50,
            "max_length": 300,
            "heldout_fraction": 0.2,
            "identity_kmer": 0.9,
            "family_identity": 0.9,
        },
        "tasks": {
            "inpaint": {"sequences": 2, "fractions": [0.2], "patterns": ["scattered"]},
            "unconditional": {"count": 1, "length": 30},
        },
    }
    summary = prepare(cfg, raw, tmp_path / "data", seed=0)
    import pandas as pd

    excl = pd.read_csv(tmp_path / "data" / "excluded.tsv", sep="\t")
    reasons = dict(zip(excl.record, excl.reason))
    assert reasons["odd"] == "non-standard residue" and "length" in reasons["short"]
    assert reasons["dup"] == "duplicate sequence"
    split = {
        s: {n for n, _ in read_fasta(tmp_path / "data" / f"{s}.fasta")[0]}
        for s in ("train", "val", "test")
    }
    assert (
        not (split["train"] & split["val"])
        and not (split["train"] & split["test"])
        and not (split["val"] & split["test"])
    )
    for twin in ("ubi_like", "bpti_like"):  # a test or val chain's twin never trains the model
        assert twin not in split["train"] and (
            "near-identical" in reasons.get(twin, "") or twin in split["val"] | split["test"]
        )
    near = sum("near-identical" in r for r in reasons.values())
    assert (
        summary["chains"] == ["1ubi_A"]
        and summary["train"] + summary["val"] + summary["test"] + near == 22
    )
    assert summary["val_chains"] == ["5pti_A"]
    from mdmi.util.io import read_json

    assert [c["name"] for c in read_json(tmp_path / "data" / "chains.json")] == ["1ubi_A"]
    assert [c["name"] for c in read_json(tmp_path / "data" / "val_chains.json")] == ["5pti_A"]
    from mdmi.domains.protein.domain import ProteinDomain

    task = ProteinDomain({"backbone": "fallback"}).load_task(tmp_path / "data", "val")
    assert list(task.meta.band) == ["scattered-20", "scattered-20", "unconditional"]
    lengths = [
        round(0.2 * len(seq)) for _, seq in read_fasta(tmp_path / "data" / "val.fasta")[0][:2]
    ]
    assert (task.target[2] == -1).all() and (task.init == MASK_ID).sum(-1)[:2].tolist() == lengths


def test_a_chain_that_is_no_row_is_threaded_through_its_nearest_member():
    """A member row with a substitution, a deletion and an insertion in the chain: the threaded row
    spells the chain, keeps the member's columns for aligned residues, and puts the inserted residues
    on no column; the exact row wins when there is one, and too distant a chain is in no family."""
    from mdmi.domains.protein.alignment import match_columns, residue_columns
    from mdmi.domains.protein.prepare import family_row, thread_row

    rng = __import__("random").Random(3)
    member = "".join(rng.choice(AMINO_ACIDS) for _ in range(80))
    row = "--" + member[:30] + "---" + member[30:] + "-"  # 86 match columns
    other = "-" * 86
    chain = (
        member[:10]
        + ("A" if member[10] != "A" else "C")
        + member[11:40]
        + member[42:60]
        + "GPG"
        + member[60:]
    )
    identity, threaded = thread_row(chain, row)
    assert len(match_columns(threaded)) == len(match_columns(row))
    cols, ref = residue_columns(threaded, chain), residue_columns(row, member)
    assert (cols[:40] == ref[:40]).all()  # substitution keeps its column
    assert (cols[40:58] == ref[42:60]).all()  # after the deletion
    assert (cols[58:61] == -1).all()  # the insertion has no column
    assert (cols[61:] == ref[60:]).all()
    assert match_columns(threaded)[ref[40]] == "-"  # the deleted member residue: a gap
    assert identity == pytest.approx((len(chain) - 4) / len(chain))
    aligned = {"fam.a2m": {"m": row, "o": other}}
    placed = family_row(chain, aligned, 0.9)
    assert (
        placed["family"] == "fam.a2m"
        and placed["template"] == "m"
        and placed["aligned_row"] == threaded
    )
    assert family_row(member, aligned, 0.9) == {"family": "fam.a2m", "aligned_row": row}
    assert family_row(chain, aligned, 0.99) == {}


def test_download_cli_offline_is_a_one_line_error(tmp_path):
    import subprocess
    import sys

    import yaml

    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["protein"]["data"]["source"] = "online"
    on = cfg["protein"]["data"]["online"]
    on.update(uniprot_url="http://127.0.0.1:9", rcsb_url="http://127.0.0.1:9", retries=0, timeout=2)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdmi",
            "data",
            "--config",
            str(path),
            "--domain",
            "protein",
            "--out",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
    )
    last = r.stderr.strip().splitlines()[-1]  # log lines (retries) come before the one error line
    assert r.returncode == 2 and last.startswith("mdmi data: error:") and "source: bundled" in last
    assert r.stderr.count("error:") == 1
    assert (
        not (tmp_path / "raw" / "sources.json").exists()
        and not (tmp_path / "data" / "MANIFEST.json").exists()
    )


def test_esmc_300m_config_without_weights_stops_with_one_line(tmp_path):
    """The paper configuration's model step, on a machine without the weights: a clear one-line error."""
    import os
    import subprocess
    import sys

    import yaml

    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["protein"]["backbone"] = "esmc_300m"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = tmp_path / "model.pt"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdmi",
            "-q",
            "train-mdm",
            "--config",
            str(path),
            "--domain",
            "protein",
            "--data",
            str(tmp_path),
            "--out",
            str(out),
            "--ckpt",
            str(tmp_path / "ck.pt"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (
        "esmc_300m" in r.stderr and "protein.weights" in r.stderr and "HF_HUB_OFFLINE" in r.stderr
    )
    assert not out.exists()


def test_knob_choice_rejects_degenerate_output_by_guards():
    import pandas as pd

    from mdmi.evaluate.report import choose_knobs

    rows = []
    for seq in range(4):
        rows.append(
            dict(
                method="sequential",
                knob="-",
                seq=seq,
                passes=40,
                label_passes=0,
                recovery=0.5,
                pppl=4.0,
                low_complexity=0.05,
            )
        )
        rows.append(
            dict(
                method="topk",
                knob="k=8",
                seq=seq,
                passes=5,
                label_passes=0,
                recovery=0.5,
                pppl=9.0,
                low_complexity=0.30,
            )
        )  # same recovery, degenerate sequences
        rows.append(
            dict(
                method="topk",
                knob="k=2",
                seq=seq,
                passes=20,
                label_passes=0,
                recovery=0.49,
                pppl=4.2,
                low_complexity=0.06,
            )
        )
    val = pd.DataFrame(rows)
    guards = {"pppl": {"max_ratio": 1.1}, "low_complexity": {"max_increase": 0.05}}
    assert choose_knobs(val, "recovery", 0.03)[0]["topk"] == "k=8"
    assert choose_knobs(val, "recovery", 0.03, guards)[0]["topk"] == "k=2"


def test_exact_mi_ignores_how_much_padding_a_batch_carries(model):
    """Clamped passes cut the padding a chunk shares; labels equal those of the unpadded state."""
    g = torch.Generator().manual_seed(3)
    short = torch.randint(0, 20, (1, 8), generator=g)
    short[0, [1, 5]] = MASK_ID
    long = torch.randint(0, 20, (1, 14), generator=g)
    long[0, [0, 7, 12]] = MASK_ID
    batch = torch.cat([torch.cat([short, torch.full((1, 6), PAD_ID)], 1), long])  # [2, 14]
    alone, _ = exact_mi_batch(model, short, max_batch=64)
    for chunk in (1, 7, 64):  # chunks holding one state, both, or parts of each
        mi, passes = exact_mi_batch(model, batch, max_batch=chunk)
        assert passes == (2 + 3) * 20
        assert torch.allclose(mi[0, :8, :8], alone[0], atol=1e-5)
        assert (mi[0, 8:] == 0).all() and (mi[0, :, 8:] == 0).all()


def test_inpainting_tasks_per_fraction_and_pattern():
    """One task per (sequence, fraction, pattern); contiguous masks are one span, scattered ones are not;
    the masked count is round(fraction x length) and only '#' differs from the native."""
    import random

    from mdmi.domains.protein.prepare import inpaint_positions, make_tasks

    seq = "ACDEFGHIKLMNPQRSTVWY" * 5  # 100 residues
    tcfg = {
        "inpaint": {
            "sequences": 2,
            "fractions": [0.15, 0.5],
            "patterns": ["scattered", "contiguous"],
        },
        "unconditional": {"count": 1, "length": 30},
    }
    df = make_tasks([("a", seq), ("b", seq[::-1]), ("c", seq)], tcfg, seed=3)
    assert len(df) == 2 * 2 * 2 + 1 and list(df.band[:4]) == [
        "scattered-15",
        "contiguous-15",
        "scattered-50",
        "contiguous-50",
    ]
    for row in df[df.band != "unconditional"].itertuples():
        pos = [i for i, c in enumerate(row.init) if c == "#"]
        assert len(pos) == round(int(row.band.split("-")[1]) / 100 * 100)
        assert all(row.init[i] == row.native[i] for i in range(row.length) if i not in pos)
        spans = sum(1 for k, i in enumerate(pos) if k == 0 or pos[k - 1] != i - 1)
        assert (spans == 1) == row.band.startswith("contiguous")  # 15 scattered of 100: >1 span
    rng = random.Random(0)
    assert len(inpaint_positions(10, 0.01, "contiguous", rng)) == 1  # at least one position
    assert inpaint_positions(10, 1.0, "contiguous", rng) == set(range(10))
    with pytest.raises(ValueError, match="pattern"):
        inpaint_positions(10, 0.5, "striped", rng)


@pytest.mark.parametrize("backbone", ["family", "fallback"])
def test_missing_tasks_name_the_data_step(tmp_path, backbone):
    """A split's tasks file that is not there (either sequence space) is a MissingInput naming the step to run."""
    from mdmi.domains import get_domain
    from mdmi.errors import MissingInput
    from mdmi.pipeline.config import domain_config

    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["protein"]["backbone"] = backbone
    dom = get_domain("protein", domain_config(cfg, "protein"))
    name = "family_val_tasks.tsv" if backbone == "family" else "val_tasks.tsv"
    with pytest.raises(
        MissingInput, match=f"{name} is missing: .*run it \\(snakemake --forcerun data\\)"
    ):
        dom.load_task(tmp_path, "val")
