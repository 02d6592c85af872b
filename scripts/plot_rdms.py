"""Figures: RDM heatmaps and MDS maps of a model's layers and one subject's regions.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 for
every layer), ``brains`` (results/rdm/brain/{subject}/{roi}.h5 of the first subject).
Outputs: ``rdms`` and ``mds`` (results/rsa/figures/{model}_rdms.png, {model}_mds.png).
Params: ``layers``, ``subject``, ``rois``, ``categories`` (stimulus-table column or null).
"""

from dnnmap.logs import rule_log
from dnnmap.rsa.io import category_labels, read_rdm
from dnnmap.rsa.plots import plot_mds_grid, plot_rdm_grid
from dnnmap.stimuli import read_stimuli
from dnnmap.store import atomic_path


def main(inputs, params, outputs):
    table = read_stimuli(inputs.stimuli)
    stim_ids = list(table["stim_id"])
    rdms = {
        layer: read_rdm(path, stim_ids, inputs.stimuli)
        for layer, path in zip(params.layers, inputs.models, strict=True)
    }
    for roi, path in zip(params.rois, inputs.brains, strict=True):
        rdms[f"{params.subject} {roi}"] = read_rdm(path, stim_ids, inputs.stimuli)
    categories = None
    if params.categories:
        categories = category_labels(table, params.categories, inputs.stimuli)
    for fig, out in (
        (plot_rdm_grid(rdms, categories), outputs.rdms),
        (plot_mds_grid(rdms, categories), outputs.mds),
    ):
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=130, format="png")


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(snakemake.input, snakemake.params, snakemake.output)
