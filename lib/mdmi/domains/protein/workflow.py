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

log = logging.getLogger(__name__)


def make_data(domain, out_dir: Path, threads: int = 1, repo: Path | None = None) -> None:
    from .download import get_inputs
    from .prepare import prepare
    cfg = domain.cfg
    data = dict(cfg["data"])
    if repo is not None:
        data["bundled_dir"] = str(Path(repo) / data["bundled_dir"])    # an absolute bundled_dir stays as it is
    raw = Path(out_dir).parent / "raw"
    get_inputs(data, raw)
    prepare(cfg, raw, Path(out_dir), cfg["seed"])


def shipped_inputs(section: dict, repo: Path) -> list[str]:
    """The bundled files the data step copies (so editing one reruns it); none for online data."""
    data = section["data"]
    if data.get("source") != "bundled":
        return []
    root = Path(repo) / data["bundled_dir"]
    return [str(root / f) for f in data["sequences"]] + [str(root / s["file"]) for s in data["structures"]]


def validate(section: dict, source: str) -> None:
    from ...config import ConfigError
    d = section["data"]
    if d["min_length"] > d["max_length"]:
        raise ConfigError(f"{source}: protein.data.min_length must be <= max_length")
    if d["source"] == "online" and "online" not in d:
        raise ConfigError(f"{source}: protein.data.source is 'online' but protein.data.online is missing")


def contacts(domain, model, head, data_dir: Path, out_dir: Path, cfg: dict, device, label: str) -> None:
    """Per chain: exact/learned MI maps and baselines vs contacts -> contacts.csv, cost.json, <chain>.npz."""
    from ...io import read_json, write_json, write_text
    from .contacts import analyse_chains
    chains = read_json(Path(data_dir) / "chains.json")
    rows, costs = analyse_chains(model, head, chains, domain.cfg["contacts"], cfg["seed"], label, out_dir)
    df = pd.DataFrame(rows)
    df["scale"] = cfg["scale"]
    write_json(Path(out_dir) / "cost.json", {"model": label, "chains": costs, **domain.cfg["contacts"]})
    write_text(Path(out_dir) / "contacts.csv", df.to_csv(index=False))
    for source, g in df.groupby("source", sort=False):
        log.info("%-10s P@L/5 %.3f  P@L %.3f  (chance %.3f)", source, g.p_at_L5.mean(), g.p_at_L.mean(), g.chance.mean())


CONTACT_CLAIM = "Proteins: MI maps recover residue contacts"


def claims(section: dict, context: dict, rules: dict, seed: int) -> list[dict]:
    """Exact MI's mean top-L/5 precision against ``contact_chance_ratio`` x the chance rate, over chains."""
    from ...report import claim_row
    from ...stats import interval, resample_weights, verdict
    contacts = context.get("tables", {}).get("contacts")
    if contacts is None:
        return []
    ratio = section["claims"]["contact_chance_ratio"]
    g = contacts.groupby("source", sort=False)[["p_at_L5", "p_at_L", "chance"]].mean()
    parts = [f"{src} P@L/5 {r.p_at_L5:.3f}, P@L {r.p_at_L:.3f}" for src, r in g.iterrows()]
    ex = contacts[contacts.source == "exact"].drop_duplicates("chain")
    if not len(ex):
        return [claim_row(CONTACT_CLAIM, "qualitative", "; ".join(parts), None, "", None)]
    w = resample_weights(len(ex), rules["bootstrap"], seed)
    p, c = ex.p_at_L5.to_numpy(float), ex.chance.to_numpy(float)
    est = interval(w, lambda m: m(p) / m(c), rules["level"])
    return [claim_row(CONTACT_CLAIM, "qualitative",
                      f"mean over {len(ex)} chains: " + "; ".join(parts) + f"; chance {np.mean(c):.3f}; "
                      f"exact P@L/5 / chance {est.text('.2f')}", est,
                      f"{100 * rules['level']:.0f}% CI (bootstrap over chains) of exact-MI P@L/5 / chance >= {ratio:g}",
                      verdict(est.low, est.high, ratio))]


def manifest_note(section: dict) -> str | None:
    if section["backbone"] == "fallback":
        return ("FALLBACK: a small ESM-C-architecture model trained on bundled data, not ESM-C 300M; every "
                "protein figure, table row and claim says so")
    return None
