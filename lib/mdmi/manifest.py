"""results/manifest.json: for each paper item its files, executed notebook, config and scale."""
from __future__ import annotations

from pathlib import Path

from .io import write_json

# paper item -> (notebook stem, output files relative to the results folder)
ITEMS = {
    "fig1": ("fig1_sudoku_mi", ["figures/fig1_sudoku_mi.png", "figures/fig1_sudoku_mi.pdf",
                                "sudoku/estimator/mi_by_relation.csv"]),
    "fig2": (None, []),
    "fig3": ("fig3_decoding", ["figures/fig3_decoding.png", "figures/fig3_decoding.pdf",
                               "tables/decoding_sweep.csv"]),
    "table1": ("table1_estimator", ["tables/table1.csv", "tables/table1.md"]),
    "table2": ("table2_decoding", ["tables/table2.csv", "tables/table2.md"]),
    "claims": ("claims", ["tables/claims.csv", "tables/claims.md"]),
}
NOT_YET = {"fig2": "protein MI vs contacts: not yet built (issue 3)"}


def expected_outputs() -> list[str]:
    """Every file the manifest lists, relative to the results folder (used by the DAG and tests)."""
    out = []
    for stem, files in ITEMS.values():
        out += files
        if stem:
            out += [f"notebooks/{stem}.ipynb", f"notebooks/{stem}.html"]
    return out


def write_manifest(path: Path, cfg: dict, config_path: str, results: Path) -> dict:
    items = {}
    for item, (stem, files) in ITEMS.items():
        entry = {"files": [str(results / f) for f in files], "config": str(config_path), "scale": cfg["scale"]}
        if stem:
            entry["notebook"] = str(results / "notebooks" / f"{stem}.ipynb")
            entry["html"] = str(results / "notebooks" / f"{stem}.html")
        else:
            entry["notebook"] = None
        if item in NOT_YET:
            entry["status"] = NOT_YET[item]
        else:
            missing = [f for f in entry["files"] + [entry["notebook"]] if not Path(f).exists()]
            if missing:
                raise FileNotFoundError(f"manifest: {missing[0]} is missing; run the workflow to produce it")
            entry["status"] = "done"
        items[item] = entry
    manifest = {"paper": "arXiv 2605.20187", "scale": cfg["scale"], "config": str(config_path),
                "seed": cfg["seed"], "items": items}
    write_json(path, manifest)
    return manifest
