"""ResNets (torchvision ``resnet18``, ``resnet34``, ``resnet50``): a stem and four stages.

The three share their layer names and spatial sizes; they differ in the channels of the
stages (ResNet-50's bottleneck blocks widen each stage fourfold) and in depth.
"""

from __future__ import annotations

from collections.abc import Callable

from dnnmap.models.registry import ModelFamily, conv_out, register, torchvision_builder

#: conv1 is the stem's ReLU output (conv + batch norm + ReLU); fc is the class logits.
LAYERS = {
    "conv1": "relu",
    "layer1": "layer1",
    "layer2": "layer2",
    "layer3": "layer3",
    "layer4": "layer4",
    "avgpool": "avgpool",
    "fc": "fc",
}
#: Output channels of layer1..layer4: basic blocks (ResNet-18/34), bottlenecks (ResNet-50).
BASIC_WIDTHS = (64, 128, 256, 512)
BOTTLENECK_WIDTHS = (256, 512, 1024, 2048)


def shapes_for(widths: tuple[int, int, int, int]) -> Callable[[int], dict[str, tuple[int, ...]]]:
    """The ``unit_shapes(resize)`` function of a ResNet whose stages output ``widths``."""

    def unit_shapes(resize: int) -> dict[str, tuple[int, ...]]:
        """Unit shape of every layer for a square input of side ``resize``."""
        s = conv_out(resize, 7, 2, 3)  # stem conv
        sizes = [conv_out(s, 3, 2, 1)]  # max pool; layer1 keeps the size
        for _ in range(3):  # layer2..layer4 halve it
            sizes.append(conv_out(sizes[-1], 3, 2, 1))
        shapes = {"conv1": (64, s, s)}
        for k, (width, size) in enumerate(zip(widths, sizes, strict=True), 1):
            shapes[f"layer{k}"] = (width, size, size)
        shapes["avgpool"] = (widths[-1], 1, 1)
        shapes["fc"] = (1000,)
        return shapes

    return unit_shapes


RESNET18 = register(
    ModelFamily(
        name="resnet18",
        modality="image",
        layers=LAYERS,
        build=torchvision_builder("resnet18"),
        unit_shapes=shapes_for(BASIC_WIDTHS),
        n_parameters=11_689_512,
        weights=("IMAGENET1K_V1", "DEFAULT"),
        cpu_seconds_per_image=0.1,
    )
)
RESNET34 = register(
    ModelFamily(
        name="resnet34",
        modality="image",
        layers=LAYERS,
        build=torchvision_builder("resnet34"),
        unit_shapes=shapes_for(BASIC_WIDTHS),
        n_parameters=21_797_672,
        weights=("IMAGENET1K_V1", "DEFAULT"),
        cpu_seconds_per_image=0.2,
    )
)
RESNET50 = register(
    ModelFamily(
        name="resnet50",
        modality="image",
        layers=LAYERS,
        build=torchvision_builder("resnet50"),
        unit_shapes=shapes_for(BOTTLENECK_WIDTHS),
        n_parameters=25_557_032,
        weights=("IMAGENET1K_V1", "IMAGENET1K_V2", "DEFAULT"),
        cpu_seconds_per_image=0.25,
    )
)
