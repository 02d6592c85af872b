# Compute cost: wall time and peak memory of every job of every rule with a benchmark:
# directive (benchmark_jobs in targets.smk), for the report.
localrules:
    summarize_benchmarks,


rule summarize_benchmarks:
    input:
        lambda wildcards: [job["path"] for job in benchmark_jobs()],
    output:
        table=report(
            BENCHMARKS_TABLE,
            caption="../report/benchmarks.rst",
            category="Compute",
        ),
        figure=report(
            BENCHMARKS_FIGURE,
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
        jobs=lambda wildcards: [
            {"rule": job["rule"], "job": job["job"]} for job in benchmark_jobs()
        ],
    script:
        "../../scripts/summarize_benchmarks.py"
