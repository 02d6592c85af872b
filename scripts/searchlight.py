"""One shard of a searchlight RSA: every center of the shard against every layer's RDM.

Inputs: ``stimuli`` (results/stimuli.tsv), ``responses`` (the subject's CIFTI file, or a 4-D
NIfTI with one volume per stimulus in table order), ``models`` (results/rdm/{model}/{layer}.h5
of every layer, in the order of ``params.layers``).
Output: ``results/searchlight/{subject}/{model}/shard-{shard}.h5`` with ``centers (n,)``
(column indices: grayordinates, or voxels of the mask in C order), ``r (n, n_layers)``,
``n_members (n,)``, ``names (n_layers,)`` and attrs shard, n_shards, n_centers, radius_mm,
metric, comparison.
Params: ``searchlight`` (config ``rsa.searchlight``: radius_mm, n_shards, metric,
comparison, optional diagonals, mask, surfaces), ``layers``, ``shard`` (the wildcard).
"""

import logging
import time

import numpy as np

from dnnmap.errors import InputError
from dnnmap.logs import rule_log
from dnnmap.rsa.io import read_rdm
from dnnmap.rsa.searchlight import (
    check_shard,
    neighborhoods_for,
    read_responses,
    searchlight_rsa,
    shard_centers,
    write_shard,
)
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, layers, shard, out_path):
    stim_ids = list(read_stimuli(inputs.stimuli)["stim_id"])
    model_paths = list(inputs.models)
    if len(model_paths) != len(layers):
        raise InputError(
            f"{len(model_paths)} model RDM files for {len(layers)} layers ({', '.join(layers)}); "
            "expected one RDM file per layer"
        )
    mask = settings.get("mask")
    responses = read_responses(inputs.responses, stim_ids, inputs.stimuli, mask=mask)
    models = np.stack([read_rdm(p, stim_ids, inputs.stimuli) for p in model_paths])
    data = responses.data
    n_shards = int(settings["n_shards"])
    index = check_shard(shard, n_shards)
    centers = shard_centers(data.shape[1], n_shards)[index]
    start = time.perf_counter()
    neighborhoods = neighborhoods_for(
        responses,
        settings["radius_mm"],
        centers,
        surfaces=settings.get("surfaces"),
        diagonals=bool(settings.get("diagonals", False)),
    )
    sizes = neighborhoods.sizes
    LOG.info(
        "shard %d of %d: %d centers, radius %g mm, %d-%d members (mean %.1f) in %.1f s",
        index,
        n_shards,
        len(centers),
        neighborhoods.radius_mm,
        sizes.min(initial=0),
        sizes.max(initial=0),
        sizes.mean() if sizes.size else 0.0,
        time.perf_counter() - start,
    )
    finite = np.isfinite(data).all(axis=0)
    if not finite.all():
        LOG.warning(
            "%d columns have NaN or inf responses; left out of every neighborhood",
            int((~finite).sum()),
        )
        neighborhoods = neighborhoods.restrict(finite)
        data = np.where(finite, data, 0.0)
    start = time.perf_counter()
    r = searchlight_rsa(
        data, neighborhoods, models, metric=settings["metric"], comparison=settings["comparison"]
    )
    LOG.info(
        "%d stimuli x %d layers: %s RDMs, %s r in %.1f s (%d undefined centers)",
        len(stim_ids),
        len(layers),
        settings["metric"],
        settings["comparison"],
        time.perf_counter() - start,
        int(np.isnan(r).any(axis=1).sum()),
    )
    attrs = provenance(settings, [inputs.responses, *model_paths])
    attrs.update(
        radius_mm=float(neighborhoods.radius_mm),
        metric=settings["metric"],
        comparison=settings["comparison"],
        diagonals=bool(settings.get("diagonals", False)),
    )
    write_shard(
        out_path,
        centers,
        r,
        layers,
        neighborhoods.sizes,
        index,
        n_shards,
        data.shape[1],
        attrs,
    )


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input,
            dict(snakemake.params.searchlight),
            list(snakemake.params.layers),
            snakemake.wildcards.shard,
            snakemake.output[0],
        )
