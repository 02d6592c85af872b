"""Benchmark: searchlight RSA on the fsLR-32k cortex (dnnmap) against rsatoolbox and a scipy loop.

1. Neighborhoods of all 59412 cortical grayordinates at radius 8 mm (geodesic, Dijkstra on
   the midthickness edge graph), time and peak memory measured in a child process.
2. One shard of 1,000 centers, 150 stimuli, 8 model RDMs (correlation distance, Spearman):
   dnnmap's batched path against rsatoolbox's searchlight (get_searchlight_RDMs +
   evaluate_models_searchlight with eval_fixed) and a per-center pdist + spearmanr loop,
   all on the same neighborhoods and data.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
from bench_helpers import PEAK_RSS_SOURCE, ROOT, write_result
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from dnnmap.brain.cifti import fslr32k_brain_models
from dnnmap.brain.neighborhoods import (
    cifti_neighborhoods,
    fslr32k_midthickness,
    surface_neighborhoods,
)
from dnnmap.rsa.searchlight import searchlight_rsa

RADIUS = 8.0
N_STIM, N_MODELS, N_CENTERS = 150, 8, 1000

_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {scripts!r})
from dnnmap.brain.cifti import fslr32k_brain_models
from dnnmap.brain.neighborhoods import cifti_neighborhoods
bm = fslr32k_brain_models()
start = time.perf_counter()
nb = cifti_neighborhoods(bm, {radius})
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "n_centers": len(nb), "mean_size": float(nb.sizes.mean()),
    "min_size": int(nb.sizes.min()), "max_size": int(nb.sizes.max()),
    "csr_mb": (nb.indices.nbytes + nb.indptr.nbytes) / 2**20,
    "peak_rss_mb": peak_rss_mb()}}))
"""


def _heap_dijkstra(coords, faces, center: int, radius: float) -> set[int]:
    """Vertices within edge-path distance ``radius`` of ``center``: a plain heapq Dijkstra."""
    import heapq
    from collections import defaultdict

    adjacent = defaultdict(set)
    for a, b, c in faces:
        adjacent[a] |= {b, c}
        adjacent[b] |= {a, c}
        adjacent[c] |= {a, b}
    best = {center: 0.0}
    heap = [(0.0, center)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > best.get(u, np.inf):
            continue
        for v in adjacent[u]:
            nd = d + float(np.linalg.norm(coords[u] - coords[v]))
            if nd <= radius and nd < best.get(v, np.inf):
                best[v] = nd
                heapq.heappush(heap, (nd, v))
    return set(best)


def test_neighborhoods_all_centers():
    code = _CHILD.format(scripts=str(ROOT / "scripts"), radius=RADIUS)
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SOURCE + code], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    # Every cortical grayordinate is a center, and every disc holds its center at least.
    assert got["n_centers"] == 59412
    assert got["min_size"] >= 1
    # Agreement: discs of 50 vertices against an independent heapq Dijkstra on the mesh.
    coords, faces = fslr32k_midthickness("L")
    centers = np.random.default_rng(0).choice(len(coords), 50, replace=False)
    nb = surface_neighborhoods(coords, faces, RADIUS, centers)
    mismatched = sum(
        set(nb.members(i).tolist()) != _heap_dijkstra(coords, faces.tolist(), int(c), RADIUS)
        for i, c in enumerate(centers)
    )
    assert mismatched == 0
    write_result(
        "searchlight_neighborhoods",
        {
            "peer": "none for speed (no surface searchlight peer installed); membership "
            "checked against a plain heapq Dijkstra on 50 discs",
            "params": {"radius_mm": RADIUS, "mesh": "S1200 fsLR-32k midthickness MSMAll"},
            "dnnmap_s": round(got["seconds"], 2),
            "peer_s": None,
            "ratio": None,
            "target": "seconds to a minute, memory-bounded (CSR)",
            "agreement": f"{mismatched} of 50 discs differ from the reference",
            "peak_rss_mb": round(got["peak_rss_mb"], 1),
            "n_centers": got["n_centers"],
            "members": {k: got[k] for k in ("mean_size", "min_size", "max_size")},
            "csr_mb": round(got["csr_mb"], 1),
        },
    )


def test_one_shard():
    import rsatoolbox
    from rsatoolbox.inference import eval_fixed
    from rsatoolbox.util.searchlight import evaluate_models_searchlight, get_searchlight_RDMs

    rng = np.random.default_rng(0)
    bm = fslr32k_brain_models()
    data = rng.standard_normal((N_STIM, len(bm))).astype(np.float32)
    models = np.stack([pdist(rng.standard_normal((N_STIM, 20))) for _ in range(N_MODELS)])
    centers = np.arange(N_CENTERS) * (len(bm) // N_CENTERS)  # spread over both hemispheres

    start = time.perf_counter()
    nb = cifti_neighborhoods(bm, RADIUS, centers)
    t_nb = time.perf_counter() - start
    start = time.perf_counter()
    r = searchlight_rsa(data, nb, models, "correlation", "spearman")
    t_rsa = time.perf_counter() - start

    neighbors = [nb.members(i) for i in range(len(nb))]
    start = time.perf_counter()
    loop = np.array(
        [
            [spearmanr(pdist(data[:, m].astype(np.float64), "correlation"), mo)[0] for mo in models]
            for m in neighbors
        ]
    )
    t_loop = time.perf_counter() - start

    start = time.perf_counter()
    sl_rdms = get_searchlight_RDMs(
        data.astype(np.float64), centers, neighbors, np.arange(N_STIM), "correlation", False
    )
    fixed = [rsatoolbox.model.ModelFixed(f"m{k}", models[k]) for k in range(N_MODELS)]
    results = evaluate_models_searchlight(sl_rdms, fixed, eval_fixed, method="spearman")
    peer = np.array([res.evaluations.ravel() for res in results])
    t_peer = time.perf_counter() - start

    agreement = float(max(np.abs(r - loop).max(), np.abs(r - peer).max()))
    assert agreement < 1e-6
    write_result(
        "searchlight_shard",
        {
            "peer": "rsatoolbox 0.3.2 searchlight (and a scipy pdist + spearmanr loop)",
            "params": {
                "n_centers": N_CENTERS,
                "n_stim": N_STIM,
                "n_models": N_MODELS,
                "radius_mm": RADIUS,
                "metric": "correlation",
                "comparison": "spearman",
                "mean_members": float(nb.sizes.mean()),
            },
            "dnnmap_s": round(t_nb + t_rsa, 2),
            "dnnmap_neighborhoods_s": round(t_nb, 2),
            "dnnmap_rsa_s": round(t_rsa, 2),
            "peer_s": round(t_peer, 2),
            "scipy_loop_s": round(t_loop, 2),
            "ratio": round(t_rsa / t_peer, 4),
            "target": "one shard of 1,000 centers in seconds",
            "agreement": agreement,
        },
    )
