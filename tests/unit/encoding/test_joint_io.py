"""Partition and comparison files: written, read back, tabulated, mapped and plotted."""

import h5py
import numpy as np
import pytest

from dnnmap.encoding.banded_ridge import BandedRidgeCV
from dnnmap.encoding.compare import paired_comparison
from dnnmap.encoding.joint_io import (
    COMPARE_COLUMNS,
    PARTITION_COLUMNS,
    comparison_table,
    partition_maps,
    partition_table,
    plot_partition,
    read_partition,
    set_spaces,
    write_comparison,
    write_partition,
)
from dnnmap.encoding.partition import variance_partition
from dnnmap.errors import InputError
from dnnmap.stats.splits import make_splits


def _partition(seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((60, 3)), rng.standard_normal((60, 4))
    Y = A @ rng.standard_normal((3, 5)) + rng.standard_normal((60, 5))
    Y[:, 4] = 1.0  # a constant voxel is masked
    splits = make_splits(60, "kfold", n_folds=3, seed=0)

    def factory(sizes, train):
        return BandedRidgeCV(sizes, [0.1, 10, 1000], n_iter=3, cv=3, device="numpy")

    return variance_partition({"m/a": A, "m/b": B}, Y, splits, factory)


def test_partition_files_table_maps_and_figure(tmp_path):
    assert set_spaces({"m": ["a", "b"], "n": ["c"]}) == ["m/a", "m/b", "n/c"]
    paths, keys = [], []
    for i, roi in enumerate(["R1", "R2"]):
        res = _partition(i)
        path = tmp_path / f"{roi}.h5"
        index = np.arange(5) + 5 * i
        write_partition(path, res, index, [f"s{k}" for k in range(60)], {"created": "now"})
        paths.append(str(path))
        keys.append({"subject": "sub-01", "set": "ab", "roi": roi})
    back = read_partition(paths[0])
    assert back["regions"] == ["unique:m/a", "unique:m/b", "shared:m/a+m/b"]
    assert back["subsets"] == ["m/a", "m/b", "m/a+m/b"] and back["masked"][4]
    with h5py.File(paths[0]) as f:
        assert f["predictions"].shape == (60, 5) and len(f["stim_id"]) == 60
    table = partition_table(paths, keys)
    assert list(table.columns) == PARTITION_COLUMNS and len(table) == 2 * 4
    assert set(table["kind"]) == {"unique", "shared", "total"}
    assert (table["n_voxels"] == 4).all()
    row = table[(table["roi"] == "R1") & (table["region"] == "unique:m/a")].iloc[0]
    np.testing.assert_allclose(row["median"], np.median(back["parts"][0, :4]), rtol=1e-6)
    data, names = partition_maps(paths, 12)
    assert names == [*back["regions"], "total_r2"] and data.shape == (4, 12)
    np.testing.assert_allclose(data[0, :4], back["parts"][0, :4])
    assert data[0, 4] == 0 and (data[:, 10:] == 0).all()  # masked, outside the ROIs
    with pytest.raises(InputError, match="beyond"):
        partition_maps(paths, 7)
    plot_partition(table, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_comparison_file_and_table(tmp_path):
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((40, 6))
    A = Y + 0.5 * rng.standard_normal((40, 6))
    B = Y + 3.0 * rng.standard_normal((40, 6))
    res = paired_comparison(Y, A, B, folds=np.arange(40) % 4, n_perm=99)
    path = tmp_path / "c.h5"
    write_comparison(path, res, np.arange(6), {"a": "m/a", "b": "m/b"})
    key = {"subject": "sub-01", "pair": "ab", "a": "m/a", "b": "m/b", "roi": "R1"}
    table = comparison_table([str(path)], [key])
    assert list(table.columns) == COMPARE_COLUMNS
    row = table.iloc[0]
    assert row["n_voxels"] == 6 and row["n_a_better_p05"] >= 5 and row["n_b_better_p05"] == 0
    assert row["median_difference"] > 0 and row["metric"] == "r"
