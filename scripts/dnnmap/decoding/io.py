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

import json
import logging
import os
from collections.abc import Sequence

import h5py
import numpy as np
import pandas as pd

from dnnmap.decoding.attributes import attribute_kind, attribute_values, check_class_counts
from dnnmap.decoding.classifiers import CLASSIFIERS, DEFAULT_CS
from dnnmap.decoding.cross_validation import (
    DECODING_ALPHAS,
    DecodingResult,
    cross_validated_decoding,
)
from dnnmap.errors import InputError
from dnnmap.stats.splits import Splits, groups_from_table, splits_from_table, stratified_kfold
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_strings, write_h5

LOG = logging.getLogger("dnnmap")


def _finite_columns(X: np.ndarray, source) -> np.ndarray:
    bad = ~np.isfinite(X).all(axis=0)
    if bad.all():
        raise InputError(f"{source}: every column has NaN or inf; expected finite responses")
    if bad.any():
        LOG.warning("%s: %d of %d columns have NaN or inf; left out", source, bad.sum(), bad.size)
        return X[:, ~bad]
    return X


def decoding_splits(
    table: pd.DataFrame, y, kind: str, settings: dict, table_path: str
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
        ``features`` or ``responses`` (n_stim, k); columns with NaN/inf are left out.
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
    kind = attribute_kind(attribute, settings)
    y = attribute_values(table, attribute, kind, stimuli_path)
    with h5py.File(source_path, "r") as f:
        if dataset not in f or "stim_id" not in f:
            raise InputError(f"{source_path}: no {dataset!r} or 'stim_id' dataset")
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), stimuli_path, source_path)
        X = _finite_columns(np.asarray(f[dataset][()], dtype=np.float64), source_path)
    inner, seed = settings["inner_folds"], settings["seed"]
    splits, groups = decoding_splits(table, y, kind, settings, stimuli_path)
    if kind == "categorical":
        estimators = list(settings.get("estimators") or ["logistic"])
        unknown = [e for e in estimators if e not in CLASSIFIERS and "." not in str(e)]
        if unknown:
            raise InputError(
                f"decoding.estimators has {unknown[0]!r}; expected {', '.join(CLASSIFIERS)} "
                "or a classifier's import path (continuous attributes always use ridge)"
            )
        check_class_counts(y, splits, inner, attribute, stimuli_path, grouped=groups is not None)
    else:
        estimators = ["ridge"]
    results = {}
    for est in estimators:
        results[est] = cross_validated_decoding(
            X,
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
    (JSON list), ``metric``, ``cv`` (JSON) and the provenance in ``attrs``.
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
        },
        stim_id=stim_ids,
    )


def read_decoding(path: str | os.PathLike) -> dict:
    """Read a decoding file.

    Returns
    -------
    dict
        ``attribute``, ``kind``, ``metric``, ``cv`` (dict), ``stim_id`` (list),
        ``classes`` (list or None) and ``estimators``: estimator name -> dict of its arrays
        and scalars (see :func:`write_decoding`).
    """
    with h5py.File(path, "r") as f:
        out = {
            "attribute": str(f.attrs["attribute"]),
            "kind": str(f.attrs["kind"]),
            "metric": str(f.attrs["metric"]),
            "cv": json.loads(f.attrs["cv"]),
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
