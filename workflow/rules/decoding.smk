# Decoding stimulus attributes (columns of the stimulus table) from each layer's features and,
# with decoding.brain, from each subject's ROI responses; one probing profile per model and
# attribute (accuracy across layers) for the report.
DECODE = "results/decoding/{model}/{layer}/{attribute}.h5"
DECODE_BRAIN = "results/decoding/brain/{subject}/{roi}/{attribute}.h5"
# Helpers (decoding_runtime, decoding_mem_mb, decoding_outputs) are in common.smk.


localrules:
    probing_profile,
    decoding_brain_summary,


rule decode:
    input:
        stimuli="results/stimuli.tsv",
        source="results/features/{model}/{layer}.h5",
    output:
        DECODE,
    log:
        "logs/decode/{model}/{layer}/{attribute}.log",
    benchmark:
        "logs/benchmarks/decode/{model}/{layer}/{attribute}.tsv"
    wildcard_constraints:
        attribute="[^/]+",
    group:
        "decode"
    conda:
        "../../envs/analysis.yaml"
    threads: 4  # processes for the permutation refits (capped at --cores)
    resources:
        mem_mb=decoding_mem_mb,
        runtime=decoding_runtime,
    params:
        decoding=config.get("decoding"),
        attribute="{attribute}",
        dataset="features",
    script:
        "../../scripts/decode.py"


rule decode_brain:
    input:
        stimuli="results/stimuli.tsv",
        source="results/brain/{subject}/{roi}.h5",
    output:
        DECODE_BRAIN,
    log:
        "logs/decode_brain/{subject}/{roi}/{attribute}.log",
    benchmark:
        "logs/benchmarks/decode_brain/{subject}/{roi}/{attribute}.tsv"
    wildcard_constraints:
        attribute="[^/]+",
    group:
        "decode"
    conda:
        "../../envs/analysis.yaml"
    threads: 4  # processes for the permutation refits (capped at --cores)
    resources:
        mem_mb=decoding_mem_mb,
        runtime=decoding_runtime,
    params:
        decoding=config.get("decoding"),
        attribute="{attribute}",
        dataset="responses",
    script:
        "../../scripts/decode.py"


rule probing_profile:
    input:
        lambda wildcards: [
            DECODE.format(
                model=wildcards.model, layer=layer, attribute=wildcards.attribute
            )
            for layer in layers_of(wildcards.model)
        ],
    output:
        table=report(
            "results/decoding/{model}/{attribute}.tsv",
            caption="../report/decoding.rst",
            category="Decoding",
            labels={"model": "{model}", "attribute": "{attribute}", "type": "table"},
        ),
        figure=report(
            "results/decoding/{model}/{attribute}.png",
            caption="../report/probing.rst",
            category="Decoding",
            labels={"model": "{model}", "attribute": "{attribute}", "type": "figure"},
        ),
    log:
        "logs/probing_profile/{model}/{attribute}.log",
    wildcard_constraints:
        attribute="[^/]+",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        labels=lambda wildcards: [
            {"layer": layer} for layer in layers_of(wildcards.model)
        ],
        x="layer",
        series=[],
        title=lambda wildcards: f"{wildcards.model}: decoding {wildcards.attribute}",
        model="{model}",
    script:
        "../../scripts/probing_profile.py"


rule decoding_brain_summary:
    input:
        lambda wildcards: [
            DECODE_BRAIN.format(subject=s, roi=r, attribute=wildcards.attribute)
            for s in SUBJECTS
            for r in ROIS
        ],
    output:
        table=report(
            "results/decoding/brain/{attribute}.tsv",
            caption="../report/decoding.rst",
            category="Decoding",
            labels={"model": "brain", "attribute": "{attribute}", "type": "table"},
        ),
        figure=report(
            "results/decoding/brain/{attribute}.png",
            caption="../report/probing.rst",
            category="Decoding",
            labels={"model": "brain", "attribute": "{attribute}", "type": "figure"},
        ),
    log:
        "logs/decoding_brain_summary/{attribute}.log",
    wildcard_constraints:
        attribute="[^/]+",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        labels=[{"subject": s, "roi": r} for s in SUBJECTS for r in ROIS],
        x="roi",
        series=["subject"],
        title=lambda wildcards: f"brain: decoding {wildcards.attribute}",
        model="",
    script:
        "../../scripts/probing_profile.py"
