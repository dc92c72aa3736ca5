"""The 20 standard amino acids as token ids 0..19, and the handling of non-standard letters.

Non-standard residue letters are never dropped silently. ``policy`` (config ``data.nonstandard``):

* ``reject``  - any letter outside the 20 raises :class:`ProteinDataError` naming the record;
* ``map``     - U->C (selenocysteine), O->K (pyrrolysine), B->D, Z->E, J->L; anything else
  (X, *, digits) still raises;
* ``exclude`` - a record with a non-standard letter is left out; the caller logs and lists it.
"""

from __future__ import annotations

import torch

from mdmi.errors import MdmiError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
AA_INDEX = {a: i for i, a in enumerate(AMINO_ACIDS)}
NONSTANDARD_MAP = {"U": "C", "O": "K", "B": "D", "Z": "E", "J": "L"}
POLICIES = ("reject", "map", "exclude")


class ProteinDataError(MdmiError, ValueError):
    """Malformed or unusable protein input (FASTA, PDB/mmCIF, residue letters)."""


def clean_sequence(seq: str, name: str, policy: str = "reject") -> str | None:
    """Upper-cased sequence of the 20 standard letters, or None if ``policy`` is 'exclude' and
    the record has a non-standard letter. Alignment gaps ('-', '.') must be removed before."""
    if policy not in POLICIES:
        raise ProteinDataError(
            f"unknown non-standard residue policy {policy!r}; use one of {', '.join(POLICIES)}"
        )
    s = seq.strip().upper()
    if policy == "map":
        s = "".join(NONSTANDARD_MAP.get(c, c) for c in s)
    bad = sorted({c for c in s if c not in AA_INDEX})
    if bad:
        if policy == "exclude":
            return None
        first = next(i for i, c in enumerate(s) if c not in AA_INDEX)
        raise ProteinDataError(
            f"record {name!r}: non-standard residue {s[first]!r} at position {first + 1} "
            f"(letters {''.join(bad)}); set protein.data.nonstandard to 'map' or 'exclude'"
        )
    if not s:
        raise ProteinDataError(f"record {name!r}: empty sequence")
    return s


def encode(seq: str) -> torch.Tensor:
    """LongTensor[L] of ids 0..19 for a clean sequence."""
    return torch.tensor([AA_INDEX[c] for c in seq], dtype=torch.long)


def to_letters(ids) -> str:
    """Sequence string for ids 0..19 (other ids, e.g. mask or padding, are left out)."""
    return "".join(
        AMINO_ACIDS[i] for i in (ids.tolist() if hasattr(ids, "tolist") else ids) if 0 <= i < 20
    )


def pad_batch(seqs: list[str], pad_id: int) -> torch.Tensor:
    """LongTensor[N, max L] of encoded sequences, right-padded with ``pad_id``."""
    L = max(len(s) for s in seqs)
    out = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    for k, s in enumerate(seqs):
        out[k, : len(s)] = encode(s)
    return out
