"""The recipe ablation (python -m mdmi ablate): variant configs, paired summaries, a tiny real run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import resolved_config
from mdmi.pipeline.config import ConfigError, load_config
from mdmi.tools.ablation import BASELINE, summarise_variants, variant_config

REPO = Path(__file__).resolve().parents[2]


def test_variant_config_overrides_one_key_and_drops_the_shipped_checkpoint():
    cfg = load_config(REPO / "config" / "default.yaml")
    v = variant_config(cfg, "sudoku", {"train.loop_loss": True, "model.n_loops": 3}, steps=50)
    s = v["sudoku"]
    assert s["train"]["loop_loss"] is True and s["model"]["n_loops"] == 3
    assert (
        s["train"]["steps"] == 50
        and s["train"]["warmup"] <= 50
        and s["train"]["checkpoint_every"] <= 50
    )
    assert (
        "checkpoint" not in s and "checkpoint" in cfg["sudoku"]
    )  # the caller's config is untouched
    assert cfg["sudoku"]["model"]["n_loops"] == 6
    with pytest.raises(ConfigError, match="section.key"):
        variant_config(cfg, "sudoku", {"loop_loss": True}, steps=50)
    with pytest.raises(ConfigError, match="n_heads"):  # d_model 96 is not divisible by 7
        variant_config(cfg, "sudoku", {"model.n_heads": 7}, steps=50)


def test_summary_pairs_each_variant_with_the_baseline_on_the_same_sequences():
    rng = np.random.default_rng(0)
    n = 200
    base = pd.DataFrame(
        {
            "seq": np.arange(n),
            "band": np.where(np.arange(n) < 80, "easy", "hard"),
            "solved": rng.random(n) < 0.6,
        }
    )
    worse = base.copy()
    flip = base.index[base.solved][:20]  # the variant fails 20 puzzles the baseline solves
    worse.loc[flip, "solved"] = False
    worse = worse.sample(frac=1.0, random_state=1)  # row order must not matter: rows pair by seq
    t = summarise_variants(
        {BASELINE: base, "worse": worse},
        "solved",
        {BASELINE: 1.0, "worse": 2.0},
        reps=500,
        level=0.95,
        seed=0,
    ).set_index(["variant", "group"])
    assert t.loc[(BASELINE, "all"), "diff_vs_recipe"] == 0
    row = t.loc[("worse", "all")]
    assert row.n == n and row.diff_vs_recipe == pytest.approx(-20 / n)
    assert row.diff_high < 0 < row.diff_high - row.diff_low  # paired: an interval that excludes 0
    assert row.solved == pytest.approx(base.solved.mean() - 20 / n)
    assert t.loc[("worse", "easy"), "n"] == 80 and t.loc[("worse", "hard"), "n"] == 120


def test_ablation_runs_end_to_end_and_resumes(tmp_path):
    cfg = resolved_config(REPO / "config" / "ci.yaml")
    cfg["domains"] = ["sudoku"]
    cfg.pop("protein")
    cfg["sudoku"]["ablation"] = {
        "steps": 4,
        "split": "val",
        "method": "sequential",
        "knobs": {"order": "margin"},
        "variants": {"no_augment": {"train.augment": False}},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = [sys.executable, "-m", "mdmi", "-q", "--threads", "1"]
    subprocess.run(
        run
        + [
            "generate",
            "--config",
            str(path),
            "--domain",
            "sudoku",
            "--out",
            str(tmp_path / "data"),
        ],
        check=True,
    )
    cmd = run + [
        "ablate",
        "--config",
        str(path),
        "--domain",
        "sudoku",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "abl"),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    table = pd.read_csv(tmp_path / "abl" / "ablation.csv")
    assert set(table.variant) == {BASELINE, "no_augment"}
    n_val = sum(cfg["sudoku"]["data"]["val_puzzles"].values())
    assert (table[table.group == "all"].n == n_val).all()
    assert "| no_augment | all |" in (tmp_path / "abl" / "ablation.md").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "abl").glob("*/*")}
    subprocess.run(cmd, check=True, capture_output=True)  # a rerun trains and decodes nothing
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "abl").glob("*/*")} == stamps
    edited = dict(cfg)  # one variant edited and one added: only those two run
    edited["sudoku"] = {
        **cfg["sudoku"],
        "ablation": {
            **cfg["sudoku"]["ablation"],
            "variants": {
                "no_augment": {"train.augment": False, "train.warmup": 2},
                "lr": {"train.lr": 0.01},
            },
        },
    }
    path.write_text(yaml.safe_dump(edited))
    subprocess.run(cmd, check=True, capture_output=True)
    model = tmp_path / "abl" / "{}" / "model.pt"
    assert (
        Path(str(model).format(BASELINE)).stat().st_mtime_ns
        == stamps[Path(str(model).format(BASELINE))]
    )
    assert (
        Path(str(model).format("no_augment")).stat().st_mtime_ns
        != stamps[Path(str(model).format("no_augment"))]
    )
    assert set(pd.read_csv(tmp_path / "abl" / "ablation.csv").variant) == {
        BASELINE,
        "no_augment",
        "lr",
    }
    bad = dict(cfg)
    bad["sudoku"] = {
        **cfg["sudoku"],
        "ablation": {**cfg["sudoku"]["ablation"], "knobs": {"order": "sideways"}},
    }
    path.write_text(yaml.safe_dump(bad))
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 2 and "order" in out.stderr and "Traceback" not in out.stderr
