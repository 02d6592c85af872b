"""Figures: RDM heatmaps and MDS maps of a model's layers and one subject's regions.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 for
every layer), ``brains`` (results/rdm/brain/{subject}/{roi}.h5 of the first subject).
Outputs: ``rdms`` and ``mds`` (results/rsa/figures/{model}_rdms.png, {model}_mds.png).
Params: ``layers``, ``subject``, ``rois``, ``categories`` (stimulus-table column or null).
"""

from dnnmap.figures import save_figure
from dnnmap.logs import rule_log
from dnnmap.rsa.io import category_labels, read_rdm
from dnnmap.rsa.plots import plot_mds_grid, plot_rdm_grid
from dnnmap.stimuli import read_stimuli


def main(
    stimuli_path: str,
    model_paths: list[str],
    brain_paths: list[str],
    layers: list[str],
    subject: str,
    rois: list[str],
    categories: str | None,
    out_rdms: str,
    out_mds: str,
) -> None:
    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    rdms = {
        layer: read_rdm(path, stim_ids, stimuli_path)
        for layer, path in zip(layers, model_paths, strict=True)
    }
    for roi, path in zip(rois, brain_paths, strict=True):
        rdms[f"{subject} {roi}"] = read_rdm(path, stim_ids, stimuli_path)
    labels = category_labels(table, categories, stimuli_path) if categories else None
    save_figure(plot_rdm_grid(rdms, labels), out_rdms, dpi=130)
    save_figure(plot_mds_grid(rdms, labels), out_mds, dpi=130)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("plot_rdms", model="alexnet")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.models),
            list(snakemake.input.brains),
            list(snakemake.params.layers),
            snakemake.params.subject,
            list(snakemake.params.rois),
            snakemake.params.categories,
            snakemake.output.rdms,
            snakemake.output.mds,
        )
