"""Tests of dnnmap.logs.rule_log: one log file per job, one `dnnmap:` line in the terminal."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tqdm import tqdm

from dnnmap.errors import InputError
from dnnmap.logs import LOG, error_line, rule_log


def _lines(path):
    return path.read_text().splitlines()


def test_records_and_progress_go_to_the_file(tmp_path):
    path = tmp_path / "job.log"
    handlers = list(LOG.handlers)
    with rule_log(str(path)) as stream:
        logging.getLogger("dnnmap").info("reading %d files", 3)
        logging.getLogger("dnnmap.sub").warning("careful")
        for _ in tqdm(range(4), desc="work", file=stream):
            pass
    lines = _lines(path)
    assert any(line.endswith(" INFO reading 3 files") for line in lines)
    assert any(line.endswith(" WARNING careful") for line in lines)
    assert "work: 100%" in path.read_text() and "4/4" in path.read_text()
    assert lines[-1].split(" INFO ")[-1].startswith("done in ")
    # The handler is gone afterwards: later records do not reach the file.
    assert LOG.handlers == handlers
    LOG.info("after the job")
    assert "after the job" not in path.read_text()


def test_input_error_is_one_line_in_the_terminal(tmp_path, capsys):
    path = tmp_path / "job.log"
    message = "stimuli.tsv row 3: stim_id 'a' repeats row 2; expected a unique id"
    with pytest.raises(SystemExit) as exit_, rule_log(str(path)):
        raise InputError(message)
    # SystemExit with a str: Python prints it on stderr and exits with status 1.
    assert exit_.value.code == f"dnnmap: {message}"
    assert isinstance(exit_.value.__cause__, InputError)
    text = path.read_text()
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and errors[0].endswith(f" ERROR {message}")
    # The traceback goes to the log file, not to the terminal.
    assert "Traceback (most recent call last)" in text and "done in" not in text
    assert "Traceback" not in capsys.readouterr().err


def test_other_errors_keep_their_traceback_in_the_log(tmp_path, capsys):
    path = tmp_path / "job.log"
    with pytest.raises(SystemExit) as exit_, rule_log(str(path)):
        _ = 1 / 0
    assert exit_.value.code == (
        f"dnnmap: ZeroDivisionError: division by zero (traceback in {path})"
    )
    text = path.read_text()
    assert " ERROR failed: ZeroDivisionError: division by zero" in text
    assert "Traceback (most recent call last)" in text and "1 / 0" in text
    assert "done in" not in text
    assert "Traceback" not in capsys.readouterr().err


def test_error_line_is_one_line():
    assert error_line(InputError("a.tsv row 2: bad\nmore")) == "dnnmap: a.tsv row 2: bad"
    assert error_line(KeyError("x"), "l.log") == "dnnmap: KeyError: 'x' (traceback in l.log)"
    assert error_line(RuntimeError()) == "dnnmap: RuntimeError"


def test_terminal_shows_one_line_when_a_script_fails(tmp_path):
    """A real Python process, as Snakemake runs a rule script: stderr is the one line."""
    script = tmp_path / "job.py"
    log = tmp_path / "job.log"
    script.write_text(
        "from dnnmap.errors import InputError\n"
        "from dnnmap.logs import rule_log\n"
        f"with rule_log({str(log)!r}):\n"
        "    raise InputError('brain.dscalar.nii has no map named \\'x\\'')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "scripts")}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["dnnmap: brain.dscalar.nii has no map named 'x'"]
    assert "Traceback" in log.read_text()
