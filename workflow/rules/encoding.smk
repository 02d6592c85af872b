rule encode:
    input:
        stimuli="results/stimuli.tsv",
        features="results/features/{model}/{layer}.h5",
        brain="results/brain/{subject}/{roi}.h5",
    output:
        "results/encoding/{subject}/{model}/{layer}/{roi}.h5",
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
