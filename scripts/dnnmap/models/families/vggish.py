"""VGGish (Hershey et al. 2017): the VGG-like audio network of AudioSet, as published.

Its input is one 0.96 s log-mel example, (1, 96, 64) (96 frames of 10 ms x 64 mel bands,
from :mod:`dnnmap.media.vggish_frontend`). Four convolutional groups of 3 x 3 convolutions
(64; 128; 256, 256; 512, 512 channels, each followed by ReLU) with 2 x 2 max pooling after
each group, then fully connected layers of 4096, 4096 and 128 units; the 128-unit ``fc2``
is the embedding (linear, as in the current AudioSet release). The pooled maps are
flattened in TensorFlow's (height, width, channel) order, and the module names follow
``torchvision``-style ``features`` / ``embeddings`` sequences, so a PyTorch port of the
released weights (``features.0.weight``, ..., ``embeddings.4.bias``) loads as a local
weights file. There are no torchvision weights: ``weights`` is ``none`` or a file.
"""

from __future__ import annotations

from collections.abc import Mapping

from dnnmap.models.registry import ModelFamily, register

#: Friendly name (the AudioSet release's scope names) -> module path.
LAYERS = {
    "conv1": "features.1",
    "pool1": "features.2",
    "conv2": "features.4",
    "pool2": "features.5",
    "conv3_1": "features.7",
    "conv3_2": "features.9",
    "pool3": "features.10",
    "conv4_1": "features.12",
    "conv4_2": "features.14",
    "pool4": "features.15",
    "fc1_1": "embeddings.1",
    "fc1_2": "embeddings.3",
    "fc2": "embeddings.4",
}
#: Input example: frames x mel bands.
EXAMPLE_SHAPE = (96, 64)


def unit_shapes(resize: int = 0) -> dict[str, tuple[int, ...]]:
    """Unit shape of every layer for one (96, 64) example (``resize`` is not used)."""
    h, w = EXAMPLE_SHAPE
    shapes = {"conv1": (64, h, w), "pool1": (64, h // 2, w // 2)}
    h, w = h // 2, w // 2
    shapes.update(conv2=(128, h, w), pool2=(128, h // 2, w // 2))
    h, w = h // 2, w // 2
    shapes.update(conv3_1=(256, h, w), conv3_2=(256, h, w), pool3=(256, h // 2, w // 2))
    h, w = h // 2, w // 2
    shapes.update(conv4_1=(512, h, w), conv4_2=(512, h, w), pool4=(512, h // 2, w // 2))
    shapes.update(fc1_1=(4096,), fc1_2=(4096,), fc2=(128,))
    return shapes


def _make():
    import torch
    from torch import nn

    class VGGish(nn.Module):
        """VGGish: (n, 1, 96, 64) log-mel examples -> (n, 128) embeddings."""

        def __init__(self):
            super().__init__()
            layers, channels = [], 1
            for group in ((64,), (128,), (256, 256), (512, 512)):
                for width in group:
                    layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
                    channels = width
                layers.append(nn.MaxPool2d(2, 2))
            self.features = nn.Sequential(*layers)
            self.embeddings = nn.Sequential(
                nn.Linear(512 * 6 * 4, 4096),
                nn.ReLU(),
                nn.Linear(4096, 4096),
                nn.ReLU(),
                nn.Linear(4096, 128),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.features(x)
            # TensorFlow flattens (height, width, channel); keep that order for its weights.
            x = x.permute(0, 2, 3, 1).flatten(1)
            return self.embeddings(x)

    return VGGish()


def build(seed: int = 0, state: Mapping | None = None):
    """VGGish with seeded random weights (PyTorch's default init), or ``state`` loaded."""
    import torch

    if state is not None:
        model = _make()
        model.load_state_dict(state)
        return model
    torch.manual_seed(seed)
    return _make()


VGGISH = register(
    ModelFamily(
        name="vggish",
        modality="audio",
        layers=LAYERS,
        build=build,
        unit_shapes=unit_shapes,
        n_parameters=72_141_184,
        weights=(),
        # Not used: the input is the log-mel front end's examples (dnnmap.media).
        preprocessing={"resize": 96, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)},
        cpu_seconds_per_image=0.05,
    )
)
