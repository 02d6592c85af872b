"""The video and audio mini-demos end to end, and media input refused before any job.

Each mini-demo (config/media/{video,audio}.yaml) runs on a synthetic stimulus set written
here (dnnmap.media.synthetic), with a simulated brain whose region reads one layer; the
encoding summary must rank that layer first.
"""

from __future__ import annotations

import json

import h5py
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT, dnnmap_error, run_workflow

from dnnmap.media.synthetic import write_audio_set, write_video_set

WRITERS = {"video": write_video_set, "audio": write_audio_set}


def media_config(kind: str, table) -> dict:
    config = yaml.safe_load((ROOT / "config" / "media" / f"{kind}.yaml").read_text())
    config["stimuli"]["table"] = str(table)
    return config


# About a minute each (11 jobs, most of it process start-up): slow, like the demo end to end.
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["video", "audio"])
def test_media_mini_demo_recovers_the_driving_layer(tmp_path, kind):
    table = WRITERS[kind](tmp_path / "stimuli", n=40)
    config = media_config(kind, table)
    run = tmp_path / "run"
    target = "results/summary/encoding.tsv"
    proc = run_workflow(run, config, "--cores", "2", target)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = pd.read_csv(run / target, sep="\t")
    (region,) = config["simulation"]["regions"]
    driver = config["simulation"]["regions"][region]["layer"]
    rows = summary[summary["roi"] == region].set_index("layer")["median_r"]
    assert rows.idxmax() == driver, rows.to_dict()
    assert rows[driver] > 0.3
    (model,) = config["models"]
    with h5py.File(run / "results" / "activations" / f"{model}.h5") as f:
        media = json.loads(f.attrs["media"])
        assert f["stim_id"].shape == (40,)
    if kind == "video":
        assert media == {"frames": 8, "stride": 1, "fps": None, "clips": 1, "crop": "center"}
    else:
        assert media == {"resample": True, "examples": "mean", "n_examples": None}
    log = (run / "logs" / "check_stimuli.log").read_text()
    assert f"{kind}: 40 file(s)" in log


def _bad_run(tmp_path, kind, config_change=None, stimulus_change=None):
    table = WRITERS[kind](tmp_path / "stimuli", n=8)
    if stimulus_change is not None:
        stimulus_change(tmp_path / "stimuli")
    config = media_config(kind, table)
    if config_change is not None:
        config_change(config)
    return dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))


def test_video_that_does_not_decode_stops_before_any_job(tmp_path):
    def corrupt(folder):
        (folder / "clip_02.mp4").write_bytes(b"not a video" * 50)

    line = _bad_run(tmp_path, "video", stimulus_change=corrupt)
    assert "stimuli.tsv row 4: clip_02.mp4: does not open as a video" in line


def test_a_modality_the_model_cannot_take_stops_before_any_job(tmp_path):
    def video_model(config):
        config["models"]["vggish"] = {"architecture": "r3d_18", "layers": ["stem"]}
        config["simulation"]["regions"]["A1"]["layer"] = "stem"

    line = _bad_run(tmp_path, "audio", video_model)
    assert "models.vggish: r3d_18 takes video stimuli, but" in line
    assert "stimuli.tsv row 2 (sound_00) is audio (8 such row(s))" in line
