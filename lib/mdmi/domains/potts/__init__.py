"""A synthetic Potts chain with exact ground truth: the template domain and the check of the MI machinery.

Everything the workflow knows about it is declared here (docs/extending.md walks through it field by
field); the sampler and the exact quantities are in ``chain.py``, the masked-sequence domain in
``domain.py``, the ground-truth analysis and claims in ``claims.py``, the config section's schema
in ``schema.yaml`` and the figure in notebooks/fig4_potts_truth.ipynb.
"""

from __future__ import annotations

from pathlib import Path

from mdmi.domains.base import Analysis, DomainSpec, Figure, lazy
from mdmi.errors import ConfigError
from mdmi.util.io import parse_yaml

_CLAIMS = f"{__name__}.claims"


def _validate(section: dict, source: str) -> None:
    c, d = section["chain"], section["data"]
    if c["length"] <= len(c["coupling_scale"]):
        raise ConfigError(
            f"{source}: potts.chain.length must exceed the coupling range (len(coupling_scale))"
        )
    if d["mask_min"] > d["mask_max"]:
        raise ConfigError(f"{source}: potts.data.mask_min must be <= mask_max")
    if c["states"] > 36:
        raise ConfigError(
            f"{source}: potts.chain.states must be <= 36 (one character per state in the data files)"
        )


SPEC = DomainSpec(
    name="potts",
    title="Potts",
    make=lazy(f"{__name__}.domain", "PottsDomain"),
    schema=parse_yaml(Path(__file__).with_name("schema.yaml").read_text()),
    stage_keys={"chain": "data", "quality": "decode", "truth": "analysis"},
    validate=_validate,
    relation_claim="Potts: MI maps recover the coupling range (pairs within K positions vs farther)",
    analyses=(Analysis("truth", lazy(_CLAIMS, "truth")),),
    claims=lazy(_CLAIMS, "claims"),
    table1_rows=lazy(_CLAIMS, "table1_rows"),
    not_run_claims=("Potts: the MDM's exact MI ranks pairs as the true conditional MI does",),
    figures=(
        Figure(
            "fig4",
            "notebooks/fig4_potts_truth.ipynb",
            caption="workflow/report/fig4_potts_truth.rst",
            inputs=("potts/analysis/truth", "tables/truth.csv"),
            files=("tables/truth.csv",),
        ),
    ),
    fig3_metrics=("cond_ll", "parallel_tc"),
    lower_is_better=("parallel_tc",),
    docs="a Potts chain sampled exactly: true conditional MI and exact scores of every decoded sequence",
)
