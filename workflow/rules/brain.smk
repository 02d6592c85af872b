localrules:
    summarize_brain,


rule simulate_brain:
    input:
        stimuli=STIMULI,
        activations=simulation_activations,
    output:
        responses=SIM_RESPONSES,
        ids=SIM_IDS,
        repeats=simulated_repeats("{subject}"),
        truth=report(
            SIM_TRUTH,
            caption="../report/ground_truth.rst",
            category="Simulation",
            labels={"subject": "{subject}"},
        ),
    log:
        "logs/simulate_brain/{subject}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=brain_mem_mb,
        runtime=10,
    params:
        simulation=config.get("simulation"),
        subject_index=lambda wildcards: SUBJECTS.index(wildcards.subject),
        entry=subject_entry,
    script:
        "../../scripts/simulate_brain.py"


rule estimate_betas:
    input:
        stimuli=STIMULI,
        runs=timeseries_files,
    output:
        BETAS,
    log:
        "logs/estimate_betas/{subject}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=brain_mem_mb,
        runtime=30,
    params:
        entry=subject_entry,
    script:
        "../../scripts/estimate_betas.py"


rule extract_roi:
    input:
        stimuli=STIMULI,
        responses=responses_file,
        repeats=repeat_files,
        side_files=subject_side_files,
    output:
        ROI,
    log:
        "logs/extract_roi/{subject}/{roi}.log",
    group:
        "extract_roi"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=brain_mem_mb,
        runtime=10,
    params:
        labels=lambda wildcards: config["brain"]["rois"][wildcards.roi],
        entry=subject_entry,
        simulated=lambda wildcards: SIM_RESPONSES.format(subject=wildcards.subject),
        simulated_ids=lambda wildcards: SIM_IDS.format(subject=wildcards.subject),
        zscore_sessions=config["brain"]["zscore_sessions"],
    script:
        "../../scripts/extract_roi.py"


rule summarize_brain:
    input:
        [ROI.format(**job) for job in roi_jobs()],
    output:
        report(
            BRAIN_SUMMARY,
            caption="../report/brain_summary.rst",
            category="Brain data",
        ),
    log:
        "logs/summarize_brain.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=roi_jobs(),
    script:
        "../../scripts/summarize_brain.py"
