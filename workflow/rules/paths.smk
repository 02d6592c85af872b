# Every output path pattern of the workflow, one named constant each; the rules, the input
# functions and the target lists use these names only. Logs and benchmark files are named
# after their rule, in the rule.

# Stimuli, models and features.
STIMULI = "results/stimuli.tsv"
WEIGHTS = "results/weights/{model}.pth"
ACTIVATIONS = "results/activations/{model}.h5"
# extraction.n_shards > 1: one shard of a model's stimuli (merged into ACTIVATIONS, then removed).
ACTIVATION_SHARD = "results/activations/{model}/shard-{shard}-of-{n_shards}.h5"
FEATURES = "results/features/{model}/{layer}.h5"
# The external stimulus set that features.fit: external fits the PCA on (never shown to the
# brain): its checked table and activations, made by the same rules as the experiment's.
EXTERNAL_STIMULI = "results/external/stimuli.tsv"
EXTERNAL_ACTIVATIONS = "results/external/activations/{model}.h5"

# Brain data: the simulated brain of the demo, and the responses of each region.
SIM_RESPONSES = "results/simulation/{subject}/responses.dscalar.nii"
SIM_REPEAT = "results/simulation/{subject}/repeat-{repeat}.dscalar.nii"
SIM_TRUTH = "results/simulation/{subject}/ground_truth.tsv"
# The stim_id of each simulated map, one per line; the NIfTI files of a brain simulated in a
# volume (subjects with responses: simulate and a mask; startup.smk picks these then).
SIM_IDS = "results/simulation/{subject}/responses_ids.txt"
SIM_VOLUME = "results/simulation/{subject}/responses.nii"
SIM_VOLUME_REPEAT = "results/simulation/{subject}/repeat-{repeat}.nii"
ROI = "results/brain/{subject}/{roi}.h5"
# Per-stimulus betas of a subject whose responses are time series (responses: timeseries).
BETAS = "results/brain/{subject}/betas.h5"
BRAIN_SUMMARY = "results/summary/brain.tsv"

# Encoding: one file per job, the summary table and figure, the maps per statistic. Maps are
# written in the format of the subject's data: {mapsuffix} is .dscalar.nii (CIFTI), .nii.gz
# (NIfTI), .L.func.gii/.R.func.gii (GIFTI) or .lh.mgz/.rh.mgz (MGH), one file per hemisphere.
ENCODING = "results/encoding/{subject}/{model}/{layer}/{roi}.h5"
ENCODING_SUMMARY = "results/summary/encoding.tsv"
ENCODING_FIGURE = "results/summary/encoding_layers.png"
ENCODING_MAPS = {
    "r": "results/maps/{subject}/{model}/encoding_r{mapsuffix}",
    "logp": "results/maps/{subject}/{model}/encoding_logp{mapsuffix}",
    "r_fwe": "results/maps/{subject}/{model}/encoding_r_fwe{mapsuffix}",
}
# Pictures of a subject x model's encoding maps (best layer, best r) on the brain.
ENCODING_BRAIN_FIGURE = "results/maps/{subject}/{model}/encoding_brain.png"

# Joint models: variance partitioning per set, its maps, table and figure; paired comparisons.
JOINT = "results/joint/{subject}/{set}/{roi}.h5"
JOINT_MAPS = "results/maps/{subject}/joint_{set}{mapsuffix}"
JOINT_SUMMARY = "results/summary/joint_partition.tsv"
JOINT_FIGURE = "results/summary/joint_partition.png"
JOINT_COMPARE = "results/joint/compare/{subject}/{pair}/{roi}.h5"
JOINT_COMPARE_SUMMARY = "results/summary/joint_compare.tsv"

# RSA: RDMs, one table per job, the summary table and figures, the searchlight.
RDM_MODEL = "results/rdm/{model}/{layer}.h5"
RDM_BRAIN = "results/rdm/brain/{subject}/{roi}.h5"
RSA = "results/rsa/{subject}/{model}/{roi}.tsv"
RSA_SUMMARY = "results/summary/rsa.tsv"
RSA_FIGURE = "results/summary/rsa_profiles.png"
RDM_FIGURE = "results/rsa/figures/{model}_rdms.png"
MDS_FIGURE = "results/rsa/figures/{model}_mds.png"
SEARCHLIGHT_SHARD = "results/searchlight/{subject}/{model}/shard-{shard}.h5"
# The searchlight maps in the format of the subject's data (one file per hemisphere on surfaces).
SEARCHLIGHT_MAPS = "results/maps/{subject}/{model}/searchlight{mapsuffix}"

# Second-level RSA (rsa.advanced): tables per kind, their summaries, remixed RDMs, a figure.
RSA_TABLES = {
    "group": "results/rsa_group/{model}/{roi}.tsv",
    "reweighting": "results/rsa_reweighting/{subject}/{model}/{roi}.tsv",
    "partition": "results/rsa_partition/{model}/{roi}.tsv",
    "remix": "results/rsa_remix/{subject}/{model}/{roi}.tsv",
}
RSA_TABLE_SUMMARY = "results/summary/rsa_{kind}.tsv"
RDM_REMIX = "results/rdm_remix/{model}/{layer}.h5"
RSA_ADVANCED_FIGURE = "results/rsa/figures/{model}_advanced.png"

# Stacking: one file per subject, stack set and ROI, the CIFTI maps per subject and set, the
# summary table and the seed study's figure per subject.
STACKING = "results/stacking/{subject}/{stack}/{roi}.h5"
STACKING_MAPS = "results/maps/{subject}/stacking_{stack}{mapsuffix}"
STACKING_SUMMARY = "results/summary/stacking.tsv"
STACKING_FIGURE = "results/stacking/figures/{subject}_profiles.png"
# Pictures of a subject x stack set's maps (best space, its weight) on the brain.
STACKING_BRAIN_FIGURE = "results/maps/{subject}/stacking_{stack}_brain.png"

# Decoding: one file per job, probing profiles (table and figure) per model and attribute,
# and the same across the subjects' regions.
DECODE = "results/decoding/{model}/{layer}/{attribute}.h5"
DECODE_BRAIN = "results/decoding/brain/{subject}/{roi}/{attribute}.h5"
PROBING = {
    "table": "results/decoding/{model}/{attribute}.tsv",
    "figure": "results/decoding/{model}/{attribute}.png",
}
BRAIN_PROBING = {
    "table": "results/decoding/brain/{attribute}.tsv",
    "figure": "results/decoding/brain/{attribute}.png",
}

# Compute: wall time and memory of every job of the rules that have a benchmark directive.
BENCHMARKS_TABLE = "results/summary/benchmarks.tsv"
BENCHMARKS_FIGURE = "results/summary/benchmarks.png"

# Interpretation (interpret): per model and layer, its units' top stimuli, saliency maps and
# synthesized images; per model, layer, subject and ROI the same through the ROI's encoding
# model, refitted on all stimuli as a read-out of the layer's units.
# Each folder holds top_stimuli, saliency and synthesis (.h5 and .png); brain folders readout.h5.
INTERPRET_UNITS = "results/interpret/{model}/{layer}/units"
INTERPRET_BRAIN = "results/interpret/{model}/{layer}/brain/{subject}/{roi}"
# Fine-tuned weights (interpret.finetune.<name>) and their training history.
FINETUNE_WEIGHTS = "results/finetune/{name}.pth"
FINETUNE_HISTORY = "results/finetune/{name}.tsv"
FINETUNE_FIGURE = "results/finetune/{name}.png"

# FIR encoding of time-series subjects (timeseries.fir): each ROI's time series over the runs,
# one file per job, the maps (one per layer of r on held-out runs, and best_layer) and table.
ROI_SERIES = "results/brain_series/{subject}/{roi}.h5"
ENCODING_FIR = "results/encoding_fir/{subject}/{model}/{layer}/{roi}.h5"
ENCODING_FIR_MAPS = "results/maps/{subject}/{model}/encoding_fir_r{mapsuffix}"
# With timeseries.fir.n_perm > 0 also -log10 p and FWE-thresholded r maps (circular shifts).
ENCODING_FIR_P_MAPS = {
    "logp": "results/maps/{subject}/{model}/encoding_fir_logp{mapsuffix}",
    "r_fwe": "results/maps/{subject}/{model}/encoding_fir_r_fwe{mapsuffix}",
}
ENCODING_FIR_SUMMARY = "results/summary/encoding_fir.tsv"
# Pictures of a subject x model's FIR maps (best layer, best r, p map) on the brain.
ENCODING_FIR_BRAIN_FIGURE = "results/maps/{subject}/{model}/encoding_fir_brain.png"
