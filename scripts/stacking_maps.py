"""Write one subject x stack set's stacking results as maps in the responses' format.

Rule ``stacking_maps``.
Inputs: ``responses`` (the subject's data), ``stacking``
(results/stacking/{subject}/{stack}/{roi}.h5 of every ROI).
Output: ``results/maps/{subject}/stacking_{stack}{mapsuffix}`` (``.dscalar.nii`` for CIFTI,
``.nii.gz`` for NIfTI, one ``.L.func.gii``/``.R.func.gii`` or ``.lh.mgz``/``.rh.mgz`` per
hemisphere job for GIFTI/MGH): maps ``r`` and
``signed_sqrt_r2`` (stacked scores), ``weight_<model>/<layer>`` per space and ``best_space``
(1-based space of the largest weight); 0 outside the ROIs and at masked voxels.
Params: ``spaces`` (``model/layer`` of the set, in order), ``space`` (the subject's
``responses``/``mask``/``ids``, read by dnnmap.brain.spaces.space_of).
"""

from dnnmap.logs import rule_log
from dnnmap.stacking.maps import write_stacking_maps


def main(responses_path: str, stacking_paths: list[str], spaces: list[str], out_path: str) -> None:
    write_stacking_maps(responses_path, stacking_paths, spaces, out_path)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("stacking_maps", subject="sub-01", stack="alexnet_all")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.params.space,
            list(snakemake.input.stacking),
            list(snakemake.params.spaces),
            snakemake.output[0],
        )
