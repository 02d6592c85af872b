"""One RSA job's table and the summary: against scipy and rsatoolbox-style references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import false_discovery_control, spearmanr

from dnnmap.errors import InputError
from dnnmap.rsa.analysis import COLUMNS, rsa_layer_table, summarize_rsa
from dnnmap.rsa.inference import permutation_test, rdm_noise_ceiling

SETTINGS = {"comparison": "spearman", "n_perm": 99, "n_boot": 50, "ci": 0.9, "seed": 3}


def _data(n=20, n_subj=3, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 5))
    layers = np.stack([pdist(latent[:, :k] + 0.1 * rng.normal(size=(n, k))) for k in (2, 5)])
    brains = np.stack([pdist(latent + 0.5 * rng.normal(size=latent.shape)) for _ in range(n_subj)])
    return layers, brains


def test_table_matches_references():
    layers, brains = _data()
    table = rsa_layer_table(layers, ["a", "b"], brains, 1, SETTINGS)
    assert list(table.columns) == list(COLUMNS)
    for i in range(2):
        assert table["r"][i] == pytest.approx(spearmanr(layers[i], brains[1])[0], abs=1e-12)
    perm = permutation_test(layers, brains[1], "spearman", 99, 3)
    np.testing.assert_array_equal(table["p"], perm.pvalue)
    ceiling = rdm_noise_ceiling(brains, "spearman")
    assert (table["nc_lower"] == ceiling.lower).all() and (table["nc_upper"] == ceiling.upper).all()
    assert (table["ci_low"] <= table["r"]).all() and (table["r"] <= table["ci_high"]).all()
    assert table["layer"].tolist() == ["a", "b"] and (table["n_stim"] == 20).all()


def test_single_subject_has_no_noise_ceiling_and_inference_can_be_off():
    layers, brains = _data(n_subj=1)
    table = rsa_layer_table(layers, ["a", "b"], brains, 0, {**SETTINGS, "n_perm": 0, "n_boot": 0})
    assert table[["p", "ci_low", "ci_high", "nc_lower", "nc_upper"]].isna().all().all()


def test_table_bad_input():
    layers, brains = _data()
    with pytest.raises(InputError, match="2 layer RDMs for 1 layer names"):
        rsa_layer_table(layers, ["a"], brains, 0, SETTINGS)
    with pytest.raises(InputError, match="subject_index is 3"):
        rsa_layer_table(layers, ["a", "b"], brains, 3, SETTINGS)


def test_summary_adds_fdr_per_subject_and_model(tmp_path):
    rng = np.random.default_rng(1)
    paths, jobs = [], []
    for subject in ("s1", "s2"):
        for roi in ("V1", "V4"):
            table = pd.DataFrame({c: [0.0, 0.0] for c in COLUMNS})
            table["layer"] = ["a", "b"]
            table["p"] = rng.uniform(size=2)
            path = tmp_path / f"{subject}_{roi}.tsv"
            table.to_csv(path, sep="\t", index=False)
            paths.append(str(path))
            jobs.append({"subject": subject, "model": "m", "roi": roi})
    out = summarize_rsa(paths, jobs)
    assert list(out.columns[:3]) == ["subject", "model", "roi"] and len(out) == 8
    for _, rows in out.groupby("subject"):
        np.testing.assert_allclose(rows["q"], false_discovery_control(rows["p"]), atol=1e-12)
    pd.DataFrame({"layer": ["a"]}).to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"bad\.tsv: no columns"):
        summarize_rsa([str(tmp_path / "bad.tsv")], jobs[:1])
