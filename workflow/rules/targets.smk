# Which jobs run: the wildcards of every job of the fanned-out rules, the outputs `rule all`
# asks for, and the benchmark files of every rule that has a benchmark directive.

SIMULATED_TRUTH = [
    SIM_TRUTH.format(subject=s)
    for s, entry in config["brain"]["subjects"].items()
    if entry["responses"] == SIMULATE
]


def subject_maps(pattern, subjects=None, **wildcards):
    """A map pattern ({mapsuffix} and {subject}) for each subject in its own format: one file
    per map (CIFTI, NIfTI) or per hemisphere (GIFTI, MGH); other wildcards expanded."""
    out = []
    for s in subjects or SUBJECTS:
        out += expand(
            pattern, subject=s, mapsuffix=SUBJECT_MAP_SUFFIXES[s], **wildcards
        )
    return out


# MGH has no field for map names, so each .lh.mgz/.rh.mgz map file is written with a sidecar
# naming its frames, <stem>.lh.names.tsv (dnnmap.brain.surface_io.mgh_names_path). Each map rule
# is constrained to the other formats (MAPSUFFIX_NOT_MGH) and has an MGH twin (`use rule ... as
# ..._mgh`) whose outputs are the MGH maps, the hemisphere as wildcard {mgh_hemi}, and their
# sidecars, so that Snakemake checks, tracks and cleans the sidecars too.
MAPSUFFIX_NOT_MGH = r"\.dscalar\.nii|\.nii\.gz|\.[LR]\.func\.gii"


def mgh_map_outputs(patterns):
    """The outputs of a map rule's MGH twin: each map pattern (a string, or a dict of named
    ones) with {mapsuffix} as .{mgh_hemi}.mgz, then each map's names sidecar ("<name>_names").
    """
    named = patterns if isinstance(patterns, dict) else {"maps": patterns}
    out = {k: p.replace("{mapsuffix}", ".{mgh_hemi}.mgz") for k, p in named.items()}
    for k, p in named.items():
        out[f"{k}_names"] = p.replace("{mapsuffix}", ".{mgh_hemi}.names.tsv")
    return out


def mgh_log(pattern):
    """A map rule's log pattern for its MGH twin (the same file names as the rule's)."""
    return pattern.replace("{mapsuffix}", ".{mgh_hemi}.mgz")


def model_jobs():
    """Model of every extraction job."""
    return [{"model": m} for m in MODELS]


def unsharded_model_jobs():
    """Model of every extraction job of extract_activations (none with extraction shards)."""
    return model_jobs() if N_SHARDS == 1 else []


def shard_jobs():
    """Model and shard of every extraction shard job (none unless extraction.n_shards > 1)."""
    if N_SHARDS == 1:
        return []
    return [
        {"model": m, "shard": str(i), "n_shards": str(N_SHARDS)}
        for m in MODELS
        for i in range(N_SHARDS)
    ]


def layer_jobs():
    """Model and layer of every features job."""
    return [{"model": m, "layer": layer} for m in MODELS for layer in layers_of(m)]


def roi_jobs():
    """Subject and ROI of every region file."""
    return [{"subject": s, "roi": r} for s in SUBJECTS for r in ROIS]


def encoding_jobs(subjects=None, models=None):
    """Subject, model, layer and ROI of every encoding job, in a fixed order."""
    return [
        {"subject": s, "model": m, "layer": layer, "roi": r}
        for s in subjects or SUBJECTS
        for m in models or MODELS
        for layer in layers_of(m)
        for r in ROIS
    ]


def encoding_maps():
    """The encoding maps of a subject and model: r, and with permutations p and FWE maps."""
    kinds = ["r"]
    if config["encoding"]["permutation"]["n_perm"] > 0:
        kinds += ["logp", "r_fwe"]
    return {kind: ENCODING_MAPS[kind] for kind in kinds}


def space_sets(section):
    """The sets of feature spaces of ``stacking`` or ``joint``: {set: {model: [layers]}}."""
    return dict((config.get(section) or {}).get("sets") or {})


def set_spaces(section, name):
    """(model, layer) of every space of one set of ``section``, in config order."""
    return [
        (m, layer)
        for m, layers in space_sets(section)[name].items()
        for layer in layers
    ]


def joint_jobs():
    """Subject, set and ROI of every variance-partitioning job."""
    return [
        {"subject": s, "set": name, "roi": r}
        for s in SUBJECTS
        for name in space_sets("joint")
        for r in ROIS
    ]


def compare_pairs():
    """The joint.compare.pairs of the config: {pair: [model/layer, model/layer]}."""
    return ((config.get("joint") or {}).get("compare") or {}).get("pairs") or {}


def compare_jobs():
    """Subject, pair and ROI of every paired comparison job."""
    return [
        {"subject": s, "pair": pair, "roi": r}
        for s in SUBJECTS
        for pair in compare_pairs()
        for r in ROIS
    ]


def joint_outputs():
    """The partition table, figure and maps, and the comparison table, of what runs."""
    out = []
    if joint_jobs():
        out += [JOINT_SUMMARY, JOINT_FIGURE]
        out += subject_maps(JOINT_MAPS, set=list(space_sets("joint")))
    if compare_jobs():
        out.append(JOINT_COMPARE_SUMMARY)
    return out


def rsa_jobs():
    """Subject, model and ROI of every RSA job (empty when rsa.enabled is false)."""
    if not config["rsa"]["enabled"]:
        return []
    return [
        {"subject": s, "model": m, "roi": r}
        for s in SUBJECTS
        for m in RSA_MODELS
        for r in ROIS
    ]


def searchlight_jobs():
    """Subject, model and shard of every searchlight job (empty unless it is enabled)."""
    searchlight = config["rsa"]["searchlight"]
    if not searchlight["enabled"]:
        return []
    return [
        {"subject": s, "model": m, "shard": str(shard)}
        for s in SUBJECTS
        for m in RSA_MODELS
        for shard in range(searchlight["n_shards"])
    ]


def rsa_advanced():
    """The rsa.advanced section when it runs (RSA and the section enabled), else None."""
    adv = config["rsa"]["advanced"]
    return adv if config["rsa"]["enabled"] and adv["enabled"] else None


def partition_sets(model):
    """Layer sets of a model's variance partitioning (rsa.advanced.partition)."""
    adv = rsa_advanced()
    return [list(names) for names in adv["partition"].get(model, [])] if adv else []


def rsa_table_jobs(kind):
    """Wildcards of every second-level RSA table of one kind (RSA_TABLES) that runs."""
    adv = rsa_advanced()
    if adv is None:
        return []
    per_model = [{"model": m, "roi": r} for m in RSA_MODELS for r in ROIS]
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
        kind: RSA_TABLE_SUMMARY.format(kind=kind)
        for kind in RSA_TABLES
        if rsa_table_jobs(kind)
    }


def rsa_advanced_outputs():
    """Summary tables and the per-model figure of the second-level RSA."""
    tables = list(rsa_summary_tables().values())
    if not tables:
        return []
    return tables + expand(RSA_ADVANCED_FIGURE, model=RSA_MODELS)


def decoding_attributes():
    """Stimulus-table columns decoded (none when decoding is disabled)."""
    dec = config["decoding"]
    return list(dec["attributes"]) if dec["enabled"] else []


def decode_jobs():
    """Model, layer and attribute of every decoding job on features (decoding.models)."""
    return [
        {**job, "attribute": attribute}
        for job in layer_jobs()
        if job["model"] in DECODING_MODELS
        for attribute in decoding_attributes()
    ]


def decode_brain_jobs():
    """Subject, ROI and attribute of every decoding job on brain responses."""
    if not config["decoding"]["brain"]:
        return []
    return [
        {"subject": s, "roi": r, "attribute": attribute}
        for s in SUBJECTS
        for r in ROIS
        for attribute in decoding_attributes()
    ]


def decoding_outputs():
    """Probing profiles per model and attribute, and the brain summaries."""
    attributes = decoding_attributes()
    out = expand(list(PROBING.values()), model=DECODING_MODELS, attribute=attributes)
    if config["decoding"]["brain"]:
        out += expand(list(BRAIN_PROBING.values()), attribute=attributes)
    return out


def stacking_jobs(subjects=None):
    """Subject, stack set and ROI of every stacking job, in a fixed order."""
    return [
        {"subject": s, "stack": name, "roi": r}
        for s in subjects or SUBJECTS
        for name in space_sets("stacking")
        for r in ROIS
    ]


def stacking_outputs():
    """The stacking summary, maps per subject and set, and the figure per subject."""
    if not space_sets("stacking"):
        return []
    return (
        [STACKING_SUMMARY]
        + subject_maps(STACKING_MAPS, stack=list(space_sets("stacking")))
        + expand(STACKING_FIGURE, subject=SUBJECTS)
        + stacking_brain_figures()
    )


def stacking_brain_figures():
    """The pictures of every subject x stack set's maps (stacking.brain_figures)."""
    if not config["stacking"].get("brain_figures", True):
        return []
    return expand(
        STACKING_BRAIN_FIGURE, subject=SUBJECTS, stack=list(space_sets("stacking"))
    )


# The jobs of every rule that has a benchmark directive, by rule; benchmark_jobs() expands each
# rule's own benchmark pattern over them.
BENCHMARKED_JOBS = {
    "extract_activations": unsharded_model_jobs,
    "extract_shard": shard_jobs,
    "extract_external_activations": model_jobs,  # features.fit: external only
    "reduce_features": layer_jobs,
    "encode": encoding_jobs,
    "joint_partition": joint_jobs,
    "rsa": rsa_jobs,
    "searchlight": searchlight_jobs,
    "decode": decode_jobs,
    "decode_brain": decode_brain_jobs,
    "stack": stacking_jobs,
}


def benchmark_jobs():
    """Rule, job and benchmark file of every job of the rules that have a benchmark directive.

    Returns
    -------
    list of dict
        Keys ``rule``, ``job`` (the wildcard values joined by "/") and ``path``, in rule
        order, then in the order of the rule's job list in BENCHMARKED_JOBS.
    """
    jobs = []
    for heavy in workflow.rules:
        if not heavy.benchmark:
            continue
        if heavy.name not in BENCHMARKED_JOBS:
            raise WorkflowError(
                f"dnnmap: {heavy.name} has a benchmark directive but no job list in "
                "BENCHMARKED_JOBS (workflow/rules/targets.smk); add one"
            )
        jobs += [
            {
                "rule": heavy.name,
                "job": "/".join(str(value) for value in job.values()),
                "path": str(heavy.benchmark.apply_wildcards(job)),
            }
            for job in BENCHMARKED_JOBS[heavy.name]()
        ]
    return jobs


def all_outputs():
    """Everything `rule all` asks for."""
    if not SUBJECTS:  # every subject is encoded only through an FIR design
        return fir_outputs()
    outputs = [BRAIN_SUMMARY, ENCODING_SUMMARY, ENCODING_FIGURE, BENCHMARKS_TABLE]
    outputs += subject_maps(list(encoding_maps().values()), model=MODELS)
    outputs += expand(ENCODING_BRAIN_FIGURE, subject=SUBJECTS, model=MODELS)
    if rsa_jobs():
        outputs += [RSA_SUMMARY, RSA_FIGURE]
        outputs += expand([RDM_FIGURE, MDS_FIGURE], model=RSA_MODELS)
    outputs += rsa_advanced_outputs()
    outputs += decoding_outputs()
    outputs += stacking_outputs()
    outputs += joint_outputs()
    if searchlight_jobs():
        outputs += subject_maps(SEARCHLIGHT_MAPS, model=RSA_MODELS)
    outputs += interpret_outputs()
    outputs += fir_outputs()
    return outputs + SIMULATED_TRUTH


def interpret_section():
    """The interpret section when it runs, else None."""
    section = config.get("interpret") or {}
    return section if section.get("enabled") else None


def interpret_unit_jobs():
    """Model and layer of every interpret job on a layer's units (interpret.units)."""
    section = interpret_section()
    if section is None:
        return []
    return [
        {"model": m, "layer": layer}
        for m, layers in section["units"].items()
        for layer in layers
        if layers[layer] or section["n_components"]
    ]


def interpret_brain_jobs():
    """Model, layer, subject and ROI of every interpret job through an encoding model."""
    section = interpret_section()
    if section is None:
        return []
    brain = section["brain"]
    return [
        {"model": m, "layer": layer, "subject": s, "roi": r}
        for m, layers in brain["layers"].items()
        for layer in layers
        for s in brain["subjects"]
        for r in brain["rois"]
    ]


def interpret_kinds():
    """The outputs of each interpret job: top stimuli, and saliency and synthesis if enabled."""
    section = interpret_section()
    kinds = ["top_stimuli"]
    for kind in ("saliency", "synthesis"):
        if section is not None and section[kind]["enabled"]:
            kinds.append(kind)
    return kinds


def interpret_outputs():
    """Every interpret output (HDF5 and figure) that runs."""
    out = []
    for pattern, jobs in (
        (INTERPRET_UNITS, interpret_unit_jobs()),
        (INTERPRET_BRAIN, interpret_brain_jobs()),
    ):
        for job in jobs:
            for kind in interpret_kinds():
                folder = pattern.format(**job)
                out += [f"{folder}/{kind}.{ext}" for ext in ("h5", "png")]
    if interpret_unit_jobs() and interpret_section()["receptive_field"]["enabled"]:
        for job in interpret_unit_jobs():
            folder = INTERPRET_UNITS.format(**job)
            out += [f"{folder}/receptive_fields.{ext}" for ext in ("tsv", "png")]
    if interpret_section() is not None:
        for name in interpret_section()["finetune"]:
            out += [
                FINETUNE_WEIGHTS.format(name=name),
                FINETUNE_HISTORY.format(name=name),
                FINETUNE_FIGURE.format(name=name),
            ]
    if interpret_unit_jobs() and interpret_section()["ablation"]["attributes"]:
        out += [
            f"{INTERPRET_UNITS.format(**job)}/decoding_ablation.{ext}"
            for job in interpret_unit_jobs()
            for ext in ("tsv", "png")
        ]
    if interpret_brain_jobs() and interpret_section()["ablation"]["enabled"]:
        for job in interpret_brain_jobs():
            folder = INTERPRET_BRAIN.format(**job)
            out += [f"{folder}/ablation.{ext}" for ext in ("tsv", "png")]
    out += interpret_upstream_outputs()
    return out


def interpret_upstream_outputs():
    """Ablation of upstream layers read at a downstream layer's encoding model
    (interpret.ablation.upstream: {model: {upstream: downstream}}), per subject and ROI of
    interpret.brain."""
    section = interpret_section()
    if section is None or not section["ablation"]["enabled"]:
        return []
    brain = section["brain"]
    out = []
    for model, pairs in (section["ablation"].get("upstream") or {}).items():
        for upstream, downstream in pairs.items():
            for subject in brain["subjects"]:
                for roi in brain["rois"]:
                    folder = INTERPRET_BRAIN.format(
                        model=model, layer=downstream, subject=subject, roi=roi
                    )
                    out += [
                        f"{folder}/upstream_{upstream}.{ext}" for ext in ("tsv", "png")
                    ]
    return out


def fir_subjects(shifts=None):
    """Subjects whose time series are encoded through an FIR design (timeseries.fir, or
    timeseries.method: fir), in config order; with ``shifts`` True (False) only those with
    (without) circular-shift p-values (timeseries.fir.n_perm > 0)."""
    out = []
    for s, e in config["brain"]["subjects"].items():
        if not encodes_fir(e):
            continue
        n_perm = int((e["timeseries"].get("fir") or {}).get("n_perm", 0))
        if shifts is None or shifts == (n_perm > 0):
            out.append(s)
    return out


def fir_constraint(shifts=None):
    """The {subject} constraint of an FIR rule: its subjects (fir_subjects), or a pattern that
    matches nothing when there are none."""
    return "|".join(fir_subjects(shifts)) or "(?!x)x"


def fir_jobs(subjects=None, models=None):
    """Subject, model, layer and ROI of every FIR encoding job, in a fixed order."""
    return [
        {"subject": s, "model": m, "layer": layer, "roi": r}
        for s in subjects or fir_subjects()
        for m in models or MODELS
        for layer in layers_of(m)
        for r in ROIS
    ]


def fir_outputs():
    """The FIR encoding table and maps of each FIR subject and model (none without one): r,
    and with circular shifts -log10 p and FWE-thresholded r."""
    if not fir_subjects():
        return []
    out = [ENCODING_FIR_SUMMARY]
    out += subject_maps(ENCODING_FIR_MAPS, fir_subjects(), model=MODELS)
    if fir_subjects(shifts=True):
        maps = list(ENCODING_FIR_P_MAPS.values())
        out += subject_maps(maps, fir_subjects(shifts=True), model=MODELS)
    out += expand(ENCODING_FIR_BRAIN_FIGURE, subject=fir_subjects(), model=MODELS)
    return out
