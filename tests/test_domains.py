"""Domains as plug-ins: the registry, the contract each domain declares, shared code that names none,
and a domain defined outside the repository run through the whole workflow by configuration alone."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml

from conftest import resolved_config
from mdmi.config import ConfigError, load_config
from mdmi.domains import builtin, get_spec, registry

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"data", "model", "labels", "estimator", "analysis", "decode", "tables", "none"}
# shared code: no domain may be named here (a new dataset must not need an edit to any of these)
SHARED = ["lib/mdmi/cli.py", "lib/mdmi/report.py", "lib/mdmi/manifest.py", "lib/mdmi/config.py",
          "lib/mdmi/config.schema.yaml", "lib/mdmi/sweep.py", "lib/mdmi/train_mdm.py", "lib/mdmi/decoding.py",
          "lib/mdmi/resources.py", "lib/mdmi/compare.py", "lib/mdmi/integrity.py", "lib/mdmi/io.py", "Snakefile", "workflow/rules/common.smk",
          "workflow/rules/config.smk", "workflow/rules/data.smk", "workflow/rules/model.smk", "workflow/rules/report.smk",
          "workflow/rules/bench.smk", "workflow/profiles/slurm/config.yaml", "notebooks/fig3_decoding.ipynb", "notebooks/table1_estimator.ipynb",
          "notebooks/table2_decoding.ipynb", "notebooks/claims.ipynb"]


def test_every_builtin_domain_is_registered_and_declares_a_complete_contract():
    assert {"sudoku", "protein", "potts"} <= set(builtin())
    cfg = load_config(ROOT / "config" / "ci.yaml")
    for name in builtin():
        spec = get_spec(name)
        assert spec.name == name and spec.title
        jsonschema.Draft202012Validator.check_schema(spec.schema)
        assert set(spec.stage_keys.values()) <= STAGES, name
        for fig in spec.figures:
            assert (ROOT / fig.notebook).is_file(), fig.notebook
        domain = spec.make({**cfg[name], "seed": cfg["seed"]})
        assert domain.name == name and domain.cfg["seed"] == cfg["seed"]
        assert spec.fig3_metrics and spec.fig3_metrics[0] == domain.primary_metric
        assert set(spec.fig3_metrics) <= {domain.primary_metric, *domain.extra_metrics}
        for member in ("make_data", "train_sequences", "augment", "load_task", "build_model", "quality", "relations",
                       "workload"):
            assert callable(getattr(domain, member)), (name, member)
        assert isinstance(domain.pretrained, bool)


@pytest.mark.parametrize("path", SHARED)
def test_shared_code_names_no_domain(path):
    text = (ROOT / path).read_text().lower()
    for name in registry():
        assert not re.search(rf"\b{name}", text), f"{path} names the domain {name!r}"


def _plugin_config(tmp_path: Path) -> Path:
    """A config outside the repository: the ci scale, the parity plug-in copied next to it, only that domain."""
    shutil.copy(ROOT / "tests" / "plugins" / "parity_domain.py", tmp_path / "parity_domain.py")
    potts = resolved_config(ROOT / "config" / "ci.yaml")["potts"]
    cfg = {"extends": str(ROOT / "config" / "ci.yaml"), "plugins": ["parity_domain.py"], "domains": ["parity"],
           "parity": {"length": 6, "samples": 2000, "tasks": 12,
                      "model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64},
                      **{k: potts[k] for k in ("train", "labels", "estimator", "decode")}}}
    cfg["parity"]["train"] = {**potts["train"], "steps": 150}
    path = tmp_path / "parity.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_a_plugin_listed_in_the_config_is_registered_and_validated(tmp_path):
    path = _plugin_config(tmp_path)
    cfg = load_config(path)
    assert cfg["domains"] == ["parity"] and "parity" in registry()
    assert cfg["plugins"] == [str(tmp_path / "parity_domain.py")]         # anchored: results/ can read it
    bad = yaml.safe_load(path.read_text())
    bad["parity"]["length"] = "six"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="parity/length"):
        load_config(path)
    missing = {**bad, "plugins": ["nowhere.py"]}
    path.write_text(yaml.safe_dump(missing))
    with pytest.raises(Exception, match="nowhere.py: no such file"):
        load_config(path)
    r = subprocess.run([sys.executable, "-m", "mdmi", "data", "--config", str(path), "--domain", "parity",
                        "--out", str(tmp_path / "d")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().startswith("mdmi data: error: plugin ") and "nowhere.py: no such file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_installed_entry_point_is_registered(monkeypatch):
    """A package that declares `[project.entry-points."mdmi.domains"]` plugs in with no config at all."""
    import mdmi.domains as reg
    from dataclasses import replace
    spec = replace(get_spec("potts"), name="potts_from_a_package", title="Potts (package)")

    class EntryPoint:
        name, value = "potts_from_a_package", "some_pkg.domain:SPEC"

        def load(self):
            return spec
    monkeypatch.setattr(reg, "entry_points", lambda group: [EntryPoint()] if group == "mdmi.domains" else [])
    monkeypatch.setattr(reg, "_SCANNED", False)
    monkeypatch.setattr(reg, "_REGISTRY", dict(reg._REGISTRY))
    assert reg.get_spec("potts_from_a_package") is spec and "potts_from_a_package" not in reg.builtin()


def test_unknown_domain_is_one_line(tmp_path):
    with pytest.raises(Exception, match="unknown domain 'chess'.*known: "):
        get_spec("chess")


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("plugin_run")
    path = _plugin_config(wd)
    env = {**__import__("os").environ, "PATH": f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}"}
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2",
                        "--configfile", str(path)], cwd=wd, env=env, capture_output=True, text=True)
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
    assert (not_run.measured.str.startswith("not run")).all()          # built-ins left out say so
    assert json.loads((tables / "panels.json").read_text()) == {"parity": {"title": "Parity", "metrics": ["valid"],
                                                                             "lower_is_better": []}}
    assert (plugin_run / "figures" / "fig3_decoding.png").stat().st_size > 0
    assert "Parity" in (plugin_run / "notebooks" / "fig3_decoding.html").read_text()
    manifest = json.loads((plugin_run / "manifest.json").read_text())
    assert manifest["domains"] == ["parity"] and manifest["items"]["fig3"]["status"] == "done"
    assert manifest["items"]["fig1"]["status"].startswith("not run")
