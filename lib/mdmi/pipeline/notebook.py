"""Execute one of the paper's notebooks with a run's parameters and write its HTML page.

    python -m mdmi notebook notebooks/claims.ipynb --out results/notebooks/claims.ipynb \\
        --html results/notebooks/claims.html -p results results -p scale default -p config_path results/config.yaml

Papermill runs the notebook (its ``parameters`` cell gets the ``-p`` values, as strings); nbconvert
renders the executed notebook as HTML. Each file is written atomically: a failed cell leaves no
executed notebook (papermill's error names the cell), and the HTML is made only from a finished one.

The kernel talks to papermill over Unix sockets in a private temporary folder (ZeroMQ's IPC
transport) instead of TCP ports on localhost. Jupyter picks TCP ports by asking the system for free
ones and releasing them before the kernel binds them, so notebooks started together on one machine
(several notebook jobs on one Slurm node, or ``--cores N`` locally) can pick the same port; the
kernel that loses dies with "Address already in use" and papermill waits 60 s before failing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from traitlets.config import Config

from mdmi.errors import MissingInput
from mdmi.util.io import atomic_path, write_text


def run_notebook(
    notebook: Path, out: Path, html: Path, parameters: dict[str, str], start_timeout: int = 120
) -> None:
    """Execute ``notebook`` into ``out`` with ``parameters`` injected, then render it to ``html``."""
    import papermill  # noqa: PLC0415
    from nbconvert import HTMLExporter  # noqa: PLC0415

    notebook, out, html = Path(notebook), Path(out), Path(html)
    if not notebook.exists():
        raise MissingInput(
            f"{notebook}: notebook not found; pass one of notebooks/*.ipynb or a domain's figure notebook"
        )
    with tempfile.TemporaryDirectory(prefix="mdmi-kernel-") as sockets:
        kernel = Config(
            {"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}}
        )
        with atomic_path(out, suffix=".ipynb") as tmp:
            papermill.execute_notebook(
                str(notebook),
                str(tmp),
                parameters=parameters,
                config=kernel,
                start_timeout=start_timeout,
            )
    body, _ = HTMLExporter().from_filename(str(out))
    write_text(html, body)
