"""Every shipped config resolves to a DAG; a bad one is refused; parsing writes nothing; lint is clean."""

import pytest

from conftest import ROOT, snakemake

CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_dry_run_resolves(config, tmp_path):
    from mdmi.domains import get_spec
    from mdmi.pipeline.config import load_config

    domains = load_config(config)["domains"]
    r = snakemake("-n", "--cores", "2", "--configfile", str(config), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "train_mdm" in r.stdout and "manifest" in r.stdout
    for d in domains:
        assert f"{d}/data/MANIFEST.json" in r.stdout
        for a in get_spec(d).analyses:
            assert f"{d}/analysis/{a.name}" in r.stdout


def test_bad_config_is_rejected_by_the_workflow(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "config" / "ci.yaml")
        .read_text()
        .replace("box: 2", "box: nine")
        .replace("extends: base.yaml", f"extends: {ROOT / 'config' / 'base.yaml'}")
    )
    r = snakemake("-n", "--cores", "1", "--configfile", str(bad), cwd=tmp_path)
    assert r.returncode != 0 and "box" in (r.stdout + r.stderr)


def test_ci_scale_runs_every_registered_domain():
    """The conformance run below (ci config) covers every built-in domain: a new one must join it."""
    from mdmi.domains import builtin
    from mdmi.pipeline.config import load_config

    assert set(load_config(ROOT / "config" / "ci.yaml")["domains"]) == set(builtin())


def test_nothing_is_written_at_parse_time(tmp_path):
    """Parsing the workflow (a dry run) writes no config or slice: rules do (workflow/rules/config.smk)."""
    r = snakemake(
        "-n", "--cores", "2", "--configfile", str(ROOT / "config" / "ci.yaml"), cwd=tmp_path
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p.name for p in tmp_path.iterdir()] == [".snakemake"]
    assert "rule config_slice" in r.stdout and "rule resolved_config" in r.stdout


def test_lint_leaves_only_the_explained_warning(tmp_path):
    """`snakemake --lint`: the only warning left is the per-rule conda environment (see the Snakefile)."""
    r = snakemake("--lint", "--configfile", str(ROOT / "config" / "ci.yaml"), cwd=tmp_path)
    kinds = {
        ln.strip().rstrip(":")
        for ln in (r.stdout + r.stderr).splitlines()
        if ln.startswith("    * ")
    }
    assert kinds == {"* Specify a conda environment or container for each rule."}, kinds
