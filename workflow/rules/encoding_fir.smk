# FIR encoding of time-series subjects (brain.subjects.<subject>.timeseries.fir, or method:
# fir): each ROI's time series once per subject, one encoding job per subject, model, layer and
# ROI (which run: fir_jobs in targets.smk), maps in the subject's format and a summary table
# like encoding's; the maps with circular-shift p-values (fir.n_perm > 0) come from their own
# rule. Subjects with method: fir are in no other rule's {subject} (SUBJECTS).
localrules:
    summarize_encoding_fir,


rule extract_roi_series:
    input:
        runs=timeseries_files,
        side_files=subject_side_files,
    output:
        ROI_SERIES,
    log:
        "logs/extract_roi_series/{subject}/{roi}.log",
    wildcard_constraints:
        subject=fir_constraint(),
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=fir_series_mem_mb,
        runtime=30,
    params:
        entry=subject_entry,
        labels=lambda wildcards: config["brain"]["rois"][wildcards.roi],
    script:
        "../../scripts/extract_roi_series.py"


rule encode_fir:
    input:
        stimuli=STIMULI,
        features=lambda wildcards: FEATURES.format(
            model=wildcards.model, layer=wildcards.layer
        ),
        series=ROI_SERIES,
        events=fir_events,
    output:
        ENCODING_FIR,
    log:
        "logs/encode_fir/{subject}/{model}/{layer}/{roi}.log",
    wildcard_constraints:
        subject=fir_constraint(),
    group:
        "encode"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=fir_mem_mb,
        runtime=fir_runtime,
    params:
        timeseries=fir_entry,
        encoding=config["encoding"],
        device=config["compute"]["device"],
    script:
        "../../scripts/encode_fir.py"


rule summarize_encoding_fir:
    input:
        [ENCODING_FIR.format(**job) for job in fir_jobs()],
    output:
        report(
            ENCODING_FIR_SUMMARY,
            caption="../report/encoding_fir_summary.rst",
            category="Encoding",
        ),
    log:
        "logs/summarize_encoding_fir.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=fir_jobs(),
        min_ceiling=config["encoding"]["min_ceiling"],
    script:
        "../../scripts/summarize_encoding.py"


rule encoding_fir_maps:
    input:
        encoding=fir_files,
    output:
        r=ENCODING_FIR_MAPS,
    log:
        "logs/encoding_fir_maps/{subject}/{model}{mapsuffix}.log",
    wildcard_constraints:
        mapsuffix=MAPSUFFIX_NOT_MGH,
        subject=fir_constraint(shifts=False),
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
        best_layer_fwe=None,
    script:
        "../../scripts/encoding_maps.py"


use rule encoding_fir_maps as encoding_fir_maps_mgh with:
    output:
        **mgh_map_outputs({"r": ENCODING_FIR_MAPS}),
    log:
        mgh_log("logs/encoding_fir_maps/{subject}/{model}{mapsuffix}.log"),


rule encoding_fir_maps_shifts:
    input:
        encoding=fir_files,
    output:
        **ENCODING_FIR_P_MAPS,
        r=ENCODING_FIR_MAPS,
    log:
        "logs/encoding_fir_maps_shifts/{subject}/{model}{mapsuffix}.log",
    wildcard_constraints:
        mapsuffix=MAPSUFFIX_NOT_MGH,
        subject=fir_constraint(shifts=True),
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
        best_layer_fwe=None,
    script:
        "../../scripts/encoding_maps.py"


use rule encoding_fir_maps_shifts as encoding_fir_maps_shifts_mgh with:
    output:
        **mgh_map_outputs({**ENCODING_FIR_P_MAPS, "r": ENCODING_FIR_MAPS}),
    log:
        mgh_log("logs/encoding_fir_maps_shifts/{subject}/{model}{mapsuffix}.log"),


use rule plot_brain_maps as plot_fir_brain_maps with:
    input:
        maps=lambda wildcards: subject_maps(
            ENCODING_FIR_MAPS, [wildcards.subject], model=wildcards.model
        ),
        logp=lambda wildcards: (
            subject_maps(
                ENCODING_FIR_P_MAPS["logp"], [wildcards.subject], model=wildcards.model
            )
            if wildcards.subject in fir_subjects(shifts=True)
            else []
        ),
    output:
        report(
            ENCODING_FIR_BRAIN_FIGURE,
            caption="../report/encoding_fir_brain.rst",
            category="Brain maps",
            subcategory="FIR encoding",
            labels={"subject": "{subject}", "model": "{model}"},
        ),
    log:
        "logs/plot_fir_brain_maps/{subject}/{model}.log",
    wildcard_constraints:
        subject=fir_constraint(),
    params:
        space=space_of_subject,
        title=lambda wildcards: f"{wildcards.subject}, {wildcards.model}: FIR on the time series",
