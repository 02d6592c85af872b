# Encoding models: one job per subject, model, layer and ROI (which run: encoding_jobs in
# targets.smk), the summary table and figure, and the CIFTI maps per subject and model.
# Tables and figures are small: they run on the login node, not as cluster jobs.
localrules:
    summarize_encoding,
    plot_encoding,
    plot_brain_maps,


rule encode:
    input:
        stimuli=STIMULI,
        features=encoding_features,
        brain=ROI,
    output:
        ENCODING,
    log:
        "logs/encode/{subject}/{model}/{layer}/{roi}.log",
    benchmark:
        "logs/benchmarks/encode/{subject}/{model}/{layer}/{roi}.tsv"
    group:
        "encode"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=encoding_mem_mb,
        runtime=encoding_runtime,
    params:
        encoding=config["encoding"],
        device=config["compute"]["device"],
    script:
        "../../scripts/encode.py"


rule summarize_encoding:
    input:
        [ENCODING.format(**job) for job in encoding_jobs()],
    output:
        report(
            ENCODING_SUMMARY,
            caption="../report/encoding_summary.rst",
            category="Encoding",
        ),
    log:
        "logs/summarize_encoding.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=encoding_jobs(),
        min_ceiling=config["encoding"]["min_ceiling"],
    script:
        "../../scripts/summarize_encoding.py"


rule plot_encoding:
    input:
        summary=ENCODING_SUMMARY,
        truth=SIMULATED_TRUTH,
    output:
        report(
            ENCODING_FIGURE,
            caption="../report/encoding_layers.rst",
            category="Encoding",
        ),
    log:
        "logs/plot_encoding.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        layer_order={m: layers_of(m) for m in MODELS},
    script:
        "../../scripts/plot_encoding.py"


rule plot_brain_maps:
    input:
        maps=lambda wildcards: subject_maps(
            ENCODING_MAPS["r"], [wildcards.subject], model=wildcards.model
        ),
        logp=lambda wildcards: subject_maps(
            encoding_maps().get("logp", []), [wildcards.subject], model=wildcards.model
        ),
    output:
        report(
            ENCODING_BRAIN_FIGURE,
            caption="../report/brain_maps.rst",
            category="Brain maps",
            labels={"subject": "{subject}", "model": "{model}"},
        ),
    log:
        "logs/plot_brain_maps/{subject}/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        space=space_of_subject,
        title=lambda wildcards: f"{wildcards.subject}, {wildcards.model}",
    script:
        "../../scripts/plot_brain_maps.py"


rule encoding_maps:
    input:
        responses=responses_file,
        encoding=encoding_files,
    output:
        **encoding_maps(),
    log:
        "logs/encoding_maps/{subject}/{model}{mapsuffix}.log",
    wildcard_constraints:
        mapsuffix=MAPSUFFIX_NOT_MGH,
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        space=space_of_subject,
        layers=lambda wildcards: layers_of(wildcards.model),
        rois=ROIS,
        best_layer_fwe=config["encoding"]["best_layer_fwe"],
    script:
        "../../scripts/encoding_maps.py"


use rule encoding_maps as encoding_maps_mgh with:
    output:
        **mgh_map_outputs(encoding_maps()),
    log:
        mgh_log("logs/encoding_maps/{subject}/{model}{mapsuffix}.log"),
