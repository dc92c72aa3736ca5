"""Damaged intermediate results (truncated, edited, foreign) end in one line, never in a table; `make
paper`'s check moves them aside so the run remakes them; a second run in a busy folder is refused."""

import subprocess
import sys
import time

import pandas as pd
import pytest

from mdmi.util.checkpoint_io import load_torch, save_torch
from mdmi.util.integrity import scan, verify_folder, write_folder_manifest
from mdmi.util.io import read_json, write_json, write_text
from mdmi.util.records import RECORD_ENV, DamagedFile, sidecar
from mdmi.util.table_io import read_csv


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setenv(RECORD_ENV, "1")


def _rows(n=50):
    return pd.DataFrame({"seq": range(n), "passes": [3.0] * n}).to_csv(index=False)


def test_a_truncated_csv_is_refused_in_one_line(tmp_path, recording):
    path = tmp_path / "decode" / "eb.csv"
    write_text(path, _rows())
    assert len(read_csv(path)) == 50 and sidecar(path).is_file()
    path.write_text("\n".join(_rows().splitlines()[:3]) + "\n")  # a full disk: the first two rows
    with pytest.raises(DamagedFile) as e:
        read_csv(path)
    msg = str(e.value)
    assert str(path) in msg and "recorded" in msg and "make paper" in msg and "\n" not in msg


def test_an_edit_of_the_same_size_and_a_foreign_checkpoint_are_refused(tmp_path, recording):
    import torch

    path = tmp_path / "eval.json"
    write_json(path, {"spearman": 0.61})
    path.write_text(path.read_text().replace("0.61", "0.91"))  # same size, other content
    with pytest.raises(DamagedFile, match="same size"):
        read_json(path)
    ckpt = tmp_path / "model.pt"
    save_torch(ckpt, {"w": torch.zeros(3)})
    torch.save({"w": torch.ones(3)}, ckpt)  # another run's file copied over it
    with pytest.raises(DamagedFile):
        load_torch(ckpt)


def test_writes_outside_a_workflow_job_leave_no_record_and_drop_a_stale_one(tmp_path, monkeypatch):
    path = tmp_path / "README.md"
    monkeypatch.setenv(RECORD_ENV, "1")
    write_text(path, "old")
    monkeypatch.delenv(RECORD_ENV)
    write_text(path, "new text")  # by hand: the old record would now call it damaged
    assert not sidecar(path).exists() and path.read_text() == "new text"
    (tmp_path / "plain.csv").write_text("a\n1\n")
    assert len(read_csv(tmp_path / "plain.csv")) == 1


def test_a_folder_step_is_checked_against_its_manifest(tmp_path, recording):
    data = tmp_path / "data"
    write_text(data / "val.txt", "1" * 81 + "\n")
    write_text(data / "sub" / "meta.csv", "givens\n30\n")
    manifest = write_folder_manifest(data, domain="x")
    assert set(manifest["files"]) == {"val.txt", "sub/meta.csv"}  # sidecars and itself not listed
    verify_folder(data)
    (data / "sub" / "meta.csv").write_text("givens\n")
    with pytest.raises(DamagedFile, match="meta.csv"):
        verify_folder(data)


def test_scan_and_fix_move_what_the_run_must_remake(tmp_path, recording):
    results = tmp_path / "results"
    write_text(results / "d" / "data" / "test.txt", "abc\n")
    write_folder_manifest(results / "d" / "data")
    write_text(results / "d" / "decode" / "test" / "eb.csv", _rows())
    write_text(results / "d" / "decode" / "test" / "mi.csv", _rows())
    write_text(results / "tables" / "table2.csv", _rows())
    assert scan(results) == []
    (results / "d" / "data" / "test.txt").write_text("ab")  # a data file: its step's folder goes
    (results / "d" / "decode" / "test" / "eb.csv").write_text(
        "seq\n"
    )  # a single file: the file goes
    targets = sorted(str(t.relative_to(results)) for _, t in scan(results))
    assert targets == ["d/data", "d/decode/test/eb.csv"]
    check = [sys.executable, "-m", "mdmi", "check-results", "--results", str(results)]
    r = subprocess.run(check, capture_output=True, text=True)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 2 and "eb.csv" in r.stderr
    r = subprocess.run(check + ["--fix"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.count("moved") == 2
    assert (
        not (results / "d" / "data").exists()
        and not (results / "d" / "decode" / "test" / "eb.csv").exists()
    )
    assert (results / "d" / "decode" / "test" / "mi.csv").is_file() and (
        results / "tables" / "table2.csv"
    ).is_file()
    assert len(list((results / ".damaged").rglob("eb.csv"))) == 1
    assert scan(results) == []


def test_a_second_run_in_a_busy_folder_is_refused_in_one_line(tmp_path):
    script = tmp_path / "snakemake"  # what /proc shows for a running `snakemake ...`
    script.write_text("import time; time.sleep(30)\n")
    live = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        time.sleep(0.3)
        r = subprocess.run(
            [sys.executable, "-m", "mdmi", "unlock-stale", "--dir", str(tmp_path)],
            capture_output=True,
            text=True,
        )
    finally:
        live.kill()
        live.wait()
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "already active" in r.stderr and str(live.pid) in r.stderr
