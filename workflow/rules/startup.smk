# The checks that run before any job (config and stimulus table), and the globals the other
# files use: the stimulus table, models, subjects, ROIs and their sizes.
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir).parent / "scripts"))

from snakemake.exceptions import WorkflowError

from dnnmap import sizing as sizing
from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.brain.cifti import FSLR32K_GRAYORDINATES
from dnnmap.brain.fir import encodes_fir, fir_only
from dnnmap.brain.subjects import (
    TIMESERIES,
    simulates_volume,
    subject_map_suffixes,
    subject_space,
    uses_atlas,
)
from dnnmap.config import (
    SIMULATE,
    analysis_models,
    check_external_stimuli,
    check_semantics,
    load_schema,
    validate,
    weights_kind,
)
from dnnmap.errors import InputError
from dnnmap.interpret.checks import check_interpret
from dnnmap.media.checks import check_models_take_stimuli
from dnnmap.models.registry import get_family
from dnnmap.models.registry import input_side as registry_input_side
from dnnmap.models.shards import check_n_shards, shard_bounds
from dnnmap.stimuli import LINES_ATTR, MEDIA_ATTR, check_stimuli, read_table

# HDF5's file locks fail on many shared cluster filesystems (NFS, Lustre); dnnmap never
# writes one file from two processes (each output is written under a temporary name).
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

SCHEMAS = Path(workflow.basedir) / "schemas"
CONFIG_SOURCE = (
    workflow.overwrite_configfiles or workflow.configfiles or ["--config"]
)[-1]


def _startup_checks():
    """Validate config and stimulus table; return the stimulus table (no image decoding)."""
    validate(config, load_schema(SCHEMAS / "config.schema.yaml"), str(CONFIG_SOURCE))
    table_path = config["stimuli"]["table"]
    table = read_table(table_path)
    row_schema = load_schema(SCHEMAS / "stimuli.schema.yaml")
    checked = check_stimuli(table, table_path, decode=False)
    for line, row in zip(
        table.attrs[LINES_ATTR], table.to_dict("records"), strict=True
    ):
        validate(row, row_schema, f"{table_path} row {line}")
    checked.attrs[LINES_ATTR] = table.attrs[LINES_ATTR]
    global FILE_ROI_SIZES  # {roi: columns} of the subjects' own files (check_brain_files)
    FILE_ROI_SIZES = check_semantics(
        config, list(checked["stim_id"]), ".", str(CONFIG_SOURCE), table=checked
    )
    # video and audio: every model takes every stimulus (modality, clip, durations, rate)
    check_models_take_stimuli(config, checked, table_path, str(CONFIG_SOURCE))
    return checked


try:
    STIMULUS_TABLE = _startup_checks()
    # features.fit: external: the images the PCA is fitted on (None otherwise)
    EXTERNAL_TABLE = check_external_stimuli(config, STIMULUS_TABLE, str(CONFIG_SOURCE))
    check_interpret(config, STIMULUS_TABLE, str(CONFIG_SOURCE))
except InputError as err:
    raise WorkflowError(f"dnnmap: {err}") from None

MODELS = list(config["models"])
# The models RSA and decoding run on (rsa.models, decoding.models; every model by default).
RSA_MODELS = analysis_models(config, "rsa")
DECODING_MODELS = analysis_models(config, "decoding")
SUBJECTS = list(config["brain"]["subjects"])
# Subjects encoded only through an FIR design (timeseries.method: fir) have no per-stimulus
# responses: every per-stimulus analysis leaves them out (fir_subjects() in targets.smk names
# every subject the rules of workflow/rules/encoding_fir.smk run for).
FIR_ONLY_SUBJECTS = [s for s in SUBJECTS if fir_only(config["brain"]["subjects"][s])]
SUBJECTS = [s for s in SUBJECTS if s not in FIR_ONLY_SUBJECTS]
ROIS = list(config["brain"]["rois"])
N_STIM = len(STIMULUS_TABLE)
# extraction.n_shards: extraction jobs per model (1: one job writes the activations file).
try:
    N_SHARDS = check_n_shards(
        config["extraction"]["n_shards"],
        N_STIM,
        f"{CONFIG_SOURCE}: extraction.n_shards",
    )
except InputError as err:
    raise WorkflowError(f"dnnmap: {err}") from None
ROI_SIZES = {
    roi: max(
        (
            len(resolve_roi(roi, labels, mmp_atlas()))
            if any(uses_atlas(e) for e in config["brain"]["subjects"].values())
            else 0
        ),
        FILE_ROI_SIZES.get(roi, 0),
    )
    for roi, labels in config["brain"]["rois"].items()
}
# The format of each subject's data: its map files' endings (one per hemisphere on surfaces).
SUBJECT_MAP_SUFFIXES = {
    s: subject_map_suffixes(config["brain"]["subjects"][s]) for s in SUBJECTS
}
SUBJECT_MAP_SUFFIXES.update(
    {s: subject_map_suffixes(config["brain"]["subjects"][s]) for s in FIR_ONLY_SUBJECTS}
)


wildcard_constraints:
    model="|".join(MODELS),
    subject="|".join(SUBJECTS),
    roi="|".join(ROIS),
    layer="[A-Za-z0-9][A-Za-z0-9_.-]*",
    shard="[0-9]+",
    mapsuffix=r"\.dscalar\.nii|\.nii\.gz|\.[LR]\.func\.gii|\.[lr]h\.mgz",
    mgh_hemi="lh|rh",


def layers_of(model):
    """Friendly layer names of a model, in config order."""
    return config["models"][model]["layers"]


# A brain simulated in a volume (dnnmap.brain.simulate_volume) is written as NIfTI; the
# start-up checks allow no mix of volume and CIFTI simulated subjects.
if any(simulates_volume(e) for e in config["brain"]["subjects"].values()):
    SIM_RESPONSES = SIM_VOLUME
    SIM_REPEAT = SIM_VOLUME_REPEAT
