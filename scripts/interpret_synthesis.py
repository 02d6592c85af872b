"""The image that drives each target most (activation maximization under image priors), for
a layer's channels and components or an ROI's mean and voxels through their encoding model.

Rules ``interpret_synthesis_units`` and ``interpret_synthesis_brain`` (GPU partition on a
cluster; the CPU runs it too, slowly at full size).
Inputs: ``top`` (the targets' top-stimuli file: the best natural value of each target),
``targets`` (the file whose ``targets`` group defines them), ``weights`` (a local weights
file, if the model has one).
Outputs: ``h5`` (``image (t, 3, size, size)`` RGB in [0, 1], ``objective (t, steps)`` the
objective at every step, ``value (t,)`` each target for its image, ``natural_best (t,)``
its highest value over the stimuli, ``target``), ``figure`` (images and trajectories, PNG).
Params: ``model`` (config ``models.{model}``), ``settings`` (config ``interpret.synthesis``),
``device`` (config ``compute.device``), ``tf32`` (config ``compute.tf32``: TF32 in CUDA
convolutions). Wildcards: ``model``, ``layer`` (and ``subject``,
``roi`` for brain targets).
"""

import logging

import numpy as np
import torch

from dnnmap.figures import save_figure
from dnnmap.interpret.montage import synthesis_figure
from dnnmap.interpret.network import network_head
from dnnmap.interpret.synthesis import SynthesisSettings, normalizer, synthesize
from dnnmap.interpret.targets import read_targets
from dnnmap.interpret.top_stimuli import read_top_stimuli
from dnnmap.logs import rule_log
from dnnmap.models.build import torch_device
from dnnmap.models.precision import cuda_precision
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(paths, wildcards, model_entry, settings, device, out_h5, out_fig, progress):
    spec = read_targets(paths["targets"])
    top = read_top_stimuli(paths["top"])
    weights = paths.get("weights") or None
    head, model_spec = network_head(
        wildcards["model"], model_entry, wildcards["layer"], spec, weights
    )
    size = int(settings["size"])
    if (
        spec.weights is not None
        and len(spec.unit_shape) > 1
        and size != model_spec.preprocessing.resize
    ):
        # a read-out of a convolutional layer's units needs the input size it was fitted at
        LOG.info("read-out of a convolutional layer: synthesis at the model's %d px", size)
        size = model_spec.preprocessing.resize
    fields = {k: v for k, v in settings.items() if k != "enabled"}
    config = SynthesisSettings(**{**fields, "size": size, "scales": tuple(settings["scales"])})
    device = torch_device(device)
    norm = normalizer(model_spec.preprocessing.mean, model_spec.preprocessing.std, device)
    natural = top.values.max(axis=0)
    results = []
    for j, name in enumerate(spec.names):
        out = synthesize(head, j, norm, config, device, progress)
        LOG.info(
            "%s: objective %.4g -> %.4g over %d steps; value %.4g (best stimulus %.4g)",
            name,
            out.objective[0],
            out.objective[-1],
            config.steps,
            out.value,
            natural[j],
        )
        if not np.any(out.objective):
            LOG.warning(
                "%s stayed at zero: the target is silent (a ReLU at zero) for the starting "
                "image, so it has no gradient to follow",
                name,
            )
        results.append(out)
    images = np.stack([r.image for r in results])
    objective = np.stack([r.objective for r in results])
    values = np.array([r.value for r in results])
    attrs = provenance(settings, list(p for p in paths.values() if p))
    attrs.update(wildcards, size=size, parameterization="decorrelated Fourier (Olah et al. 2017)")
    write_h5(
        out_h5,
        {
            "image": images,
            "objective": objective,
            "value": values,
            "natural_best": natural,
            "target": np.asarray(spec.names, dtype=object),
        },
        attrs=attrs,
    )
    title = " ".join(wildcards.values()) + f": synthesized ({config.steps} steps, {size} px)"
    save_figure(synthesis_figure(images, objective, spec.names, values, natural, title), out_fig)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("interpret_synthesis_units", model="alexnet", layer="conv5")
    weights = snakemake.input.get("weights")
    with cuda_precision(snakemake.params.tf32), rule_log(snakemake.log[0]) as log:
        torch.set_num_threads(snakemake.threads)
        main(
            {
                "top": snakemake.input.top,
                "targets": snakemake.input.targets,
                "weights": weights or None,
            },
            dict(snakemake.wildcards),
            snakemake.params.model,
            dict(snakemake.params.settings),
            snakemake.params.device,
            snakemake.output.h5,
            snakemake.output.figure,
            log,
        )
