"""The package as users install it: a wheel built from the sources, installed without the source
tree, runs ``python -m mdmi`` on the ci config from a clone of the repository (configs, data/)."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_a_wheel_install_runs_the_ci_config(tmp_path):
    src = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(ROOT / "lib", src / "lib", ignore=junk)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    r = run(
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        str(tmp_path / "dist"),
        str(src),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("mdmi-*.whl")

    # every data file the package reads at run time is in the wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        p.relative_to(ROOT / "lib").as_posix() for p in (ROOT / "lib" / "mdmi").rglob("*.yaml")
    }
    assert wanted and wanted <= names, sorted(wanted - names)

    site = tmp_path / "site"
    r = run(
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        "--target",
        str(site),
        str(wheel),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "MDMI_REPO"}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install of the checkout
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"

    r = run(
        "-c",
        "import mdmi, mdmi.util.paths as p; print(mdmi.__file__); print(p.REPO)",
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    where, repo = r.stdout.split()
    assert Path(where).is_relative_to(site) and Path(repo) == ROOT, r.stdout

    out = tmp_path / "potts_data"
    r = run(
        "-m",
        "mdmi",
        "data",
        "--config",
        "config/ci.yaml",
        "--domain",
        "potts",
        "--out",
        str(out),
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert {"MANIFEST.json", "train.txt", "test_tasks.csv"} <= {p.name for p in out.iterdir()}

    # the installed schemas reject a bad value in one line
    bad = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    bad["extends"] = str(ROOT / "config" / bad["extends"])
    bad["seed"] = "seven"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = run(
        "-m",
        "mdmi",
        "data",
        "--config",
        str(tmp_path / "bad.yaml"),
        "--domain",
        "potts",
        "--out",
        str(tmp_path / "x"),
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 2 and "seed" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists(), r.stderr
