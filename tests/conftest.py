"""Shared by tests/unit (fast: seconds to a minute each file) and tests/e2e (workflow runs: minutes).

``make test`` runs both, in two pytest-xdist workers with ``--dist loadfile``: every test of a file in one
worker, so a module fixture (a whole workflow run) is built once; ``make test-fast`` runs tests/unit.
Everything under tests/e2e is marked ``slow`` too, so ``pytest -m "not slow"`` means the same as
``pytest tests/unit``.
"""

import shutil
import sys
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))  # joint_models.py and this file's helpers, from either folder


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
