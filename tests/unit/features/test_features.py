"""Tests of dnnmap.features.reduce (every features.method and fit) against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from sklearn.decomposition import PCA

from dnnmap.errors import InputError
from dnnmap.features.folds import lossless_basis
from dnnmap.features.random_projection import projection_matrix
from dnnmap.features.reduce import (
    feature_attrs,
    fit_rows,
    layer_features,
    reduce_layer,
    resolve_solver,
)
from dnnmap.models.activation_layout import chunk_shape
from dnnmap.store import write_strings


def _activations(path, layers: dict[str, tuple], batch=4, chunks=None, seed=0):
    """Write an activations-like file; each layer has a decaying spectrum and an offset."""
    rng = np.random.default_rng(seed)
    data = {}
    with h5py.File(path, "w") as f:
        n_stim = next(iter(layers.values()))[0]
        ids = [f"stim{i:03d}" for i in range(n_stim)]
        write_strings(f, "stim_id", ids)
        group = f.create_group("layers")
        for name, shape in layers.items():
            n, *unit = shape
            p = int(np.prod(unit))
            latent = rng.standard_normal((n, p)) * (0.8 ** np.arange(p))
            basis = np.linalg.qr(rng.standard_normal((p, p)))[0]
            x = (latent @ basis.T + rng.standard_normal(p) * 3).reshape(shape).astype(np.float32)
            chunk = chunks or chunk_shape(n, unit, batch, 4)
            group.create_dataset(name, data=x, chunks=chunk)
            data[name] = x
    return ids, data


def _check_against_sklearn(result, x, k):
    flat = x.reshape(x.shape[0], -1).astype(np.float64)
    ref = PCA(n_components=k, svd_solver="full").fit(flat)
    ref_scores = ref.transform(flat)
    assert result.scores.shape == (x.shape[0], k) and result.n_components == k
    # Same scores up to the sign of each component.
    signs = np.sign(np.sum(result.scores * ref_scores, axis=0))
    assert (signs != 0).all()
    np.testing.assert_allclose(result.scores, ref_scores * signs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        result.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-6
    )
    np.testing.assert_allclose(result.explained_variance, ref.explained_variance_, rtol=1e-6)


@pytest.mark.parametrize("chunks", [None, (4, 2, 5, 5)])
def test_dual_route_matches_sklearn(tmp_path, chunks):
    path = tmp_path / "act.h5"
    ids, data = _activations(path, {"conv": (12, 6, 5, 5), "fc": (12, 40)}, chunks=None)
    if chunks:  # rewrite the conv layer with several channel blocks (several column slabs)
        with h5py.File(path, "a") as f:
            del f["layers/conv"]
            f["layers"].create_dataset("conv", data=data["conv"], chunks=chunks)
    got_ids, result = reduce_layer(path, "conv", 5)
    assert got_ids == ids
    assert result.method == "dual"
    _check_against_sklearn(result, data["conv"], 5)
    # k is clipped to n_stim - 1.
    _, result = reduce_layer(path, "fc", 50)
    assert result.method == "dual"
    _check_against_sklearn(result, data["fc"], 11)


def test_dual_route_components(tmp_path):
    path = tmp_path / "act.h5"
    _, data = _activations(path, {"conv": (10, 4, 3, 3)})
    _, result = reduce_layer(path, "conv", 3, components=True)
    flat = data["conv"].reshape(10, -1).astype(np.float64)
    ref = PCA(n_components=3, svd_solver="full").fit(flat)
    signs = np.sign(np.sum(result.components * ref.components_, axis=1))
    np.testing.assert_allclose(result.components, ref.components_ * signs[:, None], atol=1e-5)
    np.testing.assert_allclose(result.mean, ref.mean_, rtol=1e-6, atol=1e-6)


def test_primal_route_matches_sklearn(tmp_path):
    path = tmp_path / "act.h5"
    ids, data = _activations(path, {"small": (200, 8, 2, 2)}, batch=32)
    with h5py.File(path, "r") as f:
        assert f["layers/small"].chunks == (32, 8, 2, 2)  # 7 row slabs, the last one short
    got_ids, result = reduce_layer(path, "small", 6)
    assert got_ids == ids
    assert result.method == "primal"
    _check_against_sklearn(result, data["small"], 6)
    ref = PCA(n_components=6, svd_solver="full").fit(data["small"].reshape(200, -1))
    signs = np.sign(np.sum(result.components * ref.components_, axis=1))
    np.testing.assert_allclose(result.components, ref.components_ * signs[:, None], atol=1e-5)


def test_unknown_layer_lists_layers(tmp_path):
    path = tmp_path / "act.h5"
    _activations(path, {"conv1": (5, 2, 2, 2), "fc8": (5, 10)})
    with pytest.raises(InputError) as err:
        reduce_layer(path, "conv9", 2)
    msg = str(err.value)
    assert str(path) in msg and "'conv9'" in msg and "conv1, fc8" in msg
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        write_strings(f, "stim_id", ["a"])
    with pytest.raises(InputError, match="layers in file: none"):
        reduce_layer(empty, "conv1", 2)


def test_feature_attrs(tmp_path):
    path = tmp_path / "act.h5"
    _activations(path, {"fc": (9, 20)})
    _, result = reduce_layer(path, "fc", 4)
    attrs = feature_attrs(result, "fc")
    ratio = json.loads(attrs["explained_variance_ratio"])
    np.testing.assert_allclose(ratio, result.explained_variance_ratio)
    assert attrs["n_components"] == 4 and attrs["route"] == "dual" and attrs["layer"] == "fc"
    assert attrs["explained_variance_ratio_total"] == pytest.approx(sum(ratio))


# --- layer_features: every method and fit, and the attrs of the file -----------------------


def _main(tmp_path, settings, external=None):
    """Run the rule script's main and read back the file."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
    from reduce_features import main

    out = tmp_path / f"feat-{len(list(tmp_path.iterdir()))}.h5"
    main(tmp_path / "act.h5", "conv", settings, out, external, "stimuli.tsv")
    with h5py.File(out, "r") as f:
        return {k: f[k][()] for k in f}, dict(f.attrs)


def test_method_none_writes_the_raw_units(tmp_path):
    _, data = _activations(tmp_path / "act.h5", {"conv": (9, 4, 3, 3)})
    arrays, attrs = _main(tmp_path, {"method": "none", "fit": "train", "n_components": 5})
    np.testing.assert_array_equal(arrays["features"], data["conv"].reshape(9, -1))
    assert arrays["features"].dtype == np.float32
    assert (attrs["method"], attrs["fit"], attrs["n_components"]) == ("none", "none", 36)
    assert attrs["fitted_on"] == "nothing (raw units)" and "basis" not in arrays
    # 36 units >= 9 stimuli: the lossless basis the ridge-type jobs read instead of the units
    want = lossless_basis(arrays["features"].astype(np.float64))
    assert arrays["lossless"].shape == (9, 8)
    np.testing.assert_array_equal(arrays["lossless"], want)
    np.testing.assert_allclose(
        arrays["lossless"] @ arrays["lossless"].T,
        (c := data["conv"].reshape(9, -1) - data["conv"].reshape(9, -1).mean(0)) @ c.T,
        rtol=1e-5,
        atol=1e-5,
    )


def test_method_none_stores_no_lossless_basis_for_a_narrow_layer(tmp_path):
    _activations(tmp_path / "act.h5", {"conv": (9, 4)})
    arrays, _ = _main(tmp_path, {"method": "none"})
    assert arrays["features"].shape == (9, 4) and "lossless" not in arrays


def test_random_projection_attrs_and_features(tmp_path):
    _, data = _activations(tmp_path / "act.h5", {"conv": (9, 4, 3, 3)})
    settings = {"method": "random_projection", "n_components": 6, "seed": 2}
    arrays, attrs = _main(tmp_path, settings)
    R = projection_matrix("gaussian", 6, 36, 2)
    np.testing.assert_allclose(arrays["features"], data["conv"].reshape(9, -1) @ R.T, rtol=1e-5)
    assert (attrs["method"], attrs["fit"], attrs["seed"]) == ("random_projection", "none", 2)
    assert attrs["projection"] == "gaussian" and attrs["n_components"] == 6
    assert attrs["fitted_on"] == "nothing (data-independent)"
    sparse, attrs = _main(tmp_path, {**settings, "projection": "sparse", "density": 0.5})
    assert attrs["projection"] == "sparse" and attrs["density"] == 0.5
    R = projection_matrix("sparse", 6, 36, 2, density=0.5)
    np.testing.assert_allclose(sparse["features"], data["conv"].reshape(9, -1) @ R.T, rtol=1e-5)


@pytest.mark.parametrize("fit", ["all", "train"])
def test_pca_attrs_name_the_fit(tmp_path, fit):
    _, data = _activations(tmp_path / "act.h5", {"conv": (12, 4, 3, 3)})
    arrays, attrs = _main(tmp_path, {"method": "pca", "fit": fit, "n_components": 4})
    assert (attrs["method"], attrs["fit"], attrs["n_components"]) == ("pca", fit, 4)
    assert attrs["seed"] == 0 and "dnnmap_version" in attrs
    ref = PCA(4, svd_solver="full").fit(data["conv"].reshape(12, -1).astype(np.float64))
    signs = np.sign(np.sum(arrays["features"] * ref.transform(data["conv"].reshape(12, -1)), 0))
    np.testing.assert_allclose(
        arrays["features"], ref.transform(data["conv"].reshape(12, -1)) * signs, atol=1e-4
    )
    np.testing.assert_allclose(arrays["explained_variance_ratio"], ref.explained_variance_ratio_)
    if fit == "train":
        assert attrs["fitted_on"] == "the training stimuli of each outer split"
        assert arrays["basis"].shape == (12, 11)  # every component: lossless
        np.testing.assert_allclose(arrays["basis"][:, :4], arrays["features"], atol=1e-10)
    else:
        assert attrs["fitted_on"] == "all stimuli (stimuli.tsv)" and "basis" not in arrays


def test_pca_fitted_on_an_external_stimulus_set(tmp_path):
    _, data = _activations(tmp_path / "act.h5", {"conv": (10, 4, 3, 3)}, seed=0)
    _, ext = _activations(tmp_path / "ext.h5", {"conv": (15, 4, 3, 3)}, seed=1)
    settings = {
        "method": "pca",
        "fit": "external",
        "n_components": 3,
        "external_stimuli": "ext.tsv",
    }
    arrays, attrs = _main(tmp_path, settings, tmp_path / "ext.h5")
    ref = PCA(3, svd_solver="full").fit(ext["conv"].reshape(15, -1).astype(np.float64))
    want = ref.transform(data["conv"].reshape(10, -1).astype(np.float64))
    signs = np.sign(np.sum(arrays["features"] * want, axis=0))
    np.testing.assert_allclose(arrays["features"], want * signs, atol=1e-4)
    assert (attrs["fit"], attrs["fitted_on"]) == ("external", "external: ext.tsv (15 stimuli)")
    _activations(tmp_path / "other.h5", {"conv": (15, 4, 2, 2)})
    with pytest.raises(InputError, match="same model and preprocessing"):
        _main(tmp_path, settings, tmp_path / "other.h5")
    with pytest.raises(InputError, match="no activations"):
        layer_features(tmp_path / "act.h5", "conv", settings)


def test_unknown_method_or_fit(tmp_path):
    _activations(tmp_path / "act.h5", {"conv": (5, 2, 2, 2)})
    with pytest.raises(InputError, match=r"features\.method"):
        layer_features(tmp_path / "act.h5", "conv", {"method": "ica"})
    with pytest.raises(InputError, match=r"features\.fit"):
        layer_features(tmp_path / "act.h5", "conv", {"method": "pca", "fit": "test"})


@pytest.mark.parametrize("solver", ["exact", "randomized"])
def test_pca_fitted_on_a_subset_projects_every_stimulus(tmp_path, solver):
    """features.max_fit_stimuli: the PCA of a seeded subset (sklearn on those rows), every
    stimulus projected on its components, by either solver; attrs say how."""
    _, data = _activations(tmp_path / "act.h5", {"conv": (40, 6, 4, 4)}, seed=2)
    settings = {
        "method": "pca",
        "fit": "all",
        "n_components": 5,
        "max_fit_stimuli": 25,
        "solver": solver,
        "power_iterations": 6,
        "seed": 3,
    }
    arrays, attrs = _main(tmp_path, settings)
    rows = fit_rows(40, 25, 3)
    assert rows.size == 25 and np.array_equal(rows, fit_rows(40, 25, 3))
    flat = data["conv"].reshape(40, -1).astype(np.float64)
    ref = PCA(5, svd_solver="full").fit(flat[rows])
    want = ref.transform(flat)
    signs = np.sign(np.sum(arrays["features"] * want, axis=0))
    np.testing.assert_allclose(arrays["features"], want * signs, atol=1e-4)
    assert attrs["solver"] == solver
    assert attrs["fitted_on"].endswith("a seeded subset of 25 of 40 stimuli")
    assert fit_rows(40, None, 0) is None and fit_rows(40, 40, 0) is None


def test_solver_choice_by_size():
    assert resolve_solver("auto", 150, 10**6) == "exact"
    assert resolve_solver("auto", 73000, 802816) == "randomized"
    assert resolve_solver("exact", 73000, 802816) == "exact"
    with pytest.raises(InputError, match=r"features\.solver"):
        resolve_solver("svd", 10, 10)
