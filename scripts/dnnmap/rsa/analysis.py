"""One RSA job: every layer of a model against one subject's region, and the summary table.

For a subject ``s`` and an ROI, :func:`rsa_layer_table` gives one row per layer with

- ``r``: the similarity (``rsa.comparison``) of the layer RDM with subject ``s``'s RDM;
- ``p``: a stimulus-label permutation p-value (:func:`dnnmap.rsa.inference.permutation_test`,
  ``rsa.n_perm`` permutations, one-sided, all layers tested on the same permutations);
- ``ci_low``, ``ci_high``: a percentile bootstrap interval over stimuli
  (:func:`dnnmap.rsa.bootstrap.bootstrap_similarity`, ``rsa.n_boot`` samples, level ``rsa.ci``);
- ``nc_lower``, ``nc_upper``: the noise ceiling of the ROI from all subjects' RDMs
  (:func:`dnnmap.rsa.inference.rdm_noise_ceiling`; NaN with fewer than 2 subjects with an
  RDM);
- ``nc_within_lower``, ``nc_within_upper``: the within-subject ceiling from the subject's
  single-repeat RDMs (each repeat's RDM against the pool of the other repeats, and of all;
  NaN without at least 2 repeats). It bounds what a model can reach against one repeat's
  RDM, so it is conservative for the RDM of the mean of the repeats;
- ``method``, ``n_perm``, ``n_boot``, ``n_stim``, ``n_masked`` (voxels dropped from the
  ROI's patterns: non-finite or constant) and ``note`` (empty, or why the row is NaN).

With stimulus ``groups`` (clustered stimuli: the stimulus table's column named by
``rsa.groups``) the permutations exchange stimuli only within a group
(:func:`dnnmap.stats.permutations.permutations` with ``groups``) and the bootstrap draws whole
groups (:func:`dnnmap.rsa.bootstrap.bootstrap_counts`). A subject whose ROI RDM is NaN (too
few voxels left after masking) gives a row of NaN with its ``note``; it is left out of the
other subjects' ceilings.

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
from dnnmap.stats import permutations as stats_permutations
from dnnmap.stats.inference import fdr_bh

COLUMNS = (
    "layer",
    "r",
    "p",
    "ci_low",
    "ci_high",
    "nc_lower",
    "nc_upper",
    "nc_within_lower",
    "nc_within_upper",
    "method",
    "n_perm",
    "n_boot",
    "n_stim",
    "n_masked",
    "note",
)


def _finite_rows(rdms: np.ndarray) -> np.ndarray:
    return rdms[np.isfinite(rdms).all(axis=1)]


def rsa_layer_table(
    layer_rdms: np.ndarray,
    layers: Sequence[str],
    brain_rdms: np.ndarray,
    subject_index: int,
    settings: Mapping,
    *,
    repeat_rdms: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    n_masked: int = 0,
    note: str = "",
) -> pd.DataFrame:
    """Compare every layer RDM with one subject's ROI RDM, with inference.

    Parameters
    ----------
    layer_rdms : array of shape (n_layers, n_pairs)
        Condensed model RDMs, in the order of ``layers``.
    layers : sequence of str
        Layer names.
    brain_rdms : array of shape (n_subjects, n_pairs)
        The ROI's RDM of every subject (for the noise ceiling); rows of NaN for subjects
        whose ROI had too few voxels.
    subject_index : int
        Row of ``brain_rdms`` that is tested.
    settings : mapping
        The config's ``rsa`` section: comparison, n_perm, n_boot, ci, seed.
    repeat_rdms : array of shape (n_rep, n_pairs), optional
        The subject's single-repeat RDMs, for the within-subject ceiling.
    groups : array of shape (n_stim,), optional
        Stimulus groups: permutations within groups, bootstrap of whole groups.
    n_masked : int
        Voxels dropped from the subject's ROI patterns (reported).
    note : str
        Why the subject's RDM is NaN, when it is.

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
    nan = np.full(len(layers), np.nan)
    r, p, low, high = nan, nan, nan, nan
    if not np.isfinite(brain).all():
        note = note or "the ROI's RDM is not finite"
    else:
        r = similarity(layer_rdms, brain, method)[:, 0]
        if settings["n_perm"] > 0:
            perms = stats_permutations.permutations(
                n_stim, int(settings["n_perm"]), seed, groups=groups, draw="shuffle"
            )
            p = permutation_test(layer_rdms, brain, method, permutations=perms).pvalue
        if settings["n_boot"] > 0:
            boot = bootstrap_similarity(
                layer_rdms,
                brain,
                method,
                settings["n_boot"],
                "stimuli",
                settings["ci"],
                seed,
                groups=groups,
            )
            low, high = boot.low, boot.high
    nc_lower = nc_upper = within_lower = within_upper = np.nan
    finite = _finite_rows(brain_rdms)
    if finite.shape[0] >= 2:
        ceiling = rdm_noise_ceiling(finite, method)
        nc_lower, nc_upper = ceiling.lower, ceiling.upper
    if repeat_rdms is not None:
        reps = _finite_rows(np.atleast_2d(np.asarray(repeat_rdms, dtype=np.float64)))
        if reps.shape[0] >= 2:
            within = rdm_noise_ceiling(reps, method)
            within_lower, within_upper = within.lower, within.upper
    return pd.DataFrame(
        {
            "layer": list(layers),
            "r": r,
            "p": p,
            "ci_low": low,
            "ci_high": high,
            "nc_lower": nc_lower,
            "nc_upper": nc_upper,
            "nc_within_lower": within_lower,
            "nc_within_upper": within_upper,
            "method": method,
            "n_perm": settings["n_perm"],
            "n_boot": settings["n_boot"],
            "n_stim": n_stim,
            "n_masked": int(n_masked),
            "note": note,
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
