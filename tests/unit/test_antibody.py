"""The antibody domain (lib/mdmi/domains/antibody): germline chains split by gene, tasks, IMGT relations,
the output-distribution comparison, and `python -m mdmi infill` on AntiBERTy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from mdmi.domains.antibody.germlines import (
    design_chain,
    gene_group,
    germline_chains,
    join,
    region_of,
)

AA = "ACDEFGHIKLMNPQRSTVWY"


@pytest.fixture(scope="module")
def chains():
    return germline_chains(["human", "mouse"], ["H", "K", "L"], seed=0, val=0.15, test=0.15)


def test_join_keeps_imgt_positions():
    v = "QV-Q" + "-" * 124
    j = "-" * 125 + "WGQ"
    seq, pos = join(v, j)
    assert seq == "QVQWGQ" and pos == (1, 2, 4, 126, 127, 128)
    assert [region_of(p) for p in (26, 27, 38, 39, 104, 105, 117, 118)] == [
        "FR1",
        "CDR1",
        "CDR1",
        "FR2",
        "FR3",
        "CDR3",
        "CDR3",
        "FR4",
    ]


def test_genes_never_cross_splits(chains):
    split = {}
    for c in chains:
        key = (c.species, gene_group(c.v))
        assert split.setdefault(key, c.split) == c.split, key
        assert all(a in AA for a in c.sequence)
        assert (
            c.sequence[c.positions.index(23)] == "C" and c.sequence[c.positions.index(104)] == "C"
        )
    assert {c.split for c in chains} == {"train", "val", "test"}
    assert len({c.sequence for c in chains}) == len(chains)


def test_tasks_mask_what_their_band_says(chains):
    from mdmi.domains.antibody.domain import AntibodyDomain

    cfg = {
        "seed": 0,
        "tasks": {
            "chains": 4,
            "cdrs": ["CDR1", "CDR2"],
            "cdr3_lengths": [9],
            "inpaint_fractions": [0.1],
        },
    }
    d = AntibodyDomain(cfg)
    test = [c for c in chains if c.split == "test"]
    df = d.tasks(test, 4, np.random.default_rng(0))
    assert len(df) == 4 * len(d.bands()) and set(df.band) == {
        "cdr1",
        "cdr2",
        "cdr3-9",
        "inpaint-10",
    }
    assert set(df.chain) >= {"H"} and (df.chain != "H").sum() == 2 * len(
        d.bands()
    )  # half heavy, half light
    by = {c.name: c for c in test}
    for r in df.itertuples():
        c = by[r.name]
        if r.band == "cdr1":
            assert r.masked == len(c.span("CDR1")) and r.native == c.sequence
        if r.band == "cdr3-9":
            assert r.masked == 9 and r.native == "" and "#" * 9 in r.init
    seq, pos, idx = design_chain(test[0], 12)
    assert seq.count("#") == 12 and [seq[k] for k in idx] == ["#"] * 12 and len(pos) == len(seq)


def test_region_pairs_and_js_divergence():
    from mdmi.domains.antibody.claims import js_divergence
    from mdmi.domains.antibody.domain import region_pairs

    positions = (27, 28, 40, 56, 57)  # CDR1, CDR1, FR2, CDR2, CDR2
    p = region_pairs(positions, np.array([True, True, True, True, False]))
    rel = {(int(a), int(b)): r for a, b, r in zip(p.i, p.j, p.relation)}
    assert rel == {
        (0, 1): "within CDR",
        (0, 2): "CDR-FR",
        (0, 3): "CDR-CDR",
        (1, 2): "CDR-FR",
        (1, 3): "CDR-CDR",
        (2, 3): "CDR-FR",
    }
    a = np.array([3.0, 1.0, 0.0])
    assert js_divergence(a, a) == pytest.approx(0.0)
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(np.log(2))


def infill(*args):
    return subprocess.run(
        [sys.executable, "-m", "mdmi", "infill", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("EVQLVESGGGLVQPGGSLRLSCAAS", "nothing to fill"),
        ("EVQLVE#GGJLVQ", "'J' at position 10 is ambiguous"),
        ("EVQL-VE#GG", "'-' at position 5 is an alignment gap"),
        ("EVQL*VE#GG", "'*' at position 5 is a stop inside the chain"),
        ("EVQLXVE#GG", "'X' at position 5 is an unknown residue: write #"),
        ("missing/file.fasta", "no such file"),
    ],
)
def test_infill_rejects_bad_sequences_in_one_line(text, message):
    r = infill(text)
    assert r.returncode == 2 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_infill_completes_a_chain_one_position_per_pass(tmp_path):
    fasta = tmp_path / "h.fasta"
    # trastuzumab VH with CDR-H2 (IMGT 56-65) masked; a BOM and CRLF line ends, as editors write them
    lines = [
        "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVAR########YADSVKGRFTISADTSKNTAYLQ",
        "MNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS",
    ]
    fasta.write_bytes(("\ufeff>tras_h2\r\n" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    r = infill(str(fasta), "--method", "sequential")
    assert r.returncode == 0, r.stderr
    head, seq = r.stdout.strip().splitlines()
    assert (
        head.startswith(">tras_h2 filled=8 passes=8")
        and "#" not in seq
        and len(seq) == len("".join(lines))
    )
    assert seq.startswith("EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVAR")
    r = infill(str(fasta), "--method", "eb", "--knob", "gamma=100")
    assert r.returncode == 0 and "passes=1 " in r.stdout


def test_quality_scores_a_native_completion(chains):
    import pandas as pd
    import yaml

    from mdmi.domains.antibody.domain import AntibodyDomain, encode, pad_rows
    from mdmi.domains.base import Task
    from mdmi.pipeline.config import CONFIG_DIR

    section = yaml.safe_load((CONFIG_DIR / "base.yaml").read_text())["antibody"]
    d = AntibodyDomain(section)
    model = d.build_model()
    c = next(c for c in chains if c.split == "test")
    span = set(c.span("CDR2"))
    init = pad_rows([encode("".join("#" if k in span else a for k, a in enumerate(c.sequence)))])
    target = pad_rows([encode(c.sequence)])
    task = Task("t", init, target, pd.DataFrame({"band": ["cdr2"]}))
    q = d.quality(target.clone(), task, model)
    assert q.recovery[0] == 1.0 and q.filled[0] == "".join(c.sequence[k] for k in sorted(span))
    assert -3.0 < q.pll[0] < 0.0
    worse = target.clone()
    worse[0, sorted(span)] = AA.index("W")
    assert d.quality(worse, task, model).pll[0] < q.pll[0]
    assert torch.equal(init[0] == 20, torch.tensor([k in span for k in range(len(c.sequence))]))


def test_infill_reads_sequences_as_users_have_them():
    """Lower case is upper-cased, white space and one trailing stop dropped, '_' is a mask: the documented policy."""
    from mdmi.domains.antibody.germlines import AMINO_ACIDS
    from mdmi.domains.antibody.infill import encode_checked, read_input

    [(name, seq)] = read_input("evql ves_g gglv*")
    assert (name, seq) == ("input", "EVQLVES#GGGLV")
    ids = encode_checked(name, seq, AMINO_ACIDS, 99, None)
    assert ids[7] == 99 and ids[0] == AMINO_ACIDS.index("E")
