"""`python -m mdmi notebook`: parameters reach the notebook, the kernel runs over IPC sockets (not TCP
ports, which notebooks started together can race for), a failing cell leaves no output, and outputs
get the usual file mode."""

import os
import stat
import subprocess
import sys

import nbformat
import pytest

from mdmi.pipeline.notebook import run_notebook

PROBE = """
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
print(f"transport={app.transport} ip={app.ip}")
print(f"greeting={greeting}")
"""


def _notebook(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('greeting = "default"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _stdout(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def test_parameters_and_ipc_kernel(tmp_path):
    src = _notebook(tmp_path / "probe.ipynb", PROBE)
    out, html = tmp_path / "run" / "probe.ipynb", tmp_path / "run" / "probe.html"
    run_notebook(src, out, html, {"greeting": "hello"})
    text = _stdout(out)
    assert "greeting=hello" in text
    assert "transport=ipc" in text
    ip = text.split("ip=")[1].split()[0]
    assert (
        not ip.startswith(str(tmp_path)) and "mdmi-kernel-" in ip
    )  # a private socket folder, not the cwd
    assert "greeting=hello" in html.read_text()
    umask = os.umask(0)
    os.umask(umask)
    for f in (out, html):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "probe.html",
        "probe.ipynb",
    ]  # no temporary left


def test_failing_cell_leaves_nothing(tmp_path):
    src = _notebook(tmp_path / "bad.ipynb", "raise ValueError('broken figure')")
    out, html = tmp_path / "run" / "bad.ipynb", tmp_path / "run" / "bad.html"
    with pytest.raises(Exception, match="broken figure"):
        run_notebook(src, out, html, {})
    assert not out.exists() and not html.exists()
    assert list(out.parent.iterdir()) == []


def test_cli_missing_notebook(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdmi",
            "notebook",
            str(tmp_path / "none.ipynb"),
            "--out",
            str(tmp_path / "o.ipynb"),
            "--html",
            str(tmp_path / "o.html"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "notebook not found" in r.stderr
    assert not (tmp_path / "o.ipynb").exists()
