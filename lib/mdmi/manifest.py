"""results/manifest.json: for each paper item its files, executed notebook, config and scale."""
from __future__ import annotations

from pathlib import Path

from .errors import MissingInput
from .io import write_json

# paper item -> (notebook stem, output files relative to the results folder, domain or None for both)
ITEMS = {
    "fig1": ("fig1_sudoku_mi", ["figures/fig1_sudoku_mi.png", "figures/fig1_sudoku_mi.pdf",
                                "sudoku/estimator/mi_by_relation.csv"], "sudoku"),
    "fig2": ("fig2_protein_mi", ["figures/fig2_protein_mi.png", "figures/fig2_protein_mi.pdf",
                                 "tables/contacts.csv"], "protein"),
    "fig3": ("fig3_decoding", ["figures/fig3_decoding.png", "figures/fig3_decoding.pdf",
                               "tables/decoding_sweep.csv"], None),
    "table1": ("table1_estimator", ["tables/table1.csv", "tables/table1.md"], None),
    "table2": ("table2_decoding", ["tables/table2.csv", "tables/table2.md"], None),
    "claims": ("claims", ["tables/claims.csv", "tables/claims.md"], None),
}


def expected_outputs(domains=("sudoku", "protein")) -> list[str]:
    """Every file the manifest lists for a run of ``domains``, relative to the results folder."""
    out = []
    for stem, files, domain in ITEMS.values():
        if domain is None or domain in domains:
            out += files + [f"notebooks/{stem}.ipynb", f"notebooks/{stem}.html"]
    return out


def write_manifest(path: Path, cfg: dict, config_path: str, results: Path) -> dict:
    items = {}
    for item, (stem, files, domain) in ITEMS.items():
        entry = {"files": [str(results / f) for f in files], "config": str(config_path), "scale": cfg["scale"],
                 "notebook": str(results / "notebooks" / f"{stem}.ipynb"),
                 "html": str(results / "notebooks" / f"{stem}.html")}
        if domain is not None and domain not in cfg["domains"]:
            entry["status"] = f"not run: domain {domain!r} is not in this config's domains"
        else:
            missing = [f for f in entry["files"] + [entry["notebook"]] if not Path(f).exists()]
            if missing:
                raise MissingInput(f"manifest: {missing[0]} is missing; run the workflow to produce it")
            entry["status"] = "done"
        items[item] = entry
    manifest = {"paper": "arXiv 2605.20187", "scale": cfg["scale"], "config": str(config_path),
                "seed": cfg["seed"], "domains": cfg["domains"], "items": items}
    if "protein" in cfg["domains"] and cfg["protein"]["backbone"] == "fallback":
        manifest["protein_model"] = ("FALLBACK: a small ESM-C-architecture model trained on bundled data, "
                                     "not ESM-C 300M; every protein figure, table row and claim says so")
    write_json(path, manifest)
    return manifest
