"""Reading protein sequences (FASTA, A2M/aligned FASTA, optionally gzipped) with biopython."""

from __future__ import annotations

import gzip
from pathlib import Path

from mdmi.domains.protein.alphabet import AA_INDEX, ProteinDataError, clean_sequence
from mdmi.errors import MissingInput
from mdmi.util.io import write_text


def _open(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


ALIGNMENT_SUFFIXES = (".a2m", ".a3m", ".afa", ".afasta")


def alignment_file(path: Path) -> bool:
    """An alignment by its name (``.a2m``, ``.a3m``, ``.afa``, ``.afasta``, optionally ``.gz``)."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.lower().endswith(ALIGNMENT_SUFFIXES)


def read_fasta(path: str | Path, policy: str = "reject") -> tuple[list[tuple[str, str]], list[str]]:
    """Records of a FASTA / A2M file as (name, sequence) with alignment gaps removed.

    A2M lower-case insert columns are real residues and are kept (upper-cased). Returns
    (records, excluded record names). Raises :class:`ProteinDataError` on a file that is not
    FASTA, has an empty record, a duplicate name, ragged rows (an alignment file, see
    :func:`alignment_file`), or (policy 'reject'/'map') a non-standard letter.
    """
    from Bio import SeqIO  # noqa: PLC0415

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
            raise ProteinDataError(
                f"{path}: not a FASTA file (first non-empty line {first[:40]!r} does not start "
                "with '>'); give FASTA or A2M records"
            )
        with _open(path) as fh:
            raw = [(r.id, str(r.seq)) for r in SeqIO.parse(fh, "fasta")]
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise ProteinDataError(f"{path}: cannot read as (gzipped) FASTA: {e}") from None
    if alignment_file(path):  # every row has the same number of match columns (upper case or '-')
        widths = [(name, sum(1 for ch in seq if ch == "-" or ch.isupper())) for name, seq in raw]
        bad = next(((n, w) for n, w in widths if w != widths[0][1]), None)
        if bad:
            raise ProteinDataError(
                f"{path}: ragged alignment: record {bad[0]!r} has {bad[1]} match columns, "
                f"{widths[0][0]!r} has {widths[0][1]}; fix the alignment or give unaligned FASTA"
            )
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


def read_aligned_rows(path: str | Path) -> dict[str, str]:
    """{record name: aligned row as written} of an alignment file (A2M: upper case and '-' are match
    columns, lower case and '.' inserts); checked as :func:`read_fasta` checks it."""
    from Bio import SeqIO  # noqa: PLC0415

    path = Path(path)
    read_fasta(path, "map")  # the same checks (FASTA, ragged rows, empty records)
    with _open(path) as fh:
        return {r.id: str(r.seq) for r in SeqIO.parse(fh, "fasta")}


def write_fasta(path: str | Path, records: list[tuple[str, str]]) -> None:
    write_text(path, "".join(f">{n}\n{s}\n" for n, s in records))


def read_columns(path: str | Path) -> list[tuple[str, str]]:
    """[(name, row)] of a column-space FASTA written by the data step (``family_*.fasta``): rows of equal
    length over the 20 amino acids and '-' (a gap)."""
    from Bio import SeqIO  # noqa: PLC0415

    path = Path(path)
    with _open(path) as fh:
        rows = [(r.id, str(r.seq)) for r in SeqIO.parse(fh, "fasta")]
    if not rows:
        raise ProteinDataError(f"{path}: no records")
    if len({len(s) for _, s in rows}) != 1:
        raise ProteinDataError(
            f"{path}: rows of different lengths; a column-space file has one length (rerun the data step)"
        )
    bad = sorted({c for _, s in rows for c in s if c != "-" and c not in AA_INDEX})
    if bad:
        raise ProteinDataError(
            f"{path}: letters {bad} outside the 20 amino acids and '-' (rerun the data step)"
        )
    return rows
