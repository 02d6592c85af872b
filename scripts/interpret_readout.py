"""An ROI's encoding model refitted on all stimuli, as a linear read-out of the layer's units.

Rule ``interpret_readout``. The encoding files hold cross-validated results, not a model;
this refits ridge on every stimulus by the encode rule's own procedure (alpha per voxel by
inner folds) and writes the ROI mean and chosen voxels as unit weights
(dnnmap.interpret.readout), for saliency and synthesis through the encoding model.
Inputs: ``stimuli`` (results/stimuli.tsv), ``activations`` (results/activations/{model}.h5),
``features`` (results/features/{model}/{layer}.h5), ``brain`` (results/brain/{subject}/{roi}.h5),
``encoding`` (results/encoding/{subject}/{model}/{layer}/{roi}.h5: scores and masked voxels).
Output: results/interpret/{model}/{layer}/brain/{subject}/{roi}/readout.h5 with the targets
group (weights, mean, intercept; dnnmap.interpret.targets), ``predictions (n_stim, t)`` of the
refitted model, ``alpha``, ``voxel`` (grayordinate) and ``voxel_column`` (column in the ROI
file) of each fitted voxel, ``target_weights (v_fit, t)`` (each target's weights on them); attrs
``reconstruction_error``, ``features_method``.
Params: ``encoding`` (config ``encoding``), ``settings`` (config ``interpret.brain``:
n_voxels, voxels). Wildcards: ``model``, ``layer``, ``subject``, ``roi``.
"""

import logging

import h5py
import numpy as np

from dnnmap.encoding.io import read_layer_units, read_roi
from dnnmap.features.folds import load_features
from dnnmap.interpret.readout import EXACT_METHODS, fit_readout
from dnnmap.interpret.targets import TargetSpec, brain_targets, write_targets
from dnnmap.logs import rule_log
from dnnmap.stats.splits import groups_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, h5_writer, provenance, read_strings, write_strings

LOG = logging.getLogger("dnnmap")


def features_matrix(path, stim_ids, table):
    """The features the encoding model read, fitted on all stimuli: (n_stim, k), and attrs."""
    features = load_features(path, stim_ids, table)
    X = features.matrix
    if features.per_fold:  # fit: train stores every component; all stimuli's PCA is its head
        X = X[:, : features.n_components]
    return np.asarray(X, dtype=np.float64), features.attrs


def main(paths, wildcards, encoding, settings, out_path):
    table = read_stimuli(paths["stimuli"])
    stim_ids = list(table["stim_id"])
    layer, roi = wildcards["layer"], wildcards["roi"]
    A, unit_shape = read_layer_units(paths["activations"], layer, stim_ids, paths["stimuli"])
    F, fattrs = features_matrix(paths["features"], stim_ids, paths["stimuli"])
    method = fattrs.get("method", "none")
    if method not in EXACT_METHODS or fattrs.get("fit") == "external":
        LOG.warning(
            "features %s (fit %s): the unit read-out is the encoding model projected on the "
            "span of the stimuli's activations (exact on the stimuli only)",
            method,
            fattrs.get("fit"),
        )
    Y = read_roi(paths["brain"], stim_ids, paths["stimuli"])["responses"].astype(np.float64)
    with h5py.File(paths["encoding"], "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), paths["stimuli"], paths["encoding"])
        index, score = f["index"][()], f["score"][()]
        masked = f["masked"][()] if "masked" in f else None
    names, T = brain_targets(
        index, score, masked, settings["n_voxels"], settings["voxels"], roi, paths["encoding"]
    )
    groups = groups_from_table(table, dict(encoding.get("cv") or {}), paths["stimuli"])
    out = fit_readout(A, F, Y, T, encoding, groups)
    LOG.info(
        "%s: ridge refitted on %d stimuli for %d voxels (%d targets: %s); median alpha %g; "
        "read-out of %d units reproduces it to %.2g (relative)",
        roi,
        len(stim_ids),
        out.voxels.size,
        len(names),
        ", ".join(names),
        float(np.median(out.alpha)),
        A.shape[1],
        out.reconstruction_error,
    )
    spec = TargetSpec(
        layer,
        unit_shape,
        names,
        np.zeros(0, np.int64),
        out.weights.astype(np.float32),
        out.mean.astype(np.float32),
        out.intercept,
    )
    attrs = provenance({"encoding": encoding, "interpret": settings}, list(paths.values()))
    attrs.update(
        wildcards,
        reconstruction_error=out.reconstruction_error,
        features_method=str(method),
        features_fit=str(fattrs.get("fit", "")),
        refit="ridge on all stimuli, alpha per voxel by inner folds (encoding settings)",
    )
    with h5_writer(out_path, attrs) as f:
        write_strings(f, "stim_id", stim_ids)
        write_targets(f, spec)
        f.create_dataset("predictions", data=out.predictions)
        f.create_dataset("alpha", data=out.alpha)
        f.create_dataset("voxel", data=np.asarray(index)[out.voxels])
        f.create_dataset("voxel_column", data=out.voxels)
        f.create_dataset("target_weights", data=T[out.voxels])


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "interpret_readout", model="alexnet", layer="fc6", subject="sub-01", roi="VTC"
        )
    with rule_log(snakemake.log[0]):
        main(
            {
                k: snakemake.input[k]
                for k in ("stimuli", "activations", "features", "brain", "encoding")
            },
            dict(snakemake.wildcards),
            dict(snakemake.params.encoding),
            dict(snakemake.params.settings),
            snakemake.output[0],
        )
