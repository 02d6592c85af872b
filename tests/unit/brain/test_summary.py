"""dnnmap.brain.summary: the brain-data table, against numpy on files written here."""

import numpy as np
import pytest

from dnnmap.brain.summary import COLUMNS, masked_voxels, summarize_rois
from dnnmap.errors import InputError
from dnnmap.store import write_h5


def test_masked_voxels_are_nonfinite_or_constant():
    rng = np.random.default_rng(0)
    R = rng.standard_normal((10, 6))
    R[3, 1] = np.nan
    R[:, 2] = 4.0
    R[0, 4] = np.inf
    np.testing.assert_array_equal(masked_voxels(R), [False, True, True, False, True, False])
    with pytest.raises(InputError, match="expected \\(n_stim, n_vox\\)"):
        masked_voxels(np.zeros(3))


def test_summarize_rois(tmp_path):
    rng = np.random.default_rng(1)
    ids = [f"s{i}" for i in range(12)]
    plain = rng.standard_normal((12, 5))
    plain[:, 0] = np.nan  # an all-NaN voxel
    write_h5(tmp_path / "a.h5", {"responses": plain}, stim_id=ids)
    repeats = rng.standard_normal((3, 12, 4))
    ceiling = np.array([0.2, 0.9, np.nan, 0.5], dtype=np.float32)
    responses = repeats.mean(axis=0)
    responses[:, 1] = 0.0  # a constant voxel: its ceiling is left out of the median
    write_h5(
        tmp_path / "b.h5",
        {"responses": responses, "repeats": repeats, "noise_ceiling": ceiling},
        stim_id=ids,
    )
    table = summarize_rois(
        [str(tmp_path / "a.h5"), str(tmp_path / "b.h5")],
        [{"subject": "sub-01", "roi": "V1"}, {"subject": "sub-01", "roi": "V4"}],
    )
    assert list(table.columns) == list(COLUMNS)
    a, b = table.to_dict("records")
    assert (a["n_stim"], a["n_vox"], a["n_masked"], a["n_repeats"]) == (12, 5, 1, 0)
    assert np.isnan(a["median_noise_ceiling"])
    assert (b["n_vox"], b["n_masked"], b["n_repeats"]) == (4, 1, 3)
    assert b["median_noise_ceiling"] == pytest.approx(np.median([0.2, 0.5]))


def test_summarize_rois_bad_input(tmp_path):
    write_h5(tmp_path / "x.h5", {"other": np.zeros(3)})
    with pytest.raises(InputError, match=r"x\.h5 has no 'responses' dataset"):
        summarize_rois([str(tmp_path / "x.h5")], [{"subject": "s", "roi": "r"}])
    with pytest.raises(InputError, match="1 ROI files but 0 keys"):
        summarize_rois([str(tmp_path / "x.h5")], [])
