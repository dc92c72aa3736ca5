"""The family model (backbone family): a masked Potts model over alignment columns, its data in column
space, and how chains and mask designs are read through it."""

import numpy as np
import pytest
import torch

from mdmi.core.mi import exact_mi_batch
from mdmi.domains.protein.family_model import GAP_ID, MASK_ID, FamilyPottsMDM
from mdmi.domains.protein.mimap import mask_states


def brute_logits(model: FamilyPottsMDM, tokens: torch.Tensor) -> torch.Tensor:
    """logits_i(a) = h_i(a) + sum over visible j != i of J[i, a, j, state_j], term by term."""
    J = model.couplings().detach()
    B, C = tokens.shape
    out = model.field.detach().expand(B, C, 20).clone()
    for b in range(B):
        for i in range(C):
            for j in range(C):
                t = int(tokens[b, j])
                if j != i and t != MASK_ID:
                    out[b, i] += J[i, :, j, 20 if t == GAP_ID else t]
    return out


@pytest.mark.parametrize("rank", [0, 3])
def test_logits_are_the_potts_conditional(rank):
    torch.manual_seed(0)
    m = FamilyPottsMDM(5, rank, penalty=0.1)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
    tokens = torch.tensor([[0, MASK_ID, GAP_ID, 7, MASK_ID], [MASK_ID] * 5, [19, 3, 3, GAP_ID, 1]])
    logits, hidden = m(tokens)
    assert logits.shape == (3, 5, 20) and hidden.shape == (3, 5, 20)
    assert torch.allclose(logits, brute_logits(m, tokens), atol=1e-4)
    # a column's own token never enters its own conditional
    other = tokens.clone()
    other[0, 0] = 5
    assert torch.allclose(m(other)[0][0, 0], logits[0, 0], atol=1e-5)
    # input cut short (trailing padding removed by the core) reads as gaps there
    short = m(tokens[:, :3])[0]
    padded = m(torch.cat([tokens[:, :3], torch.full((3, 2), GAP_ID)], 1))[0][:, :3]
    assert torch.allclose(short, padded, atol=1e-6)
    with pytest.raises(ValueError, match="columns"):
        m(torch.zeros(1, 6, dtype=torch.long))


def test_penalty_is_the_gaussian_prior():
    m = FamilyPottsMDM(4, 2, penalty=0.5)
    expect = 0.5 * (m.U.square().sum() + m.V.square().sum() + 0.01 * m.field.square().sum())
    assert torch.allclose(m.penalty(), expect)
    full = FamilyPottsMDM(4, 0, penalty=0.5)
    assert torch.allclose(full.penalty(), torch.tensor(0.0))
    c = FamilyPottsMDM(
        4, 3, penalty=0.5, prior="couplings"
    )  # |U V^T|^2 (every block, as at full rank)
    expect = 0.5 * ((c.U @ c.V.T).square().sum() + 0.01 * c.field.square().sum())
    assert torch.allclose(c.penalty(), expect, rtol=1e-5)
    with pytest.raises(ValueError, match="prior"):
        FamilyPottsMDM(4, 3, penalty=0.5, prior="nuclear")


def test_exact_mi_reads_the_coupled_pair_only():
    """Columns 0 and 2 coupled, column 1 free, column 3 a visible gap: the model's exact MI of the all-masked
    state is positive for (0, 2) and zero wherever a free column is involved."""
    m = FamilyPottsMDM(4, 0, penalty=0.0)
    with torch.no_grad():
        J = torch.zeros(4, 20, 4, 21)
        J[0, :, 2, :20] = 2.0 * torch.eye(20)
        J[2, :, 0, :20] = 2.0 * torch.eye(20)
        m.J.copy_(J.view(80, 84))
    state = torch.tensor([[MASK_ID, MASK_ID, MASK_ID, GAP_ID]])
    mi, _ = exact_mi_batch(m, state, max_batch=64)
    mi = mi[0]
    assert mi[0, 2] > 0.05 and torch.allclose(mi[0, 2], mi[2, 0], atol=1e-5)
    assert abs(float(mi[0, 1])) < 1e-5 and abs(float(mi[1, 2])) < 1e-5
    assert float(m.coupling_norms()[0, 2]) > 0 and float(m.coupling_norms()[0, 1]) == 0


def test_mask_states_never_mask_padding():
    tokens = torch.tensor([1, 2, GAP_ID, 3, 4, GAP_ID, 5, 6])
    for design, kw in (
        ("all", {}),
        ("groups", {"groups": 3}),
        ("random", {"fraction": 0.5, "rounds": 4}),
    ):
        states = mask_states(
            tokens, design, MASK_ID, torch.Generator().manual_seed(0), pad=GAP_ID, **kw
        )
        assert (states[:, [2, 5]] == GAP_ID).all()
        if design != "random":  # every pair of real positions is masked together somewhere
            real = [0, 1, 3, 4, 6, 7]
            both = [
                (states[:, i] == MASK_ID) & (states[:, j] == MASK_ID)
                for i in real
                for j in real
                if i < j
            ]
            assert all(b.any() for b in both)


def test_identity_weights_down_weight_redundant_rows():
    from mdmi.train.mdm import identity_weights

    x = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 4], [5, 6, 7, 8]])
    assert torch.allclose(identity_weights(x, 0.75), torch.tensor([0.5, 0.5, 1.0]))
    assert torch.allclose(identity_weights(x, 1.0), torch.ones(3))


def test_columns_rows_and_tasks_in_column_space():
    from mdmi.domains.protein.prepare import column_row, kept_columns, make_tasks

    rows = ["AC-D", "A--D", "ACE-", "ACXD"]  # match columns; X counts as a gap
    assert (
        kept_columns(rows, 0.2) == [0]
        and kept_columns(rows, 0.25) == [0, 1, 3]
        and kept_columns(rows, 0.75) == [0, 1, 2, 3]
    )
    assert column_row("aA.C-dD", [0, 1, 2]) == "AC-"  # inserts (lower case, '.') are no columns
    seq = "AC-DE--FGHIK-LM"
    tcfg = {
        "inpaint": {"sequences": 1, "fractions": [0.5], "patterns": ["scattered", "contiguous"]},
        "unconditional": {"count": 1, "length": 30},
    }
    df = make_tasks([("a", seq)], tcfg, seed=0, unconditional_length=len(seq))
    residues = [i for i, c in enumerate(seq) if c != "-"]
    for row in df[df.band != "unconditional"].itertuples():
        pos = [i for i, c in enumerate(row.init) if c == "#"]
        assert len(pos) == round(0.5 * len(residues)) and set(pos) <= set(residues)
        assert all(row.init[i] == "-" for i in range(len(seq)) if seq[i] == "-")
    contiguous = [i for i, c in enumerate(df.init[1]) if c == "#"]
    assert (
        contiguous == residues[residues.index(contiguous[0]) :][: len(contiguous)]
    )  # consecutive residues
    assert df.init.iloc[-1] == "#" * len(seq)


def test_chain_read_through_its_aligned_row(tmp_path):
    """A family chain enters the model as its row over the kept columns; residues on inserts or dropped
    columns get no position; scores come back per residue with NaN there."""
    from mdmi.domains.protein.contacts import on_residues
    from mdmi.domains.protein.domain import ProteinDomain
    from mdmi.util.io import write_json

    write_json(
        tmp_path / "family.json",
        {"family": "f.a2m", "match_columns": 5, "columns": [0, 2, 3, 4], "max_gap": 0.5},
    )
    dom = ProteinDomain({"backbone": "family"})
    read = dom.chain_reader(tmp_path)
    chain = {"name": "x", "sequence": "MKWVE", "family": "f.a2m", "aligned_row": "MkW-.VE"}
    # residues M K W V E -> match columns 0, insert, 1, 3, 4 -> kept positions 0, -1, -1, 2, 3 (column 1 dropped)
    tokens, index = read(chain)
    assert index.tolist() == [0, -1, -1, 2, 3]
    assert tokens.tolist() == [
        AMINO("M"),
        GAP_ID,
        AMINO("V"),
        AMINO("E"),
    ]  # column 2 is a gap in this row
    assert read({**chain, "family": "other.a2m"}) is None
    scores = np.arange(16, dtype=float).reshape(4, 4)
    res = on_residues(scores, index)
    assert np.isnan(res[1]).all() and res[0, 3] == scores[0, 2] and res[4, 0] == scores[3, 0]


def AMINO(a: str) -> int:
    from mdmi.domains.protein.alphabet import AMINO_ACIDS

    return AMINO_ACIDS.index(a)


def test_family_tasks_load_with_visible_gaps(tmp_path):
    import pandas as pd

    from mdmi.domains.protein.domain import ProteinDomain

    pd.DataFrame(
        [
            {"name": "a", "band": "scattered-50", "length": 4, "init": "A#-#", "native": "AC-D"},
            {
                "name": "uncond_0",
                "band": "unconditional",
                "length": 4,
                "init": "####",
                "native": "",
            },
        ]
    ).to_csv(tmp_path / "family_val_tasks.tsv", sep="\t", index=False)
    task = ProteinDomain({"backbone": "family"}).load_task(tmp_path, "val")
    assert task.init[0].tolist() == [AMINO("A"), MASK_ID, GAP_ID, MASK_ID]
    assert (
        task.target[0].tolist() == [AMINO("A"), AMINO("C"), GAP_ID, AMINO("D")]
        and (task.target[1] == -1).all()
    )


def test_val_contacts_read_planted_couplings_on_the_val_chain_only(tmp_path):
    """The ablation's validation scores (``val_contacts``): a full-coupling family model whose only
    couplings join the residue pairs in contact in the val chain (bovine trypsin 1GBT, a row of the
    bundled alignment) reads those contacts back from its exact MI; the test chains are not scored,
    and without val chains there are no scores."""
    from pathlib import Path

    from conftest import resolved_config
    from mdmi.domains import get_domain
    from mdmi.domains.protein.claims import val_contacts
    from mdmi.domains.protein.structure import contact_map
    from mdmi.pipeline.config import domain_config
    from mdmi.util.io import read_json

    repo = Path(__file__).resolve().parents[2]
    cfg = resolved_config(repo / "config" / "ci.yaml")
    cfg["protein"]["data"]["structures"] = [
        {"file": "trypsin/1a0j.pdb.gz", "chain": "A"},
        {"file": "trypsin/1gbt.cif.gz", "chain": "A", "split": "val"},
    ]
    cfg["protein"]["contacts"]["baselines"] = ["alignment"]
    domain = get_domain("protein", domain_config(cfg, "protein"))
    data = tmp_path / "data"
    domain.make_data(data, repo=repo)
    (chain,) = read_json(data / "val_chains.json")
    assert chain["name"] == "1gbt_A" and [c["name"] for c in read_json(data / "chains.json")] == [
        "1a0j_A"
    ]
    tokens, index = domain.chain_reader(data)(chain)
    C = len(read_json(data / "family.json")["columns"])
    model = FamilyPottsMDM(C, 0, penalty=0.0)
    contacts = contact_map(np.asarray(chain["coords"]), 8.0, 6)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for a, b in zip(*np.nonzero(np.triu(contacts))):
            i, j = int(index[a]), int(index[b])
            if i >= 0 and j >= 0:
                block = torch.randn(20, 20, generator=gen)
                model.J.view(C, 20, C, 21)[i, :, j, :20] = block
                model.J.view(C, 20, C, 21)[j, :, i, :20] = block.T
    scores = val_contacts(domain, model.eval(), data, tmp_path / "abl", seed=0)
    assert scores["val_chains"] == 1 and scores["val_exact_apc"] > 0.8
    assert (
        0.0 <= scores["val_alignment_apc"] <= 1.0
        and (tmp_path / "abl" / "val_maps" / "1gbt_A.npz").exists()
    )
    (data / "val_chains.json").write_text("[]")
    assert val_contacts(domain, model, data, tmp_path / "abl2", seed=0) == {}
