localrules:
    summary,
    plot_encoding,
    summarize_benchmarks,


rule summary:
    input:
        [ENCODING.format(**job) for job in encoding_jobs()],
    output:
        report(
            "results/summary/encoding.tsv",
            caption="../report/summary.rst",
            category="Encoding",
        ),
    log:
        "logs/summary.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=encoding_jobs(),
    script:
        "../../scripts/summary.py"


rule plot_encoding:
    input:
        summary="results/summary/encoding.tsv",
        truth=SIMULATED_TRUTH,
    output:
        report(
            "results/summary/encoding_layers.png",
            caption="../report/encoding_layers.rst",
            category="Encoding",
        ),
    log:
        "logs/plot_encoding.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        layer_order={m: layers_of(m) for m in MODELS},
    script:
        "../../scripts/plot_encoding.py"


rule summarize_benchmarks:
    input:
        [job["path"] for job in benchmark_jobs()],
    output:
        table=report(
            "results/summary/benchmarks.tsv",
            caption="../report/benchmarks.rst",
            category="Compute",
        ),
        figure=report(
            "results/summary/benchmarks.png",
            caption="../report/benchmarks.rst",
            category="Compute",
        ),
    log:
        "logs/summarize_benchmarks.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=[{"rule": job["rule"], "job": job["job"]} for job in benchmark_jobs()],
    script:
        "../../scripts/summarize_benchmarks.py"
