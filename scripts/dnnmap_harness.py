"""Run any rule script outside Snakemake: the ``snakemake`` object of one job, built from the
workflow.

:func:`mock_snakemake` loads ``workflow/Snakefile`` with the Snakemake API (as ``snakemake -n``
would, config validation included), takes the job of one rule with the wildcards given, and
returns the object Snakemake hands a rule script: ``input``, ``output``, ``params``,
``wildcards``, ``log``, ``threads``, ``resources``, ``config`` and ``rule``, with ``input``,
``output`` and ``log`` as absolute paths. Every rule script falls back on it when it runs
without Snakemake, so::

    python scripts/check_stimuli.py
    python scripts/encode.py

run the demo job each script names in its ``__main__`` block, and a notebook can run any job::

    from dnnmap_harness import mock_snakemake
    snakemake = mock_snakemake("rdm_model", model="alexnet", layer="conv3")

Like Snakemake itself, the harness works in the workflow's working directory: afterwards the
current directory is ``workdir`` (the repository root by default), so relative paths of the
config resolve as they do in a workflow run. Parent folders of the job's outputs and logs are
created; nothing else is written. This module is for rule scripts and notebooks only; the
``dnnmap`` library never imports Snakemake.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The repository root (the default working directory)."""
SNAKEFILE = ROOT / "workflow" / "Snakefile"
"""The workflow's Snakefile."""


def _absolute(files):
    """A copy of a Snakemake file list (names kept) with every path made absolute."""
    return type(files)(toclone=files, custom_map=lambda f: os.path.abspath(str(f)))


def mock_snakemake(
    rule: str,
    configfile: str | os.PathLike | None = None,
    workdir: str | os.PathLike | None = None,
    **wildcards: str,
):
    """The ``snakemake`` object of one job of the workflow, as a rule script receives it.

    Parameters
    ----------
    rule : str
        Rule name, e.g. ``"encode"``.
    configfile : path, optional
        Config file replacing the default ``config/config.yaml`` (as ``--configfile``).
    workdir : path, optional
        Working directory of the workflow (as ``--directory``); the repository root by default.
        The current directory is changed to it.
    **wildcards : str
        Value of every wildcard of the rule's outputs, e.g. ``model="alexnet"``.

    Returns
    -------
    snakemake.iocontainers.Snakemake
        With ``input``, ``output``, ``params``, ``wildcards``, ``threads``, ``resources``,
        ``log``, ``config``, ``rule`` and ``scriptdir``. ``threads`` is the rule's thread
        count, capped by this machine's cores.

    Raises
    ------
    ValueError
        If the workflow has no such rule, or the wildcards given are not those of the rule.
    FileNotFoundError
        If ``configfile`` does not exist.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.dag import DAG
    from snakemake.iocontainers import Snakemake
    from snakemake.jobs import Job
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
    )

    workdir = Path(workdir or ROOT).resolve()
    configfiles = []
    if configfile is not None:
        configfile = Path(configfile).resolve()
        if not configfile.is_file():
            raise FileNotFoundError(f"{configfile}: no such config file")
        configfiles.append(configfile)
    wildcards = {key: str(value) for key, value in wildcards.items()}
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL}, enable_file_logging=False)) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=os.cpu_count() or 1),
            config_settings=ConfigSettings(configfiles=configfiles),
            snakefile=SNAKEFILE,
            workdir=workdir,
        )
        workflow_api.dag(DAGSettings())
        workflow = workflow_api._workflow  # the loaded workflow; the API has no public handle
        names = sorted(r.name for r in workflow.rules)
        if rule not in names:
            raise ValueError(f"rule is {rule!r}; expected one of {', '.join(names)}")
        job_rule = workflow.get_rule(rule)
        expected = set(job_rule.wildcard_names)
        if set(wildcards) != expected:
            raise ValueError(
                f"wildcards {sorted(wildcards)} given for rule {rule}; expected {sorted(expected)}"
            )
        job = Job(job_rule, DAG(workflow, rules=[job_rule]), wildcards)
        snakemake = Snakemake(
            _absolute(job.input),
            _absolute(job.output),
            job.params,
            job.wildcards,
            job.threads,
            job.resources,
            _absolute(job.log),
            workflow.config,
            job.rule.name,
            None,
            str(Path(__file__).parent),
        )
    os.chdir(workdir)
    for path in [*snakemake.output, *snakemake.log]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return snakemake
