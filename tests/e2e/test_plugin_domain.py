"""A domain from a plug-in file runs through the whole workflow (a config outside the repository)."""

import json

import pandas as pd
import pytest

from conftest import plugin_config, snakemake


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("plugin_run")
    path = plugin_config(wd)
    r = snakemake("--cores", "2", "--configfile", str(path), cwd=wd)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    return wd / "results"


def test_plugin_domain_runs_through_the_whole_workflow(plugin_run):
    tables = plugin_run / "tables"
    for name in ("table1", "table2", "claims", "decoding_sweep"):
        t = pd.read_csv(tables / f"{name}.csv")
        assert "parity" in set(t.domain), name
    t2 = pd.read_csv(tables / "table2_parity.csv")
    assert "valid" in t2 and {"sequential", "mi"} <= set(t2.method)
    claims = pd.read_csv(tables / "claims.csv")
    assert claims[claims.domain == "parity"].claim.str.startswith("Parity:").all()
    not_run = claims[claims.domain != "parity"]
    assert (not_run.measured.str.startswith("not run")).all()  # built-ins left out say so
    assert json.loads((tables / "panels.json").read_text()) == {
        "parity": {"title": "Parity", "metrics": ["valid"], "lower_is_better": []}
    }
    assert (plugin_run / "figures" / "fig3_decoding.png").stat().st_size > 0
    assert "Parity" in (plugin_run / "notebooks" / "fig3_decoding.html").read_text()
    manifest = json.loads((plugin_run / "manifest.json").read_text())
    assert manifest["domains"] == ["parity"] and manifest["items"]["fig3"]["status"] == "done"
    assert manifest["items"]["fig1"]["status"].startswith("not run")
