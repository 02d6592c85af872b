# Joint models of several spaces: variance partitioning per subject, set and ROI (banded ridge
# on every subset of 2-3 spaces), its CIFTI maps per subject and set, the summary table and
# figure; paired comparisons of two encoding results per subject, pair and ROI, and their
# table. Tables and figures are small: they run on the login node, not as cluster jobs. The
# per-ROI jobs form the group joint, bundled 64 per submission by profiles/slurm.
localrules:
    summarize_joint,
    summarize_compare,


rule joint_partition:
    input:
        stimuli=STIMULI,
        features=set_features("joint", "set"),
        brain=ROI,
    output:
        JOINT,
    log:
        "logs/joint_partition/{subject}/{set}/{roi}.log",
    benchmark:
        "logs/benchmarks/joint_partition/{subject}/{set}/{roi}.tsv"
    group:
        "joint"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=joint_mem_mb,
        runtime=joint_runtime,
    params:
        spaces=lambda wildcards: [
            f"{m}/{layer}" for m, layer in set_spaces("joint", wildcards.set)
        ],
        joint=config["joint"],
        encoding=config["encoding"],
        device=config["compute"]["device"],
    script:
        "../../scripts/joint_partition.py"


rule joint_maps:
    input:
        responses=responses_file,
        partitions=lambda wildcards: expand(
            JOINT, subject=wildcards.subject, set=wildcards.set, roi=ROIS
        ),
    output:
        JOINT_MAPS,
    log:
        "logs/joint_maps/{subject}/{set}{mapsuffix}.log",
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
    script:
        "../../scripts/joint_maps.py"


use rule joint_maps as joint_maps_mgh with:
    output:
        **mgh_map_outputs(JOINT_MAPS),
    log:
        mgh_log("logs/joint_maps/{subject}/{set}{mapsuffix}.log"),


rule summarize_joint:
    input:
        [JOINT.format(**job) for job in joint_jobs()],
    output:
        table=report(
            JOINT_SUMMARY,
            caption="../report/joint_partition_table.rst",
            category="Joint models",
        ),
        figure=report(
            JOINT_FIGURE,
            caption="../report/joint_partition.rst",
            category="Joint models",
        ),
    log:
        "logs/summarize_joint.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=joint_jobs(),
    script:
        "../../scripts/summarize_joint.py"


rule compare_spaces:
    input:
        stimuli=STIMULI,
        encodings=compare_encodings,
        brain=ROI,
    output:
        JOINT_COMPARE,
    log:
        "logs/compare_spaces/{subject}/{pair}/{roi}.log",
    group:
        "joint"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        pair=lambda wildcards: compare_pairs()[wildcards.pair],
        compare=config["joint"]["compare"],
        encoding=config["encoding"],
    script:
        "../../scripts/compare_spaces.py"


rule summarize_compare:
    input:
        [JOINT_COMPARE.format(**job) for job in compare_jobs()],
    output:
        report(
            JOINT_COMPARE_SUMMARY,
            caption="../report/joint_compare.rst",
            category="Joint models",
        ),
    log:
        "logs/summarize_compare.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=[
            {
                **job,
                "a": compare_pairs()[job["pair"]][0],
                "b": compare_pairs()[job["pair"]][1],
            }
            for job in compare_jobs()
        ],
    script:
        "../../scripts/summarize_compare.py"
