"""Figure: the seed study's stacking profiles of one subject (dnnmap.stacking.plots).

Rule ``plot_stacking``.
Inputs: the subject's stacking files (results/stacking/{subject}/{stack}/{roi}.h5), every
stack set and ROI.
Output: ``results/stacking/figures/{subject}_profiles.png``.
Params: ``jobs`` (subject, stack, roi of each input, in input order), ``n_best``, ``n_boot``,
``seed`` (config ``stacking``).
"""

from dnnmap.figures import save_figure
from dnnmap.logs import rule_log
from dnnmap.stacking.plots import plot_stacking_profiles, stacking_figure_files


def main(
    paths: list[str], jobs: list[dict], n_best: int, n_boot: int, seed: int, out_path: str
) -> None:
    files = stacking_figure_files(paths, jobs)
    subject = jobs[0]["subject"] if jobs else ""
    fig = plot_stacking_profiles(
        files, n_best=n_best, n_boot=n_boot, seed=seed, title=f"{subject}: stacked regression"
    )
    save_figure(fig, out_path, dpi=150)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("plot_stacking", subject="sub-01")
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            list(snakemake.params.jobs),
            snakemake.params.n_best,
            snakemake.params.n_boot,
            snakemake.params.seed,
            snakemake.output[0],
        )
