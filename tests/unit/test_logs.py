"""Tests of dnnmap.logs.rule_log: one log file per job, InputError as one line."""

from __future__ import annotations

import logging

import pytest
from tqdm import tqdm

from dnnmap.errors import InputError
from dnnmap.logs import LOG, rule_log


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


def test_input_error_is_one_line_and_reraised(tmp_path, capsys):
    path = tmp_path / "job.log"
    message = "stimuli.tsv row 3: stim_id 'a' repeats row 2; expected a unique id"
    with pytest.raises(InputError) as err, rule_log(str(path)):
        raise InputError(message)
    assert str(err.value) == message
    text = path.read_text()
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and errors[0].endswith(f" ERROR {message}")
    assert "Traceback" not in text and "done in" not in text
    assert f"dnnmap: {message}" in capsys.readouterr().err


def test_other_errors_keep_their_traceback(tmp_path):
    path = tmp_path / "job.log"
    with pytest.raises(ZeroDivisionError), rule_log(str(path)):
        _ = 1 / 0
    text = path.read_text()
    assert " ERROR failed" in text
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text
    assert "done in" not in text
