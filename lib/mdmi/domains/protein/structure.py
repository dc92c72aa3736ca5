"""Protein chains from PDB / mmCIF files (biopython) and their residue contact maps.

Conventions (docs/method.md §5):
* The chain's sequence is its *observed* residues in file order (amino-acid residues with a C-alpha
  atom); gaps in residue numbering are not filled from SEQRES, so position k of the sequence is the
  k-th observed residue and sequence separation |i - j| counts observed residues.
* Modified residues: MSE (selenomethionine) -> M, SEC -> C, PYL -> K; any other non-standard
  amino-acid residue (a HETATM/ATOM residue with a C-alpha that is not one of these) follows the
  ``nonstandard`` policy: 'reject' raises, 'map'/'exclude' leave it out of the chain, listed in the log.
  Waters and ligands (no C-alpha) are not residues of the chain; an amino-acid residue without a
  C-alpha (unresolved backbone) is left out and listed in the log.
* Contact: C-beta distance < ``threshold`` angstrom (C-alpha for glycine, and for a residue whose
  C-beta is missing), counted only for |i - j| >= ``min_separation``.
"""

from __future__ import annotations

import gzip
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdmi.domains.protein.alphabet import AA_INDEX, ProteinDataError
from mdmi.errors import MissingInput

log = logging.getLogger(__name__)

THREE_TO_ONE = {
    "ALA": "A",
    "CYS": "C",
    "ASP": "D",
    "GLU": "E",
    "PHE": "F",
    "GLY": "G",
    "HIS": "H",
    "ILE": "I",
    "LYS": "K",
    "LEU": "L",
    "MET": "M",
    "ASN": "N",
    "PRO": "P",
    "GLN": "Q",
    "ARG": "R",
    "SER": "S",
    "THR": "T",
    "VAL": "V",
    "TRP": "W",
    "TYR": "Y",
    "MSE": "M",
    "SEC": "C",
    "PYL": "K",
}


@dataclass
class Chain:
    name: str  # '<file stem>_<chain id>', e.g. '1hpv_A'
    sequence: str  # observed residues, one letter each
    coords: np.ndarray  # float[L, 3]: C-beta (C-alpha for glycine / missing C-beta), angstrom
    residue_ids: list[str]  # author residue numbers (with insertion codes) of the observed residues
    cb_missing: int  # non-glycine residues that fell back to C-alpha


def structure_stem(path: str | Path) -> str:
    """File name without .gz and the structure suffix: '1hpv.pdb.gz' -> '1hpv'."""
    name = Path(path).name.removesuffix(".gz")
    for suffix in (".pdb", ".ent", ".cif", ".mmcif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _read_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt") as fh:
                return fh.read()
        return path.read_text()
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise ProteinDataError(f"{path}: cannot read structure file: {e}") from None


def load_structure(path: str | Path):
    """The first model of a PDB or mmCIF file (format from the suffix), as a biopython Model."""

    from Bio.PDB import MMCIFParser, PDBParser  # noqa: PLC0415
    from Bio.PDB.PDBExceptions import PDBConstructionWarning  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path}: structure file not found")
    text = _read_text(path)
    is_cif = any(
        structure_stem(path) + s == path.name.replace(".gz", "") for s in (".cif", ".mmcif")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PDBConstructionWarning)
        try:
            if is_cif:
                s = MMCIFParser(QUIET=True).get_structure(structure_stem(path), io.StringIO(text))
            else:
                if not any(line.startswith(("ATOM  ", "HETATM")) for line in text.splitlines()):
                    raise ProteinDataError(f"{path}: no ATOM/HETATM records; not a PDB file")
                s = PDBParser(QUIET=True, PERMISSIVE=False).get_structure(
                    structure_stem(path), io.StringIO(text)
                )
        except ProteinDataError:
            raise
        except Exception as e:  # biopython raises many types on malformed files
            kind = "mmCIF" if is_cif else "PDB"
            raise ProteinDataError(
                f"{path}: malformed {kind} file ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''})"
            ) from None
    models = list(s)
    if not models:
        raise ProteinDataError(f"{path}: no models in structure")
    return models[0]


def chain_ids(path: str | Path) -> list[str]:
    """Chains of the first model that have at least one amino-acid residue with a C-alpha."""
    model = load_structure(path)
    return [c.id for c in model if any("CA" in r and r.get_resname() in THREE_TO_ONE for r in c)]


def read_chain(path: str | Path, chain_id: str, policy: str = "reject") -> Chain:
    """One chain of a structure file (see the module docstring for the conventions)."""
    path = Path(path)
    model = load_structure(path)
    ids = [c.id for c in model]
    if chain_id not in ids:
        raise ProteinDataError(
            f"{path}: no chain {chain_id!r} (chains: {', '.join(repr(i) for i in ids)})"
        )
    seq, coords, res_ids, cb_missing, skipped, no_ca = [], [], [], 0, [], []
    for res in model[chain_id]:
        het, num, icode = res.id
        if het == "W":
            continue
        if "CA" not in res:
            if het == " " and res.get_resname().strip() in THREE_TO_ONE:
                no_ca.append(
                    f"{res.get_resname().strip()}{num}{icode.strip()}"
                )  # an amino acid without C-alpha
            continue
        name3 = res.get_resname().strip()
        letter = THREE_TO_ONE.get(name3)
        if letter is None:
            if het.startswith("H_") and "N" not in res:
                continue  # a ligand that happens to have an atom named CA (e.g. calcium)
            if policy == "reject":
                raise ProteinDataError(
                    f"{path} chain {chain_id}: non-standard residue {name3} {num}{icode.strip()}; "
                    "set protein.data.nonstandard to 'map' or 'exclude' to leave it out"
                )
            skipped.append(f"{name3}{num}")
            continue
        if letter == "G" or "CB" not in res:
            atom = res["CA"]
            cb_missing += letter != "G"
        else:
            atom = res["CB"]
        seq.append(letter)
        coords.append(atom.coord.astype(np.float64))
        res_ids.append(f"{num}{icode.strip()}")
    if not seq:
        raise ProteinDataError(
            f"{path} chain {chain_id}: no amino-acid residues with C-alpha atoms"
        )
    if skipped:
        log.warning(
            "%s chain %s: left out non-standard residues %s",
            path.name,
            chain_id,
            ", ".join(skipped),
        )
    if no_ca:
        log.warning(
            "%s chain %s: left out residues without a C-alpha atom: %s",
            path.name,
            chain_id,
            ", ".join(no_ca),
        )
    assert all(c in AA_INDEX for c in seq)
    return Chain(
        name=f"{structure_stem(path)}_{chain_id.strip()}",
        sequence="".join(seq),
        coords=np.stack(coords),
        residue_ids=res_ids,
        cb_missing=cb_missing,
    )


def distance_map(coords: np.ndarray) -> np.ndarray:
    """float[L, L] Euclidean distances between the rows of coords[L, 3]."""
    diff = coords[:, None, :] - coords[None, :, :]
    return np.sqrt((diff**2).sum(-1))


def separation_mask(L: int, min_separation: int) -> np.ndarray:
    """bool[L, L]: |i - j| >= min_separation."""
    idx = np.arange(L)
    return np.abs(idx[:, None] - idx[None, :]) >= min_separation


def contact_map(coords: np.ndarray, threshold: float = 8.0, min_separation: int = 6) -> np.ndarray:
    """bool[L, L] contacts: distance < threshold and |i - j| >= min_separation (symmetric)."""
    return (distance_map(coords) < threshold) & separation_mask(len(coords), min_separation)
