"""Domains as plug-ins: the registry, the contract each domain declares, shared code that names none,
and a domain defined outside the repository run through the whole workflow by configuration alone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import plugin_config
from mdmi.domains import builtin, get_spec, registry
from mdmi.pipeline.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"data", "model", "labels", "estimator", "analysis", "decode", "tables", "none"}


def shared_files() -> list[Path]:
    """Every file of shared code, found by glob: the package outside its domain folders (the registry
    and the contract included), the Snakefile and rules, the profiles, and every notebook no domain
    declares as its own figure."""
    own_dirs = {ROOT / "lib" / "mdmi" / "domains" / name for name in builtin()}
    figures = {ROOT / f.notebook for spec in registry().values() for f in spec.figures}
    files = [
        p
        for p in (ROOT / "lib" / "mdmi").rglob("*")
        if p.suffix in (".py", ".yaml") and not any(d in p.parents for d in own_dirs)
    ]
    files += [ROOT / "Snakefile", *(ROOT / "workflow").rglob("*.smk")]
    files += [*(ROOT / "workflow" / "profiles").rglob("*.yaml")]
    files += [p for p in (ROOT / "notebooks").glob("*.ipynb") if p not in figures]
    return sorted(files)


def own_config_keys() -> dict[str, set[str]]:
    """Each built-in domain's own config keys: those of its section that no other domain has."""
    keys = {name: set(get_spec(name).schema.get("properties", {})) for name in builtin()}
    return {
        n: {k for k in ks if all(k not in keys[m] for m in keys if m != n)}
        for n, ks in keys.items()
    }


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
        for member in (
            "make_data",
            "train_sequences",
            "augment",
            "load_task",
            "build_model",
            "quality",
            "relations",
            "workload",
        ):
            assert callable(getattr(domain, member)), (name, member)
        assert isinstance(domain.pretrained, bool)


def test_shared_code_names_no_domain_and_reads_no_domain_key():
    files = shared_files()
    assert len(files) > 50 and ROOT / "lib" / "mdmi" / "tools" / "projection.py" in files
    keys = own_config_keys()
    assert keys["sudoku"] and keys["protein"], keys
    for path in files:
        text = path.read_text()
        for name in builtin():
            assert not re.search(rf"\b{name}", text.lower()), f"{path} names the domain {name!r}"
            for key in keys[name]:
                assert not re.search(rf"""["']{key}["']""", text), (
                    f"{path} reads {name}'s key {key!r}"
                )


def test_a_plugin_listed_in_the_config_is_registered_and_validated(tmp_path):
    path = plugin_config(tmp_path)
    cfg = load_config(path)
    assert cfg["domains"] == ["parity"] and "parity" in registry()
    assert cfg["plugins"] == [str(tmp_path / "parity_domain.py")]  # anchored: results/ can read it
    bad = yaml.safe_load(path.read_text())
    bad["parity"]["length"] = "six"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="parity/length"):
        load_config(path)
    missing = {**bad, "plugins": ["nowhere.py"]}
    path.write_text(yaml.safe_dump(missing))
    with pytest.raises(Exception, match="nowhere.py: no such file"):
        load_config(path)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdmi",
            "data",
            "--config",
            str(path),
            "--domain",
            "parity",
            "--out",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        r.returncode == 2
        and r.stderr.strip().startswith("mdmi data: error: plugin ")
        and "nowhere.py: no such file" in r.stderr
    )
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_installed_entry_point_is_registered(monkeypatch):
    """A package that declares `[project.entry-points."mdmi.domains"]` plugs in with no config at all."""
    from dataclasses import replace

    import mdmi.domains as reg

    spec = replace(get_spec("potts"), name="potts_from_a_package", title="Potts (package)")

    class EntryPoint:
        name, value = "potts_from_a_package", "some_pkg.domain:SPEC"

        def load(self):
            return spec

    monkeypatch.setattr(
        reg, "entry_points", lambda group: [EntryPoint()] if group == "mdmi.domains" else []
    )
    monkeypatch.setattr(reg, "_SCANNED", False)
    monkeypatch.setattr(reg, "_REGISTRY", dict(reg._REGISTRY))
    assert (
        reg.get_spec("potts_from_a_package") is spec and "potts_from_a_package" not in reg.builtin()
    )


def test_unknown_domain_is_one_line(tmp_path):
    with pytest.raises(Exception, match="unknown domain 'chess'.*known: "):
        get_spec("chess")
