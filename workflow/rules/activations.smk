rule extract_activations:
    input:
        stimuli="results/stimuli.tsv",
    output:
        "results/activations/{model}.h5",
    log:
        "logs/extract_activations/{model}.log",
    benchmark:
        "logs/benchmarks/extract_activations/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        compute=config["compute"],
    script:
        "../../scripts/extract_activations.py"
