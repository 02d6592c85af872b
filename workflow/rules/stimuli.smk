rule check_stimuli:
    input:
        table=config["stimuli"]["table"],
        files=list(STIMULUS_TABLE["path"]),
    output:
        STIMULI,
    log:
        "logs/check_stimuli.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        background=config["stimuli"]["background"],
    script:
        "../../scripts/check_stimuli.py"
