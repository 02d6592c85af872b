"""Shared by all test folders: the workflow and benchmark helpers are importable everywhere."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for helpers in ("workflow", "benchmarks"):
    sys.path.insert(0, str(HERE / helpers))

# The two longest tests first, in this order. `make test` runs the suite on parallel workers
# (pytest-xdist, one test file per worker at a time, files handed out in collection order), so
# the demo and the SLURM run start at once on two workers while the others share the rest.
FIRST = ("tests/workflow/test_demo.py", "tests/cluster/test_slurm_demo.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        return FIRST.index(path) if path in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: every file keeps its own order
