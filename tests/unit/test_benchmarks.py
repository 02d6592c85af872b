"""Tests of dnnmap.benchmarks: collecting Snakemake benchmark files."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from dnnmap.benchmarks import collect_benchmarks, plot_benchmarks, rule_totals

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, seconds, rss, cpu):
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    return str(path)


def test_collect_and_totals(tmp_path):
    paths = [
        _bench(tmp_path / "a.tsv", 10.5, 1400.0, 9.0),
        _bench(tmp_path / "b.tsv", 2.0, 110.0, 1.5),
        _bench(tmp_path / "c.tsv", 3.0, 120.0, 2.5),
    ]
    jobs = [
        {"rule": "extract_activations", "job": "alexnet"},
        {"rule": "encode", "job": "s/m/l/V1"},
        {"rule": "encode", "job": "s/m/l/V4"},
    ]
    table = collect_benchmarks(paths, jobs)
    assert table["seconds"].tolist() == [10.5, 2.0, 3.0]
    assert table["max_rss_mb"].tolist() == [1400.0, 110.0, 120.0]
    totals = rule_totals(table).set_index("rule")
    assert totals.loc["encode", "jobs"] == 2
    assert totals.loc["encode", "total_seconds"] == pytest.approx(5.0)
    assert totals.loc["encode", "max_rss_mb"] == 120.0
    assert list(totals.index) == ["extract_activations", "encode"]
    fig = plot_benchmarks(table)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(totals.index)
    plt.close(fig)


def test_collect_needs_one_job_per_file(tmp_path):
    path = _bench(tmp_path / "a.tsv", 1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        collect_benchmarks([path], [])
    assert isinstance(collect_benchmarks([], []), pd.DataFrame)
