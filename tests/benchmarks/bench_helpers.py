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


#: Python source of ``peak_rss_mb()`` for code run in a child process: the child's own peak
#: resident memory (MB), from ``VmHWM`` in /proc/self/status. Not ``ru_maxrss``: on Linux a
#: child's ``ru_maxrss`` (``RUSAGE_SELF`` in the child, or ``os.wait4``/``RUSAGE_CHILDREN`` in
#: the parent) starts at the parent's resident memory when it forked, so a child of a large
#: test process reports the parent's size.
PEAK_RSS_SOURCE = """
def peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""
