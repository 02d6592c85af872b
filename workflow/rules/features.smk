rule reduce_features:
    input:
        ACTIVATIONS,
    output:
        FEATURES,
    log:
        "logs/reduce_features/{model}/{layer}.log",
    benchmark:
        "logs/benchmarks/reduce_features/{model}/{layer}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=features_mem_mb,
        runtime=30,
    params:
        features=config["features"],
    script:
        "../../scripts/reduce_features.py"
