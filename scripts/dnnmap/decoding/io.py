"""Decoding jobs of the workflow: read the inputs, run, write and read a decoding file.

:func:`run_decoding` decodes one stimulus-table attribute from one features or responses
file with the outer splits of :func:`decoding_splits`: for a categorical attribute and a k-fold
scheme, shuffled seeded stratified k-fold (:func:`dnnmap.stats.splits.stratified_kfold`), so
every fold holds every class; otherwise the schemes of :mod:`dnnmap.stats.splits` (``kfold`` as
the encoding folds, ``repeated_kfold``, ``loo``, ``group`` with grouped inner folds, a fixed
``split``), read from the stimulus table. :func:`write_decoding` writes the results atomically
and :func:`read_decoding` reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from typing import NamedTuple

import h5py
import numpy as np
import pandas as pd

from dnnmap.brain.summary import masked_voxels
from dnnmap.decoding.attributes import (
    attribute_kind,
    attribute_values,
    check_class_counts,
    check_stratified_folds,
)
from dnnmap.decoding.classifiers import CLASSIFIERS, DEFAULT_CS
from dnnmap.decoding.cross_validation import (
    DECODING_ALPHAS,
    DecodingResult,
    cross_validated_decoding,
    unfitted_result,
)
from dnnmap.errors import InputError
from dnnmap.features.folds import load_features
from dnnmap.stats.splits import (
    Splits,
    groups_from_table,
    inner_splits,
    splits_from_table,
    stratified_kfold,
)
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_strings, write_h5

LOG = logging.getLogger("dnnmap")


def usable_columns(X: np.ndarray, source, dataset: str = "responses") -> tuple[np.ndarray, int]:
    """The columns of ``X`` that an analysis can use; how many are left out is logged.

    Brain responses (``dataset="responses"``) follow the one masking policy of dnnmap
    (:func:`dnnmap.brain.summary.masked_voxels`: any NaN/inf, or one value for every
    stimulus). Features leave out non-finite columns only: a constant feature (a silent
    unit) is a valid input that carries no information.

    Parameters
    ----------
    X : array of shape (n_stim, p)
    source : path or str
        The file, named in the log.
    dataset : {"responses", "features"}
        What the columns are.

    Returns
    -------
    X_kept : array of shape (n_stim, p_kept)
        May have no columns (every one masked).
    n_masked : int
        ``p - p_kept``.
    """
    if dataset == "responses":
        masked, what = masked_voxels(X), "NaN, inf or constant"
    else:
        masked, what = ~np.isfinite(X).all(axis=0), "NaN or inf"
    LOG.info(
        "%s: %d of %d %s columns masked (%s) and left out",
        source,
        int(masked.sum()),
        masked.size,
        dataset,
        what,
    )
    return (X[:, ~masked] if masked.any() else X), int(masked.sum())


def decoding_splits(
    table: pd.DataFrame, y, kind: str, settings: dict, table_path: str, attribute: str = "attribute"
) -> tuple[Splits, np.ndarray | None]:
    """Outer splits (and inner-CV groups) of a decoding job.

    Parameters
    ----------
    table : DataFrame
        The stimulus table, in stimulus order.
    y : array of shape (n_stim,)
        The attribute (labels or values).
    kind : {"categorical", "continuous"}
    settings : dict
        The ``decoding`` section: ``n_folds`` and ``seed``, and an optional ``cv`` mapping
        with the keys of :func:`dnnmap.stats.splits.splits_from_table` (``scheme``, ``n_folds``,
        ``n_repeats``, ``seed``, ``column``), which overrides them.
    table_path : str
        Named in messages.
    attribute : str
        The attribute's column, named in messages.

    Returns
    -------
    splits : Splits
        ``kfold``/``repeated_kfold`` of a categorical attribute:
        :func:`dnnmap.stats.splits.stratified_kfold`
        (every fold holds every class); any other case:
        :func:`dnnmap.stats.splits.splits_from_table`
        (``kfold`` is then :func:`dnnmap.stats.splits.make_splits`'s, the encoding folds).
    groups : str array of shape (n_stim,) or None
        Group labels for grouped inner folds (scheme ``group``), else None.
    """
    cv = {"n_folds": settings.get("n_folds", 5), "seed": settings.get("seed", 0)}
    cv.update(settings.get("cv") or {})
    groups = groups_from_table(table, cv, table_path, key="decoding.cv")  # validates cv
    scheme = cv.get("scheme", "kfold")
    if kind == "categorical" and scheme in ("kfold", "repeated_kfold"):
        check_stratified_folds(y, cv["n_folds"], attribute, table_path)
        return stratified_kfold(y, cv["n_folds"], cv["seed"], cv.get("n_repeats", 1)), None
    return splits_from_table(table, cv, table_path, key="decoding.cv"), groups


def run_decoding(
    stimuli_path: str,
    source_path: str,
    dataset: str,
    attribute: str,
    settings: dict,
    n_jobs: int = 1,
) -> tuple[dict[str, DecodingResult], Splits, list[str]]:
    """Decode one attribute of the stimulus table from one features or responses file.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``: stimulus order and the attribute column.
    source_path : str
        ``results/features/{model}/{layer}.h5`` or ``results/brain/{subject}/{roi}.h5``.
    dataset : str
        ``features`` or ``responses`` (n_stim, k); masked columns (NaN, inf or constant:
        :func:`dnnmap.brain.summary.masked_voxels`) are left out, their count logged
        (:func:`usable_columns`); when every response column is masked the results are
        NaN with a reason (:func:`dnnmap.decoding.cross_validation.unfitted_result`), not
        an error.
    attribute : str
        Column of the stimulus table.
    settings : dict
        The config's ``decoding`` section: ``continuous``, ``estimators``, ``Cs``,
        ``alphas``, ``n_folds``, ``inner_folds``, ``n_perm``, ``seed`` and optionally ``cv``
        (see :func:`decoding_splits`).
    n_jobs : int
        Processes for classifier permutations.

    Returns
    -------
    results : dict of str to DecodingResult
        One per estimator (``ridge`` alone for a continuous attribute).
    splits : Splits
        The outer splits.
    stim_ids : list of str
    """
    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    with h5py.File(source_path, "r") as f:
        if dataset not in f or "stim_id" not in f:
            raise InputError(f"{source_path}: no {dataset!r} or 'stim_id' dataset")
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), stimuli_path, source_path)
        per_fold = dataset == "features" and f.attrs.get("fit") == "train" and "basis" in f
        if not per_fold:
            X, n_masked = usable_columns(
                np.asarray(f[dataset][()], dtype=np.float64), source_path, dataset
            )
    folded = None
    if per_fold:  # features.fit: train: a PCA per outer training set (the fold seam)
        folded = load_features(source_path, stim_ids, stimuli_path)
        X, n_masked = folded.matrix, 0
    kind, y, splits, groups, estimators = check_decoding_settings(
        table, attribute, settings, stimuli_path
    )
    if X.shape[1] == 0:
        if dataset != "responses":
            raise InputError(
                f"{source_path}: every {dataset} column has NaN or inf; expected finite values"
            )
        reason = f"all {n_masked} voxels masked (NaN, inf or constant responses)"
        LOG.warning("%s: %s; no decoding, the results are NaN", source_path, reason)
        results = {e: unfitted_result(y, splits, e, reason, n_masked) for e in estimators}
        return results, splits, stim_ids
    inner, seed = settings["inner_folds"], settings["seed"]
    results = {}
    for est in estimators:
        results[est] = cross_validated_decoding(
            X if folded is None else folded,
            y,
            splits,
            estimator=est,
            Cs=settings.get("Cs", DEFAULT_CS),
            alphas=settings.get("alphas", DECODING_ALPHAS),
            inner_folds=inner,
            n_perm=settings["n_perm"],
            seed=seed,
            n_jobs=n_jobs,
            groups=groups,
            estimator_params=(settings.get("estimator_params") or {}).get(est),
        )
        results[est] = dataclasses.replace(results[est], n_masked=n_masked)
        LOG.info(
            "%s %s (%s): %s %.3f (sd %.3f over %d folds), chance %.3f, p %.4g (%d permutations)",
            attribute,
            est,
            kind,
            results[est].metric,
            results[est].score,
            np.std(results[est].fold_scores),
            len(splits),
            results[est].chance,
            results[est].pvalue,
            results[est].null.size,
        )
    return results, splits, stim_ids


class DecodingPlan(NamedTuple):
    """What :func:`check_decoding_settings` returns: one attribute's decoding, checked."""

    kind: str
    """``categorical`` or ``continuous``."""
    y: np.ndarray
    """(n_stim,) labels (str) or values (float64)."""
    splits: Splits
    """The outer splits."""
    groups: np.ndarray | None
    """(n_stim,) group labels of grouped inner folds, or None."""
    estimators: list[str]
    """Classifiers (categorical) or ``["ridge"]``."""


def check_decoding_settings(
    table: pd.DataFrame, attribute: str, settings: dict, table_path: str
) -> DecodingPlan:
    """Check that the stimulus table can serve one attribute's decoding; build its folds.

    Runs at start-up (:func:`dnnmap.config.check_semantics`) and in each decoding job, so a
    setting that passes at start-up cannot fail in the job.

    Parameters
    ----------
    table : DataFrame
        The stimulus table, in stimulus order (string values).
    attribute : str
        The column to decode.
    settings : dict
        The config's ``decoding`` section (see :func:`run_decoding`).
    table_path : str
        Named in messages.

    Returns
    -------
    DecodingPlan

    Raises
    ------
    InputError
        A missing column or bad values (:func:`dnnmap.decoding.attributes.attribute_values`),
        an unknown classifier, a class smaller than the outer folds or than
        ``inner_folds`` in an outer training set, a continuous attribute whose outer test
        sets hold fewer than 2 stimuli or whose training sets are smaller than
        ``inner_folds``.
    """
    kind = attribute_kind(attribute, settings)
    y = attribute_values(table, attribute, kind, table_path)
    inner = settings.get("inner_folds", 3)
    splits, groups = decoding_splits(table, y, kind, settings, table_path, attribute)
    if kind == "categorical":
        estimators = list(settings.get("estimators") or ["logistic"])
        unknown = [e for e in estimators if e not in CLASSIFIERS and "." not in str(e)]
        if unknown:
            raise InputError(
                f"decoding.estimators has {unknown[0]!r}; expected {', '.join(CLASSIFIERS)} "
                "or a classifier's import path (continuous attributes always use ridge)"
            )
        check_class_counts(y, splits, inner, attribute, table_path, grouped=groups is not None)
        return DecodingPlan(kind, y, splits, groups, estimators)
    for k, (train, test) in enumerate(zip(splits.train, splits.test, strict=True)):
        if test.size < 2:
            raise InputError(
                f"decoding.cv: outer split {k + 1} tests {test.size} stimulus of continuous "
                f"attribute {attribute!r}; expected at least 2 per test set to compute "
                "Pearson r (use k-fold, not leave-one-out)"
            )
        if groups is not None:
            inner_splits(train, "group", n_folds=int(inner), groups=groups)
        elif inner > train.size:
            raise InputError(
                f"decoding.inner_folds is {inner} for the {train.size} training stimuli of "
                f"outer split {k + 1}; expected at most {train.size}"
            )
    return DecodingPlan(kind, y, splits, groups, ["ridge"])


def write_decoding(
    path: str | os.PathLike,
    results: dict[str, DecodingResult],
    splits: Splits,
    stim_ids: Sequence[str],
    attribute: str,
    settings: dict,
    attrs: dict,
) -> None:
    """Write a decoding file atomically.

    Layout: root ``stim_id (n_stim,)``, ``classes (n_classes,)`` (categorical) and one group
    per estimator with ``predictions (n_repeats, n_stim)``, ``folds (n_repeats, n_stim)``,
    ``fold_scores (n_splits,)``, ``param (n_splits,)`` (C or alpha), ``null (n_perm,)``,
    scalars ``score``, ``pvalue``, ``chance`` and, for classifiers,
    ``fold_balanced_accuracy (n_splits,)`` and ``confusion (n_splits, n_classes, n_classes)``,
    for ridge ``fold_r2 (n_splits,)``. Root attrs: ``attribute``, ``kind``, ``estimators``
    (JSON list), ``metric``, ``cv`` (JSON), ``n_masked`` (masked columns left out) and
    ``reason`` (why the scores are NaN: every voxel masked; ``""`` otherwise) and the
    provenance in ``attrs``.
    """
    datasets = {}
    first = next(iter(results.values()))
    if first.classes is not None:
        datasets["classes"] = first.classes
    for est, res in results.items():
        datasets.update(
            {
                f"{est}/predictions": res.predictions,
                f"{est}/folds": res.folds,
                f"{est}/fold_scores": res.fold_scores,
                f"{est}/param": res.param,
                f"{est}/null": res.null,
                f"{est}/score": np.float64(res.score),
                f"{est}/pvalue": np.float64(res.pvalue),
                f"{est}/chance": np.float64(res.chance),
            }
        )
        for name in ("fold_balanced_accuracy", "confusion", "fold_r2"):
            if getattr(res, name) is not None:
                datasets[f"{est}/{name}"] = getattr(res, name)
    cv = {
        "outer": splits.scheme,
        **splits.params,
        "inner_folds": settings["inner_folds"],
        "n_perm": int(first.null.size),
        "permutation_seed": settings["seed"],
    }
    if first.metric == "accuracy":
        cv["Cs"] = list(settings.get("Cs", DEFAULT_CS))
    else:
        cv["alphas"] = list(settings.get("alphas", DECODING_ALPHAS))
    write_h5(
        path,
        datasets,
        attrs={
            **attrs,
            "attribute": attribute,
            "kind": "categorical" if first.metric == "accuracy" else "continuous",
            "estimators": json.dumps(list(results)),
            "metric": first.metric,
            "cv": json.dumps(cv),
            "n_masked": int(first.n_masked),
            "reason": first.reason,
        },
        stim_id=stim_ids,
    )


def read_decoding(path: str | os.PathLike) -> dict:
    """Read a decoding file.

    Returns
    -------
    dict
        ``attribute``, ``kind``, ``metric``, ``cv`` (dict), ``n_masked``, ``reason``,
        ``stim_id`` (list),
        ``classes`` (list or None) and ``estimators``: estimator name -> dict of its arrays
        and scalars (see :func:`write_decoding`).
    """
    with h5py.File(path, "r") as f:
        out = {
            "attribute": str(f.attrs["attribute"]),
            "kind": str(f.attrs["kind"]),
            "metric": str(f.attrs["metric"]),
            "cv": json.loads(f.attrs["cv"]),
            "n_masked": int(f.attrs.get("n_masked", 0)),
            "reason": str(f.attrs.get("reason", "")),
            "stim_id": read_strings(f["stim_id"]),
            "classes": read_strings(f["classes"]) if "classes" in f else None,
            "estimators": {},
        }
        for est in json.loads(f.attrs["estimators"]):
            group = f[est]
            values = {}
            for key in group:
                data = group[key]
                if key == "predictions" and data.dtype.kind == "O":
                    values[key] = np.array(
                        [
                            [s.decode() if isinstance(s, bytes) else s for s in row]
                            for row in data[()]
                        ]
                    )
                else:
                    values[key] = data[()]
            out["estimators"][est] = values
    return out
