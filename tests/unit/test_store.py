"""Tests of dnnmap.store: atomic writes, HDF5 layout, provenance and stim_id checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import h5py
import numpy as np
import pytest

import dnnmap
from dnnmap import store
from dnnmap.errors import InputError


class BoomError(RuntimeError):
    pass


# --- atomic writes ----------------------------------------------------------------------------


def test_atomic_path_publishes_on_success(tmp_path):
    target = tmp_path / "new" / "out.txt"
    with store.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("hello")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(BoomError), store.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise BoomError
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    # An existing target is left untouched by a failed rewrite.
    target.write_text("old")
    with pytest.raises(BoomError), store.atomic_path(target) as tmp:
        tmp.write_text("new")
        raise BoomError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_h5_writer_failure_leaves_no_file(tmp_path):
    target = tmp_path / "a.h5"
    with pytest.raises(BoomError), store.h5_writer(target, {"x": 1}) as f:
        f.create_dataset("data", data=np.arange(10))
        raise BoomError
    assert list(tmp_path.iterdir()) == []


def test_h5_writer_publishes_with_attrs(tmp_path):
    target = tmp_path / "a.h5"
    attrs = {"n": 3, "name": "net", "cfg": {"b": [1, 2], "a": "x"}, "items": ["u", "v"]}
    with store.h5_writer(target, attrs) as f:
        f.create_dataset("data", data=np.arange(10))
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]
    with h5py.File(target, "r") as f:
        np.testing.assert_array_equal(f["data"][()], np.arange(10))
        assert f.attrs["n"] == 3
        assert f.attrs["name"] == "net"
        assert json.loads(f.attrs["cfg"]) == {"b": [1, 2], "a": "x"}
        assert json.loads(f.attrs["items"]) == ["u", "v"]


def test_write_h5_strings_are_utf8_and_attrs_json(tmp_path):
    path = tmp_path / "w.h5"
    ids = ["im_α", "b", "γ-3"]
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((3, 4)).astype(np.float32)
    store.write_h5(
        path,
        {"group/scores": scores, "labels": np.array(["x", "ÿ", "zz"]), "idx": np.arange(3)},
        attrs={"settings": {"k": 2, "alphas": [0.1, 1.0]}, "layer": "conv1"},
        stim_id=ids,
    )
    with h5py.File(path, "r") as f:
        for name in ("stim_id", "labels"):
            info = h5py.check_string_dtype(f[name].dtype)
            assert info is not None and info.encoding == "utf-8"
        assert [s.decode("utf-8") for s in f["stim_id"][()]] == ids
        assert [s.decode("utf-8") for s in f["labels"][()]] == ["x", "ÿ", "zz"]
        assert f["group/scores"].dtype == np.float32
        np.testing.assert_array_equal(f["group"]["scores"][()], scores)
        np.testing.assert_array_equal(f["idx"][()], np.arange(3))
        assert json.loads(f.attrs["settings"]) == {"k": 2, "alphas": [0.1, 1.0]}
        assert f.attrs["layer"] == "conv1"
        assert store.read_strings(f["labels"]) == ["x", "ÿ", "zz"]
    assert store.read_stim_ids(path) == ids


def test_read_stim_ids_missing(tmp_path):
    path = tmp_path / "no_ids.h5"
    store.write_h5(path, {"x": np.zeros(2)})
    with pytest.raises(InputError, match=r"no_ids\.h5.*stim_id"):
        store.read_stim_ids(path)


# --- provenance -------------------------------------------------------------------------------


def test_config_digest_ignores_key_order():
    a = {"alphas": [1, 10], "n_folds": 5, "inner": {"x": 1, "y": "z"}}
    b = {"inner": {"y": "z", "x": 1}, "n_folds": 5, "alphas": [1, 10]}
    assert store.config_digest(a) == store.config_digest(b)
    assert len(store.config_digest(a)) == 64
    assert store.config_digest(a) != store.config_digest({**a, "n_folds": 4})
    assert store.config_digest(a) != store.config_digest({**a, "alphas": [10, 1]})  # lists ordered


def test_provenance(tmp_path):
    one, two = tmp_path / "one.bin", tmp_path / "two.tsv"
    one.write_bytes(bytes(range(256)) * 40)
    two.write_text("stim_id\tpath\na\ta.png\n")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    prov = store.provenance({"b": 1, "a": [2]}, [one, str(two)])
    after = dt.datetime.now(dt.UTC)
    assert set(prov) == {"dnnmap_version", "created", "config_digest", "inputs"}
    assert prov["dnnmap_version"] == dnnmap.__version__
    created = dt.datetime.fromisoformat(prov["created"])
    assert created.utcoffset() == dt.timedelta(0)
    assert before <= created <= after
    assert prov["config_digest"] == store.config_digest({"a": [2], "b": 1})
    inputs = json.loads(prov["inputs"])
    assert inputs == {
        str(one): "sha256:" + hashlib.sha256(one.read_bytes()).hexdigest(),
        str(two): "sha256:" + hashlib.sha256(two.read_bytes()).hexdigest(),
    }
    # The provenance dict is storable as HDF5 attributes as is.
    store.write_h5(tmp_path / "p.h5", {"x": np.zeros(1)}, attrs=prov)
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert json.loads(f.attrs["inputs"]) == inputs
        assert f.attrs["config_digest"] == prov["config_digest"]


def test_file_digest_sampled_for_large_files(tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    data = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    monkeypatch.setattr(store, "FULL_DIGEST_BYTES", 1000)
    digest = store.file_digest(path, chunk=100)
    # Reference: sha256 of the size, then 16 blocks of 100 bytes evenly spaced over the file.
    h = hashlib.sha256(str(len(data)).encode())
    for i in range(16):
        start = (len(data) - 100) * i // 15
        h.update(data[start : start + 100])
    assert digest == "sha256-sampled:" + h.hexdigest()
    assert store.file_digest(path, chunk=100) == digest
    # A change in the last sampled block changes the digest.
    path.write_bytes(data[:-1] + bytes([(data[-1] + 1) % 256]))
    assert store.file_digest(path, chunk=100) != digest


# --- stim_id checks ---------------------------------------------------------------------------


def test_check_stim_ids_equal_passes():
    assert store.check_stim_ids(["a", "b"], ("a", "b"), "t.tsv", "f.h5") is None


def test_check_stim_ids_first_mismatch():
    with pytest.raises(InputError) as err:
        store.check_stim_ids(["a", "b", "c", "d"], ["a", "b", "x", "y"], "stimuli.tsv", "f.h5")
    msg = str(err.value)
    assert "stimuli.tsv" in msg and "f.h5" in msg
    assert "at position 3" in msg and "'x'" in msg and "'c'" in msg
    assert "'y'" not in msg and "\n" not in msg


def test_check_stim_ids_length():
    with pytest.raises(InputError) as err:
        store.check_stim_ids(["a", "b", "c"], ["a", "b"], "stimuli.tsv", "feat.h5")
    msg = str(err.value)
    assert "stimuli.tsv" in msg and "feat.h5" in msg
    assert "has 2 stimuli" in msg and "has 3" in msg
