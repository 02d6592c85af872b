"""Shared by all test folders: the workflow test helpers are importable everywhere."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "workflow"))
