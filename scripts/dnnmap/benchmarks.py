"""Runtime and peak memory of the workflow's heavy jobs, from Snakemake's benchmark files."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def collect_benchmarks(paths: Sequence[str], jobs: Sequence[dict]) -> pd.DataFrame:
    """One row per job: its rule, wildcards, wall time (s), CPU time (s) and peak RSS (MB).

    Parameters
    ----------
    paths : sequence of str
        Snakemake ``benchmark:`` TSV files.
    jobs : sequence of dict
        For each path, ``rule`` and ``job`` (the wildcard values, joined by '/').
    """
    rows = []
    for path, job in zip(paths, jobs, strict=True):
        bench = pd.read_csv(path, sep="\t")
        rows.append(
            {
                "rule": job["rule"],
                "job": job["job"],
                "seconds": float(bench["s"].max()),
                "cpu_seconds": float(bench["cpu_time"].max()),
                "max_rss_mb": float(bench["max_rss"].max()),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "job", "seconds", "cpu_seconds", "max_rss_mb"])


def rule_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: number of jobs, total and longest wall time, largest peak memory."""
    grouped = table.groupby("rule", sort=False)
    return pd.DataFrame(
        {
            "jobs": grouped.size(),
            "total_seconds": grouped["seconds"].sum(),
            "max_seconds": grouped["seconds"].max(),
            "max_rss_mb": grouped["max_rss_mb"].max(),
        }
    ).reset_index()


def plot_benchmarks(table: pd.DataFrame) -> plt.Figure:
    """Two panels per rule: wall time of each job and peak memory of each job."""
    rules = list(dict.fromkeys(table["rule"]))
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 0.6 * len(rules) + 1.8))
    for i, rule in enumerate(rules):
        part = table[table["rule"] == rule]
        ax_t.scatter(part["seconds"], [i] * len(part), alpha=0.6, s=18)
        ax_m.scatter(part["max_rss_mb"], [i] * len(part), alpha=0.6, s=18)
    for ax, label in ((ax_t, "wall time per job (s)"), (ax_m, "peak memory per job (MB)")):
        ax.set_yticks(range(len(rules)), rules)
        ax.set_xlabel(label)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    ax_m.set_yticklabels([])
    fig.tight_layout()
    return fig
