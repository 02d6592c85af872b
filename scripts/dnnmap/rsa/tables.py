"""Tables of the workflow's second-level RSA jobs: group RSA, reweighting, variance partitioning.

Each function takes condensed RDMs that the caller has read and aligned on stimulus ids
(:func:`dnnmap.rsa.io.read_rdm`) and returns one tidy :class:`pandas.DataFrame`:

:func:`group_rsa_table`
    One row per layer: the subject-mean RDM similarity, its interval for new subjects *and*
    new stimuli by the corrected two-factor bootstrap of Schütt et al. (2023)
    (:func:`dnnmap.rsa.bootstrap.dual_bootstrap`; whole stimulus groups with ``groups``), its
    standard error ``se``, and the noise ceiling. Subjects whose ROI RDM is NaN (too few
    voxels) are left out. Columns :data:`GROUP_COLUMNS`.
:func:`reweighting_table`
    One subject's ROI RDM modeled, on held-out stimuli, by each layer RDM alone, by the
    non-negative reweighted combination of all layer RDMs
    (:func:`dnnmap.rsa.reweighting.cross_validate_reweighting`) and, per layer, by its
    principal components and their residual reweighted with shrinkage toward the unweighted
    layer RDM (:func:`dnnmap.rsa.units.cross_validate_gram_reweighting`, from the Gram matrix
    of the layer's patterns, :func:`reweighting_grams`).
    Every row is evaluated on the same stimulus folds, so the rows compare directly. Columns
    :data:`REWEIGHTING_COLUMNS`.
:func:`partition_table`
    Unique and shared variance of every subject's ROI RDM explained by a set of 2-4 layer RDMs
    (:func:`dnnmap.rsa.reweighting.variance_partition`). Columns :data:`PARTITION_COLUMNS`.
:func:`collect_tables`
    The per-job tables of one kind stacked, with the job's wildcards as leading columns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dnnmap.errors import InputError
from dnnmap.rsa.bootstrap import bootstrap_similarity, dual_bootstrap
from dnnmap.rsa.inference import rdm_noise_ceiling, similarity
from dnnmap.rsa.io import activation_reader, model_patterns
from dnnmap.rsa.rdm import n_stimuli
from dnnmap.rsa.reweighting import (
    cross_validate_reweighting,
    held_out_folds,
    pair_index,
    variance_partition,
)
from dnnmap.rsa.units import cross_validate_gram_reweighting, pattern_gram

LOG = logging.getLogger("dnnmap")

GROUP_COLUMNS = (
    "layer",
    "r_mean",
    "ci_low",
    "ci_high",
    "se",
    "nc_lower",
    "nc_upper",
    "bootstrap_over",
    "method",
    "n_boot",
    "n_subjects",
    "n_stim",
)
REWEIGHTING_COLUMNS = (
    "model_rdm",
    "kind",
    "layer",
    "cv_r",
    "cv_r_sd",
    "weight",
    "weight_sd",
    "n_weights",
    "method",
    "n_splits",
)
PARTITION_COLUMNS = ("subject", "layers", "component", "n_shared", "r2")
KINDS = ("layer", "reweighted_layers", "reweighted_units")


def reweighting_grams(
    paths, layers: Sequence[str], stim_ids: list[str], table: str, settings: Mapping
) -> list[np.ndarray]:
    """Each layer's patterns as its RDM saw them, as a Gram matrix, for ``reweighted_units``.

    Parameters
    ----------
    paths : sequence of str
        With ``rsa.model_patterns: activations`` (the default) the model's activations file
        (one path, ``results/activations/{model}.h5``, read in unit chunks); with
        ``features`` the features file of each layer, in layer order.
    layers : sequence of str
    stim_ids : list of str
        The stimulus table's ids (every file must have them in this order).
    table : str
        The stimulus table's path, named in messages.
    settings : mapping
        The config's ``rsa`` section: ``model_patterns``, ``metric``, ``zscore``,
        ``center_units`` and ``n_components``, as the layer RDMs were computed with
        (``scripts/rdm_model.py``).

    Returns
    -------
    list of arrays of shape (n_stim, n_stim)
        :func:`dnnmap.rsa.units.pattern_gram` of each layer: their squared distances are the
        layer RDM (twice it for correlation and cosine distance).
    """
    metric, zscore = settings["metric"], bool(settings["zscore"])
    center = bool(settings.get("center_units", True))
    out = []
    if settings.get("model_patterns", "activations") == "activations":
        (path,) = paths
        for layer in layers:
            f, reader = activation_reader(path, layer, stim_ids, table)
            with f:
                out.append(pattern_gram(reader, metric, zscore=zscore, center=center))
        return out
    if len(paths) != len(layers):
        raise InputError(f"{len(paths)} features files for {len(layers)} layers; expected one each")
    for path in paths:
        X = model_patterns(path, stim_ids, table, settings["n_components"])
        out.append(pattern_gram(X, metric, zscore=zscore, center=center))
    return out


def _rdm_stack(rdms, n_names: int, what: str) -> np.ndarray:
    A = np.atleast_2d(np.asarray(rdms, dtype=np.float64))
    if A.shape[0] != n_names:
        raise InputError(f"{A.shape[0]} {what} RDMs for {n_names} names; expected one per name")
    return A


def group_rsa_table(
    layer_rdms, layers: Sequence[str], brain_rdms, settings: Mapping, groups=None
) -> pd.DataFrame:
    """Subject-mean similarity of every layer RDM with an ROI's RDMs, with a group interval.

    Parameters
    ----------
    layer_rdms : array of shape (n_layers, n_pairs)
    layers : sequence of str
    brain_rdms : array of shape (n_subjects, n_pairs)
        The ROI's RDM of every subject; rows with NaN (ROIs masked away) are left out.
    settings : mapping
        The config's ``rsa`` section: ``comparison``, ``n_boot``, ``ci``, ``seed``.
    groups : array of shape (n_stim,), optional
        Stimulus groups, drawn whole by the bootstrap.

    Returns
    -------
    DataFrame
        One row per layer, columns :data:`GROUP_COLUMNS`. ``ci_low``/``ci_high``/``se`` are
        NaN when ``n_boot`` is 0; every value but the names is NaN when fewer than 2
        subjects have an RDM (``bootstrap_over`` then says so). ``bootstrap_over`` is
        ``dual_corrected`` (the corrected two-factor bootstrap) or, for ``corr_cov``/
        ``cosine_cov`` whose whitening is not defined for resampled stimuli, ``subjects``
        (percentile interval over subjects, ``se`` its bootstrap standard deviation).
    """
    A = _rdm_stack(layer_rdms, len(layers), "layer")
    Y = np.atleast_2d(np.asarray(brain_rdms, dtype=np.float64))
    if A.shape[1] != Y.shape[1]:
        raise InputError(f"layer RDMs have {A.shape[1]} pairs and brain RDMs {Y.shape[1]}")
    Y = Y[np.isfinite(Y).all(axis=1)]
    method, n_boot = settings["comparison"], int(settings["n_boot"])
    nan = np.full(len(layers), np.nan)
    r, low, high, se = nan, nan, nan, nan
    nc_lower = nc_upper = np.nan
    over = "none"
    if Y.shape[0] < 2:
        over = f"none: {Y.shape[0]} subject(s) with an RDM, a group RSA needs 2"
    else:
        r = similarity(A, Y, method).mean(axis=1)
        ceiling = rdm_noise_ceiling(Y, method)
        nc_lower, nc_upper = ceiling.lower, ceiling.upper
        ci, seed = float(settings["ci"]), int(settings["seed"])
        if n_boot > 0 and method in ("corr_cov", "cosine_cov"):
            over = "subjects"
            boot = bootstrap_similarity(A, Y, method, n_boot, over, ci, seed)
            low, high, se = boot.low, boot.high, boot.samples.std(axis=0, ddof=1)
        elif n_boot > 0:
            over = "dual_corrected"
            boot = dual_bootstrap(A, Y, method, n_boot, ci, seed, groups=groups)
            low, high, se = boot.low, boot.high, np.sqrt(boot.variance)
    return pd.DataFrame(
        {
            "layer": list(layers),
            "r_mean": r,
            "ci_low": low,
            "ci_high": high,
            "se": se,
            "nc_lower": nc_lower,
            "nc_upper": nc_upper,
            "bootstrap_over": over,
            "method": method,
            "n_boot": n_boot,
            "n_subjects": Y.shape[0],
            "n_stim": n_stimuli(A.shape[1], "layer RDM"),
        },
        columns=list(GROUP_COLUMNS),
    )


def _held_out_scores(rdm: np.ndarray, brain: np.ndarray, splits, n: int, method: str):
    """Similarity of a fixed RDM with the brain RDM on each fold's test pairs, (n_splits,)."""
    out = []
    for _, test in splits:
        te = pair_index(n, test)
        out.append(similarity(rdm[te], brain[te], method)[0, 0])
    return np.asarray(out)


def reweighting_table(
    layer_rdms,
    layers: Sequence[str],
    brain_rdm,
    settings: Mapping,
    grams: Sequence[np.ndarray] | None = None,
    groups=None,
) -> pd.DataFrame:
    """Held-out fit of one ROI RDM by single layers, reweighted layers and reweighted units.

    Parameters
    ----------
    layer_rdms : array of shape (n_layers, n_pairs)
    layers : sequence of str
    brain_rdm : array of shape (n_pairs,)
        One subject's ROI RDM.
    settings : mapping
        The config's ``rsa`` section: ``comparison`` (the evaluation measure), ``seed`` and
        ``advanced`` (``n_splits``, ``units``, ``unit_components``: principal components
        reweighted per layer, None for all).
    grams : sequence of arrays (n_stim, n_stim), optional
        Each layer's pattern Gram matrix (:func:`reweighting_grams`), for the
        ``reweighted_units`` rows; needed when ``advanced.units`` is true.
        A ``brain_rdm`` that is not finite (ROI masked away) gives one NaN ``layer`` row per
        layer.
    groups : array of shape (n_stim,), optional
        Group label per stimulus (the stimulus table's group column): each fold holds out
        whole groups, so no group has stimuli on both sides
        (:func:`dnnmap.stats.splits.stimulus_folds`). None: shuffled k-fold over stimuli.

    Returns
    -------
    DataFrame
        Columns :data:`REWEIGHTING_COLUMNS`: one ``layer`` row per layer (``cv_r`` of the
        layer RDM itself on the test stimuli, no fit), then for the ``reweighted_layers``
        model one row per layer holding its weight (mean and SD over folds; the model's
        ``cv_r`` repeated), then with ``units`` one ``reweighted_units`` row per layer
        (``weight`` NaN, ``n_weights`` the weights of the first fold: its components and the
        residual), the penalty of each fold chosen by an inner CV on its training stimuli
        (:func:`dnnmap.rsa.units.cross_validate_gram_reweighting`).
    """
    A = _rdm_stack(layer_rdms, len(layers), "layer")
    y = np.asarray(brain_rdm, dtype=np.float64)
    if y.shape != (A.shape[1],):
        raise InputError(
            f"brain_rdm has shape {y.shape}; expected ({A.shape[1]},) like the layer RDMs"
        )
    adv, method = settings["advanced"], settings["comparison"]
    if not np.isfinite(y).all():  # the ROI was masked away: one NaN row per layer
        return pd.DataFrame(
            {"model_rdm": list(layers), "kind": "layer", "layer": list(layers), "method": method},
            columns=list(REWEIGHTING_COLUMNS),
        )
    n = n_stimuli(y.size, "brain RDM")
    k = int(adv["n_splits"])
    splits = held_out_folds(n, k, int(settings["seed"]), groups=groups)
    rows = []

    def row(name, kind, layer, scores, weight=np.nan, weight_sd=np.nan, n_weights=1):
        scores = np.asarray(scores, dtype=np.float64)
        rows.append(
            {
                "model_rdm": name,
                "kind": kind,
                "layer": layer,
                "cv_r": float(scores.mean()),
                "cv_r_sd": float(scores.std(ddof=1)) if scores.size > 1 else np.nan,
                "weight": weight,
                "weight_sd": weight_sd,
                "n_weights": n_weights,
                "method": method,
                "n_splits": len(splits),
            }
        )

    for layer, rdm in zip(layers, A, strict=True):
        row(layer, "layer", layer, _held_out_scores(rdm, y, splits, n, method))
    fit = cross_validate_reweighting(A, y, splits=splits, method=method)
    w_mean, w_sd = fit.weights.mean(axis=0), fit.weights.std(axis=0, ddof=1)
    for i, layer in enumerate(layers):
        row("reweighted", "reweighted_layers", layer, fit.fold_scores, w_mean[i], w_sd[i], len(A))
    if adv["units"]:
        if grams is None or len(grams) != len(layers):
            raise InputError("rsa.advanced.units is true; expected one Gram matrix per layer")
        wanted = adv.get("unit_components")
        for layer, G in zip(layers, grams, strict=True):
            units, shrinkage = cross_validate_gram_reweighting(
                G,
                y,
                splits=splits,
                method=method,
                seed=int(settings["seed"]),
                groups=groups,
                n_components=None if wanted is None else int(wanted),
                n_inner=k,
            )
            n_weights = int(np.isfinite(units.weights[0]).sum())
            row(f"{layer} units", "reweighted_units", layer, units.fold_scores, n_weights=n_weights)
            LOG.info(
                "%s units: held-out %s %.3f, shrinkage per fold %s (inf: the layer RDM)",
                layer,
                method,
                units.score,
                ", ".join(f"{x:g}" for x in shrinkage),
            )
    return pd.DataFrame(rows, columns=list(REWEIGHTING_COLUMNS))


def partition_table(
    layer_rdms: Mapping[str, np.ndarray],
    layer_sets: Sequence[Sequence[str]],
    brain_rdms,
    subjects: Sequence[str],
) -> pd.DataFrame:
    """Variance partitioning of every subject's ROI RDM by sets of 2-4 layer RDMs.

    Parameters
    ----------
    layer_rdms : mapping of str to array (n_pairs,)
        Layer name to its RDM.
    layer_sets : sequence of sequences of str
        Each set names 2-4 layers of ``layer_rdms``.
    brain_rdms : array of shape (n_subjects, n_pairs)
    subjects : sequence of str
        Names of the rows of ``brain_rdms``.

    Returns
    -------
    DataFrame
        Columns :data:`PARTITION_COLUMNS`. Per subject and set: one row per Venn region
        (``component`` the layers joined by ``&``; ``n_shared`` 1 for unique variance), then a
        ``total`` row (``n_shared`` 0) with R² of all the set's layers together.
    """
    Y = np.atleast_2d(np.asarray(brain_rdms, dtype=np.float64))
    if Y.shape[0] != len(subjects):
        raise InputError(f"{Y.shape[0]} brain RDMs for {len(subjects)} subjects")
    finite = np.isfinite(Y).all(axis=1)  # subjects whose ROI was masked away are left out
    Y, subjects = Y[finite], [s for s, ok in zip(subjects, finite, strict=True) if ok]
    rows = []
    if not subjects:
        return pd.DataFrame(rows, columns=list(PARTITION_COLUMNS))
    for names in layer_sets:
        missing = [name for name in names if name not in layer_rdms]
        if missing:
            raise InputError(
                f"layer set {list(names)} names {missing}; expected layers among "
                f"{', '.join(layer_rdms)}"
            )
        M = np.stack([np.asarray(layer_rdms[name], dtype=np.float64) for name in names])
        part = variance_partition(Y, M, names)
        label = "+".join(names)
        for component, r2 in part.components.items():
            for s, subject in enumerate(subjects):
                rows.append(
                    {
                        "subject": subject,
                        "layers": label,
                        "component": "&".join(component),
                        "n_shared": len(component),
                        "r2": float(np.atleast_1d(r2)[s]),
                    }
                )
        for s, subject in enumerate(subjects):
            total = float(np.atleast_1d(part.total)[s])
            rows.append(
                {
                    "subject": subject,
                    "layers": label,
                    "component": "total",
                    "n_shared": 0,
                    "r2": total,
                }
            )
    return pd.DataFrame(rows, columns=list(PARTITION_COLUMNS))


def collect_tables(paths: Sequence[str], jobs: Sequence[Mapping]) -> pd.DataFrame:
    """Stack per-job TSV tables, each prefixed with its job's wildcards (subject, model, roi).

    Parameters
    ----------
    paths : sequence of str
        TSV tables with the same columns.
    jobs : sequence of mapping
        The wildcards of each path, in order (the same keys for every job).

    Returns
    -------
    DataFrame
        The job keys, then the tables' columns (a ``subject`` column of a table wins over
        the job's).
    """
    if len(paths) != len(jobs) or not paths:
        raise InputError(f"{len(paths)} tables for {len(jobs)} jobs; expected one per job, >= 1")
    parts, columns = [], None
    for path, job in zip(paths, jobs, strict=True):
        table = pd.read_csv(path, sep="\t")
        if columns is None:
            columns = list(table.columns)
        elif list(table.columns) != columns:
            raise InputError(f"{path}: columns {list(table.columns)}; expected {columns}")
        keys = {k: v for k, v in job.items() if k not in table.columns}
        parts.append(table.assign(**keys)[[*keys, *columns]])
    return pd.concat(parts, ignore_index=True)
