import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# fixtures that run the whole workflow: a test that uses one is an end-to-end test, marked `slow`
# (`make test` runs everything, CI included; `make test-fast` leaves these out while you edit)
END_TO_END_FIXTURES = {"ci_run", "interrupted_runs", "plugin_run"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def resolved_config(path) -> dict:
    """A config file with its base merged in (``extends`` resolved), as a plain dict a test may edit
    and write anywhere: the written file needs no base next to it."""
    from mdmi.config import resolved
    return resolved(path)
