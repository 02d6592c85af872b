# Features of each layer (features.method: none, pca, random_projection). With features.fit:
# external the PCA is fitted on a second stimulus set, checked and extracted by the same
# rules as the experiment's stimuli.


rule reduce_features:
    input:
        unpack(features_inputs),
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
        runtime=features_runtime_min,
    params:
        features=config["features"],
        table=config["stimuli"]["table"],
    script:
        "../../scripts/reduce_features.py"


if EXTERNAL_TABLE is not None:

    use rule check_stimuli as check_external_stimuli with:
        input:
            table=config["features"]["external_stimuli"],
            files=list(EXTERNAL_TABLE["path"]),
        output:
            EXTERNAL_STIMULI,
        log:
            "logs/check_external_stimuli.log",

    use rule extract_activations as extract_external_activations with:
        input:
            stimuli=EXTERNAL_STIMULI,
            weights=weights_input,
        output:
            EXTERNAL_ACTIVATIONS,
        log:
            "logs/extract_external_activations/{model}.log",
        benchmark:
            "logs/benchmarks/extract_external_activations/{model}.tsv"
