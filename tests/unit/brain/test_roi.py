"""Tests of the extract_roi job (scripts/extract_roi.py): errors name subject, ROI and file;
masked grayordinates are counted in the log and kept in the ROI file."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar
from dnnmap.brain.summary import masked_voxels
from dnnmap.errors import InputError

IDS = ["s0", "s1", "s2", "s3"]
SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "extract_roi.py"


def _load_main():
    """The rule script's main (scripts/ is not a package: load the file)."""
    spec = importlib.util.spec_from_file_location("extract_roi", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


main = _load_main()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roi")
    stimuli = folder / "stimuli.tsv"
    pd.DataFrame(
        {"stim_id": IDS, "path": [f"/x/{s}.png" for s in IDS], "modality": "image"}
    ).to_csv(stimuli, sep="\t", index=False)
    axis = fslr32k_brain_models()
    data = np.random.default_rng(0).standard_normal((len(IDS), len(axis))).astype(np.float32)
    v1 = resolve_roi("V1", ["V1"], mmp_atlas())
    data[:, v1[:5]] = 0.0  # outside the acquisition's coverage
    data[2, v1[5:7]] = np.nan
    responses = folder / "sub.dscalar.nii"
    write_dscalar(responses, data, IDS, axis)
    short = folder / "short.dscalar.nii"
    write_dscalar(short, data[:3], IDS[:3], axis)
    return stimuli, responses, short, v1


def test_masked_grayordinates_are_counted_in_the_log(files, tmp_path, caplog):
    stimuli, responses, _, v1 = files
    out = tmp_path / "V1.h5"
    with caplog.at_level(logging.INFO, logger="dnnmap"):
        main(str(stimuli), str(responses), [], "sub-01", "V1", ["V1"], str(out))
    assert f"V1: {v1.size} grayordinates from V1; 7 masked (NaN, inf or constant)" in caplog.text
    with h5py.File(out, "r") as f:
        assert masked_voxels(f["responses"][()]).sum() == 7
        np.testing.assert_array_equal(f["index"][()], v1)


def test_errors_name_subject_roi_and_file(files, tmp_path):
    stimuli, responses, short, _ = files
    with pytest.raises(InputError) as err:
        main(str(stimuli), str(short), [], "sub-01", "V1", ["V1"], str(tmp_path / "o.h5"))
    msg = str(err.value)
    assert msg.startswith(f"subject sub-01, ROI V1, responses: {short} has 3 maps but no map")
    assert "'s3'" in msg
    with pytest.raises(InputError) as err:
        main(
            str(stimuli),
            str(responses),
            [str(responses), str(tmp_path / "gone.dscalar.nii")],
            "sub-02",
            "V1",
            ["V1"],
            str(tmp_path / "o.h5"),
        )
    assert str(err.value).startswith(
        f"subject sub-02, ROI V1, repeats: {tmp_path / 'gone.dscalar.nii'}: no such file"
    )
    assert not (tmp_path / "o.h5").exists()
