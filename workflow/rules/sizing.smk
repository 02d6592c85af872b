# Resource callables of the rules: each reads the config and asks dnnmap.sizing, which holds
# the formulas. Memory grows with each retry attempt.


# The most and the mean 0.96 s examples per sound of the stimulus table (None without sounds).
SOUND_EXAMPLES = sizing.sound_examples(STIMULUS_TABLE.attrs.get(MEDIA_ATTR, {}))


def input_side(model):
    """Side of the square input of a model, pixels (its crop, else its resize, from the
    config or its family's defaults for its weights)."""
    return registry_input_side(config["models"][model])


def extraction_mem_mb(wildcards, attempt):
    model = config["models"][wildcards.model]
    return sizing.extraction_mem_mb(
        model,
        model["layers"],
        input_side(wildcards.model),
        config["compute"]["batch_size"],
        attempt,
        SOUND_EXAMPLES,
    )


def extraction_runtime(wildcards):
    """Minutes for an extraction job: the CPU estimate unless compute.device names CUDA,
    scaled by each stimulus' clips x frames (video) or examples (audio)."""
    return extraction_minutes(wildcards.model, N_STIM)


def extraction_minutes(model, n_stim):
    """Minutes to extract ``n_stim`` stimuli of the table with ``model``."""
    architecture = config["models"][model]
    gpu = config["compute"]["device"].startswith("cuda")
    load = sizing.media_load(architecture, input_side(model), SOUND_EXAMPLES)
    return sizing.extraction_runtime_min(n_stim, architecture, gpu, load.compute)


def features_mem_mb(wildcards, attempt):
    feats = config["features"]
    return sizing.features_mem_mb(
        N_STIM,
        config["models"][wildcards.model],
        wildcards.layer,
        input_side(wildcards.model),
        attempt,
        feats["method"],
        feats["fit"],
        feats["n_components"],
        feats["solver"],
        feats["max_fit_stimuli"],
        2 if config["compute"]["dtype"] == "float16" else 4,
        config["compute"]["batch_size"],
    )


def features_runtime_min(wildcards):
    feats = config["features"]
    if feats["method"] != "pca":
        return 30
    model = config["models"][wildcards.model]
    units = sizing.layer_units(model, [wildcards.layer], input_side(wildcards.model))
    n_fit = N_STIM if feats["max_fit_stimuli"] is None else feats["max_fit_stimuli"]
    return sizing.features_runtime_min(
        min(N_STIM, n_fit),
        units[wildcards.layer],
        feats["n_components"],
        feats["solver"],
        feats["power_iterations"],
    )


def feature_width(model, layer, compact=False):
    """Columns of a layer's features file that encoding and decoding jobs read (ridge-type
    jobs, ``compact``, read a wide layer's lossless basis)."""
    feats = config["features"]
    entry = config["models"][model]
    units = sizing.layer_units(entry, [layer], input_side(model))[layer]
    return sizing.feature_width(
        feats["method"], feats["fit"], feats["n_components"], N_STIM, units, compact
    )


def set_widths(section, name):
    """Columns of each space of a stacking or joint set, as those jobs read them."""
    return [feature_width(m, layer, True) for m, layer in set_spaces(section, name)]


def encoding_columns(wildcards):
    """Columns of an encode job's X: the layer's units for the per-unit model (it reads the
    activations), else the feature count."""
    if config["encoding"]["estimator"] == "per_unit":
        model = config["models"][wildcards.model]
        units = sizing.layer_units(
            model, [wildcards.layer], input_side(wildcards.model)
        )
        return units[wildcards.layer]
    ridge = config["encoding"]["estimator"] == "ridge"
    return feature_width(wildcards.model, wildcards.layer, compact=ridge)


def encoding_mem_mb(wildcards, attempt):
    permutation = config["encoding"]["permutation"]
    refits = permutation["n_perm"] if permutation["kind"] == "refit" else 0
    return sizing.encoding_mem_mb(
        N_STIM,
        encoding_columns(wildcards),
        ROI_SIZES[wildcards.roi],
        config["encoding"]["voxel_batch"],
        attempt,
        refits,
        config["encoding"].get("pooling", "folds"),
    )


def encoding_runtime(wildcards):
    permutation = config["encoding"]["permutation"]
    refits = permutation["n_perm"] if permutation["kind"] == "refit" else 0
    return sizing.encoding_runtime_min(N_STIM, ROI_SIZES[wildcards.roi], refits)


def rdm_mem_mb(wildcards, attempt):
    return sizing.rdm_mem_mb(N_STIM, attempt)


def searchlight_mem_mb(wildcards, attempt):
    """Sized for the subject's data (its columns, checked at start-up: mask voxels or the
    grid of a volume, every vertex of a surface), at least all fsLR-32k grayordinates.
    """
    columns = FILE_ROI_SIZES.columns.get(wildcards.subject, 0)
    return sizing.searchlight_mem_mb(
        N_STIM, max(columns, FSLR32K_GRAYORDINATES), attempt
    )


def searchlight_runtime(wildcards):
    n_shards = config["rsa"]["searchlight"]["n_shards"]
    columns = FILE_ROI_SIZES.columns.get(wildcards.subject, 0)
    return sizing.searchlight_runtime_min(
        N_STIM, max(columns, FSLR32K_GRAYORDINATES), n_shards
    )


def brain_mem_mb(wildcards, attempt):
    """Sized for the subject's data: its columns (checked at start-up), at least all
    fsLR-32k grayordinates."""
    columns = FILE_ROI_SIZES.columns.get(getattr(wildcards, "subject", None), 0)
    return sizing.brain_mem_mb(N_STIM, max(columns, FSLR32K_GRAYORDINATES), attempt)


def decoding_mem_mb(wildcards, attempt):
    """The patterns: an ROI's grayordinates (decode_brain) or a layer's features."""
    roi = getattr(wildcards, "roi", None)
    if roi is None:
        n_columns = feature_width(wildcards.model, wildcards.layer)
    else:
        n_columns = ROI_SIZES[roi]
    return sizing.decoding_mem_mb(N_STIM, n_columns, attempt)


def decoding_runtime(wildcards):
    dec = config["decoding"]
    return sizing.decoding_runtime_min(
        N_STIM, dec["n_perm"], dec["n_folds"], len(dec["Cs"]), dec["inner_folds"]
    )


def stacking_mem_mb(wildcards, attempt):
    return sizing.stacking_mem_mb(
        N_STIM,
        max(set_widths("stacking", wildcards.stack)),
        ROI_SIZES[wildcards.roi],
        len(set_spaces("stacking", wildcards.stack)),
        attempt,
    )


def stacking_runtime(wildcards):
    return sizing.stacking_runtime_min(
        N_STIM,
        ROI_SIZES[wildcards.roi],
        len(set_spaces("stacking", wildcards.stack)),
        config["encoding"]["inner_folds"],
    )


def joint_mem_mb(wildcards, attempt):
    """An encoding job's memory for the set's features side by side, plus the banded ridge's
    kernels and its block of test predictions (at most 2**24 float64)."""
    n_spaces = len(set_spaces("joint", wildcards.set))
    base = sizing.encoding_mem_mb(
        N_STIM,
        sum(set_widths("joint", wildcards.set)),
        ROI_SIZES[wildcards.roi],
        config["encoding"]["voxel_batch"],
        attempt,
    )
    return base + (128 + 3 * 8 * N_STIM * N_STIM * n_spaces // 2**20) * attempt


def joint_runtime(wildcards):
    """An encoding job's runtime for every subset of the set, each searching n_iter space
    weights (taken as a quarter of a fit each)."""
    subsets = 2 ** len(set_spaces("joint", wildcards.set)) - 1
    work = subsets * max(1, config["joint"]["n_iter"] // 4)
    return sizing.encoding_runtime_min(N_STIM, ROI_SIZES[wildcards.roi], work - 1)


def shard_runtime(wildcards):
    """Minutes for an extraction shard: extraction_runtime for the largest shard's stimuli."""
    bounds = shard_bounds(N_STIM, N_SHARDS, config["compute"]["batch_size"])
    return extraction_minutes(wildcards.model, max(b - a for a, b in bounds))


def merge_units(model):
    """Units per stimulus of every recorded layer of a model (as written)."""
    entry = config["models"][model]
    return sizing.layer_units(entry, entry["layers"], input_side(model))


def merge_mem_mb(wildcards, attempt):
    units = merge_units(wildcards.model)
    return sizing.merge_shards_mem_mb(
        max(units.values()), config["compute"]["batch_size"], attempt
    )


def merge_runtime(wildcards):
    units = merge_units(wildcards.model)
    return sizing.merge_shards_runtime_min(N_STIM, sum(units.values()))


_FIR_RUN_LENGTHS = {}


def fir_run_lengths(subject):
    """Volumes of each run of an FIR subject, from the files' headers (read once)."""
    if subject not in _FIR_RUN_LENGTHS:
        from dnnmap.brain.spaces import SubjectData, read_data_header

        entry = config["brain"]["subjects"][subject]
        _FIR_RUN_LENGTHS[subject] = [
            read_data_header(
                SubjectData.from_config(run["data"], entry.get("mask"))
            ).n_maps
            for run in entry["timeseries"]["runs"]
        ]
    return _FIR_RUN_LENGTHS[subject]


def fir_series_mem_mb(wildcards, attempt):
    """The longest run of the subject read whole (all its columns, float32, twice)."""
    columns = FILE_ROI_SIZES.columns.get(wildcards.subject, 0)
    longest = max(fir_run_lengths(wildcards.subject))
    return sizing.brain_mem_mb(longest, max(columns, 1), attempt)


def fir_mem_mb(wildcards, attempt):
    """Float64 copies of an ROI's series, predictions and a chunk of shifted targets over
    every TR of the subject's runs, the design, and the scores kept per voxel and circular
    shift (all shifts are fitted in one pass over the folds); doubles with each attempt.
    """
    n_perm = int((fir_entry(wildcards).get("fir") or {}).get("n_perm", 0))
    n_tr = sum(fir_run_lengths(wildcards.subject))
    columns = ROI_SIZES[wildcards.roi]
    chunk = min(columns * max(n_perm, 1), config["encoding"]["voxel_batch"])
    shifts = (
        sizing.REFIT_BYTES_PER_COLUMN["folds"] * columns * (n_perm + 1) if n_perm else 0
    )
    return int(attempt * (1000 + (6 * 8 * n_tr * (columns + chunk) + shifts) / 1e6))


def fir_runtime(wildcards):
    """Minutes of an FIR encoding job: 30, plus 0.2 per circular shift (each refits the
    ROI's encoding, batched with other shifts)."""
    n_perm = int((fir_entry(wildcards).get("fir") or {}).get("n_perm", 0))
    return int(30 + 0.2 * n_perm)
