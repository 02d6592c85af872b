"""Simulate one subject's brain responses with a known answer (the demo's ground truth).

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (PCA features of the layers that
drive the simulated regions).
Outputs: ``responses`` (CIFTI-2 dscalar on the fsLR-32k cortex, one map per stimulus named by
stim_id; the mean over repeats), ``repeats`` (one such file per single repeat when
``simulation.n_repeats`` > 1, else none) and ``truth`` (TSV: region, layer, labels, n_vox,
n_features, snr, expected_r).
Config: ``simulation`` (model, seed, snr, n_components, n_repeats, regions); the subject's
position in ``brain.subjects`` is added to the seed, so subjects differ.
"""

import logging

from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar
from dnnmap.brain.simulate import read_layer_features, simulate_responses
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path, feature_paths, simulation, subject_index, out_responses, out_repeats, out_truth
):
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    features = read_layer_features(feature_paths, stim_ids, stimuli_path)
    brain_models = fslr32k_brain_models()
    data, truth, repeats = simulate_responses(
        features,
        simulation["regions"],
        brain_models,
        snr=simulation["snr"],
        seed=simulation["seed"] + subject_index,
        n_components=simulation["n_components"],
        n_repeats=simulation["n_repeats"],
    )
    write_dscalar(out_responses, data, stim_ids, brain_models)
    for r, path in enumerate(out_repeats):
        write_dscalar(path, repeats[r], stim_ids, brain_models)
    write_table(out_truth, truth, float_format="%.4f")
    LOG.info("simulated %d stimuli x %d grayordinates:\n%s", *data.shape, truth.to_string())


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("simulate_brain", subject="sub-01")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.features),
            snakemake.params.simulation,
            snakemake.params.subject_index,
            snakemake.output.responses,
            list(snakemake.output.repeats),
            snakemake.output.truth,
        )
