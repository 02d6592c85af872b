# Looking inside the network and the voxel (config interpret): per model and layer, the top
# stimuli, saliency maps and synthesized images of chosen channels (or units) and principal
# components; per model, layer, subject and ROI the same for the ROI's mean and best voxels
# through their encoding model, refitted on all stimuli as a read-out of the layer's units.
# Which jobs run: interpret_unit_jobs and interpret_brain_jobs in targets.smk. Synthesis is
# the heavy one: the SLURM profile sends it to the GPU partition, like extraction.


rule interpret_top_units:
    input:
        stimuli=STIMULI,
        activations=ACTIVATIONS,
    output:
        h5=f"{INTERPRET_UNITS}/top_stimuli.h5",
        figure=report(
            f"{INTERPRET_UNITS}/top_stimuli.png",
            caption="../report/interpret_top_stimuli.rst",
            category="Interpretation",
            subcategory="{model} {layer}",
            labels={"model": "{model}", "layer": "{layer}", "figure": "top stimuli"},
        ),
    log:
        "logs/interpret_top_units/{model}/{layer}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=features_mem_mb,
        runtime=10,
    params:
        settings=interpret_settings("units"),
    script:
        "../../scripts/interpret_top_units.py"


rule interpret_top_brain:
    input:
        stimuli=STIMULI,
        encoding=ENCODING,
    output:
        h5=f"{INTERPRET_BRAIN}/top_stimuli.h5",
        figure=report(
            f"{INTERPRET_BRAIN}/top_stimuli.png",
            caption="../report/interpret_top_stimuli.rst",
            category="Interpretation",
            subcategory="{subject} {roi}",
            labels={
                "model": "{model}",
                "layer": "{layer}",
                "figure": "top stimuli",
            },
        ),
    log:
        "logs/interpret_top_brain/{subject}/{model}/{layer}/{roi}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=interpret_settings("brain"),
    script:
        "../../scripts/interpret_top_brain.py"


rule interpret_readout:
    input:
        stimuli=STIMULI,
        activations=ACTIVATIONS,
        features=FEATURES,
        brain=ROI,
        encoding=ENCODING,
    output:
        f"{INTERPRET_BRAIN}/readout.h5",
    log:
        "logs/interpret_readout/{subject}/{model}/{layer}/{roi}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=features_mem_mb,
        runtime=30,
    params:
        encoding=config["encoding"],
        settings=interpret_settings("brain"),
    script:
        "../../scripts/interpret_readout.py"


rule interpret_saliency_units:
    input:
        stimuli=STIMULI,
        top=f"{INTERPRET_UNITS}/top_stimuli.h5",
        targets=f"{INTERPRET_UNITS}/top_stimuli.h5",
        weights=weights_input,
    output:
        h5=f"{INTERPRET_UNITS}/saliency.h5",
        figure=report(
            f"{INTERPRET_UNITS}/saliency.png",
            caption="../report/interpret_saliency.rst",
            category="Interpretation",
            subcategory="{model} {layer}",
            labels={"model": "{model}", "layer": "{layer}", "figure": "saliency"},
        ),
    log:
        "logs/interpret_saliency_units/{model}/{layer}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        settings=lambda wildcards: dict(config["interpret"]["saliency"]),
        device=config["compute"]["device"],
        tf32=config["compute"]["tf32"],
        background=config["stimuli"]["background"],
    script:
        "../../scripts/interpret_saliency.py"


use rule interpret_saliency_units as interpret_saliency_brain with:
    input:
        stimuli=STIMULI,
        top=f"{INTERPRET_BRAIN}/top_stimuli.h5",
        targets=f"{INTERPRET_BRAIN}/readout.h5",
        weights=weights_input,
    output:
        h5=f"{INTERPRET_BRAIN}/saliency.h5",
        figure=report(
            f"{INTERPRET_BRAIN}/saliency.png",
            caption="../report/interpret_saliency.rst",
            category="Interpretation",
            subcategory="{subject} {roi}",
            labels={"model": "{model}", "layer": "{layer}", "figure": "saliency"},
        ),
    log:
        "logs/interpret_saliency_brain/{subject}/{model}/{layer}/{roi}.log",


rule interpret_synthesis_units:
    input:
        top=f"{INTERPRET_UNITS}/top_stimuli.h5",
        targets=f"{INTERPRET_UNITS}/top_stimuli.h5",
        weights=weights_input,
    output:
        h5=f"{INTERPRET_UNITS}/synthesis.h5",
        figure=report(
            f"{INTERPRET_UNITS}/synthesis.png",
            caption="../report/interpret_synthesis.rst",
            category="Interpretation",
            subcategory="{model} {layer}",
            labels={"model": "{model}", "layer": "{layer}", "figure": "synthesis"},
        ),
    log:
        "logs/interpret_synthesis_units/{model}/{layer}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        settings=lambda wildcards: dict(config["interpret"]["synthesis"]),
        device=config["compute"]["device"],
        tf32=config["compute"]["tf32"],
    script:
        "../../scripts/interpret_synthesis.py"


use rule interpret_synthesis_units as interpret_synthesis_brain with:
    input:
        top=f"{INTERPRET_BRAIN}/top_stimuli.h5",
        targets=f"{INTERPRET_BRAIN}/readout.h5",
        weights=weights_input,
    output:
        h5=f"{INTERPRET_BRAIN}/synthesis.h5",
        figure=report(
            f"{INTERPRET_BRAIN}/synthesis.png",
            caption="../report/interpret_synthesis.rst",
            category="Interpretation",
            subcategory="{subject} {roi}",
            labels={"model": "{model}", "layer": "{layer}", "figure": "synthesis"},
        ),
    log:
        "logs/interpret_synthesis_brain/{subject}/{model}/{layer}/{roi}.log",


rule interpret_ablation:
    input:
        stimuli=STIMULI,
        activations=ACTIVATIONS,
        features=FEATURES,
        brain=ROI,
        encoding=ENCODING,
        readout=f"{INTERPRET_BRAIN}/readout.h5",
    output:
        table=f"{INTERPRET_BRAIN}/ablation.tsv",
        figure=report(
            f"{INTERPRET_BRAIN}/ablation.png",
            caption="../report/interpret_ablation.rst",
            category="Interpretation",
            subcategory="{subject} {roi}",
            labels={"model": "{model}", "layer": "{layer}", "figure": "ablation"},
        ),
    log:
        "logs/interpret_ablation/{subject}/{model}/{layer}/{roi}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=features_mem_mb,
        runtime=10,
    params:
        mode=lambda wildcards: config["interpret"]["ablation"]["mode"],
        reading=lambda wildcards: config["interpret"]["ablation"]["reading"],
        n_show=20,
    script:
        "../../scripts/interpret_ablation.py"


rule interpret_receptive_fields:
    input:
        stimuli=STIMULI,
        top=f"{INTERPRET_UNITS}/top_stimuli.h5",
        weights=weights_input,
    output:
        table=f"{INTERPRET_UNITS}/receptive_fields.tsv",
        figure=report(
            f"{INTERPRET_UNITS}/receptive_fields.png",
            caption="../report/interpret_receptive_fields.rst",
            category="Interpretation",
            subcategory="{model} {layer}",
            labels={
                "model": "{model}",
                "layer": "{layer}",
                "figure": "receptive fields",
            },
        ),
    log:
        "logs/interpret_receptive_fields/{model}/{layer}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        settings=lambda wildcards: dict(config["interpret"]["receptive_field"]),
        device=config["compute"]["device"],
        tf32=config["compute"]["tf32"],
        background=config["stimuli"]["background"],
    script:
        "../../scripts/interpret_receptive_fields.py"


rule interpret_decoding_ablation:
    input:
        stimuli=STIMULI,
        activations=ACTIVATIONS,
    output:
        table=f"{INTERPRET_UNITS}/decoding_ablation.tsv",
        figure=report(
            f"{INTERPRET_UNITS}/decoding_ablation.png",
            caption="../report/interpret_decoding_ablation.rst",
            category="Interpretation",
            subcategory="{model} {layer}",
            labels={
                "model": "{model}",
                "layer": "{layer}",
                "figure": "decoding ablation",
            },
        ),
    log:
        "logs/interpret_decoding_ablation/{model}/{layer}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=features_mem_mb,
        runtime=30,
    params:
        attributes=lambda wildcards: config["interpret"]["ablation"]["attributes"],
        mode=lambda wildcards: config["interpret"]["ablation"]["mode"],
        n_folds=config["decoding"]["n_folds"],
        seed=config["decoding"]["seed"],
        n_show=20,
    script:
        "../../scripts/interpret_decoding_ablation.py"


rule interpret_finetune:
    input:
        stimuli=STIMULI,
        weights=finetune_weights,
    output:
        weights=FINETUNE_WEIGHTS,
        history=FINETUNE_HISTORY,
        figure=report(
            FINETUNE_FIGURE,
            caption="../report/interpret_finetune.rst",
            category="Interpretation",
            subcategory="fine-tuning",
            labels={"name": "{name}", "figure": "fine-tuning history"},
        ),
    log:
        "logs/interpret_finetune/{name}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        entry=lambda wildcards: config["interpret"]["finetune"][wildcards.name],
        model=lambda wildcards: config["models"][
            config["interpret"]["finetune"][wildcards.name]["model"]
        ],
        device=config["compute"]["device"],
        tf32=config["compute"]["tf32"],
        background=config["stimuli"]["background"],
    script:
        "../../scripts/interpret_finetune.py"


rule interpret_upstream_ablation:
    input:
        stimuli=STIMULI,
        activations=ACTIVATIONS,
        features=FEATURES,
        brain=ROI,
        encoding=ENCODING,
        readout=f"{INTERPRET_BRAIN}/readout.h5",
        weights=weights_input,
    output:
        table=f"{INTERPRET_BRAIN}/upstream_{{upstream}}.tsv",
        figure=report(
            f"{INTERPRET_BRAIN}/upstream_{{upstream}}.png",
            caption="../report/interpret_upstream_ablation.rst",
            category="Interpretation",
            subcategory="{subject} {roi}",
            labels={
                "model": "{model}",
                "layer": "{layer}",
                "figure": "ablation of {upstream}",
            },
        ),
    log:
        "logs/interpret_upstream_ablation/{subject}/{model}/{layer}/{roi}/{upstream}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        model=lambda wildcards: config["models"][wildcards.model],
        mode=lambda wildcards: config["interpret"]["ablation"]["mode"],
        device=config["compute"]["device"],
        tf32=config["compute"]["tf32"],
        background=config["stimuli"]["background"],
        batch_size=config["compute"]["batch_size"],
        n_show=20,
        max_channels=lambda wildcards: config["interpret"]["ablation"]["max_channels"],
    script:
        "../../scripts/interpret_upstream_ablation.py"
