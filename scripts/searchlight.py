"""One shard of a searchlight RSA: every center of the shard against every layer's RDM.

Inputs: ``stimuli`` (results/stimuli.tsv), ``responses`` (the subject's CIFTI file, or a 4-D
NIfTI with one volume per stimulus in table order), ``models`` (results/rdm/{model}/{layer}.h5
of every layer, in the order of ``params.layers``).
Output: ``results/searchlight/{subject}/{model}/shard-{shard}.h5`` with ``centers (n,)``
(column indices: grayordinates, or voxels of the mask in C order), ``r (n, n_layers)``,
``n_members (n,)``, ``names (n_layers,)`` and attrs shard, n_shards, n_centers, radius_mm,
metric, comparison (see dnnmap.rsa.searchlight.run_searchlight_shard).
Params: ``searchlight`` (config ``rsa.searchlight``: radius_mm, n_shards, metric,
comparison, optional diagonals, mask, surfaces), ``layers``.
Wildcards: ``shard``.
"""

from dnnmap.logs import rule_log
from dnnmap.rsa.searchlight import run_searchlight_shard, write_shard


def main(
    stimuli_path: str,
    responses_path: str,
    model_paths: list[str],
    settings: dict,
    layers: list[str],
    shard: str,
    out_path: str,
) -> None:
    result = run_searchlight_shard(
        stimuli_path, responses_path, model_paths, layers, settings, shard
    )
    write_shard(out_path, **result._asdict())


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("searchlight", subject="sub-01", model="alexnet", shard="0")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.responses,
            list(snakemake.input.models),
            dict(snakemake.params.searchlight),
            list(snakemake.params.layers),
            snakemake.wildcards.shard,
            snakemake.output[0],
        )
