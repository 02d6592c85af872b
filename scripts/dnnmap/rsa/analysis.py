"""One RSA job: every layer of a model against one subject's region, and the summary table.

For a subject ``s`` and an ROI, :func:`rsa_layer_table` gives one row per layer with

- ``r``: the similarity (``rsa.comparison``) of the layer RDM with subject ``s``'s RDM;
- ``p``: a stimulus-label permutation p-value (:func:`dnnmap.rsa.inference.permutation_test`,
  ``rsa.n_perm`` permutations, one-sided, all layers tested on the same permutations);
- ``ci_low``, ``ci_high``: a percentile bootstrap interval over stimuli
  (:func:`dnnmap.rsa.bootstrap.bootstrap_similarity`, ``rsa.n_boot`` samples, level ``rsa.ci``);
- ``nc_lower``, ``nc_upper``: the noise ceiling of the ROI from all subjects' RDMs
  (:func:`dnnmap.rsa.inference.rdm_noise_ceiling`; NaN with a single subject);
- ``method``, ``n_perm``, ``n_boot``, ``n_stim``.

:func:`summarize_rsa` stacks the per-job tables and adds ``q``, Benjamini–Hochberg adjusted
p-values over all layers x ROIs of each subject and model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dnnmap.errors import InputError
from dnnmap.rsa.bootstrap import bootstrap_similarity
from dnnmap.rsa.inference import permutation_test, rdm_noise_ceiling, similarity
from dnnmap.rsa.rdm import n_stimuli
from dnnmap.stats.inference import fdr_bh

COLUMNS = (
    "layer",
    "r",
    "p",
    "ci_low",
    "ci_high",
    "nc_lower",
    "nc_upper",
    "method",
    "n_perm",
    "n_boot",
    "n_stim",
)


def rsa_layer_table(
    layer_rdms: np.ndarray,
    layers: Sequence[str],
    brain_rdms: np.ndarray,
    subject_index: int,
    settings: Mapping,
) -> pd.DataFrame:
    """Compare every layer RDM with one subject's ROI RDM, with inference.

    Parameters
    ----------
    layer_rdms : array of shape (n_layers, n_pairs)
        Condensed model RDMs, in the order of ``layers``.
    layers : sequence of str
        Layer names.
    brain_rdms : array of shape (n_subjects, n_pairs)
        The ROI's RDM of every subject (for the noise ceiling).
    subject_index : int
        Row of ``brain_rdms`` that is tested.
    settings : mapping
        The config's ``rsa`` section: comparison, n_perm, n_boot, ci, seed.

    Returns
    -------
    DataFrame
        One row per layer, columns :data:`COLUMNS`.
    """
    layer_rdms = np.atleast_2d(np.asarray(layer_rdms, dtype=np.float64))
    brain_rdms = np.atleast_2d(np.asarray(brain_rdms, dtype=np.float64))
    if layer_rdms.shape[0] != len(layers):
        raise InputError(f"{layer_rdms.shape[0]} layer RDMs for {len(layers)} layer names")
    if not 0 <= subject_index < brain_rdms.shape[0]:
        raise InputError(f"subject_index is {subject_index}; expected 0..{brain_rdms.shape[0] - 1}")
    method, seed = settings["comparison"], int(settings["seed"])
    brain = brain_rdms[subject_index]
    n_stim = n_stimuli(brain.size, "brain RDM")
    r = similarity(layer_rdms, brain, method)[:, 0]
    p = np.full(len(layers), np.nan)
    if settings["n_perm"] > 0:
        p = permutation_test(layer_rdms, brain, method, settings["n_perm"], seed).pvalue
    low = high = np.full(len(layers), np.nan)
    if settings["n_boot"] > 0:
        boot = bootstrap_similarity(
            layer_rdms, brain, method, settings["n_boot"], "stimuli", settings["ci"], seed
        )
        low, high = boot.low, boot.high
    nc_lower = nc_upper = np.nan
    if brain_rdms.shape[0] >= 2:
        ceiling = rdm_noise_ceiling(brain_rdms, method)
        nc_lower, nc_upper = ceiling.lower, ceiling.upper
    return pd.DataFrame(
        {
            "layer": list(layers),
            "r": r,
            "p": p,
            "ci_low": low,
            "ci_high": high,
            "nc_lower": nc_lower,
            "nc_upper": nc_upper,
            "method": method,
            "n_perm": settings["n_perm"],
            "n_boot": settings["n_boot"],
            "n_stim": n_stim,
        },
        columns=list(COLUMNS),
    )


def summarize_rsa(paths: Sequence[str], jobs: Sequence[Mapping]) -> pd.DataFrame:
    """Stack RSA tables and add FDR-adjusted p-values per subject and model.

    Parameters
    ----------
    paths : sequence of str
        ``results/rsa/{subject}/{model}/{roi}.tsv`` files.
    jobs : sequence of mapping
        For each path, its ``subject``, ``model`` and ``roi``.

    Returns
    -------
    DataFrame
        Columns subject, model, roi, then :data:`COLUMNS`, then ``q`` (Benjamini–Hochberg
        over all layers x ROIs of the subject and model; NaN where ``p`` is NaN).
    """
    parts = []
    for path, job in zip(paths, jobs, strict=True):
        table = pd.read_csv(path, sep="\t")
        missing = sorted(set(COLUMNS) - set(table.columns))
        if missing:
            raise InputError(f"{path}: no columns {missing}; expected an RSA table")
        parts.append(table.assign(subject=job["subject"], model=job["model"], roi=job["roi"]))
    if not parts:
        raise InputError("no RSA tables to summarize; expected at least one")
    out = pd.concat(parts, ignore_index=True)
    out = out[["subject", "model", "roi", *COLUMNS]]
    out["q"] = np.nan
    for _, rows in out.groupby(["subject", "model"], sort=False):
        out.loc[rows.index, "q"] = fdr_bh(rows["p"].to_numpy(dtype=np.float64))
    return out
