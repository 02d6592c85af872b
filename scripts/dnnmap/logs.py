"""Logging for rule scripts: one log file per job, progress bars included."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Iterator
from typing import TextIO

from dnnmap.errors import InputError

LOG = logging.getLogger("dnnmap")


def error_line(err: BaseException, log_path: str | None = None) -> str:
    """The one line a failed job shows in the terminal, starting with ``dnnmap:``.

    Parameters
    ----------
    err : exception
        What stopped the job.
    log_path : str, optional
        The job's log file, named (for errors that are not :class:`InputError`) as the place
        of the traceback.

    Returns
    -------
    str
        ``dnnmap: <message>`` for an :class:`InputError`; ``dnnmap: <type>: <first line of the
        message> (traceback in <log_path>)`` otherwise.
    """
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(err, InputError):
        return f"dnnmap: {first}"
    where = f" (traceback in {log_path})" if log_path else ""
    name = type(err).__name__
    return f"dnnmap: {name}: {first}{where}" if first else f"dnnmap: {name}{where}"


@contextlib.contextmanager
def rule_log(path: str) -> Iterator[TextIO]:
    """Send dnnmap's log records and progress bars to ``path`` for the duration of a job.

    Yields the open log file, for ``tqdm(file=...)``. On an error the log file gets the
    message as one ``ERROR`` record followed by the traceback, and the job stops with
    ``SystemExit(error_line(err, path))``: Python prints that one ``dnnmap: ...`` line on
    stderr and exits with status 1, so the terminal shows the line and no traceback (see
    :func:`error_line`). An :class:`InputError` is a message for the user; any other
    exception is named by type, with a pointer to the traceback in the log.
    """
    with open(path, "w", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        start = time.perf_counter()
        try:
            yield stream
        except Exception as err:
            if isinstance(err, InputError):
                LOG.error("%s", err)
            else:
                LOG.error("failed: %s", error_line(err).removeprefix("dnnmap: "))
            stream.write("".join(traceback.format_exception(err)))
            raise SystemExit(error_line(err, path)) from err
        else:
            LOG.info("done in %.1f s", time.perf_counter() - start)
        finally:
            LOG.removeHandler(handler)
