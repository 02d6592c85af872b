"""Tests of dnnmap.models.extraction against a direct torchvision forward pass, and
dnnmap.models.activation_layout."""

from __future__ import annotations

import json
import math
import runpy

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import functional as tvf

from dnnmap.errors import InputError
from dnnmap.models import extraction as activations
from dnnmap.models.activation_layout import CHUNK_BYTES, chunk_shape, layer_as_matrix
from dnnmap.models.build import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelSpec,
    Preprocessing,
    weights_digest,
)
from dnnmap.models.extraction import extract_activations
from dnnmap.store import read_strings

LAYERS = ["conv1", "conv5", "fc6", "fc8"]
N_IMAGES = 5
RESIZE = 64
BATCH = 2


def _spec(layers=LAYERS) -> ModelSpec:
    return ModelSpec(
        name="anet",
        architecture="alexnet",
        weights="none",
        seed=5,
        layers=list(layers),
        preprocessing=Preprocessing(resize=RESIZE),
    )


def _images(folder, n=N_IMAGES):
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"im{i}.png"
        mode = "L" if i == 1 else "RGB"  # one grayscale image: converted to RGB
        shape = (32, 32) if mode == "L" else (32, 32, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
        paths.append(str(path))
    return [f"s{i:02d}" for i in range(n)], paths


@pytest.fixture(scope="module")
def alexnet():
    """The network the spec describes, built directly with torchvision (seeded, no weights)."""
    torch.manual_seed(5)
    return torchvision.models.alexnet(weights=None).eval()


def _reference(model, paths):
    """Activations of ``model``, computed layer by layer without hooks."""
    batch = []
    for path in paths:
        with Image.open(path) as img:
            x = tvf.pil_to_tensor(img.convert("RGB"))
        x = tvf.resize(x, [RESIZE, RESIZE], antialias=True).float() / 255.0
        mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
        std = torch.tensor(IMAGENET_STD)[:, None, None]
        batch.append((x - mean) / std)
    x = torch.stack(batch)
    with torch.no_grad():
        conv1 = torch.relu(model.features[0](x))
        conv5 = model.features[:12](x)
        flat = torch.flatten(model.avgpool(model.features(x)), 1)
        fc6 = torch.relu(model.classifier[1](flat))
        fc8 = model(x)
    ref = {"conv1": conv1, "conv5": conv5, "fc6": fc6, "fc8": fc8}
    return {k: v.numpy() for k, v in ref.items()}


@pytest.fixture
def prebuilt(monkeypatch, alexnet):
    """Skip the (slow) weight init and digest in tests about storage, not about weights."""
    monkeypatch.setattr(
        activations, "build_model", lambda spec, weights_file=None: (alexnet, "random(seed=5)")
    )
    monkeypatch.setattr(activations, "weights_digest", lambda model: "digest")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("act")
    ids, paths = _images(folder / "img")
    out = folder / "out" / "anet.h5"
    extract_activations(_spec(), ids, paths, str(out), batch_size=BATCH, attrs={"extra": "yes"})
    return out, ids, paths


def test_file_layout_and_values(extracted, alexnet):
    out, ids, paths = extracted
    ref = _reference(alexnet, paths)
    with h5py.File(out, "r") as f:
        assert read_strings(f["stim_id"]) == ids
        assert list(f["layers"]) == sorted(LAYERS)
        for layer in LAYERS:
            dset = f["layers"][layer]
            assert dset.dtype == np.float32
            assert dset.shape == ref[layer].shape and dset.shape[0] == N_IMAGES
            np.testing.assert_array_equal(dset.attrs["unit_shape"], ref[layer].shape[1:])
            np.testing.assert_allclose(dset[()], ref[layer], rtol=1e-4, atol=1e-5)
        assert f["layers/conv1"].shape == (N_IMAGES, 64, 15, 15)
        assert f["layers/fc8"].shape == (N_IMAGES, 1000)
        assert f["layers/conv5"].attrs["module"] == "features.11"
        attrs = dict(f.attrs)
    assert attrs["model"] == "anet" and attrs["architecture"] == "alexnet"
    assert attrs["weights_id"] == "random(seed=5)"
    assert attrs["weights_sha256"] == weights_digest(alexnet)
    assert attrs["torch_version"] == torch.__version__
    assert attrs["torchvision_version"] == torchvision.__version__
    assert json.loads(attrs["preprocessing"]) == {
        "resize": RESIZE,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }
    assert json.loads(attrs["layers"])["fc6"] == "classifier.2"
    assert attrs["device"] == "cpu" and attrs["extra"] == "yes"
    assert json.loads(attrs["background"]) == [128, 128, 128]
    assert sorted(p.name for p in out.parent.iterdir()) == ["anet.h5"]


def test_chunks(extracted):
    out, _, _ = extracted
    with h5py.File(out, "r") as f:
        for layer in LAYERS:
            dset = f["layers"][layer]
            expected = chunk_shape(N_IMAGES, dset.shape[1:], BATCH, 4)
            assert dset.chunks == expected
            assert dset.chunks[0] == BATCH
            assert math.prod(dset.chunks) * 4 <= CHUNK_BYTES


@pytest.mark.parametrize(
    ("n_stim", "unit_shape", "stim_chunk", "itemsize", "expected"),
    [
        (150, (64, 55, 55), 32, 4, (32, 2, 55, 55)),
        (150, (256, 6, 6), 32, 4, (32, 227, 6, 6)),
        (150, (4096,), 32, 2, (32, 4096)),
        (10, (64, 55, 55), 32, 4, (10, 8, 55, 55)),
        (5, (3, 1000, 1000), 4, 4, (4, 1, 1000, 1000)),  # one channel exceeds the budget
    ],
)
def test_chunk_shape(n_stim, unit_shape, stim_chunk, itemsize, expected):
    got = chunk_shape(n_stim, unit_shape, stim_chunk, itemsize)
    assert got == expected
    assert got[0] == min(stim_chunk, n_stim) and got[2:] == unit_shape[1:]
    size = math.prod(got) * itemsize
    if got[1] > 1:
        assert size <= CHUNK_BYTES
        # As many channels as fit: one more would pass the budget (or there are no more).
        assert got[1] == unit_shape[0] or size + size // got[1] > CHUNK_BYTES


@pytest.mark.parametrize("compression", ["lzf", "gzip"])
def test_compression_is_lossless(tmp_path, extracted, prebuilt, compression):
    out32, ids, paths = extracted
    out = tmp_path / f"{compression}.h5"
    layers = ["conv1", "fc8"]
    extract_activations(
        _spec(layers), ids, paths, str(out), batch_size=BATCH, compression=compression
    )
    with h5py.File(out, "r") as f, h5py.File(out32, "r") as f32:
        for layer in layers:
            assert f["layers"][layer].compression == compression
            np.testing.assert_array_equal(f["layers"][layer][()], f32["layers"][layer][()])
    with pytest.raises(InputError, match=r"compute\.compression"):
        extract_activations(_spec(layers), ids, paths, str(out), compression="zip")


def test_float16(tmp_path, extracted, prebuilt):
    out32, ids, paths = extracted
    out = tmp_path / "half.h5"
    layers = ["conv1", "fc8"]
    extract_activations(_spec(layers), ids, paths, str(out), batch_size=BATCH, dtype="float16")
    with h5py.File(out, "r") as f, h5py.File(out32, "r") as f32:
        assert list(f["layers"]) == layers
        for layer in layers:
            dset = f["layers"][layer]
            assert dset.dtype == np.float16
            assert dset.chunks == chunk_shape(N_IMAGES, dset.shape[1:], BATCH, 2)
            # Same network, images and batches: the float32 values rounded to float16.
            np.testing.assert_array_equal(dset[()], f32["layers"][layer][()].astype(np.float16))


def test_failure_mid_extraction_leaves_no_file(tmp_path, prebuilt):
    ids, paths = _images(tmp_path / "img", n=4)
    bad = tmp_path / "img" / "broken.png"
    bad.write_text("not an image")
    out = tmp_path / "out" / "anet.h5"
    with pytest.raises(UnidentifiedImageError, match=r"broken\.png"):
        extract_activations(
            _spec(["conv1"]), [*ids, "bad"], [*paths, str(bad)], str(out), batch_size=BATCH
        )
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def test_images_of_every_kind_reach_the_network_as_they_look(tmp_path, prebuilt, caplog):
    """A 16-bit PNG, a float TIFF and a transparent PNG give the batches their 8-bit RGB
    equivalents give, and each kind of conversion is logged once."""
    rng = np.random.default_rng(7)
    deep = rng.integers(0, 65536, (32, 32)).astype(np.uint16)
    unit = rng.random((32, 32)).astype(np.float32)
    rgba = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
    background = (10, 200, 30)
    odd = [tmp_path / "deep.png", tmp_path / "unit.tif", tmp_path / "clear.png"]
    Image.fromarray(deep).save(odd[0])
    Image.fromarray(unit).save(odd[1])
    Image.fromarray(rgba, "RGBA").save(odd[2])
    alpha = rgba[..., 3:] / 255.0
    plain = [
        np.repeat(np.rint(deep / 65535.0 * 255)[..., None], 3, axis=2),
        np.repeat(np.rint(unit.astype(np.float64) * 255)[..., None], 3, axis=2),
        np.rint(alpha * rgba[..., :3] + (1 - alpha) * np.array(background)),
    ]
    same = [tmp_path / f"plain{i}.png" for i in range(3)]
    for path, pixels in zip(same, plain, strict=True):
        Image.fromarray(pixels.astype(np.uint8)).save(path)
    transform = _spec().preprocessing.transform()
    got = next(activations.iter_batches([str(p) for p in odd], transform, 3, background))
    ref = next(activations.iter_batches([str(p) for p in same], transform, 3, background))
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    out = tmp_path / "out" / "anet.h5"
    with caplog.at_level("WARNING", logger="dnnmap"):
        extract_activations(
            _spec(["conv1"]),
            ["d", "u", "c"],
            [str(p) for p in odd],
            str(out),
            background=list(background),
        )
    warnings = [r.getMessage() for r in caplog.records if r.name == "dnnmap"]
    assert len(warnings) == 3 and all(w.startswith("anet: 1 image(s): ") for w in warnings)
    assert "(c)" in warnings[2] and "composited" in warnings[2]
    with h5py.File(out, "r") as f:
        assert json.loads(f.attrs["background"]) == list(background)
    with pytest.raises(InputError, match=r"stimuli\.background"):
        extract_activations(_spec(["conv1"]), ["d"], [str(odd[0])], str(out), background=[1])


def test_argument_checks(tmp_path):
    out = tmp_path / "x.h5"
    with pytest.raises(InputError, match="2 stim_ids but 1 paths"):
        extract_activations(_spec(), ["a", "b"], ["a.png"], str(out))
    with pytest.raises(InputError, match=r"compute\.dtype: 'float64'"):
        extract_activations(_spec(), ["a"], ["a.png"], str(out), dtype="float64")
    with pytest.raises(InputError, match=r"models\.anet\.layers.*'pool9'"):
        extract_activations(_spec(["pool9"]), ["a"], ["a.png"], str(out))
    assert not out.exists()


# --- layer_as_matrix --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [((7, 5, 4, 3), (3, 2, 4, 3)), ((6, 10), (4, 3)), ((4, 3, 2, 2), None)],
)
def test_layer_as_matrix(tmp_path, shape, chunks):
    data = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    flat = data.reshape(shape[0], -1)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        dset = f.create_dataset("x", data=data, chunks=chunks)
        n_units, read_cols, read_rows, bounds = layer_as_matrix(dset)
        assert n_units == flat.shape[1]
        per_channel = math.prod(shape[2:])
        chan_chunk = chunks[1] if chunks else shape[1]
        expected = [
            (c * per_channel, min(c + chan_chunk, shape[1]) * per_channel)
            for c in range(0, shape[1], chan_chunk)
        ]
        assert bounds == expected
        assert bounds[0][0] == 0 and bounds[-1][1] == n_units
        pieces = [read_cols(c0, c1) for c0, c1 in bounds]
        for (c0, c1), piece in zip(bounds, pieces, strict=True):
            np.testing.assert_array_equal(piece, flat[:, c0:c1])
        np.testing.assert_array_equal(np.hstack(pieces), flat)
        np.testing.assert_array_equal(read_rows(0, shape[0]), flat)
        np.testing.assert_array_equal(read_rows(2, 4), flat[2:4])


def test_provenance_records_weights_file_and_stimulus_files(tmp_path):
    """The extraction script's ``inputs`` attribute holds the table, the weights file and one
    digest over the stimulus files in stimulus order, with their count."""
    from pathlib import Path

    from dnnmap.stimuli import stimulus_files_digest, write_stimuli
    from dnnmap.store import file_digest

    scripts = Path(__file__).resolve().parents[3] / "scripts"
    main = runpy.run_path(str(scripts / "extract_activations.py"))["main"]
    ids, paths = _images(tmp_path / "img", n=3)
    table = tmp_path / "stimuli.tsv"
    write_stimuli(pd.DataFrame({"stim_id": ids, "path": paths, "modality": "image"}), table)
    weights = tmp_path / "net.PTH"  # upper case: still a weights file
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    model = {"architecture": "resnet18", "weights": str(weights), "layers": ["avgpool"]}
    model["preprocessing"] = {"resize": 32}
    compute = {"device": "cpu", "dtype": "float32", "compression": "none", "batch_size": 2}
    out = tmp_path / "out.h5"
    threads = torch.get_num_threads()
    try:  # the rule script sets the job's torch threads: restore this process's for the others
        main("net", model, compute, str(table), [str(weights)], str(out), 1, None, [128] * 3)
    finally:
        torch.set_num_threads(threads)
    with h5py.File(out, "r") as f:
        inputs = json.loads(f.attrs["inputs"])
        assert f.attrs["weights_id"] == str(weights)
    assert inputs == {
        str(table): file_digest(table),
        str(weights): file_digest(weights),
        f"3 stimulus files listed in {table}": stimulus_files_digest(paths),
    }


def test_dataloader_workers_give_the_same_file(tmp_path, extracted, prebuilt):
    """Images decoded in 2 DataLoader worker processes: the same activations in the same order,
    and the same per-image read record (mode, size, conversions) as decoding in the job."""
    out0, ids, paths = extracted
    out = tmp_path / "workers.h5"
    extract_activations(_spec(), ids, paths, str(out), batch_size=BATCH, workers=2)
    with h5py.File(out, "r") as f, h5py.File(out0, "r") as f0:
        assert f.attrs["loader_workers"] == 2 and not f.attrs["autocast"]
        assert read_strings(f["stim_id"]) == ids
        for layer in LAYERS:
            np.testing.assert_array_equal(f["layers"][layer][()], f0["layers"][layer][()])
    transform = Preprocessing(resize=RESIZE).transform()
    runs = []
    for workers in (0, 2):
        infos = []
        batches = list(activations.iter_batches(paths, transform, 2, infos=infos, workers=workers))
        runs.append((torch.cat(batches), infos))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert runs[0][1][1].mode == "L"  # the grayscale image, read as such by the workers too


def test_loader_workers_setting():
    assert activations.loader_workers("auto", 8, "cpu") == 0
    assert activations.loader_workers("auto", 8, "cuda") == 7
    assert activations.loader_workers("auto", 32, "cuda") == 8
    assert activations.loader_workers(3, 1, "cpu") == 3
    with pytest.raises(InputError, match=r"compute\.loader_workers"):
        activations.loader_workers(-1, 2, "cpu")
