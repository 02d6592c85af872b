"""Make dnnmap's demo stimuli: small natural-image crops of scikit-image's public-domain images.

Every source image is a file that ships inside the scikit-image wheel (``skimage/data/``);
nothing is downloaded. Only images whose docstring in ``skimage/data/_fetchers.py`` says
they are public domain or CC0 are used (see :data:`SOURCES` and ``README.md``).

From each source the script cuts square crops at three scales (90 %, 65 % and 45 % of the
shorter side) at positions drawn from a seeded random generator, resizes them to 96x96
RGB (grayscale sources are replicated to three channels) and saves them as PNG in
``stimuli/``. It then writes ``stimuli.tsv`` (``stim_id``, ``path``, ``category``,
``source``), sorted by ``stim_id``. The same seed and package versions give the same files.

Usage (from the repository root, with a throwaway virtual environment)::

    python3.11 -m venv /tmp/skv
    /tmp/skv/bin/pip install scikit-image==0.26.0 pillow==13.0.0
    /tmp/skv/bin/python resources/make_demo_stimuli.py
"""

from __future__ import annotations

import argparse
import csv
import os
from importlib.resources import files
from pathlib import Path

import numpy as np
import skimage
from PIL import Image

#: (file in skimage/data, category and stim_id prefix) of every source image used.
SOURCES: tuple[tuple[str, str], ...] = (
    ("astronaut.png", "astronaut"),
    ("brick.png", "brick"),
    ("camera.png", "cameraman"),
    ("chelsea.png", "cat"),
    ("clock_motion.png", "clock"),
    ("coffee.png", "coffee"),
    ("grass.png", "grass"),
    ("gravel.png", "gravel"),
    ("hubble_deep_field.jpg", "galaxies"),
    ("rocket.jpg", "rocket"),
)

#: Crop side lengths as fractions of the source image's shorter side.
SCALES: tuple[float, ...] = (0.9, 0.65, 0.45)

SEED = 20240601
SIZE = 96
PER_SOURCE = 15


def source_path(name: str) -> Path:
    """Return the path of a file that ships inside the scikit-image wheel.

    Parameters
    ----------
    name : str
        File name in ``skimage/data`` (for example ``"coffee.png"``).

    Returns
    -------
    Path
        Path of the file.

    Raises
    ------
    FileNotFoundError
        If the installed scikit-image does not ship the file.
    """
    path = Path(str(files("skimage") / "data" / name))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in this scikit-image wheel")
    return path


def crop_boxes(
    width: int, height: int, n: int, rng: np.random.Generator
) -> list[tuple[int, int, int, int]]:
    """Draw ``n`` square crop boxes, spread evenly over :data:`SCALES`.

    Parameters
    ----------
    width, height : int
        Size of the source image in pixels.
    n : int
        Number of boxes.
    rng : numpy.random.Generator
        Source of the crop positions.

    Returns
    -------
    list of (left, upper, right, lower)
        Boxes in PIL's convention, the i-th at scale ``SCALES[i * len(SCALES) // n]``.
    """
    boxes = []
    for i in range(n):
        side = round(SCALES[i * len(SCALES) // n] * min(width, height))
        left = int(rng.integers(0, width - side + 1))
        upper = int(rng.integers(0, height - side + 1))
        boxes.append((left, upper, left + side, upper + side))
    return boxes


def save_png(image: Image.Image, path: Path) -> None:
    """Save an image as PNG under a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)


def make_source(
    name: str, category: str, index: int, out_dir: Path, n: int, seed: int, size: int
) -> list[dict[str, str]]:
    """Cut, resize and save the crops of one source image.

    Parameters
    ----------
    name : str
        File name in ``skimage/data``.
    category : str
        What the image shows; also the stim_id prefix.
    index : int
        Position of the source in :data:`SOURCES` (part of the random seed).
    out_dir : Path
        Folder that holds ``stimuli/``.
    n : int
        Number of crops.
    seed : int
        Base random seed.
    size : int
        Side length of the saved images in pixels.

    Returns
    -------
    list of dict
        One table row (``stim_id``, ``path``, ``category``, ``source``) per crop.
    """
    with Image.open(source_path(name)) as src:
        image = src.convert("RGB")
    rng = np.random.default_rng([seed, index])
    rows = []
    for k, box in enumerate(crop_boxes(image.width, image.height, n, rng)):
        stim_id = f"{category}_{k:02d}"
        crop = image.crop(box).resize((size, size), Image.Resampling.LANCZOS)
        save_png(crop, out_dir / "stimuli" / f"{stim_id}.png")
        rows.append(
            {
                "stim_id": stim_id,
                "path": f"stimuli/{stim_id}.png",
                "category": category,
                "source": name,
            }
        )
    return rows


def write_table(rows: list[dict[str, str]], path: Path) -> None:
    """Write the stimulus table as TSV, sorted by ``stim_id``, atomically."""
    rows = sorted(rows, key=lambda row: row["stim_id"])
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def remove_stale(stim_dir: Path, keep: set[str]) -> None:
    """Delete PNG files in ``stim_dir`` that the current run did not write."""
    for png in stim_dir.glob("*.png"):
        if png.name not in keep:
            png.unlink()


def main(argv: list[str] | None = None) -> None:
    """Make all demo stimuli and ``stimuli.tsv`` (command-line entry point)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--out", type=Path, default=here, help="folder for stimuli/ and table")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed of crop positions")
    parser.add_argument("--per-source", type=int, default=PER_SOURCE, help="crops per image")
    parser.add_argument("--size", type=int, default=SIZE, help="side of saved images (pixels)")
    args = parser.parse_args(argv)

    (args.out / "stimuli").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (name, category) in enumerate(SOURCES):
        rows += make_source(name, category, index, args.out, args.per_source, args.seed, args.size)
    remove_stale(args.out / "stimuli", {Path(row["path"]).name for row in rows})
    write_table(rows, args.out / "stimuli.tsv")
    print(f"wrote {len(rows)} stimuli with scikit-image {skimage.__version__} to {args.out}")


if __name__ == "__main__":
    main()
