"""Saliency maps of each target on its top stimuli: gradient, guided backprop, SmoothGrad,
integrated gradients (captum), for a layer's channels and components or for an ROI's mean
and voxels through their encoding model (network -> layer -> read-out as one module).

Rules ``interpret_saliency_units`` and ``interpret_saliency_brain``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``top`` (the targets' top-stimuli file),
``targets`` (the file whose ``targets`` group defines them: the units' top-stimuli file, or
the ROI's readout.h5), ``weights`` (a local weights file, if the model has one).
Outputs: ``h5`` (``maps (t, n_methods, n_stimuli, 3, H, W)`` float32 attributions on the
normalised input, ``rows (t, n_stimuli)`` stimulus rows, ``target``, ``method``, ``ig_gap (t,)``
completeness gap of integrated gradients), ``figure`` (overlays, PNG).
Params: ``model`` (config ``models.{model}``), ``settings`` (config ``interpret.saliency``),
``device`` (config ``compute.device``), ``tf32`` (config ``compute.tf32``: TF32 in CUDA
convolutions), ``background`` (config ``stimuli.background``).
Wildcards: ``model``, ``layer`` (and ``subject``, ``roi`` for brain targets).
"""

import logging

import numpy as np
import torch
from tqdm import tqdm

from dnnmap.figures import save_figure
from dnnmap.interpret.montage import saliency_figure
from dnnmap.interpret.network import network_head, stimulus_inputs
from dnnmap.interpret.saliency import SaliencySettings, pixel_map, stack_maps
from dnnmap.interpret.targets import read_targets
from dnnmap.interpret.top_stimuli import read_top_stimuli
from dnnmap.logs import rule_log
from dnnmap.models.build import torch_device
from dnnmap.models.precision import cuda_precision
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(paths, wildcards, model_entry, settings, device, background, out_h5, out_fig, progress):
    table = read_stimuli(paths["stimuli"])
    spec = read_targets(paths["targets"])
    top = read_top_stimuli(paths["top"])
    if top.names != spec.names:
        raise ValueError(f"{paths['top']} and {paths['targets']} list other targets")
    weights = paths.get("weights") or None
    head, model_spec = network_head(
        wildcards["model"], model_entry, wildcards["layer"], spec, weights
    )
    device = torch_device(device)
    head = head.to(device)
    method_settings = SaliencySettings(
        methods=tuple(settings["methods"]),
        smoothgrad_samples=settings["smoothgrad_samples"],
        smoothgrad_noise=settings["smoothgrad_noise"],
        ig_steps=settings["ig_steps"],
        seed=settings["seed"],
    )
    rows = top.top[:, : settings["n_stimuli"]]
    per_target, gaps, rgbs = [], [], []
    for j in tqdm(range(len(spec.names)), desc="targets", file=progress):
        x, rgb = stimulus_inputs(table["path"].to_numpy()[rows[j]], model_spec, background)
        maps, gap = saliency_maps_on(head, x.to(device), j, method_settings)
        per_target.append(maps)
        gaps.append(gap)
        rgbs.append(rgb)
        LOG.info("%s: integrated-gradients completeness gap %.3g", spec.names[j], gap)
    maps = stack_maps(per_target, method_settings.methods)
    attrs = provenance(settings, [p for p in paths.values() if p])
    attrs.update(wildcards, baseline="zeros of the normalised input (the mean image)")
    write_h5(
        out_h5,
        {
            "maps": maps,
            "rows": rows,
            "target": np.asarray(spec.names, dtype=object),
            "method": np.asarray(method_settings.methods, dtype=object),
            "ig_gap": np.asarray(gaps),
        },
        attrs=attrs,
        stim_id=list(table["stim_id"]),
    )
    ids = np.asarray(table["stim_id"], dtype=object)[rows]
    title = " ".join(wildcards.values()) + ": saliency on the top stimuli"
    fig = saliency_figure(
        np.stack(rgbs), pixel_map(maps), spec.names, ids, method_settings.methods, title
    )
    save_figure(fig, out_fig)


def saliency_maps_on(head, x, target, settings):
    """:func:`dnnmap.interpret.saliency.saliency_maps` with the random state restored."""
    from dnnmap.interpret.saliency import saliency_maps

    state = torch.random.get_rng_state()
    try:
        return saliency_maps(head, x, target, settings)
    finally:
        torch.random.set_rng_state(state)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("interpret_saliency_units", model="alexnet", layer="conv5")
    names = ("stimuli", "top", "targets")
    weights = snakemake.input.get("weights")
    with cuda_precision(snakemake.params.tf32), rule_log(snakemake.log[0]) as log:
        torch.set_num_threads(snakemake.threads)
        main(
            {**{k: snakemake.input[k] for k in names}, "weights": weights or None},
            dict(snakemake.wildcards),
            snakemake.params.model,
            dict(snakemake.params.settings),
            snakemake.params.device,
            snakemake.params.background,
            snakemake.output.h5,
            snakemake.output.figure,
            log,
        )
