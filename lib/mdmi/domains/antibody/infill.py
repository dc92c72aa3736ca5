"""``python -m mdmi infill``: complete your own masked protein or antibody sequence with a pretrained masked LM.

    python -m mdmi infill "EVQLVESGGGLVQPGGSLRLSCAAS########MHWVRQAPGKGLEWVS"         # AntiBERTy, sequential
    python -m mdmi infill my_chains.fasta --method eb --knob gamma=1.5
    python -m mdmi infill seqs.fasta --method mi --estimator results/antibody/estimator/head.pt
    python -m mdmi infill "MKT##IAKQR" --source facebook/esm2_t6_8M_UR50D            # any HF masked LM

Masked positions are written ``#`` (or ``_``). Input: one sequence on the command line, or a FASTA file (plain or
gzipped; a byte-order mark and Windows line ends are fine). Letters are read as follows: lower case is upper-cased;
white space is dropped; one trailing ``*`` (a translated stop) is dropped; anything else that is not one of the 20
amino acids (an alignment gap ``-`` or ``.``, an inner ``*``, X, B, Z, J, U, O) is rejected in one line naming the
first position, with the fix (remove gaps; write ``#`` where the model should choose the residue). Prints each completion with its forward passes and time. A command the antibody domain declares
(``SPEC.commands``); the model is the config's ``antibody.backbone`` (AntiBERTy, checksum-checked) unless
``--source`` names another Hugging Face masked LM.
"""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path

from mdmi.core.decoding import decode
from mdmi.core.knobs import check_knobs, parse_knobs
from mdmi.domains.antibody.domain import pad_rows
from mdmi.domains.antibody.germlines import AMINO_ACIDS
from mdmi.errors import UsageError
from mdmi.models.hf_masked_lm import load_hf_masked_lm
from mdmi.pipeline.config import load_config
from mdmi.pipeline.shipped import REPO
from mdmi.train.estimator import load_estimator
from mdmi.util.device import pick_device

MASKS = "#_"
METHODS = ["sequential", "all-at-once", "topk", "threshold", "eb", "mi"]


def add_arguments(p) -> None:
    p.add_argument(
        "input",
        help="a sequence with # at the positions to fill, or a FASTA file of such sequences",
    )
    p.add_argument(
        "--method",
        default="sequential",
        choices=METHODS,
        help="decoder (default: one position per pass)",
    )
    p.add_argument(
        "--knob",
        action="append",
        help="decoder knob name=value (repeatable), e.g. --knob gamma=1.5",
    )
    p.add_argument(
        "--estimator",
        help="trained MI head for --method mi (results/antibody/estimator/head.pt after "
        "make paper; it must have been trained on the same model)",
    )
    p.add_argument(
        "--source",
        help="another Hugging Face masked LM: a hub id or a local folder (default: the "
        "config's antibody.backbone, AntiBERTy)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="config whose antibody.backbone to use (default config/default.yaml)",
    )
    p.add_argument(
        "--fill",
        default="argmax",
        choices=["argmax", "sample"],
        help="argmax, or sample at --temperature",
    )
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def read_input(text: str) -> list[tuple[str, str]]:
    """(name, sequence) pairs: a FASTA file (plain or gzipped) when ``text`` is an existing path, else one sequence.
    Upper-cased, whitespace removed; '_' read as '#'."""
    path = Path(text)
    if path.is_file():
        from Bio import SeqIO  # noqa: PLC0415

        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(
                path, "rt", encoding="utf-8-sig"
            ) as fh:  # a byte-order mark is not a letter
                records = [(r.id, str(r.seq)) for r in SeqIO.parse(fh, "fasta")]
        except (UnicodeDecodeError, OSError) as e:
            raise UsageError(
                f"{path}: not a readable FASTA text file ({type(e).__name__})"
            ) from None
        if not records:
            raise UsageError(
                f"{path}: no FASTA records (a '>name' line, then the sequence); or pass one sequence"
            )
    else:
        if any(c in text for c in "/\\") or text.endswith((".fa", ".fasta", ".gz")):
            raise UsageError(
                f"{text}: no such file; pass a FASTA file that exists, or a sequence with # to fill"
            )
        records = [("input", text)]
    out = []
    for name, seq in records:
        seq = "".join(seq.split()).upper().replace("_", "#")
        out.append((name, seq[:-1] if seq.endswith("*") else seq))  # a translated stop codon
    return out


WHY = {
    "-": "an alignment gap: remove gaps",
    ".": "an alignment gap: remove gaps",
    "*": "a stop inside the chain",
    "X": "an unknown residue: write # to let the model choose it",
    "B": "ambiguous (D or N): write # or the residue",
    "Z": "ambiguous (E or Q): write # or the residue",
    "J": "ambiguous (I or L): write # or the residue",
    "U": "selenocysteine, outside the model's 20 letters",
    "O": "pyrrolysine, outside the model's 20 letters",
}


def check_letters(name: str, seq: str, alphabet: str) -> None:
    """A UsageError naming the first letter the model cannot read (and the fix), or that nothing is
    to be filled; needs no model, so a bad input is refused before AntiBERTy is loaded."""
    if not seq:
        raise UsageError(f"{name}: empty sequence")
    bad = [(k + 1, a) for k, a in enumerate(seq) if a not in alphabet and a not in MASKS]
    if bad:
        k, a = bad[0]
        why = WHY.get(a, "not one of the 20 amino acids or # (a position to fill)")
        raise UsageError(
            f"{name}: {a!r} at position {k} is {why}; {len(bad)} such letter(s) in all"
        )
    if "#" not in seq:
        raise UsageError(f"{name}: nothing to fill; write # at the positions to complete")


def encode_checked(
    name: str, seq: str, alphabet: str, mask_id: int, max_length: int | None
) -> list[int]:
    """Token ids of one sequence, or a UsageError naming the first problem and the fix."""
    check_letters(name, seq, alphabet)
    if max_length is not None and len(seq) > max_length:
        raise UsageError(
            f"{name}: {len(seq)} residues, more than the model's {max_length}; infill a shorter segment"
        )
    return [mask_id if a == "#" else alphabet.index(a) for a in seq]


def run(args):

    knobs = check_knobs(
        args.method, parse_knobs(args.knob)
    )  # the options first: nothing loaded yet
    if args.method == "mi" and args.estimator is None:
        raise UsageError(
            "--method mi needs --estimator PATH (results/antibody/estimator/head.pt, after `make paper`)"
        )
    records = read_input(args.input)
    for name, seq in records:  # the letters before the model: a bad input is refused in seconds
        check_letters(name, seq, AMINO_ACIDS)
    if args.source:
        model = load_hf_masked_lm(args.source, AMINO_ACIDS)
    else:
        cfg = load_config(Path(args.config) if args.config else REPO / "config" / "default.yaml")
        if "antibody" not in cfg:
            raise UsageError(
                f"{args.config}: no antibody section; use a config of this project or --source"
            )
        b = cfg["antibody"]["backbone"]
        model = load_hf_masked_lm(
            b["source"],
            AMINO_ACIDS,
            int(b["hidden_layer"]),
            vocab=b.get("vocab"),
            sha256=b.get("sha256"),
        )
    limit = getattr(model.lm.config, "max_position_embeddings", None)
    limit = None if limit is None else int(limit) - 2
    rows = [encode_checked(name, seq, AMINO_ACIDS, model.mask_id, limit) for name, seq in records]
    device = pick_device(args.device)
    model = model.to(device)
    est = None
    if args.method == "mi":
        est = load_estimator(Path(args.estimator), device)
    tokens = pad_rows(rows, model.pad_id)
    t0 = time.perf_counter()
    res = decode(
        model,
        tokens,
        args.method,
        estimator=est,
        fill=args.fill,
        temperature=args.temperature,
        seed=args.seed,
        **knobs,
    )
    seconds = time.perf_counter() - t0
    for (name, seq), out, passes in zip(records, res.tokens.tolist(), res.passes.tolist()):
        done = "".join(AMINO_ACIDS[v] for v in out[: len(seq)])
        filled = seq.count("#")
        print(f">{name} filled={filled} passes={passes} method={args.method}")
        print(done)
    print(
        f"# {len(records)} sequence(s), {res.passes.float().mean():.2f} passes on average, {seconds:.2f} s "
        f"({getattr(model, 'label', 'model')})",
        file=sys.stderr,
    )
