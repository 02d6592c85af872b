"""Shared by all test folders: the workflow and benchmark helpers are importable everywhere."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for helpers in ("workflow", "benchmarks"):
    sys.path.insert(0, str(HERE / helpers))
