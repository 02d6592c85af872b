# Helpers shared by the rules, and the checks that run before any job.
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir).parent / "scripts"))

from snakemake.exceptions import WorkflowError

from dnnmap import sizing as sizing
from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.config import SIMULATE, check_semantics, load_schema, validate, weights_kind
from dnnmap.errors import InputError
from dnnmap.stimuli import LINES_ATTR, check_stimuli, read_table

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
    table = checked
    check_semantics(config, list(table["stim_id"]), ".", str(CONFIG_SOURCE))
    return table


try:
    STIMULI = _startup_checks()
except InputError as err:
    raise WorkflowError(f"dnnmap: {err}") from None

MODELS = list(config["models"])
SUBJECTS = list(config["brain"]["subjects"])
SIMULATED_TRUTH = [
    f"results/simulation/{s}/ground_truth.tsv"
    for s, entry in config["brain"]["subjects"].items()
    if entry["responses"] == SIMULATE
]
ROIS = list(config["brain"]["rois"])
N_STIM = len(STIMULI)
ROI_SIZES = {
    roi: len(resolve_roi(roi, labels, mmp_atlas()))
    for roi, labels in config["brain"]["rois"].items()
}


wildcard_constraints:
    model="|".join(MODELS),
    subject="|".join(SUBJECTS),
    roi="|".join(ROIS),
    layer="[A-Za-z0-9][A-Za-z0-9_.-]*",
    shard="[0-9]+",


def layers_of(model):
    """Friendly layer names of a model, in config order."""
    return config["models"][model]["layers"]


def weights_input(wildcards):
    """Weights a model's extraction reads: a local file, a fetched torchvision file, or none."""
    weights = str(config["models"][wildcards.model].get("weights", "none"))
    kind = weights_kind(weights)
    if kind == "file":
        return weights
    if kind == "torchvision":
        return f"results/weights/{wildcards.model}.pth"
    return []


def responses_file(wildcards):
    """The CIFTI brain responses of a subject: the user's file or the simulated one."""
    source = config["brain"]["subjects"][wildcards.subject]["responses"]
    if source == SIMULATE:
        return f"results/simulation/{wildcards.subject}/responses.dscalar.nii"
    return source


def repeat_files(wildcards):
    """CIFTI files of a subject's single repeated measurements (may be empty)."""
    entry = config["brain"]["subjects"][wildcards.subject]
    if entry["responses"] == SIMULATE:
        n = config["simulation"]["n_repeats"]
        return [] if n < 2 else simulated_repeats(wildcards.subject)
    return entry.get("repeats", [])


def simulated_repeats(subject):
    """The simulated single-repeat CIFTI files of a subject (none when n_repeats is 1).

    ``subject`` may be the pattern "{subject}" (for the rule's output).
    """
    n = config.get("simulation", {}).get("n_repeats", 1)
    return [
        f"results/simulation/{subject}/repeat-{r + 1}.dscalar.nii"
        for r in range(n if n > 1 else 0)
    ]


ENCODING = "results/encoding/{subject}/{model}/{layer}/{roi}.h5"


def simulation_features(wildcards):
    """PCA features of the layers that drive the simulated regions."""
    sim = config["simulation"]
    layers = sorted({region["layer"] for region in sim["regions"].values()})
    return [f"results/features/{sim['model']}/{layer}.h5" for layer in layers]


def encoding_jobs(subjects=None, models=None):
    """Subject, model, layer and ROI of every encoding job, in a fixed order."""
    return [
        {"subject": s, "model": m, "layer": layer, "roi": r}
        for s in subjects or SUBJECTS
        for m in models or MODELS
        for layer in layers_of(m)
        for r in ROIS
    ]


def encoding_files(subject, model):
    """Encoding results of every layer and ROI of one subject and model."""
    return [ENCODING.format(**job) for job in encoding_jobs([subject], [model])]


def rsa_jobs():
    """Subject, model and ROI of every RSA job (empty when rsa.enabled is false)."""
    if not config["rsa"]["enabled"]:
        return []
    return [
        {"subject": s, "model": m, "roi": r}
        for s in SUBJECTS
        for m in MODELS
        for r in ROIS
    ]


def layer_rdms(wildcards):
    """The RDMs of every layer of a model (RDM_MODEL of rsa.smk), in network order."""
    return expand(RDM_MODEL, model=wildcards.model, layer=layers_of(wildcards.model))


def roi_rdms(wildcards):
    """The RDMs of one ROI in every subject (RDM_BRAIN of rsa.smk), in subject order."""
    return expand(RDM_BRAIN, subject=SUBJECTS, roi=wildcards.roi)


def rsa_advanced():
    """The rsa.advanced section when it runs (RSA and the section enabled), else None."""
    adv = config["rsa"]["advanced"]
    return adv if config["rsa"]["enabled"] and adv["enabled"] else None


def partition_sets(model):
    """Layer sets of a model's variance partitioning (rsa.advanced.partition)."""
    adv = rsa_advanced()
    return [list(names) for names in adv["partition"].get(model, [])] if adv else []


RSA_TABLES = {
    "group": "results/rsa_group/{model}/{roi}.tsv",
    "reweighting": "results/rsa_reweighting/{subject}/{model}/{roi}.tsv",
    "partition": "results/rsa_partition/{model}/{roi}.tsv",
    "remix": "results/rsa_remix/{subject}/{model}/{roi}.tsv",
}


def rsa_table_jobs(kind):
    """Wildcards of every second-level RSA table of one kind (RSA_TABLES) that runs."""
    adv = rsa_advanced()
    if adv is None:
        return []
    per_model = [{"model": m, "roi": r} for m in MODELS for r in ROIS]
    per_subject = [{"subject": s, **job} for s in SUBJECTS for job in per_model]
    if kind == "group":
        return per_model if len(SUBJECTS) >= 2 else []
    if kind == "reweighting":
        return per_subject
    if kind == "partition":
        return [job for job in per_model if partition_sets(job["model"])]
    if kind == "remix":
        return per_subject if adv["remix"] and config["rsa"]["categories"] else []
    raise ValueError(f"unknown RSA table kind {kind!r}")


def rsa_summary_tables():
    """The summary tables of the second-level RSA that run, by kind."""
    return {
        kind: f"results/summary/rsa_{kind}.tsv"
        for kind in RSA_TABLES
        if rsa_table_jobs(kind)
    }


def rsa_advanced_outputs():
    """Summary tables and the per-model figure of the second-level RSA."""
    tables = list(rsa_summary_tables().values())
    if not tables:
        return []
    return tables + expand("results/rsa/figures/{model}_advanced.png", model=MODELS)


def map_outputs():
    """The encoding maps of a subject and model: r, and with permutations p and FWE maps."""
    out = {"r": "results/maps/{subject}/{model}/encoding_r.dscalar.nii"}
    if config["encoding"]["permutation"]["n_perm"] > 0:
        out["logp"] = "results/maps/{subject}/{model}/encoding_logp.dscalar.nii"
        out["r_fwe"] = "results/maps/{subject}/{model}/encoding_r_fwe.dscalar.nii"
    return out


def decoding_attributes():
    """Stimulus-table columns decoded (none when decoding is disabled)."""
    dec = config["decoding"]
    return list(dec["attributes"]) if dec["enabled"] else []


def decoding_outputs():
    """Probing profiles per model and attribute, and the brain summaries."""
    attributes = decoding_attributes()
    out = expand(
        "results/decoding/{model}/{attribute}.{ext}",
        model=MODELS,
        attribute=attributes,
        ext=["tsv", "png"],
    )
    if config["decoding"]["brain"]:
        out += expand(
            "results/decoding/brain/{attribute}.{ext}",
            attribute=attributes,
            ext=["tsv", "png"],
        )
    return out


def decoding_mem_mb(wildcards, attempt):
    """The patterns in float64 (PCA features or an ROI's voxels) and the classifier copies."""
    n_cols = ROI_SIZES.get(
        getattr(wildcards, "roi", None), config["features"]["n_components"]
    )
    return math.ceil(sizing.PYTHON_BASE_MB + 6 * 8 * N_STIM * n_cols / 1e6) * attempt


def decoding_runtime(wildcards):
    """Each permutation refits the nested CV; about 0.05 s per fit at the demo's size."""
    fits = (config["decoding"]["n_perm"] + 1) * config["decoding"]["n_folds"]
    fits *= len(config["decoding"]["Cs"]) * config["decoding"]["inner_folds"]
    return 10 + math.ceil(fits * 0.05 * max(N_STIM / 150, 1) / 60)


def benchmark_jobs():
    """Rule, wildcards and benchmark file of every heavy job (those with ``benchmark:``)."""
    jobs = [
        {"rule": "extract_activations", "job": m, "path": f"extract_activations/{m}"}
        for m in MODELS
    ]
    jobs += [
        {
            "rule": "reduce_features",
            "job": f"{m}/{layer}",
            "path": f"reduce_features/{m}/{layer}",
        }
        for m in MODELS
        for layer in layers_of(m)
    ]
    jobs += [
        {
            "rule": "encode",
            "job": "{subject}/{model}/{layer}/{roi}".format(**job),
            "path": "encode/{subject}/{model}/{layer}/{roi}".format(**job),
        }
        for job in encoding_jobs()
    ]
    jobs += [
        {
            "rule": "rsa",
            "job": "{subject}/{model}/{roi}".format(**job),
            "path": "rsa/{subject}/{model}/{roi}".format(**job),
        }
        for job in rsa_jobs()
    ]
    for job in jobs:
        job["path"] = f"logs/benchmarks/{job.pop('path')}.tsv"
    return jobs


def all_outputs():
    """Everything `rule all` asks for."""
    outputs = [
        "results/summary/encoding.tsv",
        "results/summary/encoding_layers.png",
        "results/summary/benchmarks.tsv",
    ]
    outputs += expand(list(map_outputs().values()), subject=SUBJECTS, model=MODELS)
    if rsa_jobs():
        outputs += ["results/summary/rsa.tsv", "results/summary/rsa_profiles.png"]
        outputs += expand(
            "results/rsa/figures/{model}_{fig}.png", model=MODELS, fig=["rdms", "mds"]
        )
    outputs += rsa_advanced_outputs()
    outputs += decoding_outputs()
    if config["rsa"]["searchlight"]["enabled"]:
        outputs += expand(
            "results/maps/{subject}/{model}/searchlight.dscalar.nii",
            subject=SUBJECTS,
            model=MODELS,
        )
    return outputs + SIMULATED_TRUTH


# Job sizes from the data (see scripts/dnnmap/resources.py); memory grows with each retry.


def _resize(model):
    return config["models"][model].get("preprocessing", {}).get("resize", 224)


def extraction_mem_mb(wildcards, attempt):
    model = config["models"][wildcards.model]
    return sizing.extraction_mem_mb(
        model["architecture"],
        model["layers"],
        _resize(wildcards.model),
        config["compute"]["batch_size"],
        attempt,
    )


def extraction_runtime(wildcards):
    """Minutes for an extraction job: the CPU estimate unless compute.device names CUDA."""
    architecture = config["models"][wildcards.model]["architecture"]
    gpu = config["compute"]["device"].startswith("cuda")
    return sizing.extraction_runtime_min(N_STIM, architecture, gpu=gpu)


def pca_mem_mb(wildcards, attempt):
    model = config["models"][wildcards.model]
    units = sizing.layer_units(
        model["architecture"], [wildcards.layer], _resize(wildcards.model)
    )
    return sizing.pca_mem_mb(N_STIM, units[wildcards.layer], attempt=attempt)


def encoding_mem_mb(wildcards, attempt):
    return sizing.encoding_mem_mb(
        N_STIM,
        config["features"]["n_components"],
        ROI_SIZES[wildcards.roi],
        config["encoding"]["voxel_batch"],
        attempt,
    )


def encoding_runtime(wildcards):
    return sizing.encoding_runtime_min(N_STIM, ROI_SIZES[wildcards.roi])


def rdm_mem_mb(wildcards, attempt):
    """A few n_stim x n_stim float64 matrices and the patterns, plus the Python process."""
    return sizing.rdm_mem_mb(N_STIM, attempt)


def searchlight_mem_mb(wildcards, attempt):
    """The subject's responses (float32, three copies) and a batch of neighborhood RDMs."""
    return sizing.searchlight_mem_mb(N_STIM, 91282, attempt)


def searchlight_runtime(wildcards):
    """About 2.2 ms per center at 150 stimuli, growing with the square of the stimuli."""
    n_shards = config["rsa"]["searchlight"]["n_shards"]
    return sizing.searchlight_runtime_min(N_STIM, 91282, n_shards)


def brain_mem_mb(wildcards, attempt):
    """A subject's whole CIFTI file in float32, twice, plus the Python process."""
    return math.ceil(sizing.PYTHON_BASE_MB + 2 * 4 * N_STIM * 91282 / 1e6) * attempt
