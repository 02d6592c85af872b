"""Tests of dnnmap.media.video: videos written here are decoded to the frames written, and
clip sampling picks the frames its closed form says."""

from __future__ import annotations

import numpy as np
import pytest

from dnnmap.errors import InputError
from dnnmap.media.video import (
    ClipSampling,
    check_video,
    count_frames,
    probe_video,
    read_clips,
    read_video,
    write_video,
)


def _noise_frames(n=12, h=32, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _gray_frames(n, h=32, w=32):
    """Frame t is uniformly gray at level 10 t: its level says which frame was decoded."""
    return np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None] * 10, h * w * 3).reshape(
        n, h, w, 3
    )


@pytest.mark.parametrize(
    "name, codec, options",
    [("clip.mp4", "libx264rgb", {"qp": "0"}), ("clip.avi", "ffv1", None)],
)
def test_lossless_video_decodes_to_the_frames_written(tmp_path, name, codec, options):
    frames = _noise_frames()
    path = tmp_path / name
    write_video(path, frames, 25, codec, options)
    decoded, info = read_video(path)
    assert decoded.dtype == np.uint8 and decoded.shape == frames.shape
    np.testing.assert_array_equal(decoded, frames)
    assert (info.n_frames, info.fps, info.width, info.height) == (12, 25.0, 48, 32)
    assert info.duration == pytest.approx(12 / 25)
    header = probe_video(path)
    assert (header.n_frames, header.fps, header.width, header.height) == (12, 25.0, 48, 32)


@pytest.mark.parametrize("name", ["clip.mp4", "clip.avi", "clip.webm"])
def test_lossy_video_keeps_frame_order_and_levels(tmp_path, name):
    frames = _gray_frames(20)
    path = tmp_path / name
    write_video(path, frames, 30)  # libx264 (mp4), mpeg4 (avi), libvpx-vp9 (webm), yuv420
    decoded, info = read_video(path)
    assert decoded.shape == frames.shape and info.fps == 30.0
    levels = decoded.reshape(20, -1).mean(axis=1)
    np.testing.assert_allclose(levels, np.arange(20) * 10, atol=3)
    assert probe_video(path).n_frames == 20  # webm stores no count: duration x rate


def test_clip_indices_closed_form():
    assert ClipSampling(frames=8).indices(20, 30).tolist() == [list(range(6, 14))]
    assert ClipSampling(frames=8, crop="start").indices(20, 30).tolist() == [list(range(8))]
    # every other frame: samples 0, 2, ..., 18; a centred clip of 8 starts at sample 1
    assert ClipSampling(frames=8, stride=2).indices(20, 30).tolist() == [list(range(2, 17, 2))]
    # 30 fps read at 15 fps keeps every other frame; at 60 fps repeats each one
    assert ClipSampling(frames=4, fps=15, crop="start").indices(20, 30).tolist() == [[0, 2, 4, 6]]
    assert ClipSampling(frames=4, fps=60, crop="start").indices(20, 30).tolist() == [[0, 0, 1, 1]]
    # 3 clips spread from the first to the last possible start (0, 6, 12)
    assert ClipSampling(clips=3).crop == "uniform" and ClipSampling().crop == "center"
    uniform = ClipSampling(frames=8, clips=3, crop="uniform").indices(20, 30)
    assert uniform.tolist() == [list(range(s, s + 8)) for s in (0, 6, 12)]
    # too short: the last frame fills the clip
    short = ClipSampling(frames=6)
    assert short.indices(4, 30).tolist() == [[0, 1, 2, 3, 3, 3]]
    assert short.short(4, 30) and not short.short(6, 30)
    assert ClipSampling(frames=4, stride=2).short(7, 30) is False  # samples 0, 2, 4, 6
    assert ClipSampling(frames=4, stride=2).short(6, 30) is True


def test_clips_of_a_written_video_are_the_sampled_frames(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, _gray_frames(24), 24, "libx264rgb", {"qp": "0"})
    sampling = ClipSampling(frames=4, fps=8, clips=2, crop="uniform")
    clips, info = read_clips(path, sampling)
    assert clips.shape == (2, 4, 32, 32, 3) and info.n_frames == 24
    # 8 fps of 24: frames 0, 3, ..., 21 (8 samples); clips start at samples 0 and 4
    levels = clips.reshape(2, 4, -1).mean(axis=2) / 10
    assert levels.tolist() == [[0, 3, 6, 9], [12, 15, 18, 21]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"frames": 0}, r"clip\.frames: 0; expected an integer >= 1"),
        ({"stride": 1.5}, r"clip\.stride: 1\.5; expected an integer >= 1"),
        ({"fps": -2}, r"clip\.fps: -2; expected a positive number or null"),
        ({"crop": "end"}, r"clip\.crop: 'end'; expected one of center, start, uniform"),
        ({"clips": 3, "crop": "center"}, r"clips is 3 with crop 'center'; .* crop: uniform"),
    ],
)
def test_clip_options_are_checked(kwargs, message):
    with pytest.raises(InputError, match=message):
        ClipSampling(**kwargs)


def test_a_file_that_is_not_a_video(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputError, match=r"broken\.mp4: does not open as a video \("):
        read_video(path)
    with pytest.raises(InputError, match=r"broken\.mp4: does not open as a video"):
        probe_video(path)


def test_a_truncated_video_does_not_decode(tmp_path):
    path = tmp_path / "cut.mp4"
    write_video(path, _noise_frames(), 25)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match=r"cut\.mp4: (does not open|does not decode|no frame)"):
        read_video(path)


@pytest.mark.parametrize("name", ["clip.webm", "clip.avi"])
def test_clips_keep_only_their_frames_and_equal_a_full_decode(tmp_path, name):
    path = tmp_path / name
    write_video(path, _gray_frames(15), 15)
    assert count_frames(path) == 15 and check_video(path).n_frames == 15
    sampling = ClipSampling(frames=4, stride=3, clips=2, crop="uniform")
    clips, info = read_clips(path, sampling)
    full, _ = read_video(path)
    np.testing.assert_array_equal(clips, full[sampling.indices(15, 15.0)])
    assert info.n_frames == 15 and clips.shape == (2, 4, 32, 32, 3)
