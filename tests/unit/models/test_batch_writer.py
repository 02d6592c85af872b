"""The background writer of extraction: every batch lands where it was put, in order; the
thread's error reaches the caller; the queue is bounded."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest

from dnnmap.models.batch_writer import BatchWriter


def test_batches_land_in_their_rows_converted(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 3, 4)).astype(np.float32)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        a = f.create_dataset("a", shape=data.shape, dtype="float16", chunks=(8, 3, 4))
        b = f.create_dataset("b", shape=(50, 2), dtype="float32")
        with BatchWriter(depth=2) as writer:
            for start in range(0, 50, 8):
                stop = min(start + 8, 50)
                block = data[start:stop]
                writer.put(
                    [
                        (a, start, stop, block, "float16"),
                        (b, start, stop, block[:, 0, :2], "float32"),
                    ]
                )
        np.testing.assert_array_equal(a[:], data.astype(np.float16))
        np.testing.assert_array_equal(b[:], data[:, 0, :2])


class _Sink:
    """A dataset stand-in that records writes, fails on request, or waits for a signal."""

    def __init__(self, fail_at=None, gate=None):
        self.rows, self.fail_at, self.gate = [], fail_at, gate

    def __setitem__(self, key, values):
        if self.gate is not None:
            self.gate.wait(10)
        if key.start == self.fail_at:
            raise OSError(f"disk full at row {key.start}")
        self.rows.append(key.start)


def test_error_in_the_thread_is_raised_in_the_caller():
    sink = _Sink(fail_at=2)
    with pytest.raises(OSError, match="disk full at row 2"), BatchWriter(depth=1) as writer:
        for start in range(0, 10, 2):
            writer.put([(sink, start, start + 2, np.zeros(2), "float32")])
    assert sink.rows == [0]  # nothing after the failure is written
    assert not writer._thread.is_alive()


def test_caller_error_stops_the_thread_and_is_not_hidden():
    sink = _Sink()
    with pytest.raises(KeyError, match="caller"), BatchWriter() as writer:
        writer.put([(sink, 0, 1, np.zeros(1), "float32")])
        raise KeyError("caller")
    assert sink.rows == [0]
    assert not writer._thread.is_alive()


def test_put_blocks_beyond_depth():
    gate = threading.Event()
    sink = _Sink(gate=gate)
    writer = BatchWriter(depth=1)
    writer.put([(sink, 0, 1, np.zeros(1), "float32")])  # taken by the thread, waits on gate
    done = []

    def more():
        writer.put([(sink, 1, 2, np.zeros(1), "float32")])  # waits in the queue
        writer.put([(sink, 2, 3, np.zeros(1), "float32")])  # blocks: the queue is full
        done.append(True)

    extra = threading.Thread(target=more)
    extra.start()
    extra.join(0.5)
    assert not done  # bounded: a third batch waits for the first write to finish
    gate.set()
    extra.join(10)
    writer.close()
    assert done and sink.rows == [0, 1, 2]


def test_bad_depth_and_put_after_close():
    with pytest.raises(ValueError, match="depth"):
        BatchWriter(depth=0)
    writer = BatchWriter()
    writer.close()
    with pytest.raises(RuntimeError, match="after close"):
        writer.put([])
