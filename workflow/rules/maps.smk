rule maps:
    input:
        responses=responses_file,
        encoding=lambda wildcards: encoding_files(wildcards.subject, wildcards.model),
    output:
        **map_outputs(),
    log:
        "logs/maps/{subject}/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        layers=lambda wildcards: layers_of(wildcards.model),
        rois=ROIS,
    script:
        "../../scripts/maps.py"
