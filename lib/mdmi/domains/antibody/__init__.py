"""Antibodies: AntiBERTy, a pretrained antibody masked LM installed from PyPI, as the MDM; tasks on IMGT
germline chains of held-out genes; MI maps against the IMGT regions. The example of a domain with a pretrained
model (docs/extending.md): the backbone is loaded through the shared Hugging Face adapter and not trained.
What the domain declares to the workflow; the data and model in ``domain.py``, the germline chains in
``germlines.py``, the region analysis and claims in ``claims.py``, the config section's schema in
``schema.yaml`` and the figure in notebooks/fig5_antibody_mi.ipynb.
"""

from __future__ import annotations

from pathlib import Path

from mdmi.domains.base import Analysis, Command, DomainSpec, Figure, lazy
from mdmi.errors import ConfigError
from mdmi.util.io import parse_yaml

_CLAIMS = f"{__name__}.claims"


def _validate(section: dict, source: str) -> None:
    t = section["tasks"]
    if not (t["cdrs"] or t["cdr3_lengths"] or t["inpaint_fractions"]):
        raise ConfigError(
            f"{source}: antibody.tasks has no band: list cdrs, cdr3_lengths or inpaint_fractions"
        )
    if section["data"]["val_fraction"] + section["data"]["test_fraction"] >= 0.9:
        raise ConfigError(
            f"{source}: antibody.data val_fraction + test_fraction leave no training genes; lower them"
        )


SPEC = DomainSpec(
    name="antibody",
    title="Antibodies",
    make=lazy(f"{__name__}.domain", "AntibodyDomain"),
    schema=parse_yaml(Path(__file__).with_name("schema.yaml").read_text()),
    stage_keys={
        "backbone": "model",
        "tasks": "data",
        "quality": "decode",
        "regions": "analysis",
        "sampling": "analysis",
        "claims": "tables",
    },
    validate=_validate,
    analyses=(
        Analysis("regions", lazy(_CLAIMS, "regions")),
        Analysis("sampling", lazy(_CLAIMS, "sampling")),
    ),
    claims=lazy(_CLAIMS, "claims"),
    not_run_claims=(
        "Antibodies: MI maps concentrate within the CDR loops (within-CDR vs framework-framework pairs)",
    ),
    figures=(
        Figure(
            "fig5",
            "notebooks/fig5_antibody_mi.ipynb",
            caption="workflow/report/fig5_antibody_mi.rst",
            inputs=("antibody/analysis/regions", "tables/regions.csv"),
            files=("tables/regions.csv",),
        ),
    ),
    fig3_metrics=("pll", "recovery"),
    commands={
        "infill": Command(
            "complete masked positions (#) of your own protein or antibody sequence with a pretrained masked LM",
            f"{__name__}.infill",
        )
    },
    docs="antibodies: AntiBERTy (pretrained, from PyPI) on IMGT germline chains; MI maps vs IMGT regions",
)
