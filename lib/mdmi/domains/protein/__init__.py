"""Proteins: ESM-C (or a small ESM-C-architecture model trained here on a family) as the MDM; MI maps
vs residue contacts. What the domain declares to the workflow (docs/extending.md explains each field)."""

from __future__ import annotations

from pathlib import Path

from mdmi.domains.base import Analysis, DomainSpec, Figure, lazy
from mdmi.errors import ConfigError
from mdmi.util.io import parse_yaml

_CLAIMS = f"{__name__}.claims"


def _shipped_inputs(section: dict, repo: Path) -> list[str]:
    """The bundled files the data step copies (so editing one reruns it); none for online data."""
    data = section["data"]
    if data.get("source") != "bundled":
        return []
    root = Path(repo) / data["bundled_dir"]
    return [str(root / f) for f in data["sequences"]] + [
        str(root / s["file"]) for s in data["structures"]
    ]


def _validate(section: dict, source: str) -> None:
    d = section["data"]
    if d["min_length"] > d["max_length"]:
        raise ConfigError(f"{source}: protein.data.min_length must be <= max_length")
    if d["source"] == "online" and "online" not in d:
        raise ConfigError(
            f"{source}: protein.data.source is 'online' but protein.data.online is missing"
        )
    if section["backbone"] == "hf" and not section.get("hf"):
        raise ConfigError(
            f"{source}: protein.backbone is 'hf' but protein.hf (source: a hub id or model folder) is "
            f"missing; e.g. hf: {{source: facebook/esm2_t33_650M_UR50D}}"
        )
    if section["backbone"] == "family" and "family" not in section["model"]:
        raise ConfigError(
            f"{source}: protein.backbone is 'family' but protein.model.family (rank, penalty) is missing; "
            f"add it (config/base.yaml has the defaults)"
        )
    percents = [round(100 * f) for f in section["tasks"]["inpaint"]["fractions"]]
    if len(set(percents)) != len(percents):
        raise ConfigError(
            f"{source}: protein.tasks.inpaint.fractions {section['tasks']['inpaint']['fractions']} "
            f"name the same band twice (bands are whole percentages); give distinct percentages"
        )


SPEC = DomainSpec(
    name="protein",
    title="Proteins",
    make=lazy(f"{__name__}.domain", "ProteinDomain"),
    schema=parse_yaml((Path(__file__).with_name("schema.yaml")).read_text()),
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
    shipped_inputs=_shipped_inputs,
    validate=_validate,
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
