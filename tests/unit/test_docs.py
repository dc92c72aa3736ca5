"""The docs that describe code are checked against it: docs/design.md's module list is generated from
the modules' docstrings, and docs/api.md's example runs.

``python tests/unit/test_docs.py`` rewrites the module list of docs/design.md.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "lib" / "mdmi"
DESIGN = ROOT / "docs" / "design.md"
API = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"(<!-- modules: begin -->\n).*?(<!-- modules: end -->)", re.S)


def first_sentence(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    return para


def module_list() -> str:
    """One line per module of lib/mdmi: its path and the first paragraph of its docstring."""
    lines = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()
        if path.name == "__main__.py":
            continue
        lines.append(f"- `{rel}`: {first_sentence(path)}")
    return "\n".join(lines) + "\n"


def test_every_module_has_a_docstring():
    missing = [
        str(p.relative_to(ROOT))
        for p in PKG.rglob("*.py")
        if p.name != "__main__.py" and not first_sentence(p)
    ]
    assert not missing, f"modules without a docstring: {missing}"


def test_design_module_list_is_current():
    text = DESIGN.read_text()
    m = BLOCK.search(text)
    assert m, f"{DESIGN}: the <!-- modules: begin/end --> markers are gone"
    assert m.group(0) == m.group(1) + module_list() + m.group(2), (
        "docs/design.md's module list is out of date: run `python tests/unit/test_docs.py`"
    )


def test_design_names_only_folders_that_exist():
    """Every lib/mdmi path the prose of design.md names exists (renames leave no stale pointers)."""
    text = BLOCK.sub("", DESIGN.read_text())
    named = set(re.findall(r"`((?:lib/mdmi/)?(?:[a-z_]+/)+[a-z_]*(?:\.py)?)`", text))
    stale = []
    for name in named:
        rel = name.removeprefix("lib/mdmi/")
        if name.startswith(("docs/", "workflow/", "notebooks/", "tests/", "config/", "data/")):
            continue
        if "*" in rel or rel.startswith("results/"):
            continue
        if not ((PKG / rel).exists() or (ROOT / name).exists()):
            stale.append(name)
    assert not stale, f"docs/design.md names paths that do not exist: {sorted(stale)}"


def api_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", API.read_text(), re.S)
    assert blocks, f"{API}: no ```python block"
    return blocks[0]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_api_example_runs(tmp_path, threads):
    """docs/api.md's example, run as written: MI-aware sets keep the coupled pairs that EB's
    entropy budget splits, at the same number of passes, however many threads train the model
    (they change its weights, and how the toy's tied entropies fall)."""
    script = tmp_path / "example.py"
    script.write_text(api_example())
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    r = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    rows = {
        m.group(1): (float(m.group(2)), int(m.group(3)))
        for m in re.finditer(r"^(\S+)\s+passes ([\d.]+)\s+pairs equal (\d+)%", r.stdout, re.M)
    }
    assert set(rows) == {"sequential", "eb", "mi"}, r.stdout
    assert rows["mi"][0] == rows["eb"][0] < rows["sequential"][0], r.stdout
    assert rows["mi"][1] >= rows["eb"][1] + 10, r.stdout


def test_public_api_names_resolve():
    import mdmi

    for name in mdmi.__all__:
        assert getattr(mdmi, name) is not None, name


if __name__ == "__main__":
    text = DESIGN.read_text()
    DESIGN.write_text(BLOCK.sub(lambda m: m.group(1) + module_list() + m.group(2), text))
    print(f"rewrote the module list of {DESIGN}")
