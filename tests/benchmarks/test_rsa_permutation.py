"""RSA permutation test: dnnmap's batched gather vs a loop of rsatoolbox comparisons.

A 10,000-permutation Spearman test of a model RDM against a brain RDM of 1,000 stimuli
(499,500 pairs). The peer permutes the brain ``RDMs`` object with rsatoolbox's own
``RDMs.reorder`` and calls ``rsatoolbox.rdm.compare(model, permuted, method="spearman")``
per permutation; it is timed on the first ``N_PEER`` of the same permutations and scaled
linearly to 10,000 (every permutation costs the same: a reorder and two rankings of 499,500
values). Agreement: the largest difference between the two null distributions on the timed
permutations.
"""

from __future__ import annotations

import time
from importlib.metadata import version

import numpy as np
import rsatoolbox
from bench_helpers import write_result
from scipy.spatial.distance import pdist

from dnnmap.rsa.inference import permutation_test
from dnnmap.stats.permutations import permutations

N_STIM, N_PERM, N_PEER, SEED = 1000, 10_000, 100, 0


def rdms(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Model and brain correlation-distance RDMs of noisy shared patterns (float64)."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((N_STIM, 50))
    model = pdist(shared + rng.standard_normal((N_STIM, 50)), "correlation")
    brain = pdist(shared + 3.0 * rng.standard_normal((N_STIM, 50)), "correlation")
    return model, brain


def test_rsa_permutation_vs_rsatoolbox():
    model, brain = rdms()
    start = time.perf_counter()
    result = permutation_test(model, brain, "spearman", n_perm=N_PERM, seed=SEED)
    dnnmap_s = time.perf_counter() - start

    perms = permutations(N_STIM, N_PERM, SEED, draw="shuffle")[:N_PEER]
    model_rdm = rsatoolbox.rdm.RDMs(model[None])
    brain_rdm = rsatoolbox.rdm.RDMs(brain[None])
    peer_null = np.empty(N_PEER)
    start = time.perf_counter()
    for k, perm in enumerate(perms):
        permuted = brain_rdm.copy()
        permuted.reorder(perm)
        peer_null[k] = rsatoolbox.rdm.compare(model_rdm, permuted, method="spearman")[0, 0]
    peer_timed_s = time.perf_counter() - start
    peer_s = peer_timed_s * N_PERM / N_PEER

    agreement = float(np.abs(result.null[:N_PEER, 0] - peer_null).max())
    observed = rsatoolbox.rdm.compare(model_rdm, brain_rdm, method="spearman")[0, 0]
    write_result(
        "rsa_permutation_vs_rsatoolbox",
        {
            "peer": f"rsatoolbox {version('rsatoolbox')} RDMs.reorder + compare per permutation",
            "params": {
                "n_stim": N_STIM,
                "n_pairs": N_STIM * (N_STIM - 1) // 2,
                "n_perm": N_PERM,
                "method": "spearman",
                "peer_timed_permutations": N_PEER,
                "peer_timed_s": round(peer_timed_s, 3),
                "peer_scaling": f"peer_s = peer_timed_s * {N_PERM} / {N_PEER} (linear)",
                "dnnmap": "permutation_test(device='numpy', dtype='float64'), default batches",
                "observed_r": float(result.observed[0]),
                "pvalue": float(result.pvalue[0]),
            },
            "dnnmap_s": round(dnnmap_s, 3),
            "peer_s": round(peer_s, 3),
            "ratio": round(peer_s / dnnmap_s, 2),
            "ratio_meaning": "peer time / dnnmap time (speed-up)",
            "target": ">= 50x faster",
            "agreement": agreement,
            "agreement_measure": f"max abs difference of the null on the {N_PEER} timed perms",
            "observed_diff": float(abs(result.observed[0] - observed)),
        },
    )
    assert agreement < 1e-6
    assert abs(result.observed[0] - observed) < 1e-10
