"""What the protein domain declares to the workflow: its data step, the contact analysis and its claims.

- data (``make_data``): the bundled copy (or an online download) of the configured family alignment
  and structures into ``<out>/../raw``, then splits, decoding tasks and structure chains into ``<out>``
- analysis ``contacts``: exact and learned MI maps per structure chain vs its contacts, with
  baselines (``contacts.analyse_chains``)
- claim: exact-MI top-L/5 precision over chance (``protein.claims.contact_chance_ratio``)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mdmi.domains.protein.contacts import ALL, analyse_chains
from mdmi.domains.protein.download import get_inputs
from mdmi.domains.protein.prepare import prepare
from mdmi.errors import MissingInput
from mdmi.evaluate.report import claim_row
from mdmi.util.io import read_json, write_json, write_text
from mdmi.util.stats import interval, resample_weights, verdict

log = logging.getLogger(__name__)


def make_data(domain, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
    cfg = domain.cfg
    data = dict(cfg["data"])
    if repo is not None:
        data["bundled_dir"] = str(
            Path(repo) / data["bundled_dir"]
        )  # an absolute bundled_dir stays as it is
    raw = Path(out_dir).parent / "raw"
    get_inputs(data, raw)
    prepare(cfg, raw, Path(out_dir), cfg["seed"])


def contacts(
    domain, model, head, data_dir: Path, out_dir: Path, cfg: dict, device, label: str
) -> None:
    """Per chain: exact/learned MI maps and baselines vs contacts -> contacts.csv, cost.json, <chain>.npz."""
    chains = read_json(Path(data_dir) / "chains.json")
    fam_path = Path(data_dir) / "families.json"
    if not fam_path.exists():
        raise MissingInput(
            f"{fam_path} is missing: the data step predates the family baseline; rerun it "
            f"(snakemake --forcerun data)"
        )
    families = read_json(fam_path)
    rows, costs = analyse_chains(
        model,
        head,
        chains,
        families,
        domain.cfg["contacts"],
        cfg["seed"],
        label,
        out_dir,
        trained_on_families=not domain.pretrained,
        positions=domain.chain_reader(data_dir),
    )
    df = pd.DataFrame(rows)
    df["scale"] = cfg["scale"]
    write_json(
        Path(out_dir) / "cost.json", {"model": label, "chains": costs, **domain.cfg["contacts"]}
    )
    write_text(Path(out_dir) / "contacts.csv", df.to_csv(index=False))
    for (fam, rng, source), g in df.groupby(["in_family", "range", "source"], sort=False):
        if rng in (ALL, "long"):
            log.info(
                "%-13s %-4s in_family=%-5s P@L/5 %.3f  P@L %.3f  (chance %.3f, %d chains)",
                source,
                rng,
                fam,
                g.p_at_L5.mean(),
                g.p_at_L.mean(),
                g.chance.mean(),
                len(g),
            )


def val_contacts(domain, model, data_dir: Path, out_dir: Path, seed: int) -> dict:
    """Ablation scores of a variant (``DomainSpec.ablation_scores``): mean top-L/5 precision of the claims'
    MI source (``claims.contact_source``, exact MI with APC by default), over all pairs and long range, on
    the val chains of the family (``split: val`` structures), with the alignment baseline's on the same
    chains; {} without such chains. Where the family model's contact knobs are chosen: the test chains
    stay out of every choice."""
    path = Path(data_dir) / "val_chains.json"
    chains = read_json(path) if path.exists() else []
    if not chains:
        return {}
    families = read_json(Path(data_dir) / "families.json")
    rows, _ = analyse_chains(
        model,
        None,
        chains,
        families,
        domain.cfg["contacts"],
        seed,
        "ablation",
        Path(out_dir) / "val_maps",
        progress=False,
        trained_on_families=not domain.pretrained,
        positions=domain.chain_reader(data_dir),
    )
    df = pd.DataFrame(rows)
    df = df[df.in_family.astype(bool)]
    if not len(df):
        return {}
    src = domain.cfg["claims"]["contact_source"]
    out = {"val_chains": int(df.chain.nunique())}
    for source, rng, key in (
        (src, ALL, f"val_{src}"),
        (src, "long", f"val_{src}_long"),
        ("alignment_apc", ALL, "val_alignment_apc"),
    ):
        g = df[(df.source == source) & (df.range == rng)]
        if len(g):
            out[key] = float(g.p_at_L5.mean())
    return out


CONTACT_CLAIM = "Proteins: MI maps recover residue contacts"
FAMILY_CLAIM = "Proteins: model MI maps match the family alignment's column MI"


def judged_chains(contacts: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The chains a contact claim is judged on: those of the family the model was trained on when there
    are any (a family model says nothing about other folds), else all; range 'all' only."""
    df = contacts[contacts["range"] == ALL] if "range" in contacts else contacts
    if "in_family" in df and df.in_family.astype(bool).any():
        return df[df.in_family.astype(bool)], "in-family chains"
    return df, "chains"


FEW = "; inconclusive with fewer than 2 chains (one chain gives no interval)"


def judged(est, threshold: float, n: int) -> str:
    return verdict(est.low, est.high, threshold) if n >= 2 else "inconclusive"


def claims(section: dict, context: dict, rules: dict, seed: int) -> list[dict]:
    """Contact claims over chains, each with a bootstrap interval over chains:
    the configured MI source's mean top-L/5 precision against ``contact_chance_ratio`` x chance, and
    (when the alignment baseline was computed) its precision minus the alignment column MI's."""
    contacts = context.get("tables", {}).get("contacts")
    if contacts is None:
        return []
    c = section["claims"]
    ratio, src = c["contact_chance_ratio"], c["contact_source"]
    df, who = judged_chains(contacts)
    g = df.groupby("source", sort=False)[["p_at_L5", "p_at_L", "chance"]].mean()
    parts = [f"{s} P@L/5 {r.p_at_L5:.3f}, P@L {r.p_at_L:.3f}" for s, r in g.iterrows()]
    ex = df[df.source == src].drop_duplicates("chain").set_index("chain")
    if not len(ex):
        return [claim_row(CONTACT_CLAIM, "qualitative", "; ".join(parts), None, "", None)]
    level = f"{100 * rules['level']:.0f}% CI (bootstrap over {who})"
    w = resample_weights(len(ex), rules["bootstrap"], seed)
    p, ch = ex.p_at_L5.to_numpy(float), ex.chance.to_numpy(float)
    est = interval(w, lambda m: m(p) / m(ch), rules["level"])
    out = [
        claim_row(
            CONTACT_CLAIM,
            "qualitative",
            f"mean over {len(ex)} {who}: " + "; ".join(parts) + f"; chance {np.mean(ch):.3f}; "
            f"{src} P@L/5 / chance {est.text('.2f')}",
            est,
            f"{level} of {src} P@L/5 / chance >= {ratio:g}{FEW}",
            judged(est, ratio, len(ex)),
        )
    ]
    base = df[df.source == "alignment_apc"].drop_duplicates("chain").set_index("chain")
    both = ex.index.intersection(base.index)
    if len(both):
        w = resample_weights(len(both), rules["bootstrap"], seed + 1)
        d = ex.loc[both, "p_at_L5"].to_numpy(float) - base.loc[both, "p_at_L5"].to_numpy(float)
        est = interval(w, lambda m: m(d), rules["level"])
        margin = c["alignment_margin"]
        out.append(
            claim_row(
                FAMILY_CLAIM,
                "not in the paper (offline family model)",
                f"{src} P@L/5 - alignment column MI (APC) P@L/5 over {len(both)} {who}: "
                f"{est.text('+.3f')}",
                est,
                f"{level} of the paired difference >= -{margin:g}{FEW}",
                judged(est, -margin, len(both)),
            )
        )
    return out


def manifest_note(section: dict) -> str | None:
    if section["backbone"] == "family":
        return (
            "FALLBACK: a family model, a masked Potts model over the bundled family alignment's columns, trained here, not "
            "ESM-C 300M; it reads only chains of its family; every protein figure, table row and claim says so"
        )
    if section["backbone"] == "fallback":
        return (
            "FALLBACK: a family MDM (ESM-C architecture) trained here on the bundled family, not ESM-C 300M; every "
            "protein figure, table row and claim says so"
        )
    return None
