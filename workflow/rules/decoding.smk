# Decoding stimulus attributes (columns of the stimulus table) from each layer's features and,
# with decoding.brain, from each subject's ROI responses; one probing profile per model and
# attribute (accuracy across layers) for the report. Which jobs run: decode_jobs and
# decode_brain_jobs (targets.smk); their sizes: sizing.smk.


localrules:
    probing_profile,
    summarize_brain_decoding,


rule decode:
    input:
        stimuli=STIMULI,
        source=FEATURES,
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
        stimuli=STIMULI,
        source=ROI,
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
        over_layers(DECODE),
    output:
        table=report(
            PROBING["table"],
            caption="../report/decoding.rst",
            category="Decoding",
            labels={"model": "{model}", "attribute": "{attribute}", "type": "table"},
        ),
        figure=report(
            PROBING["figure"],
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


rule summarize_brain_decoding:
    input:
        lambda wildcards: expand(
            DECODE_BRAIN, subject=SUBJECTS, roi=ROIS, attribute=wildcards.attribute
        ),
    output:
        table=report(
            BRAIN_PROBING["table"],
            caption="../report/decoding.rst",
            category="Decoding",
            labels={"model": "brain", "attribute": "{attribute}", "type": "table"},
        ),
        figure=report(
            BRAIN_PROBING["figure"],
            caption="../report/probing.rst",
            category="Decoding",
            labels={"model": "brain", "attribute": "{attribute}", "type": "figure"},
        ),
    log:
        "logs/summarize_brain_decoding/{attribute}.log",
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
