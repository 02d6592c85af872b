"""Second-level RSA tables (group, reweighting, partition) vs scipy, sklearn, closed forms."""

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold, KFold

from dnnmap.errors import InputError
from dnnmap.rsa.bootstrap import dual_bootstrap
from dnnmap.rsa.inference import rdm_noise_ceiling
from dnnmap.rsa.reweighting import cross_validate_reweighting, pair_index
from dnnmap.rsa.tables import (
    GROUP_COLUMNS,
    PARTITION_COLUMNS,
    REWEIGHTING_COLUMNS,
    collect_tables,
    group_rsa_table,
    partition_table,
    reweighting_grams,
    reweighting_table,
)
from dnnmap.rsa.units import (
    cross_validate_gram_reweighting,
    gram_distances,
    pattern_gram,
)

N = 24
LAYERS = ["a", "b", "c"]
SETTINGS = {
    "comparison": "spearman",
    "n_boot": 200,
    "ci": 0.9,
    "seed": 3,
    "advanced": {"n_splits": 4, "units": True, "unit_components": 4},
}


@pytest.fixture(scope="module")
def data():
    """Layer patterns and RDMs, and subjects whose RDMs mix layers a and c with noise."""
    rng = np.random.default_rng(0)
    patterns = [rng.standard_normal((N, 6)) for _ in LAYERS]
    rdms = np.array([pdist(x) for x in patterns])
    brains = np.array(
        [2.0 * rdms[0] + 0.7 * rdms[2] + 0.5 * rng.standard_normal(rdms.shape[1]) for _ in range(3)]
    )
    return [pattern_gram(x, "sqeuclidean") for x in patterns], rdms, brains


def test_group_table_is_the_subject_mean_with_the_corrected_dual_bootstrap(data):
    _, rdms, brains = data
    table = group_rsa_table(rdms, LAYERS, brains, SETTINGS)
    assert list(table.columns) == list(GROUP_COLUMNS) and list(table["layer"]) == LAYERS
    expected = [np.mean([spearmanr(m, b)[0] for b in brains]) for m in rdms]
    np.testing.assert_allclose(table["r_mean"], expected, rtol=1e-12)
    assert (table["ci_low"] < table["r_mean"]).all() and (table["r_mean"] < table["ci_high"]).all()
    ceiling = rdm_noise_ceiling(brains, "spearman")
    np.testing.assert_allclose(table["nc_lower"], ceiling.lower)
    np.testing.assert_allclose(table["nc_upper"], ceiling.upper)
    assert set(table["bootstrap_over"]) == {"dual_corrected"} and set(table["n_subjects"]) == {3}
    boot = dual_bootstrap(rdms, brains, "spearman", SETTINGS["n_boot"], 0.9, SETTINGS["seed"])
    np.testing.assert_allclose(table["ci_low"], boot.low, rtol=1e-12)
    np.testing.assert_allclose(table["se"], np.sqrt(boot.variance), rtol=1e-12)
    assert set(table["n_stim"]) == {N}
    # seeded: the same interval again
    again = group_rsa_table(rdms, LAYERS, brains, SETTINGS)
    pd.testing.assert_frame_equal(table, again)
    off = group_rsa_table(rdms, LAYERS, brains, {**SETTINGS, "n_boot": 0})
    assert off["ci_low"].isna().all() and set(off["bootstrap_over"]) == {"none"}


def test_group_table_needs_two_subjects_with_an_rdm(data):
    """Subjects whose ROI was masked away (NaN RDM) are left out; fewer than 2 give NaN rows."""
    _, rdms, brains = data
    one = group_rsa_table(rdms, LAYERS, brains[:1], SETTINGS)
    assert one["r_mean"].isna().all() and one["ci_low"].isna().all()
    assert one["bootstrap_over"].str.contains("a group RSA needs 2").all()
    masked = brains.copy()
    masked[1] = np.nan
    table = group_rsa_table(rdms, LAYERS, masked, SETTINGS)
    pd.testing.assert_frame_equal(table, group_rsa_table(rdms, LAYERS, brains[[0, 2]], SETTINGS))
    assert set(table["n_subjects"]) == {2}
    with pytest.raises(InputError, match="2 layer RDMs for 3 names"):
        group_rsa_table(rdms[:2], LAYERS, brains, SETTINGS)


def test_reweighting_table_against_scipy_nnls_on_the_same_folds(data):
    patterns, rdms, brains = data
    table = reweighting_table(rdms, LAYERS, brains[0], SETTINGS, patterns)
    assert list(table.columns) == list(REWEIGHTING_COLUMNS)
    assert (
        list(table["kind"]) == ["layer"] * 3 + ["reweighted_layers"] * 3 + ["reweighted_units"] * 3
    )
    folds = list(KFold(4, shuffle=True, random_state=3).split(np.zeros(N)))
    single, weights, combined = [], [], []
    y = brains[0]
    for train, test in folds:
        tr, te = pair_index(N, train), pair_index(N, test)
        single.append([spearmanr(m[te], y[te])[0] for m in rdms])
        A = rdms[:, tr].T
        w = scipy.optimize.nnls(A - A.mean(0), y[tr] - y[tr].mean())[0]
        weights.append(w)
        combined.append(spearmanr(w @ rdms[:, te], y[te])[0])
    layer_rows = table[table["kind"] == "layer"]
    np.testing.assert_allclose(layer_rows["cv_r"], np.mean(single, axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer_rows["cv_r_sd"], np.std(single, axis=0, ddof=1), rtol=1e-10)
    rw = table[table["kind"] == "reweighted_layers"]
    np.testing.assert_allclose(rw["weight"], np.mean(weights, axis=0), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(rw["cv_r"], np.mean(combined), rtol=1e-12)
    # the planted mixture: a and c carry weight, b almost none; the mix beats every layer
    w = rw["weight"].to_numpy()
    assert w[0] > w[2] > 5 * w[1]
    assert rw["cv_r"].iloc[0] > layer_rows["cv_r"].max()
    units = table[table["kind"] == "reweighted_units"]
    assert list(units["model_rdm"]) == [f"{layer} units" for layer in LAYERS]
    assert set(units["n_weights"]) == {5} and units["weight"].isna().all()  # 4 and the residual
    assert units["cv_r"].between(-1, 1).all()
    for layer, G in zip(LAYERS, patterns, strict=True):  # the same folds, seeded inner CV
        ref, _ = cross_validate_gram_reweighting(
            G, y, splits=folds, method="spearman", seed=3, n_components=4, n_inner=4
        )
        row = units[units["layer"] == layer].iloc[0]
        assert row["cv_r"] == pytest.approx(ref.score, abs=1e-12)


def test_reweighting_holds_out_whole_groups(data):
    """With a group per stimulus (e.g. images of one object), no group is on both sides."""
    patterns, rdms, brains = data
    groups = np.repeat([f"object{i}" for i in range(6)], 4)[np.random.default_rng(1).permutation(N)]
    table = reweighting_table(rdms, LAYERS, brains[0], SETTINGS, patterns, groups=groups)
    folds = list(GroupKFold(4).split(np.zeros(N), groups=groups))
    assert set(table["n_splits"]) == {4}
    single = [
        [spearmanr(m[pair_index(N, te)], brains[0][pair_index(N, te)])[0] for m in rdms]
        for _, te in folds
    ]
    layer_rows = table[table["kind"] == "layer"]
    np.testing.assert_allclose(layer_rows["cv_r"], np.mean(single, axis=0), rtol=1e-12)
    fits = [
        cross_validate_reweighting(rdms, brains[0], 4, 3, groups=groups),
        cross_validate_gram_reweighting(patterns[0], brains[0], 4, 3, groups=groups)[0],
    ]
    for fit in fits:
        assert len(fit.splits) == 4
        for train, test in fit.splits:
            assert not set(groups[train]) & set(groups[test])
    # without groups the folds stay the shuffled k-fold of the seed
    plain = cross_validate_reweighting(rdms, brains[0], 4, 3)
    for (tr, te), (rtr, rte) in zip(
        plain.splits, KFold(4, shuffle=True, random_state=3).split(np.zeros(N)), strict=True
    ):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(te, rte)


def test_reweighting_without_units_and_bad_input(data):
    patterns, rdms, brains = data
    settings = {**SETTINGS, "advanced": {**SETTINGS["advanced"], "units": False}}
    table = reweighting_table(rdms, LAYERS, brains[0], settings)
    assert "reweighted_units" not in set(table["kind"])
    with pytest.raises(InputError, match="one Gram matrix per layer"):
        reweighting_table(rdms, LAYERS, brains[0], SETTINGS, patterns[:2])
    with pytest.raises(InputError, match="brain_rdm has shape"):
        reweighting_table(rdms, LAYERS, brains[0][:-1], SETTINGS, patterns)


def _r2(y, *columns):
    X = np.column_stack(columns)
    return LinearRegression().fit(X, y).score(X, y)


def test_partition_table_two_layers_closed_form(data):
    _, rdms, brains = data
    named = dict(zip(LAYERS, rdms, strict=True))
    table = partition_table(named, [["a", "c"], ["a", "b", "c"]], brains, ["s1", "s2", "s3"])
    assert list(table.columns) == list(PARTITION_COLUMNS)
    two = table[table["layers"] == "a+c"].set_index(["subject", "component"])["r2"]
    for s, y in zip(["s1", "s2", "s3"], brains, strict=True):
        r2_ac, r2_a, r2_c = _r2(y, rdms[0], rdms[2]), _r2(y, rdms[0]), _r2(y, rdms[2])
        np.testing.assert_allclose(two[(s, "a")], r2_ac - r2_c, rtol=1e-9)
        np.testing.assert_allclose(two[(s, "c")], r2_ac - r2_a, rtol=1e-9)
        np.testing.assert_allclose(two[(s, "a&c")], r2_a + r2_c - r2_ac, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(two[(s, "total")], r2_ac, rtol=1e-9)
    three = table[table["layers"] == "a+b+c"]
    for _, rows in three.groupby("subject"):
        parts = rows[rows["component"] != "total"]["r2"].sum()
        np.testing.assert_allclose(parts, rows[rows["component"] == "total"]["r2"].iloc[0])
        assert len(rows) == 7 + 1  # the Venn regions of three sets, and the total
    with pytest.raises(InputError, match=r"names \['d'\]; expected layers among a, b, c"):
        partition_table(named, [["a", "d"]], brains, ["s1", "s2", "s3"])
    with pytest.raises(InputError, match="3 brain RDMs for 2 subjects"):
        partition_table(named, [["a", "c"]], brains, ["s1", "s2"])


def test_collect_tables(tmp_path):
    paths = []
    for i in range(2):
        path = tmp_path / f"t{i}.tsv"
        pd.DataFrame({"layer": ["a", "b"], "r": [i, i + 0.5]}).to_csv(path, sep="\t", index=False)
        paths.append(str(path))
    jobs = [
        {"subject": "s1", "model": "m", "roi": "V1"},
        {"subject": "s2", "model": "m", "roi": "V1"},
    ]
    out = collect_tables(paths, jobs)
    assert list(out.columns) == ["subject", "model", "roi", "layer", "r"]
    assert list(out["subject"]) == ["s1", "s1", "s2", "s2"] and list(out["r"]) == [0, 0.5, 1, 1.5]
    other = tmp_path / "other.tsv"
    pd.DataFrame({"layer": ["a"], "p": [1]}).to_csv(other, sep="\t", index=False)
    with pytest.raises(InputError, match=r"other.tsv: columns \['layer', 'p'\]"):
        collect_tables([paths[0], str(other)], jobs)
    with pytest.raises(InputError, match="1 tables for 2 jobs"):
        collect_tables(paths[:1], jobs)


def test_reweighting_grams_see_the_layers_as_their_rdms_do(tmp_path):
    """From activations (the default) or features, with the RDMs' transforms: the Gram
    matrices' squared distances are twice the correlation RDM that rdm_model writes."""
    from dnnmap.rsa.io import activation_reader
    from dnnmap.rsa.rdm import stream_rdm
    from dnnmap.store import write_h5

    rng = np.random.default_rng(5)
    ids = [f"s{i}" for i in range(12)]
    conv = np.abs(rng.standard_normal((12, 3, 4, 4))).astype(np.float32) + 1.0
    fc = rng.standard_normal((12, 9)).astype(np.float32)
    acts = tmp_path / "act.h5"
    write_h5(acts, {"layers/conv": conv, "layers/fc": fc}, stim_id=ids)
    settings = {
        "metric": "correlation",
        "zscore": False,
        "center_units": True,
        "n_components": None,
    }
    grams = reweighting_grams([str(acts)], ["conv", "fc"], ids, "table", settings)
    for G, layer in zip(grams, ["conv", "fc"], strict=True):
        f, reader = activation_reader(acts, layer, ids, "table")
        with f:
            rdm = stream_rdm(reader, "correlation", center=True)
        np.testing.assert_allclose(gram_distances(G, np.arange(12)), 2 * rdm, atol=1e-10)
    feats = [tmp_path / "conv.h5", tmp_path / "fc.h5"]
    for path, X in zip(feats, (conv.reshape(12, -1), fc), strict=True):
        write_h5(path, {"features": X}, stim_id=ids)
    features = {**settings, "model_patterns": "features"}
    from_features = reweighting_grams([str(p) for p in feats], ["conv", "fc"], ids, "t", features)
    for a, b in zip(grams, from_features, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-10)
    with pytest.raises(InputError, match="1 features files for 2 layers"):
        reweighting_grams([str(feats[0])], ["conv", "fc"], ids, "t", features)
