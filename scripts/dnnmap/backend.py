"""Compute backends of the linear-algebra solvers: numpy, or torch on CPU or CUDA.

The ridge and kernel ridge solvers (:mod:`dnnmap.encoding.ridge`,
:mod:`dnnmap.encoding.kernel_ridge`, on the engine :mod:`dnnmap.encoding._ridge_solver`), RDMs
and RSA permutations are written once against the small interface of :class:`Backend`:
arrays of either library support ``@``, ``.T``, slicing and the arithmetic operators, so a
solver needs the backend only to create arrays, move them to and from numpy, index rows,
decompose (``svd``, ``eigh``) and reduce columns with float64 accumulation.

Devices (the ``device`` argument of the solvers, ``compute.device`` in the config):

``"numpy"``
    numpy with its BLAS/LAPACK (OpenBLAS, MKL).
``"cpu"``
    torch on the CPU.
``"cuda"``, ``"cuda:N"``
    torch on a CUDA device (an :class:`~dnnmap.errors.InputError` when none is visible).
``"auto"``
    CUDA device 0 when torch sees one, else numpy.

torch is imported only when a torch device is asked for, or by ``"auto"`` to look for CUDA
where the NVIDIA driver is loaded (``/proc/driver/nvidia`` on Linux), so numpy-only runs do
not pay its import time.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from functools import lru_cache

import numpy as np

from dnnmap.errors import InputError

DEVICES = ("auto", "numpy", "cpu", "cuda", "cuda:N")


class Backend:
    """Array operations of one library on one device.

    Attributes
    ----------
    name : str
        ``"numpy"`` or ``"torch"``.
    device : str
        ``"cpu"`` or ``"cuda:N"``.
    """

    name = "numpy"
    device = "cpu"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"

    # -- creation and transfer --------------------------------------------------------------
    def asarray(self, x, dtype=None):
        """``x`` (array-like) as a backend array of numpy ``dtype`` (kept when None)."""
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x) -> np.ndarray:
        """A numpy array with the values of backend array ``x`` (a copy off the CPU)."""
        return np.asarray(x)

    def empty(self, shape, dtype):
        """Uninitialised array of ``shape`` and numpy ``dtype``."""
        return np.empty(shape, dtype=dtype)

    def index(self, idx):
        """Integer row indices (numpy, shape (m,)) usable to index backend arrays."""
        return np.asarray(idx, dtype=np.intp)

    def astype(self, x, dtype):
        """``x`` converted to numpy ``dtype`` (no copy when it already has it)."""
        return x.astype(dtype, copy=False)

    # -- linear algebra ---------------------------------------------------------------------
    def matmul(self, a, b, out=None):
        """``a @ b``, written into ``out`` when given."""
        return np.matmul(a, b, out=out)

    def svd(self, x):
        """Thin SVD ``x = U @ diag(s) @ Vt``: U (n, k), s (k,) descending, Vt (k, p)."""
        return np.linalg.svd(x, full_matrices=False)

    def eigh(self, x):
        """Eigendecomposition of a symmetric matrix: eigenvalues (n,) ascending, vectors (n, n)."""
        return np.linalg.eigh(x)

    # -- reductions (float64 results) -------------------------------------------------------
    def col_mean(self, x):
        """Column means of ``x`` (n, v), accumulated in float64; returns (v,) float64."""
        return x.mean(axis=0, dtype=np.float64)

    def col_sumsq(self, x):
        """Column sums of squares of ``x`` (n, v); returns (v,) float64."""
        return np.einsum("ij,ij->j", x, x).astype(np.float64, copy=False)

    def sqrt(self, x):
        """Elementwise square root."""
        return np.sqrt(x)

    def exp(self, x):
        """Elementwise exponential."""
        return np.exp(x)


class NumpyBackend(Backend):
    """numpy with its BLAS (see :class:`Backend`; this class adds nothing)."""


class TorchBackend(Backend):
    """torch tensors on ``device`` (``"cpu"`` or ``"cuda:N"``)."""

    name = "torch"

    def __init__(self, device: str = "cpu"):
        import torch

        self._torch = torch
        self.device = device
        self._device = torch.device(device)

    def _dtype(self, dtype):
        return {
            np.dtype(np.float32): self._torch.float32,
            np.dtype(np.float64): self._torch.float64,
        }[np.dtype(dtype)]

    def asarray(self, x, dtype=None):
        torch = self._torch
        if isinstance(x, torch.Tensor):
            return x.to(device=self._device, dtype=None if dtype is None else self._dtype(dtype))
        x = np.ascontiguousarray(x, dtype=dtype)  # torch refuses negative strides
        return torch.as_tensor(x, device=self._device)

    def to_numpy(self, x) -> np.ndarray:
        if isinstance(x, self._torch.Tensor):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def empty(self, shape, dtype):
        return self._torch.empty(shape, dtype=self._dtype(dtype), device=self._device)

    def index(self, idx):
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        return self._torch.as_tensor(idx, device=self._device)

    def astype(self, x, dtype):
        return x.to(self._dtype(dtype))

    def matmul(self, a, b, out=None):
        if out is None:
            return a @ b
        return self._torch.matmul(a, b, out=out)

    def svd(self, x):
        return self._torch.linalg.svd(x, full_matrices=False)

    def eigh(self, x):
        return self._torch.linalg.eigh(x)

    def col_mean(self, x):
        return x.sum(dim=0, dtype=self._torch.float64) / x.shape[0]

    def col_sumsq(self, x):
        return self._torch.einsum("ij,ij->j", x, x).to(self._torch.float64)

    def sqrt(self, x):
        return self._torch.sqrt(x)

    def exp(self, x):
        return self._torch.exp(x)


def _cuda_available() -> bool:
    """Whether torch sees a CUDA device; on Linux without the NVIDIA driver, torch is not
    imported to find out (its import takes seconds)."""
    if importlib.util.find_spec("torch") is None:
        return False
    if (
        "torch" not in sys.modules
        and sys.platform.startswith("linux")
        and not os.path.exists("/proc/driver/nvidia")
    ):
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str = "auto") -> str:
    """Turn a ``device`` string into ``"numpy"``, ``"cpu"`` or ``"cuda:N"``.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"numpy"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    str
        The resolved device; ``"auto"`` gives ``"cuda:0"`` when torch sees a CUDA device,
        else ``"numpy"``.
    """
    if not isinstance(device, str) or not (
        device in ("auto", "numpy", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", device)
    ):
        raise InputError(f"device is {device!r}; expected one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda:0" if _cuda_available() else "numpy"
    if device == "cpu" and importlib.util.find_spec("torch") is None:
        raise InputError("device is 'cpu' (torch on the CPU) but torch is not installed")
    if device.startswith("cuda"):
        if not _cuda_available():
            raise InputError(f"device is {device!r} but no CUDA device is visible")
        return "cuda:0" if device == "cuda" else device
    return device


@lru_cache(maxsize=8)
def _backend(resolved: str) -> Backend:
    return NumpyBackend() if resolved == "numpy" else TorchBackend(resolved)


def get_backend(device: str = "auto") -> Backend:
    """The backend for a ``device`` string (see the module docstring).

    Parameters
    ----------
    device : str
        ``"auto"``, ``"numpy"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    Backend
    """
    return _backend(resolve_device(device))
