"""Checkpoint loading is safe: a pickle from elsewhere never runs code; junk files get one clear error."""
import pytest
import torch

from mdmi.io import NotACheckpoint, load_torch, save_torch


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))      # loading would create the marker file


def test_malicious_pickle_does_not_execute(tmp_path):
    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "x": _Payload(marker)}, evil)
    with pytest.raises(NotACheckpoint, match="not a checkpoint written by mdmi"):
        load_torch(evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)              # the payload is real: an unsafe load runs it
    assert marker.exists()


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"PK\x03\x04truncated"])
def test_junk_files_are_refused(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(NotACheckpoint):
        load_torch(path)


def test_own_checkpoints_round_trip(tmp_path):
    obj = {"state_dict": {"w": torch.ones(2)}, "cfg": {"a": 1, "b": [1.5, "x", None, True]}, "log": [{"s": 1}]}
    save_torch(tmp_path / "m.pt", obj)
    back = load_torch(tmp_path / "m.pt")
    assert torch.equal(back["state_dict"]["w"], obj["state_dict"]["w"]) and back["cfg"] == obj["cfg"]
