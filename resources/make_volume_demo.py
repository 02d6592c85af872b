"""Make the volume demo's brain files: the MNI152 2 mm brain mask and spherical ROIs.

The mask is the one nilearn computes from the MNI152 template that ships inside its package
(``nilearn.datasets.load_mni152_brain_mask(resolution=2)``; nothing is downloaded). The ROIs
are spheres of :data:`RADIUS_MM` at MNI coordinates (:data:`SPHERES`), one per hemisphere,
clipped to the mask, written as a label volume with a lookup table
(dnnmap.brain.volume_rois). config/volume/config.yaml reads the three files.

Usage (from the repository root, with dnnmap installed)::

    python resources/make_volume_demo.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib

from dnnmap.brain.volume_rois import mni152_2mm_mask, sphere_labels, write_lut

SPHERES = {
    # early visual cortex, around the calcarine sulcus
    "EVC": [(-10, -90, 2), (10, -88, 2)],
    # ventral occipitotemporal cortex, around the fusiform gyrus
    "VOT": [(-40, -54, -18), (40, -52, -18)],
    # primary motor cortex, the hand knob (a region without visual signal)
    "M1": [(-38, -24, 58), (38, -22, 58)],
}
"""ROI name -> centres (MNI millimetres), left then right hemisphere."""
RADIUS_MM = 8.0


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mask = mni152_2mm_mask()
    labels, names = sphere_labels(mask, SPHERES, RADIUS_MM)
    nib.save(mask, folder / "MNI152_2mm_brain_mask.nii.gz")
    nib.save(labels, folder / "rois.nii.gz")
    write_lut(folder / "rois_lut.txt", names)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "volume")
    main(parser.parse_args().out)
