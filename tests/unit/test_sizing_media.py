"""Extraction sizing for video and audio networks and for shards, against hand computations.

A video stimulus is ``clip.clips`` clips of ``clip.frames`` frames; an audio stimulus is its
0.96 s examples (all of them averaged, or ``audio.n_examples`` kept). Memory and runtime
requests must grow with both; the numbers below are worked out by hand from the formulas'
docstrings (dnnmap.sizing) and the networks' published shapes.
"""

from __future__ import annotations

import math

import pytest

from dnnmap import sizing
from dnnmap.media.audio import AudioInfo

R3D_PARAMS = 33_371_472
VGGISH_PARAMS = 72_141_184


def _mb(weights_params, batch_bytes):
    return math.ceil((1500 + (2 * 4 * weights_params + batch_bytes) / 1e6) * 1.2)


def test_video_clip_frames_and_clips():
    entry = {
        "architecture": "r3d_18",
        "layers": ["stem", "layer4"],
        "clip": {"frames": 8, "clips": 3},
        "preprocessing": {"resize": 112},
    }
    # r3d_18 at 112 px: stem (64, t, 56, 56); layer2-4 halve time and space: layer4 (512,
    # t/8, 7, 7) -> 8 frames: stem 64*8*56*56, layer4 512*1*7*7 (16 frames: 512*2*7*7)
    units = sizing.layer_units(entry, entry["layers"], 112)
    assert units == {"stem": 64 * 8 * 56 * 56, "layer4": 512 * 1 * 7 * 7}
    assert sizing.layer_units("r3d_18", ["layer4"], 112) == {"layer4": 512 * 2 * 7 * 7}
    load = sizing.media_load(entry, 112)
    assert load == sizing.MediaLoad(3, 3 * 8 * 112 * 112, 1, 3 * 8 / 16)
    # per stimulus: 3 clips of inputs, hook and host copies of each clip's units; the
    # averaged row of the batch computed, of the one waiting and of the one being written
    # (float32 and storage copies): 4 copies with WRITE_DEPTH 1
    total = sum(units.values())
    per_stim = 3 * (3 * 8 * 112 * 112 + 2 * total) * 4 + 4 * total * 4
    assert sizing.extraction_mem_mb(entry, entry["layers"], 112, 4) == _mb(R3D_PARAMS, 4 * per_stim)
    assert sizing.extraction_mem_mb(entry, entry["layers"], 112, 4, attempt=2) == 2 * _mb(
        R3D_PARAMS, 4 * per_stim
    )
    # runtime: 1.0 s per default 16-frame clip on the CPU, 3 clips of 8 frames = 1.5 clips
    assert sizing.extraction_runtime_min(100, entry, False, load.compute) == 10 + math.ceil(
        3 * 100 * 1.0 * 1.5 / 60
    )
    one = {**entry, "clip": {"frames": 8}}
    assert sizing.extraction_mem_mb(one, entry["layers"], 112, 4) < sizing.extraction_mem_mb(
        entry, entry["layers"], 112, 4
    )


def test_audio_examples_kept_and_averaged():
    keep = {
        "architecture": "vggish",
        "layers": ["conv1", "fc2"],
        "audio": {"examples": "keep", "n_examples": 3},
    }
    # VGGish: conv1 (64, 96, 64) per example, fc2 (128,); keep writes 3 examples of each
    units = sizing.layer_units(keep, keep["layers"], 96)
    assert units == {"conv1": 3 * 64 * 96 * 64, "fc2": 3 * 128}
    load = sizing.media_load(keep, 96)
    assert load == sizing.MediaLoad(3, 96 * 64, 3, 3.0)
    per_example = 64 * 96 * 64 + 128
    per_stim = 3 * (96 * 64 + 2 * per_example) * 4 + 4 * 3 * per_example * 4
    assert sizing.extraction_mem_mb(keep, keep["layers"], 96, 8) == _mb(VGGISH_PARAMS, 8 * per_stim)

    mean = {"architecture": "vggish", "layers": ["conv1", "fc2"]}
    assert sizing.layer_units(mean, mean["layers"], 96) == {"conv1": 64 * 96 * 64, "fc2": 128}
    # the longest sound has 7 examples (all in the forward pass), the mean is 2.5
    load = sizing.media_load(mean, 96, (7, 2.5))
    assert load == sizing.MediaLoad(7, 96 * 64, 1, 2.5)
    per_stim = 7 * (96 * 64 + 2 * per_example) * 4 + 4 * per_example * 4
    assert sizing.extraction_mem_mb(mean, mean["layers"], 96, 8, examples=(7, 2.5)) == _mb(
        VGGISH_PARAMS, 8 * per_stim
    )
    # 0.05 s per example on the CPU, 2.5 examples per sound
    assert sizing.extraction_runtime_min(1000, mean, False, 2.5) == 10 + math.ceil(
        3 * 1000 * 0.05 * 2.5 / 60
    )
    assert sizing.media_load(mean, 96) == sizing.MediaLoad(1, 96 * 64, 1, 1.0)


def test_sound_examples_from_headers():
    # 16 kHz: a 400-sample window hopped by 160 gives 1 + (n - 400) // 160 frames, and an
    # example is 96 frames (hop 96): 2 s -> 198 frames -> 2 examples; 1 s at 44.1 kHz is
    # 16,000 samples at 16 kHz -> 98 frames -> 1 example; 5 s -> 498 frames -> 5 examples
    infos = {
        0: AudioInfo(16000, 32000, 1, 2.0, "WAV"),
        3: AudioInfo(44100, 44100, 2, 1.0, "WAV"),
        5: AudioInfo(16000, 80000, 1, 5.0, "FLAC"),
        7: object(),  # a video's header, not a sound
    }
    most, mean = sizing.sound_examples(infos)
    assert most == 5 and mean == pytest.approx((2 + 1 + 5) / 3)
    assert sizing.sound_examples({}) is None


def test_image_sizing():
    # per unit: the batch computed (hook and host copies), the one waiting for the writer
    # thread, the one being written (float32 and storage copies): 5 copies with WRITE_DEPTH 1
    layers = ["conv1", "fc8"]
    units = 64 * 55 * 55 + 1000
    expected = _mb(61_100_840, 32 * (3 * 224 * 224 * 4 + 5 * units * 4))
    assert sizing.extraction_mem_mb("alexnet", layers, 224, 32) == expected
    assert sizing.media_load("alexnet", 224) == sizing.MediaLoad(1, 3 * 224 * 224, 1, 1.0)


def test_merge_sizing():
    # one block of 32 rows of the largest layer (3 float32 copies) + 64 MB of chunk caches
    assert sizing.merge_shards_mem_mb(802_816, 32) == math.ceil(
        (sizing.PYTHON_BASE_MB + (3 * 4 * 32 * 802_816 + 64e6) / 1e6) * 1.2
    )
    assert sizing.merge_shards_runtime_min(73_000, 1_000_000) == 5 + math.ceil(
        4 * 73_000 * 1_000_000 / 20e6 / 60
    )
