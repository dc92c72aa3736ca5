"""Proteins: ESM-C (or a small ESM-C-architecture model trained here on a family) as the MDM; MI maps
vs residue contacts. What the domain declares to the workflow (docs/extending.md explains each field)."""

from __future__ import annotations

from pathlib import Path

import yaml

from mdmi.domains.base import Analysis, DomainSpec, Figure, lazy

_CLAIMS = f"{__name__}.claims"


SPEC = DomainSpec(
    name="protein",
    title="Proteins",
    make=lazy(f"{__name__}.domain", "ProteinDomain"),
    schema=yaml.safe_load((Path(__file__).with_name("schema.yaml")).read_text()),
    stage_keys={
        "tasks": "data",
        "backbone": "model",
        "weights": "model",
        "hf": "model",
        "hidden_layer": "model",
        "contacts": "analysis",
        "quality": "decode",
        "claims": "tables",
        "ablation": "none",
    },
    shipped_inputs=lazy(_CLAIMS, "shipped_inputs"),
    validate=lazy(_CLAIMS, "validate"),
    paper_passes=(15.3, None, "test tasks"),
    analyses=(Analysis("contacts", lazy(_CLAIMS, "contacts")),),
    claims=lazy(_CLAIMS, "claims"),
    ablation_scores=lazy(_CLAIMS, "val_contacts"),
    not_run_claims=(
        "Proteins: MI maps recover residue contacts",
        "Proteins: about 15.3 average forward passes",
    ),
    figures=(
        Figure(
            "fig2",
            "notebooks/fig2_protein_mi.ipynb",
            caption="workflow/report/fig2_protein_mi.rst",
            inputs=("tables/contacts.csv", "protein/analysis/contacts"),
            files=("tables/contacts.csv",),
        ),
    ),
    fig3_metrics=("recovery", "pppl"),
    lower_is_better=("pppl", "low_complexity", "max_run"),
    manifest_note=lazy(_CLAIMS, "manifest_note"),
    docs="proteins: ESM-C, or a small model trained here on a bundled family; contacts from structures",
)
