"""AlexNet (torchvision ``alexnet``): five convolutional and three fully connected layers."""

from __future__ import annotations

from dnnmap.models.registry import ModelFamily, conv_out, register, torchvision_builder

#: conv1..conv5 and fc6/fc7 are the ReLU outputs; fc8 is the class logits.
LAYERS = {
    "conv1": "features.1",
    "conv2": "features.4",
    "conv3": "features.7",
    "conv4": "features.9",
    "conv5": "features.11",
    "fc6": "classifier.2",
    "fc7": "classifier.5",
    "fc8": "classifier.6",
}


def unit_shapes(resize: int) -> dict[str, tuple[int, ...]]:
    """Unit shape of every layer for a square input of side ``resize``."""
    c1 = conv_out(resize, 11, 4, 2)
    c2 = conv_out(c1, 3, 2, 0)  # max pool, then a padded 5x5 conv keeps the size
    c3 = conv_out(c2, 3, 2, 0)
    return {
        "conv1": (64, c1, c1),
        "conv2": (192, c2, c2),
        "conv3": (384, c3, c3),
        "conv4": (256, c3, c3),
        "conv5": (256, c3, c3),
        "fc6": (4096,),
        "fc7": (4096,),
        "fc8": (1000,),
    }


ALEXNET = register(
    ModelFamily(
        name="alexnet",
        modality="image",
        layers=LAYERS,
        build=torchvision_builder("alexnet"),
        unit_shapes=unit_shapes,
        n_parameters=61_100_840,
        weights=("IMAGENET1K_V1", "DEFAULT"),
        cpu_seconds_per_image=0.05,
    )
)
