"""From fetched inputs (see :mod:`.download`) to the protein datasets of the workflow.

Writes into ``<data>/``:

    train.fasta             sequences for training the fallback MDM
    val.fasta, test.fasta   held-out sequences (estimator states, decoding tasks)
    val_tasks.tsv, test_tasks.tsv
                            decoding tasks: inpainting (held-out sequences with each configured fraction
                            masked, '#' in ``init``, scattered or as one span: band e.g. ``contiguous-30``)
                            and unconditional generation (all masked)
    chains.json             structure chains for the contact analysis (``split: test``, the default): sequence,
                            C-beta coordinates, and (when the chain is a member of a bundled family alignment)
                            ``family`` (the alignment file) and ``aligned_row`` (its row there: the row that
                            spells it, or the nearest member's row threaded onto it, see :func:`family_row`)
    val_chains.json         the same for the chains with ``split: val``: where contact knobs are chosen
                            (``make ablation DOMAIN=protein``), never part of the paper's tables
    families.json           per family alignment among the sequence files: the match columns of its
                            training members (the alignment baseline of the contact analysis)
    family.json, family_{train,val,test}.fasta, family_{val,test}_tasks.tsv
                            the same members and tasks in the column space of the family model
                            (``backbone: family``): each member's row over the family alignment's kept
                            match columns (gap fraction among the training rows <= ``family_columns.max_gap``),
                            '-' for a gap; inpainting masks residues only, unconditional tasks every column
    excluded.tsv            every record left out, with the reason (never silently dropped)

Held-out sequences and chains (val and test) are kept out of training: a training record that is
nearly identical to a held-out sequence or a chain (>= ``identity_kmer`` of its 5-mers shared) is
moved out of the training set.
"""

from __future__ import annotations

import functools
import logging
import random
from pathlib import Path

import pandas as pd

from mdmi.domains.protein.alignment import match_columns, row_sequence
from mdmi.domains.protein.alphabet import AA_INDEX, ProteinDataError
from mdmi.domains.protein.sequences import (
    alignment_file,
    read_aligned_rows,
    read_fasta,
    write_fasta,
)
from mdmi.domains.protein.structure import chain_ids, read_chain
from mdmi.util.io import read_json, write_json, write_text

log = logging.getLogger(__name__)
KMER = 5


def _kmers(s: str) -> set[str]:
    return {s[i : i + KMER] for i in range(len(s) - KMER + 1)}


def near_identical(a: set[str], b: set[str], threshold: float) -> bool:
    """True if the smaller k-mer set shares >= threshold of its k-mers with the other."""
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= threshold


def load_chains(raw: Path, sources: dict, policy: str) -> list[tuple]:
    """[(chain, split)] of every structure entry of ``sources.json`` (split 'test' unless it says 'val')."""
    chains = []
    for entry in sources["structures"]:
        path = raw / "structures" / entry["file"]
        ids = [entry["chain"]] if entry.get("chain") is not None else chain_ids(path)
        for cid in ids:
            chains.append((read_chain(path, cid, policy), entry.get("split", "test")))
    names = [c.name for c, _ in chains]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ProteinDataError(f"duplicate chain names {dup}: list each structure file/chain once")
    return chains


def prepare(section: dict, raw: Path, out: Path, seed: int) -> dict:
    """Parse, filter and split the fetched inputs; returns a summary (also logged)."""
    data = section["data"]
    raw, out = Path(raw), Path(out)
    sources = read_json(raw / "sources.json")
    policy = data["nonstandard"]
    excluded = []
    records = []
    for entry in sources["sequences"]:
        recs, excl = read_fasta(raw / "sequences" / entry["file"], policy)
        excluded += [(entry["file"], n, "non-standard residue") for n in excl]
        records += [(n, s) for n, s in recs]
    lo, hi = data["min_length"], data["max_length"]
    kept = []
    for n, s in records:
        if not lo <= len(s) <= hi:
            excluded.append(("sequences", n, f"length {len(s)} outside [{lo}, {hi}]"))
        else:
            kept.append((n, s))
    seen, uniq = set(), []
    for n, s in kept:
        if s in seen:
            excluded.append(("sequences", n, "duplicate sequence"))
        else:
            seen.add(s)
            uniq.append((n, s))
    chains = load_chains(raw, sources, policy)
    rng = random.Random(seed)
    order = list(range(len(uniq)))
    rng.shuffle(order)
    n_held = max(2, int(round(data["heldout_fraction"] * len(uniq))))
    if len(uniq) - n_held < 2:
        raise ProteinDataError(
            f"only {len(uniq)} usable sequences after filtering; need more than {n_held + 2} "
            "(check protein.data.sequences, min_length/max_length)"
        )
    held = [uniq[i] for i in order[:n_held]]
    val, test = held[: n_held // 2], held[n_held // 2 :]
    protect = [_kmers(s) for _, s in held] + [_kmers(c.sequence) for c, _ in chains]
    train = []
    for i in order[n_held:]:
        n, s = uniq[i]
        k = _kmers(s)
        if any(near_identical(k, p, data["identity_kmer"]) for p in protect):
            excluded.append(
                ("sequences", n, "near-identical to a held-out sequence or structure chain")
            )
        else:
            train.append((n, s))
    write_fasta(out / "train.fasta", train)
    write_fasta(out / "val.fasta", val)
    write_fasta(out / "test.fasta", test)
    for offset, (split, recs) in enumerate((("val", val), ("test", test)), start=1):
        write_text(
            out / f"{split}_tasks.tsv",
            make_tasks(recs, section["tasks"], seed * 1_000 + offset).to_csv(sep="\t", index=False),
        )
    aligned = {
        e["file"]: read_aligned_rows(raw / "sequences" / e["file"])
        for e in sources["sequences"]
        if alignment_file(raw / "sequences" / e["file"])
    }
    train_names = {n for n, _ in train}
    families = {
        f: [match_columns(r) for n, r in rows.items() if n in train_names]
        for f, rows in aligned.items()
    }
    write_json(out / "families.json", {f: rows for f, rows in families.items() if rows})
    write_family_columns(
        out, aligned, families, {"train": train, "val": val, "test": test}, section, seed
    )
    for split, file in (("test", "chains.json"), ("val", "val_chains.json")):
        write_json(
            out / file,
            [
                {
                    "name": c.name,
                    "sequence": c.sequence,
                    "coords": c.coords.round(3).tolist(),
                    "residue_ids": c.residue_ids,
                    "cb_missing": c.cb_missing,
                    **family_row(c.sequence, aligned, float(data["family_identity"]), c.name),
                }
                for c, s in chains
                if s == split
            ],
        )
    write_text(
        out / "excluded.tsv",
        pd.DataFrame(excluded, columns=["file", "record", "reason"]).to_csv(sep="\t", index=False),
    )
    summary = {
        "source": sources["source"],
        "train": len(train),
        "val": len(val),
        "test": len(test),
        "chains": [c.name for c, s in chains if s == "test"],
        "val_chains": [c.name for c, s in chains if s == "val"],
        "excluded": len(excluded),
    }
    for file, name, reason in excluded:
        log.info("excluded %s:%s (%s)", file, name, reason)
    log.info("protein data: %s", summary)
    return summary


def kept_columns(rows: list[str], max_gap: float) -> list[int]:
    """The match columns (indices) whose gap fraction among ``rows`` (match columns only) is <= max_gap."""
    n = len(rows)
    return [
        c for c in range(len(rows[0])) if sum(r[c] not in AA_INDEX for r in rows) / n <= max_gap
    ]


def column_row(aligned_row: str, columns: list[int]) -> str:
    """A member's row over the kept columns: its residue there, '-' for a gap (or a non-standard letter)."""
    cols = match_columns(aligned_row)
    return "".join(cols[c] if cols[c] in AA_INDEX else "-" for c in columns)


def write_family_columns(
    out: Path,
    aligned: dict[str, dict[str, str]],
    families: dict[str, list[str]],
    splits: dict[str, list],
    section: dict,
    seed: int,
) -> None:
    """The family model's data: the first alignment with training members (``families``: file -> their match
    columns), its kept columns and every split's members (and tasks) over them; nothing when no sequence
    file is an alignment."""
    file = next((f for f, members in families.items() if members), None)
    if file is None:
        return
    members, rows = families[file], aligned[file]
    max_gap = float(section["data"]["family_columns"]["max_gap"])
    columns = kept_columns(members, max_gap)
    if len(columns) < 2:
        raise ProteinDataError(
            f"{file}: only {len(columns)} match columns have at most {max_gap:g} gaps; raise "
            f"protein.data.family_columns.max_gap"
        )
    write_json(
        out / "family.json",
        {"family": file, "match_columns": len(members[0]), "columns": columns, "max_gap": max_gap},
    )
    for offset, (split, recs) in enumerate(splits.items()):
        fam = [(n, column_row(rows[n], columns)) for n, _ in recs if n in rows]
        write_fasta(out / f"family_{split}.fasta", fam)
        if split != "train":
            tasks = make_tasks(
                fam, section["tasks"], seed * 1_000 + offset, unconditional_length=len(columns)
            )
            write_text(out / f"family_{split}_tasks.tsv", tasks.to_csv(sep="\t", index=False))
    log.info(
        "family model data: %s, %d of %d match columns (gap fraction <= %g)",
        file,
        len(columns),
        len(members[0]),
        max_gap,
    )


def family_row(
    sequence: str, aligned: dict[str, dict[str, str]], min_identity: float, name: str = ""
) -> dict:
    """{'family': file, 'aligned_row': row} placing a chain in a bundled alignment: the first row that
    spells ``sequence`` (inserts upper-cased, gaps dropped), else the row of the member most identical
    to it, when that identity is >= ``min_identity``, threaded onto the chain (:func:`thread_row`);
    {} when the chain is in no bundled alignment."""
    for file, rows in aligned.items():
        for row in rows.values():
            if row_sequence(row) == sequence:
                return {"family": file, "aligned_row": row}
    best = (0.0, None, None, None)
    for file, rows in aligned.items():
        for member, row in rows.items():
            identity, threaded = thread_row(sequence, row)
            if identity > best[0]:
                best = (identity, file, member, threaded)
    identity, file, member, threaded = best
    if file is None or identity < min_identity:
        return {}
    log.info(
        "chain %s: read through member %s of %s (%.0f%% identical; rows threaded)",
        name,
        member,
        file,
        100 * identity,
    )
    return {
        "family": file,
        "aligned_row": threaded,
        "template": member,
        "template_identity": round(identity, 4),
    }


@functools.lru_cache(maxsize=1)
def _aligner():
    """The global aligner of :func:`thread_row` (built once: a chain is aligned to every member)."""
    from Bio.Align import PairwiseAligner, substitution_matrices  # noqa: PLC0415

    return PairwiseAligner(
        mode="global",
        substitution_matrix=substitution_matrices.load("BLOSUM62"),
        open_gap_score=-10.0,
        extend_gap_score=-0.5,
        end_gap_score=0.0,
    )


def thread_row(sequence: str, row: str) -> tuple[float, str]:
    """(identity, row) for a chain that is not a row of the alignment: ``sequence`` aligned globally
    (BLOSUM62, free end gaps) to the member whose aligned ``row`` is given; each chain residue takes the
    place of the member residue it is aligned to (upper case on a match column, lower case on an
    insert), a member residue without a partner becomes a gap ('-' on a match column, dropped on an
    insert), and chain residues without a partner become inserts (lower case). Identity: identical
    aligned pairs over the chain's length. The returned row spells ``sequence`` (as
    :func:`.alignment.residue_columns` reads it) and keeps the member's match columns."""
    template = row_sequence(row)
    if not template or not sequence:
        return 0.0, ""
    pairs = (
        _aligner().align(sequence, template)[0].aligned
    )  # blocks of (chain, member) aligned ranges
    partner, same = {}, 0  # member residue -> chain residue
    for (c0, c1), (t0, _) in zip(*pairs):
        for k in range(c1 - c0):
            partner[t0 + k] = c0 + k
            same += sequence[c0 + k] == template[t0 + k]
    out, t, c = [], 0, 0  # t: member residue, c: next chain residue
    for ch in row:
        if ch in "-.":
            if ch == "-":
                out.append("-")
            continue
        k = partner.get(t)
        if k is not None:
            out.append(sequence[c:k].lower())  # chain residues before k without a partner
            out.append(sequence[k] if ch.isupper() else sequence[k].lower())
            c = k + 1
        elif ch.isupper():
            out.append("-")
        t += 1
    out.append(sequence[c:].lower())
    return same / max(1, len(sequence)), "".join(out)


def inpaint_band(pattern: str, fraction: float) -> str:
    """The band of an inpainting task: its mask pattern and percentage, e.g. ``contiguous-30``."""
    return f"{pattern}-{round(100 * fraction)}"


def inpaint_positions(length: int, fraction: float, pattern: str, rng: random.Random) -> set[int]:
    """The masked positions of one inpainting task: round(fraction x length) of them (at least one),
    drawn at random (``scattered``) or as one span at a random start (``contiguous``)."""
    k = max(1, int(round(fraction * length)))
    if pattern == "scattered":
        return set(rng.sample(range(length), k))
    if pattern == "contiguous":
        start = rng.randrange(length - k + 1)
        return set(range(start, start + k))
    raise ValueError(f"unknown inpainting pattern {pattern!r}")


def make_tasks(
    records: list[tuple[str, str]], tcfg: dict, seed: int, unconditional_length: int | None = None
) -> pd.DataFrame:
    """Inpainting tasks: for each of the first ``inpaint.sequences`` records, one task per masked
    fraction and pattern (band ``<pattern>-<percent>``) over its residues (a '-' gap of a column-space
    row is never masked and does not count); then ``unconditional.count`` all-masked sequences of
    ``unconditional.length`` (or ``unconditional_length``: a family's fixed number of columns)."""
    rng = random.Random(seed)
    rows = []
    inp = tcfg["inpaint"]
    for name, seq in records[: inp["sequences"]]:
        residues = [i for i, c in enumerate(seq) if c != "-"]
        if not residues:  # a member with only gaps on the kept columns has nothing to inpaint
            continue
        for fraction in inp["fractions"]:
            for pattern in inp["patterns"]:
                pos = {
                    residues[k] for k in inpaint_positions(len(residues), fraction, pattern, rng)
                }
                init = "".join("#" if i in pos else c for i, c in enumerate(seq))
                rows.append(
                    {
                        "name": name,
                        "band": inpaint_band(pattern, fraction),
                        "length": len(seq),
                        "init": init,
                        "native": seq,
                    }
                )
    unc = tcfg["unconditional"]
    length = unconditional_length or unc["length"]
    for k in range(unc["count"]):
        rows.append(
            {
                "name": f"uncond_{k}",
                "band": "unconditional",
                "length": length,
                "init": "#" * length,
                "native": "",
            }
        )
    return pd.DataFrame(rows)
