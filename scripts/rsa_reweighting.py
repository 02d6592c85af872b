"""Held-out fit of one subject's region RDM by single layers, reweighted layers and units.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brain`` (results/rdm/brain/{subject}/{roi}.h5),
``features`` (results/features/{model}/{layer}.h5 of every layer: the units that
``rsa.advanced.units`` reweights, taken as the layer RDMs take them).
Output: ``results/rsa_reweighting/{subject}/{model}/{roi}.tsv`` (columns in
dnnmap.rsa.tables.REWEIGHTING_COLUMNS).
Config: ``rsa`` (comparison, seed, metric, n_components, zscore, advanced: n_splits, units,
unit_components) and ``encoding.cv``: with ``scheme: group`` the stimulus table's group column
(``column``, default ``group``) is honoured here too, and every fold holds out whole groups.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import model_patterns, read_rdm, read_rdms, zscore_columns
from dnnmap.rsa.tables import reweighting_table, unit_patterns
from dnnmap.stats.splits import groups_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def layer_patterns(paths, stim_ids, table, settings):
    """Each layer's patterns as its RDM saw them (first n_components, z-scored if asked),
    normalized per stimulus for correlation and cosine RDMs (dnnmap.rsa.tables.unit_patterns)."""
    out = []
    for path in paths:
        X = model_patterns(path, stim_ids, table, settings["n_components"])
        X = zscore_columns(X) if settings["zscore"] else X
        out.append(unit_patterns(X, settings["metric"]))
    return out


def main(inputs, settings, layers, out_path, cv=None):
    stimuli = read_stimuli(inputs.stimuli)
    stim_ids = list(stimuli["stim_id"])
    groups = groups_from_table(stimuli, cv or {}, inputs.stimuli, key="encoding.cv")
    models = read_rdms(inputs.models, stim_ids, inputs.stimuli)
    brain = read_rdm(inputs.brain, stim_ids, inputs.stimuli)
    patterns = None
    if settings["advanced"]["units"]:
        patterns = layer_patterns(inputs.features, stim_ids, inputs.stimuli, settings)
    table = reweighting_table(models, layers, brain, settings, patterns, groups)
    LOG.info("%s\n%s", inputs.brain, table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input,
            snakemake.params.rsa,
            list(snakemake.params.layers),
            snakemake.output[0],
            snakemake.params.cv,
        )
