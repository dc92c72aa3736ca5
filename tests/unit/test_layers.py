"""The package's layering: imports point down only, no cycles, and the domain contract is used as
declared (no probing of a domain with hasattr/getattr). Read from the source with ast, so a new
module is checked without being listed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "lib" / "mdmi"
# bottom to top; a module may import from its own layer and the layers below it
LAYERS = [
    "errors",
    "util",
    "core",
    "models",
    "train",
    "evaluate",
    "registry",
    "pipeline",
    "tools",
    "plugins",
    "cli",
    "main",
]


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return "main"  # the package's public API re-exports the method
    head = parts[0]
    if head == "domains":
        return "registry" if len(parts) == 1 or parts[1] == "base" else "plugins"
    if head == "__main__":
        return "main"
    assert head in LAYERS, f"mdmi.{head}: a module outside the layers {LAYERS}"
    return head


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported mdmi module, at module level?) of every import statement in the file."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mdmi"):
            assert node.level == 0, f"{path}: relative import; write it absolute"
            out.append((node.module, id(node) in top))
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names if a.name.startswith("mdmi")]
    return out


MODULES = modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = LAYERS.index(layer_of(module))
    for target, _ in imports(MODULES[module]):
        theirs = LAYERS.index(layer_of(target))
        assert theirs <= mine, (
            f"{module} ({LAYERS[mine]}) imports {target} ({LAYERS[theirs]}): upward"
        )


def test_no_import_cycle_and_no_import_inside_a_function():
    graph = {}
    for module, path in MODULES.items():
        found = imports(path)
        inner = [t for t, top in found if not top]
        assert not inner, f"{module} imports {inner} inside a function"
        graph[module] = {t for t, _ in found if t in MODULES and t != module}
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for n in sorted(graph[m]):
            assert state.get(n) != "open", f"import cycle: {' -> '.join(stack + [m, n])}"
            if n not in state:
                visit(n, stack + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_shared_code_does_not_probe_domains():
    """Every hook shared code calls is declared (with a default) on mdmi.domains.base.Domain."""
    for module, path in MODULES.items():
        if layer_of(module) == "plugins":
            continue
        text = path.read_text()
        for probe in ("hasattr(domain", "getattr(domain", "hasattr(spec", "getattr(spec"):
            assert probe not in text, f"{module} probes a domain: {probe}"


def test_every_subpackage_says_what_it_holds():
    for init in PKG.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.splitlines()[0]) > 20, (
            f"{init}: a one-line docstring says what it holds"
        )
