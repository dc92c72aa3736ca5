"""results/manifest.json: for each paper item its files, executed notebook, config and scale.

The shared items (Figure 3, Tables 1-2, claims) come from every run; each domain adds its own figures
(``DomainSpec.figures``), listed as not run when a config leaves the domain out.
"""

from __future__ import annotations

from pathlib import Path

from mdmi.domains import get_spec, registry
from mdmi.errors import MissingInput
from mdmi.util.io import write_json

# shared paper items: item -> (notebook stem, output files relative to the results folder)
SHARED = {
    "fig3": (
        "fig3_decoding",
        ["figures/fig3_decoding.png", "figures/fig3_decoding.pdf", "tables/decoding_sweep.csv"],
    ),
    "table1": ("table1_estimator", ["tables/table1.csv", "tables/table1.md"]),
    "table2": (
        "table2_decoding",
        [
            "tables/table2.csv",
            "tables/table2.md",
            "tables/frontier.csv",
            "tables/frontier.md",
            "tables/knob_choice.csv",
        ],
    ),
    "claims": ("claims", ["tables/claims.csv", "tables/claims.md"]),
}


def items(domains=None) -> dict:
    """item -> (notebook stem, files relative to results, domain or None): the registered domains'
    figures (all of them when ``domains`` is None), then the shared items."""
    out = {}
    for name, spec in registry().items():
        if domains is not None and name not in domains:
            continue
        for fig in spec.figures:
            files = [f"figures/{fig.stem}.png", f"figures/{fig.stem}.pdf", *fig.files]
            out[fig.item] = (fig.stem, files, name)
    out.update({k: (stem, files, None) for k, (stem, files) in SHARED.items()})
    return out


def expected_outputs(domains) -> list[str]:
    """Every file the manifest lists for a run of ``domains``, relative to the results folder."""
    out = []
    for stem, files, _ in items(domains).values():
        out += files + [f"notebooks/{stem}.ipynb", f"notebooks/{stem}.html"]
    return out


def write_manifest(path: Path, cfg: dict, config_path: str, results: Path) -> dict:
    entries = {}
    for item, (stem, files, domain) in items().items():
        entry = {
            "files": [str(results / f) for f in files],
            "config": str(config_path),
            "scale": cfg["scale"],
            "notebook": str(results / "notebooks" / f"{stem}.ipynb"),
            "html": str(results / "notebooks" / f"{stem}.html"),
        }
        if domain is not None and domain not in cfg["domains"]:
            entry["status"] = f"not run: domain {domain!r} is not in this config's domains"
        else:
            missing = [f for f in entry["files"] + [entry["notebook"]] if not Path(f).exists()]
            if missing:
                raise MissingInput(
                    f"manifest: {missing[0]} is missing; run the workflow to produce it"
                )
            entry["status"] = "done"
        entries[item] = entry
    manifest = {
        "paper": "arXiv 2605.20187",
        "scale": cfg["scale"],
        "config": str(config_path),
        "seed": cfg["seed"],
        "domains": cfg["domains"],
        "items": entries,
    }
    notes = {}
    for name in cfg["domains"]:
        spec = get_spec(name)
        note = spec.manifest_note(cfg[name]) if spec.manifest_note else None
        if note:
            notes[name] = note
    if notes:
        manifest["model_notes"] = notes
    write_json(path, manifest)
    return manifest
