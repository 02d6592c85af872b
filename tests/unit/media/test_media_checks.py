"""Media rows of the stimulus table and the start-up checks of models against them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from dnnmap.errors import InputError
from dnnmap.media.audio import AudioInfo
from dnnmap.media.checks import check_models_take_stimuli, media_report
from dnnmap.media.video import VideoInfo, write_video
from dnnmap.stimuli import MEDIA_ATTR, check_stimuli, read_table


def _table(folder, rows):
    path = folder / "stimuli.tsv"
    pd.DataFrame(rows, columns=["stim_id", "path"]).to_csv(path, sep="\t", index=False)
    return path


def _sound(path, seconds, rate=16000, channels=1):
    soundfile.write(path, np.zeros((int(seconds * rate), channels)), rate)


@pytest.mark.parametrize("decode", [False, True])
def test_media_rows_are_read_and_described(tmp_path, decode):
    write_video(tmp_path / "a.mp4", np.zeros((10, 16, 16, 3), np.uint8), 10)
    _sound(tmp_path / "b.flac", 1.5, 22050, 2)
    path = _table(tmp_path, [("a", "a.mp4"), ("b", "b.flac")])
    table = check_stimuli(read_table(path), path, decode=decode)
    assert table["modality"].tolist() == ["video", "audio"]
    video, sound = table.attrs[MEDIA_ATTR][0], table.attrs[MEDIA_ATTR][1]
    assert (video.n_frames, video.fps, video.width, video.height) == (10, 10.0, 16, 16)
    assert (sound.samplerate, sound.n_samples, sound.channels) == (22050, 33075, 2)
    assert media_report(table.attrs[MEDIA_ATTR]) == [
        "video: 1 file(s), 1.00-1.00 s, 10 fps, 16-16 x 16-16 px (width x height)",
        "audio: 1 file(s), 1.50-1.50 s, 22050 Hz, 2 channel(s)",
    ]


@pytest.mark.parametrize("decode", [False, True])
def test_broken_media_rows_name_the_row(tmp_path, decode):
    (tmp_path / "bad.webm").write_bytes(b"\x1a\x45\xdf\xa3 not really" * 20)
    path = _table(tmp_path, [("v", "bad.webm")])
    with pytest.raises(
        InputError, match=r"stimuli\.tsv row 2: bad\.webm: does not open as a video"
    ):
        check_stimuli(read_table(path), path, decode=decode)
    _sound(tmp_path / "empty.wav", 0)
    path = _table(tmp_path, [("s", "empty.wav")])
    with pytest.raises(InputError, match=r"row 2: empty\.wav: holds no audio samples"):
        check_stimuli(read_table(path), path, decode=decode)


def _checked(rows, infos):
    table = pd.DataFrame(rows, columns=["stim_id", "path", "modality"])
    table.attrs["dnnmap_lines"] = [i + 2 for i in range(len(rows))]
    table.attrs[MEDIA_ATTR] = infos
    return table


def _audio(seconds, rate=16000):
    n = round(seconds * rate)
    return AudioInfo(rate, n, 1, n / rate, "WAV")


def test_models_must_take_every_stimulus():
    sounds = _checked(
        [("s0", "s0.wav", "audio"), ("s1", "s1.wav", "audio")], {0: _audio(2.0), 1: _audio(1.0)}
    )
    ok = {"models": {"vg": {"architecture": "vggish", "layers": ["fc2"]}}}
    check_models_take_stimuli(ok, sounds, "t.tsv", "c.yaml")
    image = {"models": {"net": {"architecture": "alexnet", "layers": ["fc8"]}}}
    with pytest.raises(
        InputError,
        match=r"^c\.yaml: models\.net: alexnet takes image stimuli, but t\.tsv row 2 \(s0\) is "
        r"audio \(2 such row\(s\)\); expected a model that takes audio stimuli",
    ):
        check_models_take_stimuli(image, sounds, "t.tsv", "c.yaml")


def test_sounds_too_short_or_at_another_rate():
    model = {"architecture": "vggish", "layers": ["fc2"]}
    short = _checked([("s0", "s0.wav", "audio")], {0: _audio(0.9)})
    with pytest.raises(
        InputError,
        match=r"t\.tsv row 2 \(s0\): 0\.900 s of audio gives 0 VGGish example\(s\) of 0\.96 s but "
        r"models\.vg needs 1; expected sounds of at least 0\.975 s",
    ):
        check_models_take_stimuli({"models": {"vg": model}}, short, "t.tsv", "c.yaml")
    keep = {**model, "audio": {"examples": "keep", "n_examples": 2}}
    one = _checked([("s0", "s0.wav", "audio")], {0: _audio(1.5)})
    with pytest.raises(InputError, match=r"needs 2; expected sounds of at least 1\.935 s"):
        check_models_take_stimuli({"models": {"vg": keep}}, one, "t.tsv", "c.yaml")
    other = _checked([("s0", "s0.wav", "audio")], {0: _audio(2.0, 44100)})
    check_models_take_stimuli({"models": {"vg": model}}, other, "t.tsv", "c.yaml")  # resampled
    strict = {**model, "audio": {"resample": False}}
    with pytest.raises(
        InputError,
        match=r"t\.tsv row 2 \(s0\) for models\.vg: sampled at 44100 Hz but the network takes "
        r"16000 Hz and resampling is off",
    ):
        check_models_take_stimuli({"models": {"vg": strict}}, other, "t.tsv", "c.yaml")


def test_video_options_checked_against_the_stimuli_model():
    videos = _checked([("v0", "v0.mp4", "video")], {0: VideoInfo(8, 8.0, 1.0, 32, 32, "h264")})
    bad = {
        "models": {"m": {"architecture": "mvit_v2_s", "layers": ["head"], "clip": {"frames": 8}}}
    }
    with pytest.raises(
        InputError, match=r"^c\.yaml: models\.m: mvit_v2_s takes clips of exactly 16"
    ):
        check_models_take_stimuli(bad, videos, "t.tsv", "c.yaml")
