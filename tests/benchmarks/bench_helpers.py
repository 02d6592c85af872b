"""Helpers of the benchmarks run by `make bench` (not by CI): results/benchmarks/{name}.json."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def machine() -> str:
    """A one-line description of the machine the numbers come from."""
    python = platform.python_version()
    return f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, Python {python}"


def write_result(name: str, result: dict) -> Path:
    """Write a benchmark's numbers to results/benchmarks/{name}.json and print them."""
    out = ROOT / "results" / "benchmarks" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"name": name, **result, "machine": machine()}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return out
