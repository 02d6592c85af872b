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
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        encoding=config["encoding"],
    script:
        "../../scripts/encode.py"
