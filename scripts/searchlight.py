"""One shard of a searchlight RSA: every center of the shard against every layer's RDM.

Inputs: ``stimuli`` (results/stimuli.tsv), ``responses`` (the subject's data in any format:
CIFTI, 4-D NIfTI in its mask, GIFTI or MGH per hemisphere, maps matched to stimuli by name or
ids sidecar; params ``space`` names the files), ``models``
(results/rdm/{model}/{layer}.h5 of every layer, in the order of ``params.layers``).
Output: ``results/searchlight/{subject}/{model}/shard-{shard}.h5`` with ``centers (n,)``
(column indices: grayordinates, or voxels of the mask in C order), ``r (n, n_layers)``,
``n_members (n,)``, ``names (n_layers,)`` and attrs shard, n_shards, n_centers, radius_mm,
metric, comparison (see dnnmap.rsa.searchlight.run_searchlight_shard).
Params: ``searchlight`` (config ``rsa.searchlight``: radius_mm, n_shards, metric,
comparison, optional diagonals, surfaces), ``layers``, ``space`` (the subject's
``responses``/``mask``/``ids``). Neighborhoods: dnnmap.brain.space_neighborhoods (spheres in
mm among mask voxels; geodesic discs on the shipped fsLR-32k or fsaverage5 midthickness).
Wildcards: ``shard``.
"""

from dnnmap.brain.spaces import SubjectData
from dnnmap.logs import rule_log
from dnnmap.rsa.searchlight import run_searchlight_shard, write_shard


def main(
    stimuli_path: str,
    responses_path,
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
        where = f"brain.subjects.{snakemake.wildcards.subject}"
        main(
            snakemake.input.stimuli,
            SubjectData.from_config(**snakemake.params.space, where=where),
            list(snakemake.input.models),
            dict(snakemake.params.searchlight),
            list(snakemake.params.layers),
            snakemake.wildcards.shard,
            snakemake.output[0],
        )
