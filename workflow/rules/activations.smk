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


# extraction.n_shards > 1: each model's stimuli are extracted in N_SHARDS jobs (contiguous
# slices of the table's rows, cut in whole batches) and merged into the same ACTIVATIONS file
# an unsharded job writes. A failed or killed shard reruns alone; the shard files are removed
# once merged.
if N_SHARDS > 1:

    ruleorder: merge_shards > extract_activations

else:

    ruleorder: extract_activations > merge_shards


rule extract_shard:
    input:
        stimuli=STIMULI,
        weights=weights_input,
    output:
        temp(ACTIVATION_SHARD),
    log:
        "logs/extract_shard/{model}/shard-{shard}-of-{n_shards}.log",
    benchmark:
        "logs/benchmarks/extract_shard/{model}/shard-{shard}-of-{n_shards}.tsv"
    wildcard_constraints:
        n_shards=str(N_SHARDS),
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=extraction_mem_mb,
        runtime=shard_runtime,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        compute=config["compute"],
        background=config["stimuli"]["background"],
    script:
        "../../scripts/extract_activations.py"


rule merge_shards:
    input:
        stimuli=STIMULI,
        shards=activation_shards,
    output:
        ACTIVATIONS,
    log:
        "logs/merge_shards/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=merge_mem_mb,
        runtime=merge_runtime,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        compute=config["compute"],
        background=config["stimuli"]["background"],
    script:
        "../../scripts/merge_shards.py"
