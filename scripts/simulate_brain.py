"""Simulate one subject's brain responses with a known answer (the demo's ground truth).

Inputs: ``stimuli`` (results/stimuli.tsv), ``activations`` (results/activations/{model}.h5:
the raw activations of ``simulation.model``, never the features files the pipeline fits).
Outputs: ``responses`` (CIFTI-2 dscalar on the fsLR-32k cortex, one map per stimulus named by
stim_id; the mean over sessions; for a subject simulated in a volume, a 4-D NIfTI on its
mask's grid), ``ids`` (the stim_id of each map, one per line), ``repeats`` (one such file per
session when ``simulation.n_repeats`` > 1, else none) and ``truth`` (TSV: ``model``, the
network the regions read, then the columns dnnmap.brain.simulate.TRUTH_COLUMNS: region, kind,
layer, weights, labels, n_vox, n_projections, nonlinearity, snr, expected_ceiling).
Config: ``simulation`` (model, seed, snr, n_projections, nonlinearity, n_repeats,
session_offset_sd, session_gain_sd, noise_smoothing, regions); the subject's position in
``brain.subjects`` is added to the seed of the responses (not of the projections), so subjects
differ in read-out weights and noise but see the same layers. Params: ``entry`` (the
subject's ``brain.subjects`` entry: with a ``mask`` and ``roi_files`` the subject is
simulated on the mask's voxels, regions labelled by its ROI files; see
dnnmap.brain.simulate_volume).
"""

import logging

from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar
from dnnmap.brain.simulate import read_projected_layers, region_layers, simulate_responses
from dnnmap.brain.simulate_volume import VolumeSubject, write_simulated_volume
from dnnmap.brain.subjects import simulates_volume
from dnnmap.brain.surface_noise import surface_smoother
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import atomic_path, write_table

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path,
    activations_path,
    simulation,
    subject_index,
    out_responses,
    out_repeats,
    out_truth,
    entry=None,
    out_ids=None,
    where="brain.subjects",
):
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    regions = simulation["regions"]
    layers = sorted(
        {name for region, spec in regions.items() for name in region_layers(spec, region)[0]}
    )
    projections = read_projected_layers(
        activations_path,
        layers,
        stim_ids,
        stimuli_path,
        simulation["n_projections"],
        simulation["seed"],
    )
    settings = {
        "snr": simulation["snr"],
        "seed": simulation["seed"] + subject_index,
        "n_repeats": simulation["n_repeats"],
        "nonlinearity": simulation["nonlinearity"],
        "session_offset_sd": simulation["session_offset_sd"],
        "session_gain_sd": simulation["session_gain_sd"],
    }
    if entry is not None and simulates_volume(entry):
        subject = VolumeSubject(entry, where)
        data, truth, repeats = subject.simulate(
            projections, regions, noise_smoothing=simulation["noise_smoothing"], **settings
        )
        write_simulated_volume(out_responses, out_ids, data, stim_ids, subject.space)
        for r, path in enumerate(out_repeats):
            write_simulated_volume(path, out_ids, repeats[r], stim_ids, subject.space)
        LOG.info("simulated on the %s", subject.space.describe())
    else:
        brain_models = fslr32k_brain_models()
        smoother = surface_smoother(brain_models, simulation["noise_smoothing"])
        data, truth, repeats = simulate_responses(
            projections, regions, brain_models, smoother=smoother, **settings
        )
        write_dscalar(out_responses, data, stim_ids, brain_models)
        for r, path in enumerate(out_repeats):
            write_dscalar(path, repeats[r], stim_ids, brain_models)
        if out_ids is not None:
            with atomic_path(out_ids) as tmp:
                tmp.write_text("".join(f"{i}\n" for i in stim_ids))
    truth.insert(0, "model", simulation["model"])  # the network the regions read
    write_table(out_truth, truth, float_format="%.4f")
    LOG.info("simulated %d stimuli x %d grayordinates:\n%s", *data.shape, truth.to_string())


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("simulate_brain", subject="sub-01")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.activations,
            snakemake.params.simulation,
            snakemake.params.subject_index,
            snakemake.output.responses,
            list(snakemake.output.repeats),
            snakemake.output.truth,
            dict(snakemake.params.entry),
            snakemake.output.ids,
            f"brain.subjects.{snakemake.wildcards.subject}",
        )
