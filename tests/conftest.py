"""Shared by tests/unit (fast: seconds to a minute each file) and tests/e2e (workflow runs: minutes).

``make test`` runs both, in two pytest-xdist workers with ``--dist loadfile``: every test of a file in one
worker, so a module fixture (a whole workflow run) is built once; ``make test-fast`` runs tests/unit.
Everything under tests/e2e is marked ``slow`` too, so ``pytest -m "not slow"`` means the same as
``pytest tests/unit``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))  # joint_models.py and this file's helpers, from either folder
TIMING = (
    "seconds",
    "_s_per_state",
    "_ms_per_seq",
    "wall_speedup",
)  # columns that differ between runs


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (TESTS / "e2e") in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


def resolved_config(path) -> dict:
    """A config file with its base merged in (``extends`` resolved), as a plain dict a test may edit
    and write anywhere: the written file needs no base next to it."""
    from mdmi.pipeline.config import resolved

    return resolved(path)


def plugin_config(tmp_path: Path) -> Path:
    """A config outside the repository: the ci scale, the parity plug-in copied next to it, only that domain."""
    shutil.copy(ROOT / "tests" / "plugins" / "parity_domain.py", tmp_path / "parity_domain.py")
    potts = resolved_config(ROOT / "config" / "ci.yaml")["potts"]
    cfg = {
        "extends": str(ROOT / "config" / "ci.yaml"),
        "plugins": ["parity_domain.py"],
        "domains": ["parity"],
        "parity": {
            "length": 6,
            "samples": 2000,
            "tasks": 12,
            "model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64},
            **{k: potts[k] for k in ("train", "labels", "estimator", "decode")},
        },
    }
    cfg["parity"]["train"] = {**potts["train"], "steps": 150}
    path = tmp_path / "parity.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_env() -> dict:
    """This interpreter's folder first on PATH: the rules' `python -m mdmi` is the one under test."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


# as the Makefile runs Snakemake locally (SMK_LOCAL): a job-rate limit never reached, so the scheduler
# rechecks its waiting jobs every 10 s instead of every second
LOCAL = ("--max-jobs-per-timespan", "1000/10s")


def snakemake(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *LOCAL, *args],
        cwd=cwd,
        env=run_env(),
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """The ci config run end to end, once per test session. Under pytest-xdist the first worker to ask
    runs it and any other waits for it (a file lock in the folder the session's workers share); a
    failed run is recorded there, so no worker runs it twice."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = (
            shared.parent
        )  # .../pytest-N/popen-gwK -> .../pytest-N: this session's, every worker's
    wd, record = shared / "ci_run", shared / "ci_run.json"
    with FileLock(str(shared / "ci_run.lock")):
        if not record.exists():
            wd.mkdir()
            r = snakemake("--cores", "2", "--configfile", str(ROOT / "config" / "ci.yaml"), cwd=wd)
            tail = (r.stdout + r.stderr)[-5000:]
            record.write_text(json.dumps({"returncode": r.returncode, "tail": tail}))
        run = json.loads(record.read_text())
    assert run["returncode"] == 0, run["tail"]
    return wd
