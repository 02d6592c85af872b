# Second-level RSA (rsa.advanced): the group RSA across subjects, held-out reweighting of
# layer and unit RDMs, variance partitioning by sets of layers, and remixed layer RDMs.
# Table paths (RSA_TABLES) are in paths.smk, which jobs run (rsa_table_jobs) in targets.smk.


localrules:
    summarize_rsa_remix,
    collect_rsa_table,
    plot_rsa_advanced,


rule rsa_group:
    input:
        stimuli=STIMULI,
        models=over_layers(RDM_MODEL),
        brains=roi_rdms,
    output:
        RSA_TABLES["group"],
    log:
        "logs/rsa_group/{model}/{roi}.log",
    group:
        "rsa"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=rdm_mem_mb,
        runtime=30,
    params:
        rsa=config["rsa"],
        layers=lambda wildcards: layers_of(wildcards.model),
    script:
        "../../scripts/rsa_group.py"


rule rsa_reweighting:
    input:
        stimuli=STIMULI,
        models=over_layers(RDM_MODEL),
        brain=RDM_BRAIN,
        patterns=(
            over_layers(FEATURES)
            if config["rsa"].get("model_patterns", "activations") == "features"
            else ACTIVATIONS
        ),
    output:
        RSA_TABLES["reweighting"],
    log:
        "logs/rsa_reweighting/{subject}/{model}/{roi}.log",
    group:
        "rsa"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=rdm_mem_mb,
        runtime=30,
    params:
        rsa=config["rsa"],
        layers=lambda wildcards: layers_of(wildcards.model),
        cv=config["encoding"].get("cv", {}),
    script:
        "../../scripts/rsa_reweighting.py"


rule rsa_partition:
    input:
        stimuli=STIMULI,
        models=over_layers(RDM_MODEL),
        brains=roi_rdms,
    output:
        RSA_TABLES["partition"],
    log:
        "logs/rsa_partition/{model}/{roi}.log",
    group:
        "rsa"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=rdm_mem_mb,
        runtime=10,
    params:
        layers=lambda wildcards: layers_of(wildcards.model),
        sets=lambda wildcards: partition_sets(wildcards.model),
        subjects=SUBJECTS,
    script:
        "../../scripts/rsa_partition.py"


rule rdm_remix:
    input:
        stimuli=STIMULI,
        features=FEATURES,
    output:
        RDM_REMIX,
    log:
        "logs/rdm_remix/{model}/{layer}.log",
    group:
        "rdm"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=rdm_mem_mb,
        runtime=10,
    params:
        rsa=config["rsa"],
    script:
        "../../scripts/rdm_remix.py"


rule rsa_remix:
    input:
        stimuli=STIMULI,
        models=over_layers(RDM_REMIX),
        brains=roi_rdms,
    output:
        RSA_TABLES["remix"],
    log:
        "logs/rsa_remix/{subject}/{model}/{roi}.log",
    group:
        "rsa"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=rdm_mem_mb,
        runtime=30,
    params:
        rsa=config["rsa"],
        layers=lambda wildcards: layers_of(wildcards.model),
        subjects=SUBJECTS,
    script:
        "../../scripts/rsa.py"


rule summarize_rsa_remix:
    input:
        [RSA_TABLES["remix"].format(**job) for job in rsa_table_jobs("remix")],
    output:
        report(
            RSA_TABLE_SUMMARY.format(kind="remix"),
            caption="../report/rsa_remix.rst",
            category="RSA",
            subcategory="Second level",
        ),
    log:
        "logs/summarize_rsa_remix.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=rsa_table_jobs("remix"),
    script:
        "../../scripts/summarize_rsa.py"


rule collect_rsa_table:
    input:
        lambda wildcards: [
            RSA_TABLES[wildcards.kind].format(**job)
            for job in rsa_table_jobs(wildcards.kind)
        ],
    output:
        report(
            RSA_TABLE_SUMMARY,
            caption="../report/rsa_tables.rst",
            category="RSA",
            subcategory="Second level",
            labels={"table": "{kind}"},
        ),
    log:
        "logs/collect_rsa_table/{kind}.log",
    wildcard_constraints:
        kind="group|reweighting|partition",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=lambda wildcards: rsa_table_jobs(wildcards.kind),
    script:
        "../../scripts/collect_rsa_table.py"


rule plot_rsa_advanced:
    input:
        unpack(lambda wildcards: {**rsa_summary_tables(), "truth": SIMULATED_TRUTH}),
    output:
        report(
            RSA_ADVANCED_FIGURE,
            caption="../report/rsa_advanced.rst",
            category="RSA",
            subcategory="Second level",
            labels={"model": "{model}", "figure": "second-level RSA"},
        ),
    log:
        "logs/plot_rsa_advanced/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        layers=lambda wildcards: layers_of(wildcards.model),
        rois=ROIS,
    script:
        "../../scripts/plot_rsa_advanced.py"
