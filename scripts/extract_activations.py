"""Record the activations of one network's layers for all stimuli.

Inputs: ``stimuli`` (results/stimuli.tsv), ``weights`` (a local weights file, if any).
Output: ``results/activations/{model}.h5`` (see dnnmap.models.extraction for the layout).
Its ``inputs`` provenance records the stimulus table, the weights file and one digest over
the stimulus files' bytes in stimulus order (with their count), each with its sha256.
Config: ``models.{model}`` (source, architecture, module, kwargs, weights, seed, layers,
preprocessing, checkpoint_key, strip_prefix, strict, units, dmask; ``clip`` for video and
``audio`` for audio networks), ``stimuli.background`` and ``compute`` (device, dtype,
compression, batch_size, loader_workers, autocast, tf32). A ``module`` file and a ``dmask`` file
are recorded with their digests in the ``inputs`` provenance.

The script also serves the ``extract_shard`` rule (``extraction.n_shards`` > 1; wildcards
``shard``, 0-based, and ``n_shards``; output
``results/activations/{model}/shard-{shard}-of-{n_shards}.h5``): it then extracts one
contiguous slice of the table's rows (:func:`dnnmap.models.shards.shard_bounds`, cut in whole
batches of ``compute.batch_size``) and records the slice in the ``shard`` attribute.
"""

import json
import logging

import torch

from dnnmap.logs import rule_log
from dnnmap.media.options import media_options
from dnnmap.models.build import ModelSpec, torch_device
from dnnmap.models.extraction import extract_activations, loader_workers
from dnnmap.models.registry import weights_kind
from dnnmap.models.shards import shard_attr, shard_bounds
from dnnmap.stimuli import read_stimuli, stimulus_files_digest
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(
    name,
    model_config,
    compute,
    stimuli_path,
    weights,
    out_path,
    threads,
    progress,
    background,
    shard=None,
):
    """Extract every stimulus of ``stimuli_path``, or with ``shard = (index, n_shards)``
    the rows of that shard only."""
    torch.set_num_threads(threads)
    spec = ModelSpec.from_config(name, model_config)
    table = read_stimuli(stimuli_path)
    listed = f"{len(table)} stimulus files listed in {stimuli_path}"
    if shard is not None:
        index, n_shards = shard
        bounds = shard_bounds(len(table), n_shards, compute["batch_size"])[index]
        table = table.iloc[bounds[0] : bounds[1]].reset_index(drop=True)
        listed = f"{len(table)} stimulus files (rows {bounds[0] + 1}-{bounds[1]}) listed in "
        listed += str(stimuli_path)
        LOG.info("%s: shard %d of %d, stimuli %d-%d", name, index + 1, n_shards, *bounds)
    family = spec.family()
    family.check_modality(table["stim_id"], table["modality"], f"{stimuli_path}: {name}")
    media = media_options(name, model_config, family)
    device = torch_device(compute["device"])
    LOG.info("%s: %s layers %s on %s", name, spec.architecture, spec.layers, device)
    config = {"model": model_config, "compute": compute, "background": list(background)}
    extra = [model_config[k] for k in ("dmask",) if model_config.get(k)]
    module = str(model_config.get("module") or "")
    if module.split(":")[0].endswith(".py"):
        extra.append(module.split(":")[0])
    attrs = provenance(config, [stimuli_path, *weights, *extra])
    inputs = json.loads(attrs["inputs"])
    inputs[listed] = stimulus_files_digest(table["path"])
    attrs["inputs"] = json.dumps(inputs)
    if shard is not None:
        attrs["shard"] = shard_attr(index, n_shards, bounds)
    extract_activations(
        spec,
        list(table["stim_id"]),
        list(table["path"]),
        out_path,
        batch_size=compute["batch_size"],
        device=device,
        dtype=compute["dtype"],
        compression=compute["compression"],
        weights_file=weights[0] if weights_kind(spec.weights) == "torchvision" else None,
        attrs=attrs,
        progress=progress,
        background=background,
        media=media,
        workers=loader_workers(compute.get("loader_workers", "auto"), threads, device),
        autocast=compute.get("autocast", False),
        tf32=compute.get("tf32", False),
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("extract_activations", model="alexnet")
    # One weights file comes as a str (list() would split it into characters), none as [].
    weights = snakemake.input.weights
    shard = None  # rule extract_shard: (index, count) from its wildcards
    if snakemake.wildcards.get("shard") is not None:
        shard = (int(snakemake.wildcards.shard), int(snakemake.wildcards.n_shards))
    with rule_log(snakemake.log[0]) as log:
        main(
            snakemake.wildcards.model,
            snakemake.params.model,
            snakemake.params.compute,
            snakemake.input.stimuli,
            [weights] if isinstance(weights, str) else list(weights),
            snakemake.output[0],
            snakemake.threads,
            log,
            snakemake.params.background,
            shard=shard,
        )
