"""Brain pictures (dnnmap.brain.pictures): the shipped inflated and flat meshes, the p-map
and stacking-weight rows against closed forms, and the two rule scripts drawing a volume (glass
brains with the p map) and fsaverage5 GIFTI (inflated and flat views)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dnnmap.brain.pictures import (
    P_THRESHOLD,
    encoding_panels,
    shipped_mesh,
    stacking_panels,
    surface_views,
)
from dnnmap.brain.spaces import BrainSpace, write_maps
from dnnmap.brain.surface_io import MESHES

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


def _script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mesh", ["fsLR-32k", "fsaverage5"])
def test_shipped_inflated_and_flat_meshes(mesh):
    """Both packages ship both kinds for both hemispheres, on every vertex of the mesh; the
    flat maps are flat (the third singular value of the centred coordinates is under 10 % of
    the second) and the inflated surfaces are not."""
    from nilearn.surface import load_surf_mesh

    for hemi in ("left", "right"):
        spread = {}
        for kind in ("inflated", "flat"):
            path = shipped_mesh(mesh, hemi, kind)
            assert path is not None and path.is_file()
            coords = np.asarray(load_surf_mesh(str(path)).coordinates, dtype=float)
            assert len(coords) == MESHES[mesh]
            spread[kind] = np.linalg.svd(coords - coords.mean(0), compute_uv=False)
        assert spread["flat"][2] < 0.1 * spread["flat"][1]
        assert spread["inflated"][2] > 0.3 * spread["inflated"][1]
    assert shipped_mesh("fsaverage6", "left", "flat") is None
    with pytest.raises(ValueError, match="kind 'pial'"):
        shipped_mesh(mesh, "left", "pial")


def test_encoding_and_stacking_rows_against_closed_forms():
    rng = np.random.default_rng(0)
    n_layers, n = 3, 40
    r = rng.random((n_layers, n))
    best = r.argmax(0) + 1.0
    best[:5] = 0  # outside the ROIs
    logp = rng.random((n_layers, n)) * 3
    panels = encoding_panels(np.vstack([r, best]), ["a", "b", "c", "best_layer"], logp)
    assert [p.label.split(" (")[0] for p in panels] == [
        "best layer",
        "best cross-validated r",
        "-log10 p, best layer",
    ]
    expected = np.array([logp[int(b) - 1, j] if b else np.nan for j, b in enumerate(best)])
    np.testing.assert_array_equal(panels[2].values, expected)
    assert panels[2].threshold == panels[2].vmin == pytest.approx(-np.log10(P_THRESHOLD))
    np.testing.assert_array_equal(panels[1].values, np.where(best > 0, r.max(0), 0))
    assert len(encoding_panels(np.vstack([r, best]), ["a", "b", "c", "best_layer"])) == 2
    with pytest.raises(ValueError, match="logp has shape"):
        encoding_panels(np.vstack([r, best]), ["a", "b", "c", "best_layer"], logp[:2])

    w = rng.dirichlet(np.ones(3), n).T  # (3, n), columns sum to 1
    best_space = w.argmax(0) + 1.0
    best_space[:4] = 0
    names = ["r", "signed_sqrt_r2", "weight_m/a", "weight_m/b", "weight_m/c", "best_space"]
    maps = np.vstack([r[:1], r[1:2], w, best_space])
    top, weight = stacking_panels(maps, names)
    assert "1 m/a, 2 m/b, 3 m/c" in top.label
    np.testing.assert_allclose(weight.values[4:], w.max(0)[4:])
    assert np.isnan(weight.values[:4]).all()
    with pytest.raises(ValueError, match="expected weight_<space> maps and best_space"):
        stacking_panels(maps[:2], names[:2])


def _png_size(path):
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def test_rule_scripts_draw_a_volume_p_map_and_fsaverage5_flat_maps(tmp_path, monkeypatch):
    """plot_brain_maps draws a volume's best layer, best r and p map (three glass brains);
    plot_stacking_brain draws fsaverage5 GIFTI stacking maps on the lateral, medial and flat
    views of a hemisphere, from maps written as the workflow writes them; every row has its
    colour bar."""
    import matplotlib.figure

    from dnnmap.brain.responses_io import Volume

    colour_bars = []  # per figure saved: its axes that hold a matplotlib colour bar
    save = matplotlib.figure.Figure.savefig

    def counting_save(fig, *args, **kwargs):
        colour_bars.append(sum(hasattr(ax, "_colorbar") for ax in fig.axes))
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", counting_save)

    rng = np.random.default_rng(1)
    ijk = np.argwhere(np.ones((8, 9, 7), bool))
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = [-12, -40, -10]
    space = BrainSpace("nifti", volume=Volume(ijk, affine, (8, 9, 7)))
    r = rng.random((2, len(ijk))).astype(np.float32)
    maps = np.vstack([r, r.argmax(0) + 1]).astype(np.float32)
    logp = (rng.random((2, len(ijk))) * 3).astype(np.float32)
    write_maps(tmp_path / "r.nii.gz", maps, ["conv1", "fc6", "best_layer"], space)
    write_maps(tmp_path / "logp.nii.gz", logp, ["conv1", "fc6"], space)
    _script("plot_brain_maps").main(
        space,
        [str(tmp_path / "r.nii.gz")],
        str(tmp_path / "vol.png"),
        "vol",
        [str(tmp_path / "logp.nii.gz")],
    )
    width, height = _png_size(tmp_path / "vol.png")
    assert height > 1.2 * width  # three rows of glass brains
    assert colour_bars == [3]

    n = MESHES["fsaverage5"]
    gifti = BrainSpace("gifti", mesh="fsaverage5", hemis=("left",), n_vertices=n)
    assert [v for _, v in surface_views(gifti)] == ["lateral", "medial", "flat"]
    both = BrainSpace("gifti", mesh="fsaverage5", hemis=("left", "right"), n_vertices=n)
    assert surface_views(both)[3:] == [("right", "lateral"), ("right", "medial"), ("right", "flat")]
    w = np.zeros((2, n), np.float32)
    roi = rng.choice(n, 300, replace=False)
    w[0, roi] = rng.random(300)
    w[1, roi] = 1 - w[0, roi]
    best = np.where(w[0] > w[1], 1, 2) * (w.sum(0) > 0)
    stack = np.vstack([w[:1], w[:1], w, best]).astype(np.float32)
    names = ["r", "signed_sqrt_r2", "weight_alexnet/conv1", "weight_alexnet/fc6", "best_space"]
    paths = gifti.map_paths(tmp_path / "stacking_drivers")
    for path in paths:
        write_maps(path, stack, names, gifti)
    _script("plot_stacking_brain").main(
        gifti, paths, ["alexnet/conv1", "alexnet/fc6"], str(tmp_path / "st.png"), "stack"
    )
    width, height = _png_size(tmp_path / "st.png")
    assert width > 1.2 * height  # two rows of three views (lateral, medial, flat)
    assert colour_bars == [3, 2]
