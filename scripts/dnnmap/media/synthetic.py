"""Synthetic video and audio stimulus sets, for the media mini-demos and tests.

``python -m dnnmap.media.synthetic video FOLDER`` (or ``audio``) writes the stimulus files
and a ``stimuli.tsv`` table into ``FOLDER``:

- video: gray drifting sinusoidal gratings (random orientation, spatial frequency, phase
  and drift) with a black or white disc moving in a random direction, as mp4 (H.264); the
  table's ``category`` is the disc's direction of motion (left, right, up, down);
- audio: harmonic tones with random fundamental (log-uniform 100-2000 Hz), number of
  harmonics, amplitude modulation and a frequency glide, with a little noise, as 16-bit
  wav at 16 kHz; ``category`` is the register (low or high fundamental).

Each set is fully determined by its seed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

from dnnmap.media.video import write_video

DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}


def video_frames(rng: np.random.Generator, frames: int, size: int) -> tuple[np.ndarray, str]:
    """One synthetic clip, uint8 (frames, size, size, 3), and its disc's direction.

    A gray drifting grating (mean 0.5, contrast 0.4; random orientation, spatial frequency,
    phase and drift) with a black or white disc moving in one of four directions.
    """
    y, x = np.mgrid[0:size, 0:size] / size
    theta = rng.uniform(0, np.pi)
    freq = rng.uniform(1.0, 6.0)
    speed = rng.uniform(-0.3, 0.3)
    phase = rng.uniform(0, 2 * np.pi)
    direction = str(rng.choice(list(DIRECTIONS)))
    dx, dy = DIRECTIONS[direction]
    start = rng.uniform(0.3, 0.7, 2)
    step = rng.uniform(0.03, 0.08)
    radius = rng.uniform(0.08, 0.25)
    level = rng.choice([0.0, 1.0])
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        cycles = freq * (x * np.cos(theta) + y * np.sin(theta)) - speed * t
        image = 0.5 + 0.4 * np.sin(2 * np.pi * cycles + phase)
        cx, cy = start[0] + dx * step * t, start[1] + dy * step * t
        image[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = level
        out[t] = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)[..., None]
    return out, direction


def write_video_set(
    folder: str | os.PathLike,
    n: int = 32,
    frames: int = 8,
    size: int = 32,
    fps: float = 8.0,
    seed: int = 0,
) -> Path:
    """Write ``n`` synthetic clips and their table; return the table's path.

    Parameters
    ----------
    folder : path
        Created if needed; receives ``clip_XX.mp4`` and ``stimuli.tsv``.
    n, frames, size : int
        Clips, frames per clip, frame side in pixels (even).
    fps : float
        Frame rate.
    seed : int
        Seed of everything random.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        clip, direction = video_frames(rng, frames, size)
        name = f"clip_{i:02d}.mp4"
        write_video(folder / name, clip, fps, options={"crf": "10"})
        rows.append(
            {"stim_id": f"clip_{i:02d}", "path": name, "modality": "video", "category": direction}
        )
    table = folder / "stimuli.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    return table


def tone(rng: np.random.Generator, seconds: float, rate: int) -> tuple[np.ndarray, str]:
    """One synthetic sound, float (n_samples,) in [-1, 1], and its register."""
    t = np.arange(round(seconds * rate)) / rate
    f0 = float(np.exp(rng.uniform(np.log(100), np.log(2000))))
    glide = rng.uniform(-0.3, 0.3)
    freq = f0 * (1 + glide * t / seconds)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    n_harmonics = int(rng.integers(1, 6))
    decay = rng.uniform(0.3, 0.9)
    wave = sum(decay**k * np.sin((k + 1) * phase) for k in range(n_harmonics))
    am = 1 + rng.uniform(0, 0.8) * np.sin(2 * np.pi * rng.uniform(2, 12) * t)
    wave = wave * am + 0.05 * rng.standard_normal(len(t))
    wave = 0.8 * wave / np.abs(wave).max()
    return wave, "low" if f0 < 450 else "high"


def write_audio_set(
    folder: str | os.PathLike,
    n: int = 32,
    seconds: float = 1.0,
    rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write ``n`` synthetic sounds (16-bit wav) and their table; return the table's path."""
    import soundfile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        wave, register = tone(rng, seconds, rate)
        name = f"sound_{i:02d}.wav"
        soundfile.write(folder / name, wave, rate, subtype="PCM_16")
        rows.append(
            {"stim_id": f"sound_{i:02d}", "path": name, "modality": "audio", "category": register}
        )
    table = folder / "stimuli.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    return table


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m dnnmap.media.synthetic {video,audio} FOLDER [-n N] [--seed S]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["video", "audio"])
    parser.add_argument("folder")
    parser.add_argument("-n", type=int, default=32, help="number of stimuli (default 32)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write = write_video_set if args.kind == "video" else write_audio_set
    print(write(args.folder, n=args.n, seed=args.seed))


if __name__ == "__main__":
    main()
