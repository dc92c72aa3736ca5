"""Killed runs resume: SIGKILL at each stage, then what `make paper` runs, gives the ci run's Sudoku tables."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import LOCAL, ROOT, TIMING, run_env, snakemake

# Points at which the whole run (Snakemake and every job) is killed with SIGKILL, each marked by a
# file that appears once that stage is under way and stays: MDM training past its first checkpoint,
# labelling, estimator training, decoding, notebook execution (a job's log is created when it starts;
# the estimator's checkpoint would not do: at the ci scale it lives for a fraction of a second).
KILL_POINTS = [
    ("MDM training", "results/sudoku/mdm/checkpoint.pt"),
    ("labelling", "results/logs/sudoku_label_train.log"),
    ("estimator training", "results/logs/sudoku_train_estimator.log"),
    ("decoding", "results/logs/sudoku_decode_test_mi.0.log"),
    ("notebook", "results/logs/notebook_fig3_decoding.log"),
]  # needs every decode


@pytest.fixture(scope="module")
def interrupted_runs(tmp_path_factory):
    """The ci config's Sudoku domain (config/ci_sudoku.yaml: every kill point is one of its stages) run
    as a user would after crashes: start, SIGKILL the whole process group
    at each kill point in turn, then rerun what `make paper` runs (unlock-stale, snakemake --rerun-incomplete)."""
    import signal

    wd = tmp_path_factory.mktemp("interrupted")
    config = ROOT / "config" / "ci_sudoku.yaml"
    env = run_env()
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        *LOCAL,
        "--cores",
        "2",
        "--configfile",
        str(config),
        "--rerun-incomplete",
    ]
    unlock = [sys.executable, "-m", "mdmi", "unlock-stale"]
    killed = []
    for stage, marker in KILL_POINTS:
        assert not list(wd.glob(marker)), f"{marker} exists before the {stage} attempt"
        subprocess.run(unlock, cwd=wd, env=env, check=True)
        proc = subprocess.Popen(
            cmd,
            cwd=wd,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 600
        while proc.poll() is None and not list(wd.glob(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed.append(stage)
        proc.wait()
    subprocess.run(unlock, cwd=wd, env=env, check=True)
    final = subprocess.run(cmd, cwd=wd, env=env, capture_output=True, text=True)
    assert final.returncode == 0, (final.stdout + final.stderr)[-5000:]
    # .ci/run: the Slurm check running beside the tests compares its run with these tables
    if os.environ.get("MDMI_CI_SUDOKU_TABLES"):
        import shutil

        dest = Path(os.environ["MDMI_CI_SUDOKU_TABLES"])
        part = dest.with_name(dest.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        shutil.copytree(wd / "results" / "tables", part)
        shutil.rmtree(dest, ignore_errors=True)
        part.rename(dest)  # whole: the check waits for the folder to appear
    return wd, killed, final.stdout + final.stderr


def test_killed_runs_resume_to_the_same_tables(interrupted_runs, ci_run):
    """Also the determinism check: this run starts from an empty folder, so equal tables mean the same
    seed and config reproduce them (kills and resumes included)."""
    wd, killed, log = interrupted_runs
    assert killed == [stage for stage, _ in KILL_POINTS], (
        killed
    )  # each kill landed inside its stage
    # what finished before a kill is not redone: data generation ran once, in the first attempt
    assert "rule data:" not in log
    for name in ["table1", "table2", "claims", "decoding_sweep"]:
        a = pd.read_csv(ci_run / "results" / "tables" / f"{name}.csv")
        b = pd.read_csv(wd / "results" / "tables" / f"{name}.csv")
        # the Sudoku rows, without the columns only other domains fill
        a = a[a.domain == "sudoku"].dropna(axis=1, how="all").reset_index(drop=True)
        assert (
            b[b.domain != "sudoku"].get("measured", pd.Series(dtype=str)).str.startswith("not run")
        ).all()
        b = b[b.domain == "sudoku"].dropna(axis=1, how="all").reset_index(drop=True)
        assert len(a) and list(a.columns) == list(b.columns), name
        keep = [c for c in a.columns if not any(t in c for t in TIMING)]
        # (dtypes aside: a column with other domains' empty cells is float there, int here)
        pd.testing.assert_frame_equal(a[keep], b[keep], check_dtype=False)
    r = snakemake(
        "-n", "--cores", "2", "--configfile", str(ROOT / "config" / "ci_sudoku.yaml"), cwd=wd
    )
    assert r.returncode == 0 and "Nothing to be done" in (r.stdout + r.stderr)


def test_unlock_stale_leaves_a_running_snakemake_alone(tmp_path):
    from mdmi.util.locks import snakemake_processes, unlock_stale

    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("x")
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "snakemake"], cwd=tmp_path
    )
    try:
        assert (
            snakemake_processes(tmp_path) == []
        )  # 'snakemake' as a later argument is not Snakemake
    finally:
        fake.kill()
    script = tmp_path / "snakemake"
    script.write_text("import time; time.sleep(30)\n")
    live = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        time.sleep(0.3)
        assert snakemake_processes(tmp_path) == [live.pid]
        assert "is running" in unlock_stale(tmp_path) and (locks / "0.output.lock").exists()
    finally:
        live.kill()
        live.wait()
    assert unlock_stale(tmp_path).startswith("removed 1 lock") and not list(locks.glob("*.lock"))
    assert unlock_stale(tmp_path) == "no locks"
