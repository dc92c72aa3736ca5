"""Antibody variable domains assembled from IMGT germline genes (ANARCI's ``anarci.germlines``).

ANARCI (Dunbar & Deane 2016, BSD licence; pip package ``anarci``) ships the IMGT germline V and J genes of
heavy, kappa and lambda chains, each IMGT-gapped to 128 positions. A germline chain is a V gene joined to a
J gene by IMGT position: the V gene's residues, then the J gene's residues at the positions the V gene
leaves empty (the CDR3 end and framework 4). Every residue keeps its IMGT position, so its region is known:

    FR1 1-26 · CDR1 27-38 · FR2 39-55 · CDR2 56-65 · FR3 66-104 · CDR3 105-117 · FR4 118-128

(Lefranc et al. 2003, Dev Comp Immunol 27:55.) Gene groups (a gene's alleles together, ``IGHV1-18*01`` and
``*03``) are split into train / val / test by a seeded hash, so no allele of a test gene is ever seen by the
estimator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from mdmi.errors import MdmiError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
REGIONS = (
    ("FR1", 1, 26),
    ("CDR1", 27, 38),
    ("FR2", 39, 55),
    ("CDR2", 56, 65),
    ("FR3", 66, 104),
    ("CDR3", 105, 117),
    ("FR4", 118, 128),
)
CHAIN_TYPES = {"H": "heavy", "K": "kappa", "L": "lambda"}


class GermlineError(MdmiError, ValueError):
    """The germline set cannot give what the config asks (a species or chain type ANARCI does not have,
    too few genes for a split)."""


def region_of(position: int) -> str:
    """IMGT region name of an IMGT position (1..128)."""
    for name, lo, hi in REGIONS:
        if lo <= position <= hi:
            return name
    raise ValueError(f"IMGT position {position} outside 1..128")


@dataclass(frozen=True)
class Chain:
    """One germline variable domain: ``sequence`` (one letter per residue) with each residue's IMGT
    ``positions``; ``v``/``j`` gene names, ``species``, ``chain`` type (H/K/L) and ``split``."""

    name: str
    v: str
    j: str
    species: str
    chain: str
    sequence: str
    positions: tuple[int, ...]
    split: str

    def regions(self) -> list[str]:
        return [region_of(p) for p in self.positions]

    def span(self, region: str) -> list[int]:
        """Residue indices (0-based) of an IMGT region."""
        return [k for k, p in enumerate(self.positions) if region_of(p) == region]


def join(v_gapped: str, j_gapped: str, last_v: int = 128) -> tuple[str, tuple[int, ...]]:
    """(sequence, IMGT positions) of V joined to J: V's residues at positions <= ``last_v``, then J's residues at
    positions after the last of those. Gapped strings have one character per IMGT position 1..128."""
    seq, pos = [], []
    for p, a in enumerate(v_gapped[:last_v], start=1):
        if a != "-":
            seq.append(a)
            pos.append(p)
    end = pos[-1] if pos else 0
    for p, a in enumerate(j_gapped, start=1):
        if p > end and a != "-":
            seq.append(a)
            pos.append(p)
    return "".join(seq), tuple(pos)


def gene_group(name: str) -> str:
    """``IGHV1-18*01`` -> ``IGHV1-18``: the alleles of a gene share a group (and a split)."""
    return name.split("*")[0]


def split_of(species: str, group: str, seed: int, val: float, test: float) -> str:
    """train / val / test of a gene group, from a seeded hash (stable whatever else is in the set)."""
    h = int(hashlib.sha256(f"{seed}:{species}:{group}".encode()).hexdigest()[:12], 16) / 16**12
    return "test" if h < test else "val" if h < test + val else "train"


def _usable(v: str) -> bool:
    """A complete, standard V gene: the two conserved cysteines (IMGT 23 and 104), tryptophan 41, every
    residue one of the 20 and at most 3 of FR1's first 5 positions missing (no truncated sequencing)."""
    if len(v) < 104 or v[22] != "C" or v[103] != "C" or v[40] != "W":
        return False
    residues = v.replace("-", "")
    return all(a in AMINO_ACIDS for a in residues) and v[:5].count("-") <= 3


def germline_chains(
    species: list[str], chains: list[str], seed: int, val: float, test: float
) -> list[Chain]:
    """Every usable V allele of the given species and chain types, each joined to a J gene of its species and
    chain type drawn by a seeded generator; duplicates of the same sequence kept once. Sorted by name."""
    from anarci.germlines import all_germlines  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    out, seen = [], set()
    for ch in chains:
        for sp in species:
            vs = all_germlines["V"].get(ch, {}).get(sp)
            js = all_germlines["J"].get(ch, {}).get(sp)
            if not vs or not js:
                raise GermlineError(
                    f"ANARCI has no {CHAIN_TYPES.get(ch, ch)} {'V' if not vs else 'J'} genes of "
                    f"{sp!r}; choose species/chains it has (see anarci.germlines)"
                )
            j_names = sorted(js)
            for v_name in sorted(vs):
                v = vs[v_name]
                if not _usable(v):
                    continue
                j_name = j_names[int(rng.integers(len(j_names)))]
                seq, pos = join(v, js[j_name])
                if seq in seen:
                    continue
                seen.add(seq)
                out.append(
                    Chain(
                        f"{sp}|{v_name}|{j_name}",
                        v_name,
                        j_name,
                        sp,
                        ch,
                        seq,
                        pos,
                        split_of(sp, gene_group(v_name), seed, val, test),
                    )
                )
    return sorted(out, key=lambda c: c.name)


def design_chain(chain: Chain, cdr3_length: int) -> tuple[str, tuple[int, ...], list[int]]:
    """The chain with its CDR3 (IMGT 105-117) replaced by ``cdr3_length`` positions to design: returns the
    sequence with '#' at those positions, the IMGT positions (designed ones numbered 105, 106, ... and capped
    at 117, IMGT's insertions are not numbered here) and their indices."""
    before = [(a, p) for a, p in zip(chain.sequence, chain.positions) if p < 105]
    after = [(a, p) for a, p in zip(chain.sequence, chain.positions) if p > 117]
    loop = [("#", min(105 + k, 117)) for k in range(cdr3_length)]
    parts = before + loop + after
    return (
        "".join(a for a, _ in parts),
        tuple(p for _, p in parts),
        list(range(len(before), len(before) + cdr3_length)),
    )
