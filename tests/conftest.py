import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# fixtures that run the whole workflow: a test that uses one is an end-to-end test, marked `slow`
# (`make test` runs everything, CI included; `make test-fast` leaves these out while you edit)
END_TO_END_FIXTURES = {"ci_run", "interrupted_runs"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
