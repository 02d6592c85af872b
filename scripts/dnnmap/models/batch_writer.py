"""Write activation batches to HDF5 in a background thread, beside the forward pass.

An extraction job alternates two kinds of work: the network's forward pass (torch, which
releases the GIL) and the writes of its layers (conversion to the storage type, HDF5
compression and I/O; h5py releases the GIL in ``H5Dwrite``). :class:`BatchWriter` runs the
writes in one thread while the next batch is computed. At most ``depth`` batches wait in its
queue, so memory stays bounded by the batch size, never by the number of stimuli; writes
happen in the order they were put, and the first error of the thread is raised in the
caller, at the next :meth:`~BatchWriter.put` or at :meth:`~BatchWriter.close`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

WRITE_DEPTH = 1
"""Batches whose writes an extraction lets wait while another is written: with the batch being
computed, at most ``WRITE_DEPTH + 2`` batches' activations are held at once."""

_STOP = object()


class BatchWriter:
    """Writes ``dataset[start:stop] = values`` jobs in a background thread, in order.

    Parameters
    ----------
    depth : int
        Batches that may wait while one is being written (>= 1). A :meth:`put` beyond it
        blocks until the thread takes the oldest one.

    Examples
    --------
    >>> with BatchWriter() as writer:  # doctest: +SKIP
    ...     writer.put([(f["layers/conv1"], 0, 32, values, "float16")])
    """

    def __init__(self, depth: int = WRITE_DEPTH):
        if int(depth) != depth or depth < 1:
            raise ValueError(f"depth is {depth!r}; expected an int >= 1")
        self._queue: queue.Queue = queue.Queue(maxsize=int(depth))
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="dnnmap-batch-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain what is left after a failure; the caller raises it
            try:
                for dset, start, stop, values, dtype in item:
                    dset[start:stop] = values.astype(dtype, copy=False)
            except BaseException as err:
                self._error = err

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, writes: Sequence[tuple]) -> None:
        """Queue one batch's writes.

        Parameters
        ----------
        writes : sequence of (h5py.Dataset, int, int, numpy.ndarray, str)
            ``(dataset, start, stop, values, dtype)``: rows ``start:stop`` of ``dataset``
            get ``values`` (stop - start, *unit_shape) converted to ``dtype``. The caller
            must not change ``values`` afterwards.
        """
        if self._closed:
            raise RuntimeError("BatchWriter.put after close")
        self._raise()
        self._queue.put(list(writes))

    def close(self) -> None:
        """Wait for every queued write; raise the thread's error, if any."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        self._raise()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        # an error in the caller: stop the thread without hiding the caller's error
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
