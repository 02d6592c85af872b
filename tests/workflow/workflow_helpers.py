"""Helpers to run the workflow in a scratch folder with a config of the test's making."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import h5py
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def demo_config(models: list[str] | None = None) -> dict:
    """The demo config with its stimulus table made absolute, so it runs from any folder.

    Parameters
    ----------
    models : list of str, optional
        Keep only these of the demo's models (and in ``rsa.models`` and ``decoding.models``);
        tests that run jobs on a small config keep ``["alexnet"]``, the model the simulated
        brain reads. None: every model of the demo.
    """
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["stimuli"]["table"] = str(ROOT / config["stimuli"]["table"])
    if models is not None:
        config["models"] = {name: config["models"][name] for name in models}
        for section in ("rsa", "decoding"):
            chosen = config[section].get("models")
            kept = [m for m in chosen or [] if m in models]
            # every model that is left: the default (null), so that tests may rename models
            config[section]["models"] = kept if 0 < len(kept) < len(models) else None
    return copy.deepcopy(config)


def snakemake_command(workdir: Path, config: dict, *args: str) -> list[str]:
    """Write ``config`` into ``workdir``; return the snakemake command that runs it there."""
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]


def run_workflow(
    workdir: Path, config: dict, *args: str, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Write ``config`` into ``workdir`` and run snakemake there; return the finished process."""
    cmd = snakemake_command(workdir, config, *args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)


def dnnmap_error(proc: subprocess.CompletedProcess) -> str:
    """The one-line dnnmap error a failed run printed (from snakemake's output or a rule log)."""
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if "dnnmap: " in line]
    assert proc.returncode != 0, f"expected failure, got success:\n{text[-2000:]}"
    assert lines, f"no dnnmap error line in output:\n{text[-3000:]}"
    return lines[0]


def h5_datasets(path) -> dict:
    """Every dataset of an HDF5 file, by its path in the file."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


WORKBENCH_FORMATS = (".dscalar.nii", ".dtseries.nii", ".dlabel.nii", ".func.gii", ".label.gii")
"""Endings of the CIFTI and GIFTI files Connectome Workbench is asked to read."""


def workbench_reads_every_map(folder: Path) -> list[Path]:
    """Connectome Workbench (``wb_command -file-information``) reads every CIFTI and GIFTI
    file under ``folder`` (a run's ``results/``); return the files read. Where ``wb_command``
    is not installed, nothing is checked and the list is empty."""
    import shutil

    wb = shutil.which("wb_command")
    if wb is None:
        return []
    files = sorted(p for p in Path(folder).rglob("*") if p.name.endswith(WORKBENCH_FORMATS))
    for path in files:
        info = subprocess.run(
            [wb, "-file-information", "-no-map-info", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert info.returncode == 0 and "Type:" in info.stdout, (path, info.stderr)
    return files


def placeholder_subject(folder: Path, ids: list[str], labels: tuple[str, str]) -> dict:
    """A 2x2x2 NIfTI subject of noise whose voxels carry two labels: the brain entry of a
    config whose real subjects come later (e.g. to extract the activations first)."""
    import nibabel as nib
    import numpy as np

    data = np.random.default_rng(1).standard_normal((2, 2, 2, len(ids))).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), folder / "placeholder.nii.gz")
    codes = np.array([1, 2] * 4, np.int16).reshape(2, 2, 2)
    nib.save(nib.Nifti1Image(codes, np.eye(4)), folder / "placeholder_rois.nii.gz")
    (folder / "placeholder_ids.txt").write_text("\n".join(ids))
    (folder / "lut.txt").write_text(f"1 {labels[0]}\n2 {labels[1]}\n")
    return {
        "responses": str(folder / "placeholder.nii.gz"),
        "ids": str(folder / "placeholder_ids.txt"),
        "roi_files": [
            {"file": str(folder / "placeholder_rois.nii.gz"), "lut": str(folder / "lut.txt")}
        ],
    }
