"""RSA of one subject's region against every layer of one model.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brains`` (results/rdm/brain/{subject}/{roi}.h5 of
every subject, in the order of ``params.subjects``; the others give the noise ceiling).
Output: ``results/rsa/{subject}/{model}/{roi}.tsv`` (columns in dnnmap.rsa.analysis); with
remixed layer RDMs (results/rdm_remix/{model}/{layer}.h5) as ``models``,
``results/rsa_remix/{subject}/{model}/{roi}.tsv``.
Serves rules ``rsa`` and ``rsa_remix``.
Params: ``rsa`` (config ``rsa``: comparison, n_perm, n_boot, ci, seed, groups), ``layers``,
``subjects``. The subject's brain RDM file gives the within-subject ceiling (its
``repeat_rdms``) and the masking (``n_masked``, ``masked_reason``).
Wildcards: ``subject``.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.analysis import rsa_layer_table
from dnnmap.rsa.io import read_layer_and_brain_rdms, read_masking, read_repeat_rdms, rsa_groups
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    model_paths: list[str],
    brain_paths: list[str],
    settings: dict,
    layers: list[str],
    subjects: list[str],
    subject: str,
    out_path: str,
) -> None:
    stimuli = read_stimuli(stimuli_path)
    models, brains = read_layer_and_brain_rdms(stimuli_path, model_paths, brain_paths)
    index = subjects.index(subject)
    repeats = read_repeat_rdms(brain_paths[index], list(stimuli["stim_id"]), stimuli_path)
    n_masked, note = read_masking(brain_paths[index])
    table = rsa_layer_table(
        models,
        layers,
        brains,
        index,
        settings,
        repeat_rdms=repeats,
        groups=rsa_groups(stimuli, settings, stimuli_path),
        n_masked=n_masked,
        note=note,
    )
    LOG.info("%s\n%s", subject, table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rsa", subject="sub-01", model="alexnet", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.models),
            list(snakemake.input.brains),
            snakemake.params.rsa,
            list(snakemake.params.layers),
            list(snakemake.params.subjects),
            snakemake.wildcards.subject,
            snakemake.output[0],
        )
