# Tables and figures are small: they run on the login node, not as cluster jobs.
localrules:
    summarize_rsa,
    plot_rsa,
    plot_rdms,


rule rdm_model:
    input:
        stimuli=STIMULI,
        patterns=(
            FEATURES
            if config["rsa"].get("model_patterns", "activations") == "features"
            else ACTIVATIONS
        ),
    output:
        RDM_MODEL,
    log:
        "logs/rdm_model/{model}/{layer}.log",
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
        device=config["compute"]["device"],
    script:
        "../../scripts/rdm_model.py"


rule rdm_brain:
    input:
        stimuli=STIMULI,
        brain=ROI,
    output:
        RDM_BRAIN,
    log:
        "logs/rdm_brain/{subject}/{roi}.log",
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
        device=config["compute"]["device"],
    script:
        "../../scripts/rdm_brain.py"


rule rsa:
    input:
        stimuli=STIMULI,
        models=over_layers(RDM_MODEL),
        brains=roi_rdms,
    output:
        RSA,
    log:
        "logs/rsa/{subject}/{model}/{roi}.log",
    benchmark:
        "logs/benchmarks/rsa/{subject}/{model}/{roi}.tsv"
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


rule summarize_rsa:
    input:
        [RSA.format(**job) for job in rsa_jobs()],
    output:
        report(
            RSA_SUMMARY,
            caption="../report/rsa_summary.rst",
            category="RSA",
        ),
    log:
        "logs/summarize_rsa.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=rsa_jobs(),
    script:
        "../../scripts/summarize_rsa.py"


rule plot_rsa:
    input:
        summary=RSA_SUMMARY,
        truth=SIMULATED_TRUTH,
    output:
        report(
            RSA_FIGURE,
            caption="../report/rsa_profiles.rst",
            category="RSA",
        ),
    log:
        "logs/plot_rsa.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        layer_order={m: layers_of(m) for m in MODELS},
    script:
        "../../scripts/plot_rsa.py"


rule plot_rdms:
    input:
        stimuli=STIMULI,
        models=over_layers(RDM_MODEL),
        brains=expand(RDM_BRAIN, subject=SUBJECTS[:1], roi=ROIS),
    output:
        rdms=report(
            RDM_FIGURE,
            caption="../report/rdms.rst",
            category="RSA",
        ),
        mds=report(
            MDS_FIGURE,
            caption="../report/mds.rst",
            category="RSA",
        ),
    log:
        "logs/plot_rdms/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        layers=lambda wildcards: layers_of(wildcards.model),
        subject=SUBJECTS[0] if SUBJECTS else None,  # none: every subject FIR-only
        rois=ROIS,
        categories=config["rsa"]["categories"],
    script:
        "../../scripts/plot_rdms.py"


rule searchlight:
    input:
        stimuli=STIMULI,
        responses=responses_file,
        models=over_layers(RDM_MODEL),
    output:
        SEARCHLIGHT_SHARD,
    log:
        "logs/searchlight/{subject}/{model}/shard-{shard}.log",
    benchmark:
        "logs/benchmarks/searchlight/{subject}/{model}/shard-{shard}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=searchlight_mem_mb,
        runtime=searchlight_runtime,
    params:
        searchlight=config["rsa"]["searchlight"],
        layers=lambda wildcards: layers_of(wildcards.model),
        space=space_of_subject,
    script:
        "../../scripts/searchlight.py"


rule merge_searchlight:
    input:
        responses=responses_file,
        shards=searchlight_shards,
    output:
        SEARCHLIGHT_MAPS,
    log:
        "logs/merge_searchlight/{subject}/{model}{mapsuffix}.log",
    wildcard_constraints:
        mapsuffix=MAPSUFFIX_NOT_MGH,
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=brain_mem_mb,
        runtime=10,
    params:
        searchlight=config["rsa"]["searchlight"],
        space=space_of_subject,
    script:
        "../../scripts/merge_searchlight.py"


use rule merge_searchlight as merge_searchlight_mgh with:
    output:
        **mgh_map_outputs(SEARCHLIGHT_MAPS),
    log:
        mgh_log("logs/merge_searchlight/{subject}/{model}{mapsuffix}.log"),
