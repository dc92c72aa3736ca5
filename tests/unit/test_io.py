"""Checkpoint loading is safe: a pickle from elsewhere never runs code; junk files get one clear error."""

import pytest
import torch

from mdmi.util.checkpoint_io import NotACheckpoint, load_torch, save_torch


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # loading would create the marker file


def test_malicious_pickle_does_not_execute(tmp_path):
    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "x": _Payload(marker)}, evil)
    with pytest.raises(NotACheckpoint, match="not a checkpoint written by mdmi"):
        load_torch(evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is real: an unsafe load runs it
    assert marker.exists()


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"PK\x03\x04truncated"])
def test_junk_files_are_refused(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(NotACheckpoint):
        load_torch(path)


def test_own_checkpoints_round_trip(tmp_path):
    obj = {
        "state_dict": {"w": torch.ones(2)},
        "cfg": {"a": 1, "b": [1.5, "x", None, True]},
        "log": [{"s": 1}],
    }
    save_torch(tmp_path / "m.pt", obj)
    back = load_torch(tmp_path / "m.pt")
    assert (
        torch.equal(back["state_dict"]["w"], obj["state_dict"]["w"]) and back["cfg"] == obj["cfg"]
    )


def test_a_full_disk_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    """ENOSPC in the middle of writing a table or a checkpoint: the old file stays, no temporary is left."""
    import errno

    import pandas as pd

    from mdmi.util.checkpoint_io import save_torch
    from mdmi.util.table_io import write_table

    write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "table2")
    save_torch(tmp_path / "ckpt.pt", {"step": 10})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_markdown", full)
    with pytest.raises(OSError, match="No space"):
        write_table(pd.DataFrame({"a": [3, 4]}), tmp_path / "table2")
    real_save = torch.save

    def half_then_full(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        with open(f, "r+b") as fh:
            fh.truncate(7)  # a partial file on disk, then the error
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_full)
    with pytest.raises(OSError, match="No space"):
        save_torch(tmp_path / "ckpt.pt", {"step": 20})
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after.keys() == before.keys() and all(after[k] == before[k] for k in before)
    assert load_torch(tmp_path / "ckpt.pt") == {"step": 10}
