"""The ``dnnmap`` command: run the workflow after checking the config files it is given.

Snakemake reads a ``--configfile`` itself, before the workflow's own start-up checks run, so a
missing file or a YAML syntax error would surface as Snakemake's "Config file is not valid JSON
or YAML" without a line number. ``dnnmap run`` reads every config file first with
:func:`dnnmap.config.load_config_file` (one ``dnnmap:`` line with the file, line and column),
then hands all its arguments to Snakemake with this checkout's ``workflow/Snakefile``::

    dnnmap run --configfile my.yaml --cores 8          # = snakemake --snakefile ... same args
    dnnmap run --profile profiles/slurm --configfile my.yaml
    dnnmap check my.yaml                               # syntax and schema, no run

``dnnmap check`` reads each file and validates it against the config schema (keys, types,
ranges); the checks that need the stimulus table and the brain files run when the workflow
starts.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from dnnmap.config import load_config_file, load_schema, validate
from dnnmap.errors import InputError

WORKFLOW_DIR = Path(__file__).resolve().parents[2] / "workflow"
SNAKEFILE = WORKFLOW_DIR / "Snakefile"
SCHEMA = WORKFLOW_DIR / "schemas" / "config.schema.yaml"
CONFIGFILE_FLAGS = ("--configfile", "--configfiles")
USAGE = (
    "usage: dnnmap run [SNAKEMAKE ARGS ...]   run the workflow (config files checked first)\n"
    "       dnnmap check CONFIG [CONFIG ...]  check config files (syntax and schema)"
)


def config_files(args: Sequence[str]) -> list[str]:
    """Return the config files named in Snakemake arguments.

    Parameters
    ----------
    args : sequence of str
        Snakemake's command-line arguments. ``--configfile A B`` (files up to the next
        option) and ``--configfile=A`` are both understood, as Snakemake reads them.

    Returns
    -------
    list of str
        The files, in the order given.
    """
    files: list[str] = []
    taking = False
    for arg in args:
        flag, eq, value = arg.partition("=")
        if flag in CONFIGFILE_FLAGS:
            taking = not eq
            if eq:
                files.append(value)
        elif arg.startswith("-"):
            taking = False
        elif taking:
            files.append(arg)
    return files


def check_config_file(path: str, schema_path: Path = SCHEMA) -> dict:
    """Read one config file and validate it against the config schema.

    Parameters
    ----------
    path : str
        The config file.
    schema_path : Path
        The config schema (the workflow's own by default).

    Returns
    -------
    dict
        The validated config, defaults filled in.

    Raises
    ------
    InputError
        One line naming the file (and line and column, or key) and what was expected.
    """
    config = load_config_file(path)
    return validate(config, load_schema(schema_path), path)


def snakemake_command(args: Sequence[str]) -> list[str]:
    """Return the Snakemake command line for ``dnnmap run ARGS``.

    The ``snakemake`` beside this Python interpreter is used (the project's virtual
    environment), and ``--snakefile`` is added unless ``args`` names one.
    """
    exe = Path(sys.executable).with_name("snakemake")
    command = [str(exe)] if exe.exists() else [shutil.which("snakemake") or "snakemake"]
    if not any(a == "--snakefile" or a.startswith("--snakefile=") or a == "-s" for a in args):
        command += ["--snakefile", str(SNAKEFILE)]
    return command + list(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dnnmap`` command; returns the exit status (or replaces the process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "check":
            if not rest:
                print(USAGE, file=sys.stderr)
                return 2
            for path in rest:
                check_config_file(path)
                print(f"{path}: valid dnnmap config (syntax and schema)")
            return 0
        if command == "run":
            for path in config_files(rest):
                load_config_file(path)
            command_line = snakemake_command(rest)
            os.execvp(command_line[0], command_line)
    except InputError as err:
        print(f"dnnmap: {err}", file=sys.stderr)
        return 1
    print(
        f"dnnmap: unknown command {command!r}; expected 'run' or 'check'\n{USAGE}", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
