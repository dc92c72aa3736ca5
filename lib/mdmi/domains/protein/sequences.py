"""Reading protein sequences (FASTA, A2M/aligned FASTA, optionally gzipped) with biopython."""
from __future__ import annotations

import gzip
from pathlib import Path

from ...errors import MissingInput
from .alphabet import ProteinDataError, clean_sequence


def _open(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_fasta(path: str | Path, policy: str = "reject") -> tuple[list[tuple[str, str]], list[str]]:
    """Records of a FASTA / A2M file as (name, sequence) with alignment gaps removed.

    A2M lower-case insert columns are real residues and are kept (upper-cased). Returns
    (records, excluded record names). Raises :class:`ProteinDataError` on a file that is not
    FASTA, has an empty record, or (policy 'reject'/'map') a non-standard letter.
    """
    from Bio import SeqIO
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path}: sequence file not found")
    try:
        with _open(path) as fh:
            first = ""
            for line in fh:
                if line.strip():
                    first = line.strip()
                    break
        if not first.startswith(">"):
            raise ProteinDataError(f"{path}: not a FASTA file (first non-empty line {first[:40]!r} does not start "
                                   "with '>'); give FASTA or A2M records")
        with _open(path) as fh:
            raw = [(r.id, str(r.seq)) for r in SeqIO.parse(fh, "fasta")]
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise ProteinDataError(f"{path}: cannot read as (gzipped) FASTA: {e}") from None
    records, excluded, seen = [], [], set()
    for name, seq in raw:
        seq = seq.replace("-", "").replace(".", "")
        if not seq.strip():
            raise ProteinDataError(f"{path}: record {name!r} has an empty sequence")
        s = clean_sequence(seq, f"{path.name}:{name}", policy)
        if s is None:
            excluded.append(name)
            continue
        if name in seen:
            raise ProteinDataError(f"{path}: duplicate record name {name!r}; names must be unique")
        seen.add(name)
        records.append((name, s))
    if not records:
        raise ProteinDataError(f"{path}: no usable sequence records")
    return records, excluded


def write_fasta(path: str | Path, records: list[tuple[str, str]]) -> None:
    from ...io import write_text
    write_text(path, "".join(f">{n}\n{s}\n" for n, s in records))
