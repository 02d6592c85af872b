"""Stimulus shards (extraction.n_shards): where shards are cut, and the merge.

The merge is checked on hand-made shard files against the file they were cut from (values,
ids, chunks, compression and attributes), on shards that do not belong together (one clear
line each), and on real VGGish shards of sounds of different lengths against an unsharded
extraction (values exactly equal on the CPU). The workflow's own shard jobs are checked in
tests/workflow/test_shards_workflow.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from dnnmap.errors import InputError
from dnnmap.models.activation_layout import chunk_shape
from dnnmap.models.shards import check_n_shards, merge_shards, shard_attr, shard_bounds
from dnnmap.store import h5_writer, read_strings, write_strings


@pytest.mark.parametrize(
    ("n_stim", "n_shards", "batch", "expected"),
    [
        (12, 3, 4, [(0, 4), (4, 8), (8, 12)]),
        (10, 3, 4, [(0, 4), (4, 8), (8, 10)]),
        (100, 3, 32, [(0, 32), (32, 64), (64, 100)]),
        (10, 3, 32, [(0, 3), (3, 6), (6, 10)]),  # one batch: cut in rows
        (5, 5, 2, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
        (7, 1, 3, [(0, 7)]),
    ],
)
def test_shard_bounds_by_hand(n_stim, n_shards, batch, expected):
    assert shard_bounds(n_stim, n_shards, batch) == expected


def test_shard_bounds_tile_the_table_in_whole_batches():
    for n_stim in range(1, 40):
        for batch in (1, 3, 8):
            for n_shards in range(1, n_stim + 1):
                bounds = shard_bounds(n_stim, n_shards, batch)
                assert len(bounds) == n_shards
                assert bounds[0][0] == 0 and bounds[-1][1] == n_stim
                assert all(a < b for a, b in bounds)
                assert all(bounds[i][1] == bounds[i + 1][0] for i in range(n_shards - 1))
                sizes = [b - a for a, b in bounds]
                if -(-n_stim // batch) >= n_shards:
                    assert all(a % batch == 0 for a, _ in bounds)
                    batches = [-(-size // batch) for size in sizes]
                    assert max(batches) - min(batches) <= 1
                else:
                    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "expected a positive integer"),
        (-2, "expected a positive integer"),
        (2.5, "expected a positive integer"),
        (True, "expected a positive integer"),
        (13, "13 shards for 12 stimuli; expected at most one shard per stimulus"),
    ],
)
def test_check_n_shards(value, message):
    with pytest.raises(InputError, match=message) as err:
        check_n_shards(value, 12, "config.yaml: extraction.n_shards")
    assert str(err.value).startswith("config.yaml: extraction.n_shards: ")
    assert "\n" not in str(err.value)
    assert check_n_shards(12, 12) == 12


LAYERS = {"conv": (6, 3, 2), "fc": (5,)}
ATTRS = {"model": "net", "weights_sha256": "abc", "layers": json.dumps(list(LAYERS))}


def _write(path, ids, values, batch, attrs):
    """An activations file laid out as dnnmap.models.extraction writes one."""
    with h5_writer(path, attrs) as f:
        write_strings(f, "stim_id", ids)
        group = f.create_group("layers")
        for layer in LAYERS:
            data = values[layer]
            dset = group.create_dataset(
                layer,
                data=data,
                chunks=chunk_shape(len(ids), data.shape[1:], batch, 4),
                compression="lzf",
            )
            dset.attrs["module"] = f"features.{layer}"
            dset.attrs["unit_shape"] = np.asarray(data.shape[1:], dtype=np.int64)


@pytest.fixture
def whole(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(11)]
    values = {k: rng.standard_normal((11, *s)).astype(np.float32) for k, s in LAYERS.items()}
    path = tmp_path / "whole.h5"
    _write(path, ids, values, 4, {**ATTRS, "created": "then", "inputs": "{}"})
    return ids, values, path


def _shards(tmp_path, ids, values, bounds, attrs=ATTRS):
    paths = []
    for i, (a, b) in enumerate(bounds):
        path = tmp_path / f"shard-{i}.h5"
        part = {k: v[a:b] for k, v in values.items()}
        extra = {"shard": shard_attr(i, len(bounds), (a, b)), "inputs": json.dumps({i: "d"})}
        _write(path, ids[a:b], part, 4, {**attrs, **extra, "created": f"t{i}"})
        paths.append(path)
    return paths


@pytest.mark.parametrize("bounds", [[(0, 4), (4, 8), (8, 11)], [(0, 3), (3, 9), (9, 11)]])
def test_merge_equals_the_unsharded_file(tmp_path, whole, bounds):
    ids, values, path = whole
    shards = _shards(tmp_path, ids, values, bounds)
    out = tmp_path / "merged.h5"
    attrs = {"created": "now", "config_digest": "cd", "inputs": json.dumps({"table": "t"})}
    merge_shards(shards, out, ids, batch_size=4, attrs=attrs, progress=io.StringIO())
    with h5py.File(path, "r") as a, h5py.File(out, "r") as b:
        assert read_strings(b["stim_id"]) == ids
        for layer in LAYERS:
            x, y = a["layers"][layer], b["layers"][layer]
            np.testing.assert_array_equal(y[()], values[layer])
            assert (y.shape, y.dtype, y.chunks, y.compression) == (
                x.shape,
                x.dtype,
                x.chunks,
                x.compression,
            )
            assert y.attrs["module"] == x.attrs["module"]
            np.testing.assert_array_equal(y.attrs["unit_shape"], x.attrs["unit_shape"])
        for key, value in ATTRS.items():
            assert b.attrs[key] == value
        assert b.attrs["created"] == "now" and b.attrs["config_digest"] == "cd"
        assert "shard" not in b.attrs
        assert json.loads(b.attrs["shards"]) == [list(r) for r in bounds]
        assert json.loads(b.attrs["inputs"]) == {"0": "d", "1": "d", "2": "d", "table": "t"}
    assert not list(tmp_path.glob(".*partial"))


def test_merge_copies_whole_chunks_as_stored(tmp_path, whole):
    """Batch-aligned shards are copied chunk by chunk as stored (the compressed bytes), so a
    merge never compresses again; a last shard shorter than a batch is decoded and written."""
    ids, values, _ = whole
    shards = _shards(tmp_path, ids, values, [(0, 4), (4, 8), (8, 11)])
    out = tmp_path / "merged.h5"
    merge_shards(shards, out, ids, batch_size=4, progress=io.StringIO())
    with h5py.File(out, "r") as merged:
        for layer in LAYERS:
            target = merged["layers"][layer].id
            for i, path in enumerate(shards[:2]):
                with h5py.File(path, "r") as f:
                    source = f["layers"][layer].id
                    assert source.get_num_chunks() >= 1
                    for k in range(source.get_num_chunks()):
                        offset = source.get_chunk_info(k).chunk_offset
                        moved = (offset[0] + 4 * i, *offset[1:])
                        assert target.read_direct_chunk(moved) == source.read_direct_chunk(offset)
            np.testing.assert_array_equal(merged["layers"][layer][()], values[layer])


def test_merge_refuses_shards_that_do_not_belong_together(tmp_path, whole):
    ids, values, _ = whole
    bounds = [(0, 4), (4, 8), (8, 11)]
    shards = _shards(tmp_path, ids, values, bounds)
    out = tmp_path / "merged.h5"
    message = r"shard-1.h5 has stim_id 's04' at its row 1 where table has 's05' \(row 5\)"
    with pytest.raises(InputError, match=message):
        merge_shards(shards, out, ids[:4] + ids[5:] + ["x"], batch_size=4, where="table")
    with pytest.raises(InputError, match="hold 11 stimuli but table has 12"):
        merge_shards(shards, out, [*ids, "s11"], batch_size=4, where="table")
    with pytest.raises(InputError, match="hold 11 stimuli but table has 10"):
        merge_shards(shards, out, ids[:10], batch_size=4, where="table")
    other = _shards(tmp_path / "b", ids, values, bounds, {**ATTRS, "weights_sha256": "xyz"})
    with pytest.raises(InputError, match=r"shard-1.h5: attribute 'weights_sha256' is 'xyz'"):
        merge_shards([shards[0], other[1], shards[2]], out, ids, batch_size=4)
    small = {k: (v[..., :1] if v.ndim > 2 else v) for k, v in values.items()}
    odd = _shards(tmp_path / "c", ids, small, bounds)
    with pytest.raises(InputError, match=r"layer conv is float32 \(6, 3, 1\)"):
        merge_shards([shards[0], odd[1], shards[2]], out, ids, batch_size=4)
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_audio_shards_merge_to_the_unsharded_extraction(tmp_path, monkeypatch):
    """VGGish over sounds of 1-3 s (1-3 examples each, averaged): 2 shards of 2 sounds."""
    import soundfile

    from dnnmap.media.synthetic import tone

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3] / "scripts"))
    from extract_activations import main as run

    rng = np.random.default_rng(1)
    rows = []
    for i, seconds in enumerate([1.0, 2.9, 1.5, 2.0]):
        path = tmp_path / f"s{i}.wav"
        soundfile.write(path, tone(rng, seconds, 16000)[0], 16000, subtype="PCM_16")
        rows.append({"stim_id": f"s{i}", "path": str(path), "modality": "audio"})
    table = tmp_path / "stimuli.tsv"
    pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
    model = {"architecture": "vggish", "layers": ["conv1", "fc2"]}
    compute = {"device": "cpu", "dtype": "float32", "compression": "lzf", "batch_size": 1}
    whole = tmp_path / "whole.h5"
    run("vg", model, compute, str(table), [], str(whole), 1, io.StringIO(), [0, 0, 0])
    shards = [tmp_path / f"shard-{i}.h5" for i in range(2)]
    for i, path in enumerate(shards):
        args = ("vg", model, compute, str(table), [], str(path), 1, io.StringIO(), [0, 0, 0])
        run(*args, shard=(i, 2))
    merged = tmp_path / "merged.h5"
    ids = [r["stim_id"] for r in rows]
    merge_shards(shards, merged, ids, batch_size=1)
    with h5py.File(whole, "r") as a, h5py.File(merged, "r") as b:
        assert json.loads(b.attrs["shards"]) == [[0, 2], [2, 4]]
        assert b.attrs["media"] == a.attrs["media"]
        for layer in ("conv1", "fc2"):
            np.testing.assert_array_equal(b["layers"][layer][()], a["layers"][layer][()])


def test_config_schema_default_and_bad_values():
    import yaml

    from dnnmap.config import load_schema, validate

    root = Path(__file__).resolve().parents[3]
    schema = load_schema(root / "workflow/schemas/config.schema.yaml")
    config = yaml.safe_load((root / "config/config.yaml").read_text())
    assert config["extraction"] == {"n_shards": 1}  # the demo: one extraction job per model
    del config["extraction"]
    validate(config, schema, "config.yaml")
    assert config["extraction"] == {"n_shards": 1}  # the default
    for bad in (0, "two", 1.5):
        config["extraction"] = {"n_shards": bad}
        with pytest.raises(InputError, match=r"^config.yaml: extraction.n_shards: "):
            validate(config, schema, "config.yaml")
