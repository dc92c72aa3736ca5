"""Where the repository is: shipped inputs, configs and notebooks are found relative to it.

``REPO`` is, in order: the folder named by the environment variable ``MDMI_REPO``; the source
checkout this package sits in (an editable install, ``lib/mdmi`` under a folder with a
``Snakefile``); else the current working directory (a wheel install run from a clone of the
repository, as the workflow's rules do).
"""

import os
from pathlib import Path


def find_repo() -> Path:
    """The repository root, found as the module docstring says."""
    if os.environ.get("MDMI_REPO"):
        return Path(os.environ["MDMI_REPO"]).resolve()
    checkout = Path(__file__).resolve().parents[3]  # lib/mdmi/util/paths.py -> the checkout
    if (checkout / "Snakefile").is_file():
        return checkout
    return Path.cwd().resolve()


REPO = find_repo()
