# Stacked regression: one job per subject, stack set and ROI (stacking_jobs in targets.smk),
# CIFTI maps per subject and set, the summary table and the seed study's figure per subject.
# Tables and figures are small: they run on the login node, not as cluster jobs.
localrules:
    summarize_stacking,
    plot_stacking,
    plot_stacking_brain,


wildcard_constraints:
    stack="|".join(space_sets("stacking")) or "(?!x)x",


rule stack:
    input:
        stimuli=STIMULI,
        features=set_features("stacking", "stack"),
        brain=ROI,
    output:
        STACKING,
    log:
        "logs/stack/{subject}/{stack}/{roi}.log",
    benchmark:
        "logs/benchmarks/stack/{subject}/{stack}/{roi}.tsv"
    group:
        "stack"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=stacking_mem_mb,
        runtime=stacking_runtime,
    params:
        spaces=lambda wildcards: [
            f"{model}/{layer}"
            for model, layer in set_spaces("stacking", wildcards.stack)
        ],
        encoding=config["encoding"],
        device=config["compute"]["device"],
    script:
        "../../scripts/stack.py"


rule stacking_maps:
    input:
        responses=responses_file,
        stacking=stacking_files,
    output:
        STACKING_MAPS,
    log:
        "logs/stacking_maps/{subject}/{stack}{mapsuffix}.log",
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
        spaces=lambda wildcards: [
            f"{model}/{layer}"
            for model, layer in set_spaces("stacking", wildcards.stack)
        ],
    script:
        "../../scripts/stacking_maps.py"


use rule stacking_maps as stacking_maps_mgh with:
    output:
        **mgh_map_outputs(STACKING_MAPS),
    log:
        mgh_log("logs/stacking_maps/{subject}/{stack}{mapsuffix}.log"),


rule plot_stacking_brain:
    input:
        maps=lambda wildcards: subject_maps(
            STACKING_MAPS, [wildcards.subject], stack=wildcards.stack
        ),
    output:
        report(
            STACKING_BRAIN_FIGURE,
            caption="../report/stacking_brain.rst",
            category="Brain maps",
            labels={"subject": "{subject}", "stacking set": "{stack}"},
        ),
    log:
        "logs/plot_stacking_brain/{subject}/{stack}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        space=space_of_subject,
        spaces=lambda wildcards: [
            f"{model}/{layer}"
            for model, layer in set_spaces("stacking", wildcards.stack)
        ],
    script:
        "../../scripts/plot_stacking_brain.py"


rule summarize_stacking:
    input:
        [STACKING.format(**job) for job in stacking_jobs()],
    output:
        report(
            STACKING_SUMMARY,
            caption="../report/stacking_summary.rst",
            category="Stacking",
        ),
    log:
        "logs/summarize_stacking.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=stacking_jobs(),
        n_best=config["stacking"]["n_best"],
        n_boot=config["stacking"]["n_boot"],
        seed=config["stacking"]["seed"],
    script:
        "../../scripts/summarize_stacking.py"


rule plot_stacking:
    input:
        subject_stacking_files,
    output:
        report(
            STACKING_FIGURE,
            caption="../report/stacking_profiles.rst",
            category="Stacking",
        ),
    log:
        "logs/plot_stacking/{subject}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=lambda wildcards: stacking_jobs([wildcards.subject]),
        n_best=config["stacking"]["n_best"],
        n_boot=config["stacking"]["n_boot"],
        seed=config["stacking"]["seed"],
    script:
        "../../scripts/plot_stacking.py"
