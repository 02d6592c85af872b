"""The interpret_decoding_ablation rule script on a tiny activations file: its table has the
intact, every-channel and per-channel rows of each attribute, equal to the library's
decoding_ablation, with ranks by importance; its figure is written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from dnnmap.interpret.ablation import decoding_ablation
from dnnmap.store import write_h5

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
SHAPE = (5, 3, 3)


def _script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decoding_ablation_table_and_figure(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    ids = [f"s{i:02d}" for i in range(n)]
    labels = np.repeat(["a", "b", "c"], n // 3)
    A = rng.gamma(2.0, size=(n, *SHAPE)).astype(np.float32)
    A[:, 2] += np.repeat([0.0, 2.0, 4.0], n // 3)[:, None, None]  # channel 2 carries the class
    table = tmp_path / "stimuli.tsv"
    pd.DataFrame(
        {"stim_id": ids, "path": "x.png", "modality": "image", "category": labels, "half": ids}
    ).assign(half=np.tile(["x", "y"], n // 2)).to_csv(table, sep="\t", index=False)
    acts = tmp_path / "alexnet.h5"
    write_h5(acts, {"layers/conv": A}, stim_id=ids)
    outs = {"table": tmp_path / "dab.tsv", "figure": tmp_path / "dab.png"}
    _script("interpret_decoding_ablation").main(
        table, acts, "conv", ["category", "half"], 3, 0, outs, "zero", 4, "net"
    )
    out = pd.read_csv(outs["table"], sep="\t")
    assert list(out["attribute"].unique()) == ["category", "half"]
    ref = decoding_ablation(A.reshape(n, -1), SHAPE, labels, 3, 0, mode="zero")
    rows = out[out["attribute"] == "category"]
    assert list(rows["channel"]) == [-1, -2, *range(5)]
    np.testing.assert_allclose(
        rows["accuracy"], [ref.accuracy_full, ref.accuracy_all, *ref.accuracy], atol=1e-6
    )
    single = rows[rows["channel"] >= 0]
    assert single.loc[single["rank"] == 1, "channel"].item() == 2  # the class channel first
    assert sorted(single["rank"]) == [1, 2, 3, 4, 5]
    assert np.allclose(rows["chance"], 1 / 3, atol=1e-6) and (rows["mode"] == "zero").all()
    assert outs["figure"].stat().st_size > 5_000
