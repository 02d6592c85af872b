"""The ``dnnmap`` command: config files checked before Snakemake reads them (issue 11 item 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dnnmap import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--configfile", "a.yaml", "--cores", "2"], ["a.yaml"]),
        (["--configfile=a.yaml", "-n"], ["a.yaml"]),
        (["--configfiles", "a.yaml", "b.yaml", "-n", "c"], ["a.yaml", "b.yaml"]),
        (["-n", "--configfile", "a.yaml"], ["a.yaml"]),
        (["--cores", "2", "all"], []),
    ],
)
def test_config_files_are_read_as_snakemake_reads_them(args, expected):
    assert cli.config_files(args) == expected


def test_snakemake_command_adds_this_checkouts_snakefile():
    command = cli.snakemake_command(["-n"])
    assert command[1:] == ["--snakefile", str(ROOT / "workflow" / "Snakefile"), "-n"]
    assert cli.snakemake_command(["--snakefile", "x", "-n"])[1:] == ["--snakefile", "x", "-n"]


def test_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "my.yaml"
    bad.write_text("stimuli:\n  table: [resources/stimuli.tsv\nmodels: {}\n")
    monkeypatch.setattr(cli.os, "execvp", lambda *a: pytest.fail("snakemake must not start"))
    assert cli.main(["run", "--configfile", str(bad), "--cores", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dnnmap: {bad} line 3, column 7: YAML syntax error")
    assert len(err.splitlines()) == 1


def test_missing_config_file_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.os, "execvp", lambda *a: pytest.fail("snakemake must not start"))
    assert cli.main(["run", f"--configfile={tmp_path / 'nope.yaml'}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dnnmap: {tmp_path / 'nope.yaml'}: config file not found")


def test_run_hands_every_argument_to_snakemake(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.os, "execvp", lambda exe, argv: calls.append((exe, argv)))
    good = ROOT / "config" / "config.yaml"
    cli.main(["run", "--configfile", str(good), "-n"])
    ((exe, argv),) = calls
    assert exe == argv[0] and Path(exe).name == "snakemake"
    assert argv[1:] == ["--snakefile", str(cli.SNAKEFILE), "--configfile", str(good), "-n"]


def test_check_validates_against_the_schema(tmp_path, capsys):
    assert cli.main(["check", str(ROOT / "config" / "config.yaml")]) == 0
    assert "valid dnnmap config" in capsys.readouterr().out
    bad = tmp_path / "typo.yaml"
    bad.write_text(
        "stimuli: {table: t.tsv}\nmodels: {}\nbrain: {subjects: {}, rois: {}}\nfeaturs: {}\n"
    )
    assert cli.main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dnnmap: {bad}") and "featurs" in err


def test_unknown_command_and_usage(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert cli.main([]) == 2


def test_console_script_runs_the_real_snakemake_dry_run(tmp_path):
    """The installed command plans the demo: the same DAG as snakemake itself."""
    exe = Path(sys.executable).with_name("dnnmap")
    if not exe.exists():
        pytest.skip("dnnmap console script not installed in this environment")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n\t- alexnet\n")
    proc = subprocess.run(
        [str(exe), "run", "--configfile", str(bad), "-n"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"dnnmap: {bad} line 2")
    assert "Traceback" not in proc.stderr
