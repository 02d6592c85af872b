"""Ablation through upstream layers: lesion channels of an earlier layer inside the network and
measure the change at a downstream recorded layer's encoding model.

The network is run again on the stimuli with a forward hook on the upstream module that sets
the chosen channels of its output to a constant (the lesion): zero (``zero``), or each unit's
mean over all stimuli of the intact network (``mean``; computed from the network alone, no
brain response enters it). The downstream layer's activations under each lesion are then read
out by the downstream layer's encoding model of every outer split (the lesion reading of
:mod:`dnnmap.interpret.ablation`: the fitted models are kept) and scored on the split's
held-out stimuli. Unlike ablation within the encoding layer, the lesion passes through the
network's nonlinearities, so mean- and zero-ablation give different r.

Ablating every channel of the upstream layer makes the upstream output the same for every
stimulus, so every downstream activation is a constant (in a chain network; a skip connection
that bypasses the upstream layer would carry stimulus information around it) and the
prediction is constant within each test set: r is undefined (NaN), reported as such with a
``constant`` flag, and its importance is the drop to chance (r = 0).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dnnmap.errors import InputError
from dnnmap.interpret.ablation import MODES, SplitReadouts, fold_scores

LOG = logging.getLogger("dnnmap")

ALL = -2
"""Channel label of the lesion of every channel at once."""


class _StopForwardError(Exception):
    """Raised by the downstream hook to end the forward pass once its output exists."""


class LesionedNetwork:
    """A network whose upstream module's channels can be set to a constant, read at a
    downstream module.

    Several lesions share one pass: with ``replicas`` (one channel set per replica) the
    upstream output of a batch of ``b`` stimuli is repeated once per replica, replica ``j``
    gets lesion ``j``, and the modules after it run on the ``len(replicas) * b`` rows, so the
    network before the upstream layer runs once for all of them. A network whose later
    modules also read tensors from before the upstream layer (a skip connection around it)
    cannot take the repeated batch; :func:`upstream_lesions` then runs one lesion per pass.

    Parameters
    ----------
    model : torch.nn.Module
        The network (copied; eval mode, no gradients).
    upstream, downstream : str
        Dotted module paths; the downstream module must run after the upstream one.
    """

    def __init__(self, model: nn.Module, upstream: str, downstream: str):
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        named = dict(self.model.named_modules())
        for path in (upstream, downstream):
            if path not in named:
                raise InputError(f"the network has no module {path!r}")
        self._up, self._down = named[upstream], named[downstream]
        self.replicas: list[torch.Tensor] | None = None
        self.fill: torch.Tensor | None = None
        self._seen_up = False
        self._up_out = None
        self._down_out = None

    def _up_hook(self, _module, _inputs, output):
        self._seen_up = True
        if not self.replicas:
            self._up_out = output
            return None
        b, k = output.shape[0], len(self.replicas)
        out = output.repeat(k, *([1] * (output.dim() - 1)))
        for j, channels in enumerate(self.replicas):
            out[j * b : (j + 1) * b, channels] = self.fill[channels].to(out.dtype)
        self._up_out = out
        return out

    def _down_hook(self, _module, _inputs, output):
        if not self._seen_up:
            raise InputError("the downstream layer runs before the upstream layer")
        self._down_out = output
        raise _StopForwardError

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Upstream output (after the lesions) and downstream output for inputs ``x``.

        Returns
        -------
        up : tensor of shape (k * b, C, ...)
            ``k`` the number of replicas (1 without).
        down : tensor of shape (k * b, *downstream unit shape)
            Replica ``j`` in rows ``j * b`` to ``(j + 1) * b``.
        """
        self._seen_up, self._up_out, self._down_out = False, None, None
        handles = [
            self._up.register_forward_hook(self._up_hook),
            self._down.register_forward_hook(self._down_hook),
        ]
        try:
            self.model(x)
        except _StopForwardError:
            pass
        finally:
            for h in handles:
                h.remove()
        if self._down_out is None:
            raise RuntimeError("the forward pass never reached the downstream layer")
        return self._up_out, self._down_out


MEMORY_BYTES = 512 * 2**20
"""Bound on the downstream activations held for the lesions of one pass."""


def upstream_lesions(
    model: nn.Module,
    upstream: str,
    downstream: str,
    x: torch.Tensor,
    mode: str = "zero",
    channels: Sequence[int] | None = None,
    batch_size: int = 32,
    progress=None,
    per_pass: int = 8,
    max_channels: int = 0,
) -> Iterator[tuple[int, np.ndarray]]:
    """Downstream activations with nothing, each channel, and every channel of the upstream
    layer ablated.

    Parameters
    ----------
    model : torch.nn.Module
    upstream, downstream : str
        Module paths.
    x : tensor of shape (n, 3, H, W)
        Preprocessed stimuli (on the model's device).
    mode : {"zero", "mean"}
        Lesion value: zero, or each upstream unit's mean over the ``n`` stimuli (intact).
    channels : sequence of int, optional
        Upstream channels ablated one at a time (default: all).
    batch_size : int
        Stimuli per pass.
    progress : file-like, optional
        Where the tqdm bar goes.
    per_pass : int
        Lesions run in one pass (:class:`LesionedNetwork`), fewer when the downstream
        activations of all stimuli would exceed :data:`MEMORY_BYTES`; 1 for networks that
        cannot take it.
    max_channels : int
        If positive, only the first ``max_channels`` of the chosen channels are ablated one
        at a time (the lesion of every channel at once still takes them all).

    Yields
    ------
    channel : int
        -1 for the intact network, the channel, then :data:`ALL` (every channel).
    activations : float64 array of shape (n, p)
        The downstream layer's units, flattened.
    """
    if mode not in MODES:
        raise InputError(f"ablation mode {mode!r}; expected one of {', '.join(MODES)}")
    net = LesionedNetwork(model, upstream, downstream)
    n = x.shape[0]

    def run_all(replicas) -> tuple[list[np.ndarray], torch.Tensor]:
        net.replicas = replicas
        k = max(len(replicas or ()), 1)
        downs, up_sum = [[] for _ in range(k)], None
        for start in range(0, n, batch_size):
            up, down = net.run(x[start : start + batch_size])
            b = down.shape[0] // k
            if replicas is None:
                total = up.double().sum(dim=0)
                up_sum = total if up_sum is None else up_sum + total
            flat = down.reshape(k, b, -1).double().cpu().numpy()
            for j in range(k):
                downs[j].append(flat[j])
        return [np.concatenate(d) for d in downs], (None if up_sum is None else up_sum / n)

    (intact,), up_mean = run_all(None)
    n_ch = up_mean.shape[0]
    chosen = list(range(n_ch)) if channels is None else [int(c) for c in channels]
    bad = [c for c in chosen if not 0 <= c < n_ch]
    if bad:
        raise InputError(
            f"upstream channels {bad[:5]} are outside the layer, which has {n_ch} channels"
        )
    if max_channels > 0:
        chosen = chosen[: int(max_channels)]
    net.fill = (torch.zeros_like(up_mean) if mode == "zero" else up_mean).to(x.device)
    yield -1, intact
    k = max(1, min(int(per_pass), MEMORY_BYTES // max(intact.nbytes, 1)))
    bar = tqdm(total=len(chosen), desc="upstream channels", file=progress)
    done = 0
    every_channel = torch.arange(n_ch, device=x.device)
    every = None
    while done < len(chosen):
        chunk = chosen[done : done + k]
        replicas = [torch.tensor([c], device=x.device) for c in chunk]
        last = done + len(chunk) == len(chosen) and len(chunk) < k
        try:  # the lesion of every channel rides along in the last pass when there is room
            outs, _ = run_all([*replicas, every_channel] if last else replicas)
        except RuntimeError:
            if k == 1:
                raise
            LOG.info("the network cannot run %d lesions in one pass; one per pass", k)
            k = 1
            continue
        if last:
            every = outs.pop()
        yield from zip(chunk, outs, strict=True)
        done += len(chunk)
        bar.update(len(chunk))
    bar.close()
    if every is None:
        (every,), _ = run_all([every_channel])
    yield ALL, every


def lesion_scores(
    readouts: SplitReadouts, A: np.ndarray, Yt: np.ndarray, pooling: str = "folds"
) -> dict:
    """Cross-validated scores of a downstream layer's split read-outs on (lesioned) activations.

    Parameters
    ----------
    readouts : SplitReadouts
        The downstream layer's encoding models, one per outer split.
    A : array of shape (n, p)
        Downstream activations (intact or under a lesion).
    Yt : array of shape (n, t)
        Measured target responses.
    pooling : {"folds", "pooled"}
        The encoding's ``pooling`` (:func:`dnnmap.interpret.ablation.fold_scores`).

    Returns
    -------
    dict
        ``r``, ``r2`` (t,) (as the encoding score; r NaN where the prediction is constant) and
        ``constant`` (bool: ``A`` is the same for every stimulus).
    """
    A = np.asarray(A, dtype=np.float64)
    preds = [readouts.predict(s, A[te]) for s, te in enumerate(readouts.test)]
    r, r2 = fold_scores(readouts.test, preds, Yt, pooling)
    spread = np.ptp(A, axis=0).max() if A.size else 0.0
    constant = bool(spread <= 1e-12 * max(float(np.abs(A).max()), 1e-300))
    return {"r": r, "r2": r2, "constant": constant}
