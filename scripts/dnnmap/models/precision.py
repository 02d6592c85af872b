"""Floating-point precision of CUDA convolutions and matrix products.

PyTorch lets cuDNN run float32 convolutions in TF32 on Ampere and newer GPUs by default
(``torch.backends.cudnn.allow_tf32``): a 10-bit mantissa, so activations differ from the CPU's
by about 1e-3 of their size. dnnmap computes activations in full float32 unless a config asks
for TF32 (``compute.tf32``) or float16 (``compute.autocast``), so the same network gives the
same activations on a GPU node as on a laptop, to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def cuda_precision(tf32: bool = False) -> Iterator[None]:
    """Allow (or forbid) TF32 in CUDA convolutions and matrix products inside the block.

    Parameters
    ----------
    tf32 : bool
        True: cuDNN convolutions and cuBLAS float32 matrix products may use TF32 (faster,
        about 1e-3 relative error). False: full float32. Both settings are restored on exit.
        They have no effect on the CPU.
    """
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = bool(tf32)
    torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
