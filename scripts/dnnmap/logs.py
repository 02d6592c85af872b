"""Logging for rule scripts: one log file per job, progress bars included."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from dnnmap.errors import InputError

LOG = logging.getLogger("dnnmap")


@contextlib.contextmanager
def rule_log(path: str) -> Iterator[TextIO]:
    """Send dnnmap's log records and progress bars to ``path`` for the duration of a job.

    Yields the open log file, for ``tqdm(file=...)``. An :class:`InputError` is written as
    its one-line message (the traceback is not useful to a user); other errors keep
    their traceback. Either way the error is re-raised, so the job fails.
    """
    with open(path, "w", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        start = time.perf_counter()
        try:
            yield stream
        except InputError as err:
            LOG.error("%s", err)
            print(f"dnnmap: {err}", file=sys.stderr)
            raise
        except Exception:
            LOG.exception("failed")
            raise
        else:
            LOG.info("done in %.1f s", time.perf_counter() - start)
        finally:
            LOG.removeHandler(handler)
