"""Held-out fit of one subject's region RDM by single layers, reweighted layers and units.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brain`` (results/rdm/brain/{subject}/{roi}.h5),
``patterns``: the units that ``rsa.advanced.units`` reweights, taken as the layer RDMs take
them: the model's activations (results/activations/{model}.h5) with ``rsa.model_patterns:
activations`` (the default), else the features of every layer
(results/features/{model}/{layer}.h5).
Output: ``results/rsa_reweighting/{subject}/{model}/{roi}.tsv`` (columns in
dnnmap.rsa.tables.REWEIGHTING_COLUMNS).
Params: ``layers``, ``rsa`` (config ``rsa``: comparison, seed, model_patterns, metric,
n_components, zscore, center_units, advanced: n_splits, units, unit_components) and ``cv``
(config ``encoding.cv``): with ``scheme: group`` the stimulus table's group column
(``column``, default ``group``) is honoured here too, and every fold holds out whole groups.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import read_rdm, read_rdms
from dnnmap.rsa.tables import reweighting_grams, reweighting_table
from dnnmap.stats.splits import groups_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    model_paths: list[str],
    brain_path: str,
    pattern_paths: str | list[str],
    settings: dict,
    layers: list[str],
    out_path: str,
    cv: dict | None = None,
) -> None:
    stimuli = read_stimuli(stimuli_path)
    stim_ids = list(stimuli["stim_id"])
    groups = groups_from_table(stimuli, cv or {}, stimuli_path, key="encoding.cv")
    models = read_rdms(model_paths, stim_ids, stimuli_path)
    brain = read_rdm(brain_path, stim_ids, stimuli_path)
    grams = None
    if isinstance(pattern_paths, str):  # the one activations file
        pattern_paths = [pattern_paths]
    if settings["advanced"]["units"]:
        grams = reweighting_grams(pattern_paths, layers, stim_ids, stimuli_path, settings)
    table = reweighting_table(models, layers, brain, settings, grams, groups)
    LOG.info("%s\n%s", brain_path, table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rsa_reweighting", subject="sub-01", model="alexnet", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.models),
            snakemake.input.brain,
            snakemake.input.patterns,
            snakemake.params.rsa,
            list(snakemake.params.layers),
            snakemake.output[0],
            dict(snakemake.params.cv),
        )
