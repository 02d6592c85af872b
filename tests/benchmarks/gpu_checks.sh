#!/usr/bin/env bash
# The checks that need a GPU, as one command for a GPU node (or the device machine a session
# may be lent): run from the repository root with a Python that has torch, torchvision, h5py,
# numpy, pandas, Pillow, tqdm and pytest (the project's own venv, or an image that has them).
#
#   bash tests/benchmarks/gpu_checks.sh [OUT]
#
# 1. The CUDA unit tests: activations on CUDA equal the CPU's to float32 rounding with TF32
#    off (the default), and the encoding solvers on the torch CUDA backend equal numpy's.
# 2. The extraction throughput benchmark on CUDA (tests/benchmarks/test_extraction_throughput.py
#    with DNNMAP_BENCH_DEVICE=cuda): AlexNet, ResNet-50 and ViT-B/16 against a bare forward
#    pass of the same batches, lzf, uncompressed and float16; results/benchmarks/*_cuda.json,
#    copied to OUT when given.
set -euo pipefail
OUT_DIR=${1:-}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())"
"$PY" -m pytest -p no:cacheprovider -q -rs tests/unit/models/test_precision.py tests/unit/test_backend.py
DNNMAP_BENCH_DEVICE=cuda "$PY" -m pytest -p no:cacheprovider -q -s tests/benchmarks/test_extraction_throughput.py
if [ -n "$OUT_DIR" ]; then
    cp results/benchmarks/extraction_*_cuda.json "$OUT_DIR"/
fi
