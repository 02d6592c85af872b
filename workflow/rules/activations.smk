localrules:
    fetch_weights,


rule fetch_weights:
    output:
        WEIGHTS,
    log:
        "logs/fetch_weights/{model}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
    script:
        "../../scripts/fetch_weights.py"


rule extract_activations:
    input:
        stimuli=STIMULI,
        weights=weights_input,
    output:
        ACTIVATIONS,
    log:
        "logs/extract_activations/{model}.log",
    benchmark:
        "logs/benchmarks/extract_activations/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=extraction_mem_mb,
        runtime=extraction_runtime,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        compute=config["compute"],
        background=config["stimuli"]["background"],
    script:
        "../../scripts/extract_activations.py"
