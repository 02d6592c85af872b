"""Write one subject x model's encoding accuracy as maps, one per layer, in the data's format.

Rule ``encoding_maps``.
Maps are written in the space and format of the subject's data (dnnmap.brain.spaces):
``{mapsuffix}`` is ``.dscalar.nii`` for CIFTI (as named below), ``.nii.gz`` for NIfTI, and
one job per hemisphere writes ``.L.func.gii``/``.R.func.gii`` (GIFTI) or ``.lh.mgz``/
``.rh.mgz`` (MGH).
Inputs: ``responses`` (the subject's data; params ``space`` names its files),
``encoding`` (results of every layer x ROI of this subject and model, layer-major).
Outputs: ``r`` (``results/maps/{subject}/{model}/encoding_r.dscalar.nii``: one map per layer
of cross-validated r, 0 outside the ROIs, and a map ``best_layer``, the 1-based number of the
best layer per grayordinate, 0 outside the ROIs); with permutations also ``logp``
(``encoding_logp.dscalar.nii``, -log10 uncorrected p per layer) and ``r_fwe``
(``encoding_r_fwe.dscalar.nii``, r where the max-statistic FWE p < 0.05, else 0).
Params: ``layers`` (network order) and ``rois``, in the order of the inputs;
``best_layer_fwe`` (config ``encoding.best_layer_fwe``: null, or the family-wise level below
which a layer counts for ``best_layer``).
"""

from dnnmap.encoding.maps import write_encoding_maps
from dnnmap.logs import rule_log


def main(
    responses_path: str,
    encoding_paths: list[str],
    layers: list[str],
    rois: list[str],
    out_r: str,
    out_logp: str | None = None,
    out_r_fwe: str | None = None,
    best_layer_fwe: float | None = None,
) -> None:
    write_encoding_maps(
        responses_path,
        encoding_paths,
        layers,
        rois,
        out_r,
        out_logp=out_logp,
        out_r_fwe=out_r_fwe,
        best_layer_fwe=best_layer_fwe,
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("encoding_maps", subject="sub-01", model="alexnet")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.params.space,
            list(snakemake.input.encoding),
            list(snakemake.params.layers),
            list(snakemake.params.rois),
            snakemake.output.r,
            snakemake.output.get("logp"),
            snakemake.output.get("r_fwe"),
            snakemake.params.best_layer_fwe,
        )
