"""Per-subject ROI files: named labels on the columns of a subject's :class:`BrainSpace`.

A subject's ROIs may come from its own files instead of the group atlas (config
``brain.subjects.<subject>.roi_files``, each a path or ``{file, hemi, lut, name}``):

- volumes (NIfTI ``.nii``/``.nii.gz`` or FreeSurfer ``.mgz``/``.mgh``) on the data's grid:
  a label volume with a lookup table ``lut`` (FreeSurfer ``id name r g b a`` lines, or a TSV
  with ``index`` and ``name`` columns, as BIDS ``dseg.tsv``), or a 0/1 mask named by
  ``name`` (default: the file name without its endings);
- CIFTI ``.dlabel.nii`` on the data's grayordinates (its first map's label table);
- per-hemisphere surface files on the data's mesh: GIFTI ``.label.gii`` (its label table),
  FreeSurfer ``.annot`` (its color table's names), ``.label`` (one region, named like a
  mask) and label ``.mgz`` with a ``lut``. The hemisphere is ``hemi``, or read from the name
  (``lh.``/``rh.``, ``.L.``/``.R.``, ``hemi-L``/``hemi-R``) or GIFTI metadata.

:func:`label_columns` reads them into ``{label name: columns}``; an ROI of ``brain.rois`` is
the union of its labels' columns (:func:`resolve_labels`), ``L_<name>``/``R_<name>`` taking
one hemisphere's part of a surface label. A file on another grid or mesh than the data is
refused, naming both.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from dnnmap.brain.cifti import quiet_nibabel
from dnnmap.brain.spaces import HEMIS, BrainSpace
from dnnmap.brain.surface_io import MESHES, gifti_hemi
from dnnmap.errors import InputError

_ENDINGS = (
    ".dlabel.nii",
    ".label.gii",
    ".nii.gz",
    ".nii",
    ".mgz",
    ".mgh",
    ".annot",
    ".label",
    ".gii",
)


def _entry(entry: str | Mapping, base) -> dict:
    if isinstance(entry, str):
        entry = {"file": entry}
    out = dict(entry)
    out["file"] = str(Path(base, out["file"]))
    if out.get("lut"):
        out["lut"] = str(Path(base, out["lut"]))
    return out


def _stem(path: str) -> str:
    name = Path(path).name
    for ending in _ENDINGS:
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return re.sub(r"^(lh|rh)\.", "", name)


def read_lut(path: str | os.PathLike) -> dict[int, str]:
    """A lookup table: FreeSurfer ``id name [r g b a]`` lines, or a TSV with ``index`` and
    ``name`` columns. Returns ``{id: name}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"lookup table {path} does not exist")
    lines = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    table: dict[int, str] = {}
    header = lines[0].split("\t") if lines else []
    if "index" in header and "name" in header:
        i, n = header.index("index"), header.index("name")
        rows = [line.split("\t") for line in lines[1:]]
    else:
        i, n = 0, 1
        rows = [line.split() for line in lines]
    for k, row in enumerate(rows):
        try:
            table[int(row[i])] = row[n]
        except (ValueError, IndexError):
            raise InputError(
                f"{path}: line {k + 1} {' '.join(row)!r}; expected 'id name ...' (FreeSurfer) "
                "or a TSV with index and name columns"
            ) from None
    if not table:
        raise InputError(f"{path}: no labels; expected 'id name' lines")
    return table


def _add(out: dict, name: str, columns: np.ndarray) -> None:
    if name in out:
        out[name] = np.union1d(out[name], columns)
    else:
        out[name] = np.asarray(columns, dtype=np.int64)


def _named_values(values, lut, name, path, out, offset=0):
    """Labels of an integer array (values per column) with a lut, or a 0/1 mask."""
    values = np.asarray(values)
    if lut is not None:
        table = read_lut(lut)
        ints = np.rint(values).astype(np.int64)
        for key, label in table.items():
            if key == 0:
                continue
            columns = np.flatnonzero(ints == key)
            if columns.size:
                _add(out, label, columns + offset)
        return
    uniq = np.unique(values[np.isfinite(values)])
    if not np.isin(uniq, [0, 1]).all():
        raise InputError(
            f"{path}: holds values {uniq[:5].tolist()}...; a label image needs a lookup table "
            "('lut'), or give a 0/1 mask"
        )
    _add(out, name or _stem(path), np.flatnonzero(values == 1) + offset)


def _volume_labels(entry, space, out):
    path = entry["file"]
    with quiet_nibabel():
        img = nib.load(path)
    shape = img.shape[:3]
    v = space.volume
    if len(img.shape) > 3 and any(s != 1 for s in img.shape[3:]):
        raise InputError(f"{path}: label image has shape {img.shape}; expected 3-D")
    if shape != v.shape or not np.allclose(img.affine, v.affine, atol=1e-4):
        raise InputError(
            f"{path}: ROI file is in another space than the data: shape {shape}, affine "
            f"{np.round(img.affine, 3).tolist()}; expected the data's grid, shape {v.shape}, "
            f"affine {np.round(v.affine, 3).tolist()}"
        )
    data = np.asarray(img.dataobj).reshape(shape)
    i, j, k = v.ijk.T
    _named_values(data[i, j, k], entry.get("lut"), entry.get("name"), path, out)


def _cifti_labels(entry, space, out):
    path = entry["file"]
    with quiet_nibabel():
        img = nib.load(path)
    if not isinstance(img, nib.Cifti2Image):
        raise InputError(f"{path}: not a CIFTI-2 file; expected a .dlabel.nii")
    rows, cols = img.header.get_axis(0), img.header.get_axis(1)
    if not isinstance(rows, nib.cifti2.LabelAxis):
        raise InputError(f"{path}: first axis is a {type(rows).__name__}; expected labels")
    if cols != space.brain_models:
        raise InputError(
            f"{path}: ROI file is in another space than the data: {len(cols)} grayordinates "
            f"that differ from the data's {len(space.brain_models)}; expected the same brain "
            "models"
        )
    values = np.rint(np.asarray(img.dataobj)[0]).astype(np.int64)
    for key, (label, _) in rows.label[0].items():
        columns = np.flatnonzero(values == key)
        if key != 0 and columns.size:
            _add(out, str(label), columns)


def _hemi(entry, path, img=None) -> str:
    hemi = entry.get("hemi")
    if hemi is None and img is not None:
        hemi = gifti_hemi(img)
    if hemi is None:
        name = Path(path).name
        if re.match(r"^lh\.", name) or re.search(r"(\.L\.|hemi-L[._])", name):
            hemi = "left"
        elif re.match(r"^rh\.", name) or re.search(r"(\.R\.|hemi-R[._])", name):
            hemi = "right"
    if hemi not in HEMIS:
        raise InputError(
            f"{path}: which hemisphere? expected 'hemi: left' or 'hemi: right' in its "
            "roi_files entry, or a name starting lh./rh."
        )
    return hemi


def _check_vertices(path, n, space, hemi):
    if n != space.n_vertices:
        mesh = next((m for m, c in MESHES.items() if c == n), "no known mesh")
        raise InputError(
            f"{path}: ROI file is in another space than the data: {n} vertices ({mesh}); "
            f"expected the data's {space.mesh} ({space.n_vertices} vertices)"
        )
    if hemi not in space.hemis:
        raise InputError(f"{path}: labels the {hemi} hemisphere; the data has {space.hemis}")


def _surface_labels(entry, space, out):
    path = entry["file"]
    lower = path.lower()
    if lower.endswith(".annot"):
        hemi = _hemi(entry, path)
        labels, _, names = nib.freesurfer.read_annot(path)
        _check_vertices(path, len(labels), space, hemi)
        offset = space.hemi_columns(hemi).start
        for k, label in enumerate(names):
            label = label.decode() if isinstance(label, bytes) else str(label)
            columns = np.flatnonzero(labels == k)
            if columns.size and label not in ("unknown", "???", "Unknown", "Medial_wall"):
                _add(out, label, columns + offset)
        return
    if lower.endswith(".label"):
        hemi = _hemi(entry, path)
        vertices = np.asarray(nib.freesurfer.read_label(path), dtype=np.int64)
        if vertices.size and (vertices.max() >= space.n_vertices or vertices.min() < 0):
            raise InputError(
                f"{path}: ROI file is in another space than the data: vertex "
                f"{vertices.max()} beyond the data's {space.mesh} ({space.n_vertices} vertices)"
            )
        if hemi not in space.hemis:
            raise InputError(f"{path}: labels the {hemi} hemisphere; the data has {space.hemis}")
        _add(out, entry.get("name") or _stem(path), vertices + space.hemi_columns(hemi).start)
        return
    img = nib.load(path)
    if isinstance(img, nib.gifti.GiftiImage):
        hemi = _hemi(entry, path, img)
        if not img.darrays:
            raise InputError(f"{path}: no data arrays; expected a GIFTI label file")
        values = np.rint(np.asarray(img.darrays[0].data)).astype(np.int64).ravel()
        _check_vertices(path, len(values), space, hemi)
        offset = space.hemi_columns(hemi).start
        table = img.labeltable.get_labels_as_dict()
        if entry.get("lut"):
            table = read_lut(entry["lut"])
        if not table:
            _named_values(values, None, entry.get("name"), path, out, offset)
            return
        for key, label in table.items():
            columns = np.flatnonzero(values == key)
            if key != 0 and columns.size:
                _add(out, str(label), columns + offset)
        return
    if isinstance(img, nib.MGHImage):
        hemi = _hemi(entry, path)
        if img.shape[1:3] != (1, 1):
            raise InputError(
                f"{path}: ROI file is in another space than the data: a volume of shape "
                f"{img.shape}; expected surface labels on {space.mesh}"
            )
        values = np.asarray(img.dataobj)[:, 0, 0].reshape(img.shape[0], -1)[:, 0]
        _check_vertices(path, len(values), space, hemi)
        _named_values(
            values, entry.get("lut"), entry.get("name"), path, out, space.hemi_columns(hemi).start
        )
        return
    raise InputError(f"{path}: is a {type(img).__name__}; expected surface labels")


def label_columns(
    roi_files: Sequence[str | Mapping], space: BrainSpace, where: str, base="."
) -> dict[str, np.ndarray]:
    """Read a subject's ROI files into ``{label name: columns of the space}``.

    Parameters
    ----------
    roi_files : sequence of path or mapping
        The config's ``roi_files`` entries (``file`` with optional ``hemi``, ``lut``,
        ``name``).
    space : BrainSpace
        The subject's data space; every file must be on it.
    where : str
        Config key, for messages.

    Returns
    -------
    dict of str -> ndarray of int64
        Sorted columns of each label (a label in several files: the union).

    Raises
    ------
    InputError
        A missing or unreadable file, a file on another grid, grayordinates or mesh than the
        data, a label image without lookup table, a surface file of unknown hemisphere.
    """
    out: dict[str, np.ndarray] = {}
    for i, raw in enumerate(roi_files):
        entry = _entry(raw, base)
        path = entry["file"]
        if not Path(path).is_file():
            raise InputError(f"{where}.roi_files.{i}: file {path} does not exist")
        try:
            lower = path.lower()
            if lower.endswith(".dlabel.nii"):
                if space.format != "cifti":
                    raise InputError(
                        f"{path}: ROI file is in another space than the data: a CIFTI dlabel "
                        f"for the {space.describe()}"
                    )
                _cifti_labels(entry, space, out)
            elif space.format == "nifti":
                if lower.endswith((".annot", ".label", ".gii")):
                    raise InputError(
                        f"{path}: ROI file is in another space than the data: surface labels "
                        f"for the {space.describe()}"
                    )
                _volume_labels(entry, space, out)
            elif space.format in ("gifti", "mgh"):
                if lower.endswith((".nii", ".nii.gz")):
                    raise InputError(
                        f"{path}: ROI file is in another space than the data: a volume for "
                        f"the {space.describe()}"
                    )
                _surface_labels(entry, space, out)
            else:
                raise InputError(
                    f"{path}: CIFTI data takes ROI files as .dlabel.nii on its grayordinates"
                )
        except InputError as err:
            raise InputError(f"{where}.roi_files.{i}: {err}") from None
        except Exception as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise InputError(f"{where}.roi_files.{i}: {path}: not readable ({reason})") from err
    return out


def resolve_labels(
    roi: str, labels: str | Sequence[str], named: Mapping[str, np.ndarray], space: BrainSpace
) -> np.ndarray:
    """Columns of an ROI made of labels of :func:`label_columns`.

    A label ``X`` is every column labelled ``X``; on a surface, ``L_X`` (``R_X``) is the left
    (right) hemisphere's part of ``X`` when no label is called ``L_X``.

    Returns
    -------
    ndarray of int64, shape (n_vox,)
        Sorted, unique columns.

    Raises
    ------
    InputError
        An unknown label (the closest names suggested) or an empty ROI.
    """
    if isinstance(labels, str):
        labels = [labels]
    parts = []
    for label in labels:
        if label in named:
            parts.append(named[label])
            continue
        prefix = label[:2]
        if space.hemis and prefix in ("L_", "R_") and label[2:] in named:
            hemi = "left" if prefix == "L_" else "right"
            if hemi in space.hemis:
                cols = space.hemi_columns(hemi)
                columns = named[label[2:]]
                parts.append(columns[(columns >= cols.start) & (columns < cols.stop)])
                continue
        close = difflib.get_close_matches(label, list(named), n=3, cutoff=0.5)
        hint = (
            ("did you mean " + " or ".join(repr(c) for c in close) + "?")
            if close
            else (
                f"expected one of {', '.join(sorted(named)[:10])}"
                + (" ..." if len(named) > 10 else "")
            )
        )
        raise InputError(f"ROI {roi!r}: label {label!r} is in none of the ROI files; {hint}")
    columns = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    if columns.size == 0:
        raise InputError(f"ROI {roi!r}: labels {list(labels)} cover no column of the data")
    return columns.astype(np.int64)
