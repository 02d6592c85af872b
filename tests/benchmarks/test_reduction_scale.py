"""Reduction of a wide layer streamed from HDF5: dnnmap's randomized PCA against scikit-learn's
IncrementalPCA, side by side on the same file.

The layer is 5,000 stimuli x 200,000 units of float16 (2 GB on disk), a layer-like matrix (a
decaying spectrum of 300 latent dimensions plus noise), in column chunks. Each method runs in
its own process, so its peak resident memory is its own:

* dnnmap: :func:`dnnmap.features.reduce.reduce_layer` with ``solver: randomized`` (the route
  ``auto`` takes above 20,000 stimuli), 100 components, reading column slabs;
* scikit-learn: ``IncrementalPCA(100, batch_size=500)``, ``partial_fit`` over row blocks read
  from the same file, then ``transform`` block by block.

Agreement with the exact route is measured on a subset where the exact route is cheap (the
first 1,500 stimuli): the mean squared cosine of the principal angles between each method's
top-10 and top-100 component subspaces and the exact PCA's, and the relative error of the
explained variance. Writes results/benchmarks/reduction_scale.json; ``DNNMAP_BENCH_SMALL=1``
runs a 1,000 x 20,000 version (a check of the benchmark itself). Run by ``make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
from bench_helpers import PEAK_RSS_SOURCE, ROOT, write_result

SMALL = os.environ.get("DNNMAP_BENCH_SMALL") == "1"
N_STIM, N_UNITS = (1000, 20000) if SMALL else (5000, 200000)
N_SUBSET = 300 if SMALL else 1500
K = 100
WORK = ROOT / "results" / "benchmarks" / "reduction_scale_work"

_DNNMAP = """
import json, resource, sys, time
import numpy as np
from dnnmap.features.reduce import reduce_layer
path, n_rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
settings = {"solver": sys.argv[4], "power_iterations": 4, "seed": 0}
if n_rows:
    settings["max_fit_stimuli"] = None
t0 = time.perf_counter()
_, res = reduce_layer(path, "layer", %(k)d, components=True, settings=settings)
elapsed = time.perf_counter() - t0
np.save(out, res.components)
np.save(out.replace(".npy", "_ev.npy"), res.explained_variance)
peak = peak_rss_mb()
print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak}))
"""

_SKLEARN = """
import json, resource, sys, time
import h5py
import numpy as np
from sklearn.decomposition import IncrementalPCA
path, n_rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
with h5py.File(path, "r") as f:
    d = f["layers/layer"]
    n = n_rows or d.shape[0]
    ipca = IncrementalPCA(%(k)d, batch_size=500)
    for r0 in range(0, n, 500):
        ipca.partial_fit(d[r0:min(r0 + 500, n)].astype(np.float64))
    scores = np.vstack([ipca.transform(d[r0:min(r0 + 500, n)].astype(np.float64))
                        for r0 in range(0, n, 500)])
elapsed = time.perf_counter() - t0
np.save(out, ipca.components_)
np.save(out.replace(".npy", "_ev.npy"), ipca.explained_variance_)
peak = peak_rss_mb()
print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak}))
"""


def _write_layer(path, n, p, seed=0):
    """A float16 layer of ``n`` stimuli x ``p`` units with a decaying spectrum, in column chunks."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 300)) * 0.98 ** np.arange(300)
    with h5py.File(path, "w") as f:
        f.create_dataset("stim_id", data=np.array([f"s{i:05d}" for i in range(n)], dtype="S6"))
        d = f.create_group("layers").create_dataset(
            "layer", shape=(n, p), dtype=np.float16, chunks=(n, min(p, 2048))
        )
        for c0 in range(0, p, 8192):
            c1 = min(c0 + 8192, p)
            block = latent @ rng.standard_normal((300, c1 - c0)) / 10
            d[:, c0:c1] = block + rng.standard_normal((n, c1 - c0)) * 0.1 + 1


def _run(code: str, path, n_rows: int, out, *extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_RSS_SOURCE + code % {"k": K},
            str(path),
            str(n_rows),
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _subset_file(path, sub, n):
    with h5py.File(path, "r") as f, h5py.File(sub, "w") as g:
        g.create_dataset("stim_id", data=f["stim_id"][:n])
        g.create_group("layers").create_dataset(
            "layer", data=f["layers/layer"][:n], chunks=(n, min(N_UNITS, 2048))
        )


def _agreement(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Mean squared cosine of the principal angles between the top-k row spaces of a and b."""
    qa = np.linalg.qr(a[:k].T)[0]
    qb = np.linalg.qr(b[:k].T)[0]
    return float(np.mean(np.linalg.svd(qa.T @ qb, compute_uv=False) ** 2))


def test_randomized_reduction_against_incremental_pca():
    WORK.mkdir(parents=True, exist_ok=True)
    layer = WORK / f"layer_{N_STIM}x{N_UNITS}.h5"
    if not layer.exists():
        _write_layer(layer, N_STIM, N_UNITS)
    t0 = time.perf_counter()
    dnnmap = _run(_DNNMAP, layer, 0, WORK / "dnnmap.npy", "randomized")
    sklearn = _run(_SKLEARN, layer, 0, WORK / "sklearn.npy")
    total = time.perf_counter() - t0
    # agreement with the exact route on a subset where it is cheap
    sub = WORK / "subset.h5"
    _subset_file(layer, sub, N_SUBSET)
    _run(_DNNMAP, sub, 0, WORK / "exact_sub.npy", "exact")
    _run(_DNNMAP, sub, 0, WORK / "rand_sub.npy", "randomized")
    _run(_SKLEARN, sub, 0, WORK / "ipca_sub.npy")
    exact = np.load(WORK / "exact_sub.npy")
    exact_ev = np.load(WORK / "exact_sub_ev.npy")
    agree = {}
    for name in ("rand_sub", "ipca_sub"):
        comps = np.load(WORK / f"{name}.npy")
        ev = np.load(WORK / f"{name}_ev.npy")
        agree[name] = {
            "subspace_top10": _agreement(comps, exact, 10),
            "subspace_top100": _agreement(comps, exact, K),
            "explained_variance_max_rel_error": float(np.max(np.abs(ev - exact_ev) / exact_ev)),
        }
    full = {
        "subspace_top10_dnnmap_vs_sklearn": _agreement(
            np.load(WORK / "dnnmap.npy"), np.load(WORK / "sklearn.npy"), 10
        )
    }
    result = {
        "layer": f"{N_STIM} x {N_UNITS} float16, HDF5 column chunks",
        "n_components": K,
        "dnnmap_randomized": dnnmap,
        "sklearn_incremental_pca": sklearn,
        "time_ratio_dnnmap_over_sklearn": dnnmap["seconds"] / sklearn["seconds"],
        "peak_rss_ratio_dnnmap_over_sklearn": dnnmap["peak_rss_mb"] / sklearn["peak_rss_mb"],
        "agreement_with_exact_on_subset": {"n_stimuli": N_SUBSET, **agree},
        "agreement_full": full,
        "wall_seconds": total,
    }
    write_result("reduction_scale" + ("_small" if SMALL else ""), result)
    assert agree["rand_sub"]["subspace_top10"] > 0.99
