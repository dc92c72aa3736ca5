"""Config slices (what each stage's commands read), declared resources and their check, table comparison."""

from pathlib import Path

import pandas as pd
import pytest

from conftest import resolved_config

ROOT = Path(__file__).resolve().parents[2]


def _cfg():
    from mdmi.pipeline.config import validate

    return validate(resolved_config(ROOT / "config" / "ci.yaml"))


def test_a_slice_holds_its_stage_and_the_stages_before_only():
    from mdmi.pipeline.config import stage_slice, validate

    cfg = _cfg()
    data = stage_slice(cfg, "sudoku", "data")
    assert (
        set(data["sudoku"]) == {"box", "data"}
        and data["domains"] == ["sudoku"]
        and data["stage"] == "data"
    )
    assert "claims" not in data and "resources" not in data and "protein" not in data
    one = stage_slice(
        {**cfg, "domains": ["sudoku"]}, "sudoku", "data"
    )  # sections of domains not run
    assert one == data and "potts" not in one
    decode = stage_slice(cfg, "sudoku", "decode")
    assert {"data", "model", "train", "labels", "estimator", "decode"} <= set(decode["sudoku"])
    assert "ablation" not in decode["sudoku"] and "claims" not in decode
    assert set(stage_slice(cfg, "sudoku", "estimator")["claims"]) == {"level", "bootstrap"}
    assert stage_slice(cfg, "potts", "tables")["claims"] == cfg["claims"]
    assert "truth" in stage_slice(cfg, "potts", "analysis")["potts"]
    assert (
        "truth" not in stage_slice(cfg, "potts", "decode")["potts"]
    )  # decoding reads quality, not truth
    for stage in ("data", "model", "labels", "estimator", "analysis", "decode", "tables"):
        validate(stage_slice(cfg, "protein", stage), "slice")  # types checked, absent keys allowed


def test_a_slice_changes_only_with_what_its_stage_reads():
    from mdmi.pipeline.config import dump, stage_slice

    cfg = _cfg()
    before = {
        s: dump(stage_slice(cfg, "sudoku", s))[1]
        for s in ("data", "model", "labels", "decode", "tables")
    }
    cfg["sudoku"]["decode"]["quality_tolerance"] = 0.5
    cfg["resources"]["rules"]["decode"] = {"mem_mb": 4321}
    after = {s: dump(stage_slice(cfg, "sudoku", s))[1] for s in before}
    assert [s for s in before if before[s] != after[s]] == ["decode", "tables"]
    cfg["seed"] = 1
    assert all(dump(stage_slice(cfg, "sudoku", s))[1] != after[s] for s in before)


def test_a_slice_is_not_a_full_config_and_a_bad_type_is_still_caught():
    from mdmi.pipeline.config import ConfigError, stage_slice, validate

    cfg = _cfg()
    bad = stage_slice(cfg, "sudoku", "data")
    bad["sudoku"]["box"] = "nine"
    with pytest.raises(ConfigError, match="box"):
        validate(bad, "slice")
    with pytest.raises(ConfigError, match="unknown stage"):
        stage_slice(cfg, "sudoku", "contacts")
    full = dict(cfg)
    del full["claims"]
    with pytest.raises(
        ConfigError, match="claims"
    ):  # without 'stage' every required key is required
        validate(full, "config")


def test_declared_resources_default_then_rule_then_domain():
    from mdmi.pipeline.resources import declared, gpu_jobs

    cfg = {
        "device": "auto",
        "resources": {
            "default": {"mem_mb": 900, "runtime": 7},
            "rules": {"decode": {"mem_mb": 1500}},
            "domains": {"sudoku": {"decode": {"runtime": 30}}},
        },
    }
    assert declared(cfg, "tables") == {"mem_mb": 900, "runtime": 7}
    assert declared(cfg, "decode", "protein") == {"mem_mb": 1500, "runtime": 7}
    assert declared(cfg, "decode", "sudoku") == {"mem_mb": 1500, "runtime": 30}
    assert (
        gpu_jobs(cfg) == 0
        and gpu_jobs({"device": "cuda:1"}) == 1
        and gpu_jobs({"device": "cpu"}) == 0
    )


def _bench(path: Path, seconds: float, rss: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t0\t1\n"
    )


def test_resource_check_writes_the_table_and_fails_naming_a_job_above(tmp_path):
    from mdmi.pipeline.resources import ResourceError, write_check

    cfg = {
        "domains": ["sudoku", "potts"],
        "device": "cpu",
        "resources": {
            "default": {"mem_mb": 1000, "runtime": 5},
            "domains": {"potts": {"decode": {"mem_mb": 200}}},
        },
    }
    _bench(tmp_path / "b" / "decode" / "sudoku_test_mi.tsv", 30, 600)
    _bench(tmp_path / "b" / "notebook" / "claims.tsv", 3, 250)
    rows = write_check(cfg, tmp_path / "b", tmp_path / "r.csv")
    table = pd.read_csv(tmp_path / "r.csv")
    assert len(rows) == len(table) == 2 and table.mem_used.tolist() == [0.6, 0.25]
    _bench(tmp_path / "b" / "decode" / "potts_test_mi.tsv", 30, 350)  # potts decode declares 200 MB
    with pytest.raises(ResourceError, match="decode/potts_test_mi .350 of 200 MB"):
        write_check(cfg, tmp_path / "b", tmp_path / "r2.csv")
    assert not (tmp_path / "r2.csv").exists()
    with pytest.raises(ResourceError, match="no benchmark files"):
        write_check(cfg, tmp_path / "empty", tmp_path / "r3.csv")


def test_compare_tables_ignores_timing_and_names_a_difference(tmp_path):
    from mdmi.evaluate.compare import TablesDiffer, check, differences

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    pd.DataFrame({"method": ["mi", "eb"], "passes": [3.5, 4.0], "seconds": [1.0, 2.0]}).to_csv(
        a / "t.csv", index=False
    )
    pd.DataFrame({"method": ["mi", "eb"], "passes": [3.5, 4.0], "seconds": [9.0, 8.0]}).to_csv(
        b / "t.csv", index=False
    )
    assert check(a, b) == 1
    pd.DataFrame({"method": ["mi", "eb"], "passes": [3.5, 4.1], "seconds": [9.0, 8.0]}).to_csv(
        b / "t.csv", index=False
    )
    with pytest.raises(TablesDiffer, match=r"t.csv: 1 cells differ, columns \['passes'\]"):
        check(a, b)
    (a / "u.csv").write_text("x\n1\n")
    assert "u.csv: only in" in " ".join(differences(a, b))


def test_what_a_job_parses_does_not_load_torch():
    """Every Slurm job starts Snakemake twice and each parses the Snakefile: what it runs there (config
    resolution, slices, domain specs, declared resources) must not import torch or pandas (about 1 s each
    start). Run in a fresh interpreter: this test process has both loaded already."""
    import subprocess
    import sys

    code = f"""
import sys
from mdmi.pipeline.config import dump, resolved, stage_slice, STAGE_READS
from mdmi.domains import get_spec, load_plugins
from mdmi.pipeline.resources import declared, gpu_jobs
cfg = resolved({str(ROOT / "config" / "ci.yaml")!r})
load_plugins(cfg.get("plugins"))
for d in cfg["domains"]:
    spec = get_spec(d)
    _ = (spec.figures, spec.analyses, spec.stage_keys)
    for s in STAGE_READS:
        dump(stage_slice(cfg, d, s))
    declared(cfg, "decode", d)
gpu_jobs(cfg)
heavy = sorted(m for m in ("torch", "pandas") if m in sys.modules)
assert not heavy, heavy
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
