# Input functions of the rules: each maps a job's wildcards to the files it reads.


def over_layers(pattern):
    """An input function: ``pattern`` over every layer of the job's model, in network order.

    The pattern's other wildcards ({model}, {subject}, {attribute}, ...) take the job's values.
    """

    def files(wildcards):
        values = dict(wildcards.items())
        return [
            pattern.format(**{**values, "layer": layer})
            for layer in layers_of(wildcards.model)
        ]

    return files


def roi_rdms(wildcards):
    """The RDMs of one ROI in every subject (RDM_BRAIN), in subject order."""
    return expand(RDM_BRAIN, subject=SUBJECTS, roi=wildcards.roi)


def encoding_features(wildcards):
    """The X of an encode job: the layer's features, or for the per-unit model (DNNBrain's
    best single unit) the model's activations, whose units it chooses among."""
    if config["encoding"]["estimator"] == "per_unit":
        return ACTIVATIONS.format(model=wildcards.model)
    return FEATURES.format(model=wildcards.model, layer=wildcards.layer)


def encoding_files(wildcards):
    """Encoding results of every layer and ROI of the job's subject and model."""
    jobs = encoding_jobs([wildcards.subject], [wildcards.model])
    return [ENCODING.format(**job) for job in jobs]


def weights_input(wildcards):
    """Weights a model's extraction reads: a local file, a fetched torchvision file, or none."""
    weights = str(config["models"][wildcards.model].get("weights", "none"))
    kind = weights_kind(weights)
    if kind == "file":
        return weights
    if kind == "torchvision":
        return WEIGHTS.format(model=wildcards.model)
    return []


def _files_of(source):
    """The file(s) of a config ``responses``/``repeats`` entry: a path, or {left, right}."""
    if isinstance(source, dict):
        return [source[h] for h in ("left", "right") if h in source]
    return source


def _file_list(source):
    """The file(s) of a config entry, always as a list."""
    files = _files_of(source)
    return [files] if isinstance(files, str) else files


def responses_file(wildcards):
    """The brain responses of a subject: the user's file (a list of hemisphere files for
    GIFTI/MGH) or the simulated CIFTI file."""
    source = config["brain"]["subjects"][wildcards.subject]["responses"]
    if source == SIMULATE:
        return SIM_RESPONSES.format(subject=wildcards.subject)
    if source == TIMESERIES:
        return BETAS.format(subject=wildcards.subject)
    return _files_of(source)


def repeat_files(wildcards):
    """Files of a subject's single repeated measurements (may be empty), hemispheres flat."""
    entry = config["brain"]["subjects"][wildcards.subject]
    if entry["responses"] == SIMULATE:
        return simulated_repeats(wildcards.subject)
    files = []
    for source in entry.get("repeats", []):
        files += _file_list(source)
    return files


def subject_entry(wildcards):
    """The config entry of the job's subject (responses, mask, ids, repeats, roi_files)."""
    return config["brain"]["subjects"][wildcards.subject]


def subject_side_files(wildcards):
    """The mask, ids sidecar, ROI files and lookup tables a subject's data reads."""
    entry = config["brain"]["subjects"][wildcards.subject]
    files = [entry[k] for k in ("mask", "ids") if entry.get(k)]
    if entry["responses"] == TIMESERIES:  # the first run's data gives the space
        files += _file_list(entry["timeseries"]["runs"][0]["data"])
    for item in entry.get("roi_files") or []:
        item = {"file": item} if isinstance(item, str) else item
        files += [item[k] for k in ("file", "lut") if item.get(k)]
    return files


def timeseries_files(wildcards):
    """Every file of a time-series subject's runs (data, events, confounds) and its mask."""
    entry = config["brain"]["subjects"][wildcards.subject]
    files = [entry["mask"]] if entry.get("mask") else []
    for run in entry["timeseries"]["runs"]:
        files += _file_list(run["data"])
        files += [run[k] for k in ("events", "confounds") if run.get(k)]
    return files


def space_of_subject(wildcards):
    """What the map rules read the subject's space from (dnnmap.brain.spaces.space_of)."""
    return subject_space(
        config["brain"]["subjects"][wildcards.subject],
        SIM_RESPONSES.format(subject=wildcards.subject),
        simulated_ids=SIM_IDS.format(subject=wildcards.subject),
    )


def simulated_repeats(subject):
    """The simulated single-repeat CIFTI files of a subject (none when n_repeats is 1).

    ``subject`` may be the pattern "{subject}" (for the rule's output).
    """
    n = config.get("simulation", {}).get("n_repeats", 1)
    return [
        SIM_REPEAT.format(subject=subject, repeat=r + 1)
        for r in range(n if n > 1 else 0)
    ]


def simulation_activations(wildcards):
    """Raw activations of the simulated brain's model (never the features the pipeline fits)."""
    return ACTIVATIONS.format(model=config["simulation"]["model"])


def searchlight_shards(wildcards):
    """The searchlight shards of the job's subject and model, in shard order."""
    return expand(
        SEARCHLIGHT_SHARD,
        subject=wildcards.subject,
        model=wildcards.model,
        shard=range(config["rsa"]["searchlight"]["n_shards"]),
    )


def set_features(section, key):
    """Input function: the features files of the job's set of ``section`` (``stacking`` or
    ``joint``, the set in wildcard ``key``), in the set's order."""

    def features(wildcards):
        return [
            FEATURES.format(model=model, layer=layer)
            for model, layer in set_spaces(section, wildcards[key])
        ]

    return features


def stacking_files(wildcards):
    """Stacking results of every ROI of the job's subject and stack set, in ROI order."""
    return [
        STACKING.format(subject=wildcards.subject, stack=wildcards.stack, roi=r)
        for r in ROIS
    ]


def subject_stacking_files(wildcards):
    """Stacking results of every stack set and ROI of the job's subject (stacking_jobs order)."""
    return [STACKING.format(**job) for job in stacking_jobs([wildcards.subject])]


def compare_encodings(wildcards):
    """The two encoding files of the job's comparison pair (a, then b)."""
    return [
        ENCODING.format(
            subject=wildcards.subject,
            model=space.split("/")[0],
            layer=space.split("/")[1],
            roi=wildcards.roi,
        )
        for space in compare_pairs()[wildcards.pair]
    ]


def features_inputs(wildcards):
    """The activations a layer's features are made from (and the external set's, if any)."""
    inputs = {"activations": ACTIVATIONS.format(model=wildcards.model)}
    if EXTERNAL_TABLE is not None:
        inputs["external"] = EXTERNAL_ACTIVATIONS.format(model=wildcards.model)
    return inputs


def interpret_settings(*keys):
    """Params function: the interpret settings of ``keys`` plus the brain ones of the job."""

    def settings(wildcards):
        section = config["interpret"]
        out = {
            "top_k": section["top_k"],
            "n_components": section["n_components"],
            "background": list(config["stimuli"]["background"]),
        }
        if "units" in keys:
            units = section["units"].get(wildcards.model, {})
            out["units"] = list(units.get(wildcards.layer, []))
        if "brain" in keys:
            brain = section["brain"]
            out["n_voxels"] = brain["n_voxels"]
            out["voxels"] = list(brain["voxels"].get(wildcards.roi, []))
        return out

    return settings


def finetune_weights(wildcards):
    """The base weights file of a fine-tuning job (interpret.finetune.<name>.model), if any."""
    from types import SimpleNamespace

    model = config["interpret"]["finetune"][wildcards.name]["model"]
    return weights_input(SimpleNamespace(model=model))


def activation_shards(wildcards):
    """The extraction shards of the job's model, in shard order (extraction.n_shards)."""
    return expand(
        ACTIVATION_SHARD,
        model=wildcards.model,
        shard=range(N_SHARDS),
        n_shards=N_SHARDS,
    )


def fir_entry(wildcards):
    """The time-series section of the job's subject (tr, runs, fir)."""
    return config["brain"]["subjects"][wildcards.subject]["timeseries"]


def fir_events(wildcards):
    """The events files of the job's subject's runs, in run order."""
    return [run["events"] for run in fir_entry(wildcards)["runs"]]


def fir_files(wildcards):
    """FIR encoding results of every layer and ROI of the job's subject and model."""
    jobs = fir_jobs([wildcards.subject], [wildcards.model])
    return [ENCODING_FIR.format(**job) for job in jobs]
