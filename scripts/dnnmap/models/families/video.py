"""Video networks of torchvision (``torchvision.models.video``), trained on Kinetics-400.

They take a clip, a tensor (3, frames, resize, resize) normalised with the Kinetics
statistics; which frames form the clip is set by ``models.<name>.clip``
(:class:`dnnmap.media.video.ClipSampling`). Unit shapes are (channels, time, height, width)
for the convolutional layers, (tokens, channels) for MViT's blocks (token 0 is the class
token), and (400,) for the class logits.

- ``r3d_18`` (3D ResNet-18), ``mc3_18`` (mixed convolutions: 3D in the stem and layer1, 2D
  after, so time is never down-sampled) and ``r2plus1d_18`` ((2+1)D convolutions): a stem,
  four stages, average pool and logits; any clip size.
- ``s3d`` (separable 3D Inception): its convolutions, pools and Mixed blocks as named in the
  paper; at least 209 x 209 pixels and 13 frames (its final pool is 2 x 7 x 7).
- ``mvit_v2_s`` (multiscale vision transformer v2, small): the patch embedding, its 16
  blocks, the final norm and the logits; exactly 16 frames of 224 x 224 (its relative
  positional embeddings are built for that size).
"""

from __future__ import annotations

from collections.abc import Callable

from dnnmap.errors import InputError
from dnnmap.models.registry import ModelFamily, conv_out, register

#: Per-channel (RGB) mean and standard deviation of Kinetics-400 (torchvision's video weights).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
#: Frames of a clip unless ``models.<name>.clip.frames`` says otherwise (torchvision's
#: Kinetics weights were trained on 16-frame clips).
DEFAULT_FRAMES = 16
#: Networks that take only one clip size: architecture -> (frames, resize).
FIXED_INPUT = {"mvit_v2_s": (16, 224)}

RESNET_LAYERS = {
    "stem": "stem",
    "layer1": "layer1",
    "layer2": "layer2",
    "layer3": "layer3",
    "layer4": "layer4",
    "avgpool": "avgpool",
    "fc": "fc",
}
S3D_LAYERS = {
    "conv1": "features.0",
    "pool1": "features.1",
    "conv2": "features.2",
    "conv3": "features.3",
    "pool2": "features.4",
    "mixed3b": "features.5",
    "mixed3c": "features.6",
    "pool3": "features.7",
    "mixed4b": "features.8",
    "mixed4c": "features.9",
    "mixed4d": "features.10",
    "mixed4e": "features.11",
    "mixed4f": "features.12",
    "pool4": "features.13",
    "mixed5b": "features.14",
    "mixed5c": "features.15",
    "avgpool": "avgpool",
    "logits": "classifier",
}
S3D_CHANNELS = {
    "conv1": 64,
    "pool1": 64,
    "conv2": 64,
    "conv3": 192,
    "pool2": 192,
    "mixed3b": 256,
    "mixed3c": 480,
    "pool3": 480,
    "mixed4b": 512,
    "mixed4c": 512,
    "mixed4d": 512,
    "mixed4e": 528,
    "mixed4f": 832,
    "pool4": 832,
    "mixed5b": 832,
    "mixed5c": 1024,
    "avgpool": 1024,
    "logits": 400,
}
MVIT_LAYERS = {
    "conv_proj": "conv_proj",
    **{f"block{k}": f"blocks.{k}" for k in range(16)},
    "norm": "norm",
    "head": "head",
}
#: MViT-v2-S: output channels of each block, and the blocks that halve the spatial size.
MVIT_CHANNELS = (96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768)
MVIT_POOLED = (1, 3, 14)


def _resnet_shapes(temporal_stride: bool, resize: int, frames: int) -> dict:
    t, s = frames, conv_out(resize, 7, 2, 3)  # stem: (3|1, 7, 7) kernel, stride (1, 2, 2)
    shapes = {"stem": (64, t, s, s), "layer1": (64, t, s, s)}
    for k, width in zip((2, 3, 4), (128, 256, 512), strict=True):
        s = conv_out(s, 3, 2, 1)
        t = conv_out(t, 3, 2, 1) if temporal_stride else t
        shapes[f"layer{k}"] = (width, t, s, s)
    shapes["avgpool"] = (512, 1, 1, 1)
    shapes["fc"] = (400,)
    return shapes


def _s3d_shapes(resize: int, frames: int) -> dict:
    t = conv_out(frames, 7, 2, 3)
    s = conv_out(resize, 7, 2, 3)
    sizes = {"conv1": (t, s)}
    s = conv_out(s, 3, 2, 1)
    sizes.update(dict.fromkeys(("pool1", "conv2", "conv3"), (t, s)))
    s = conv_out(s, 3, 2, 1)
    sizes.update(dict.fromkeys(("pool2", "mixed3b", "mixed3c"), (t, s)))
    t, s = conv_out(t, 3, 2, 1), conv_out(s, 3, 2, 1)
    sizes.update(dict.fromkeys(("pool3", "mixed4b", "mixed4c", "mixed4d", "mixed4e"), (t, s)))
    sizes["mixed4f"] = (t, s)
    t, s = conv_out(t, 2, 2, 0), conv_out(s, 2, 2, 0)
    sizes.update(dict.fromkeys(("pool4", "mixed5b", "mixed5c"), (t, s)))
    sizes.update(dict.fromkeys(("avgpool", "logits"), (t - 1, s - 6)))
    return {name: (S3D_CHANNELS[name], t_, s_, s_) for name, (t_, s_) in sizes.items()}


def _mvit_shapes(resize: int, frames: int) -> dict:
    t, s = conv_out(frames, 3, 2, 1), conv_out(resize, 7, 4, 3)
    shapes = {"conv_proj": (96, t, s, s)}
    for k, width in enumerate(MVIT_CHANNELS):
        if k in MVIT_POOLED:
            s = conv_out(s, 3, 2, 1)
        shapes[f"block{k}"] = (1 + t * s * s, width)
    shapes["norm"] = shapes["block15"]
    shapes["head"] = (400,)
    return shapes


_SHAPES = {
    "r3d_18": lambda resize, frames: _resnet_shapes(True, resize, frames),
    "mc3_18": lambda resize, frames: _resnet_shapes(False, resize, frames),
    "r2plus1d_18": lambda resize, frames: _resnet_shapes(True, resize, frames),
    "s3d": _s3d_shapes,
    "mvit_v2_s": _mvit_shapes,
}


def video_unit_shapes(
    architecture: str, resize: int, frames: int, where: str = "models"
) -> dict[str, tuple[int, ...]]:
    """Unit shape of every layer of a video network for clips (frames, resize, resize).

    Raises
    ------
    InputError
        If the clip is too small for the network (a layer would have no unit) or, for a
        network of one input size, not that size.
    """
    fixed = FIXED_INPUT.get(architecture)
    if fixed is not None and (frames, resize) != fixed:
        raise InputError(
            f"{where}: {architecture} takes clips of exactly {fixed[0]} frames of "
            f"{fixed[1]} x {fixed[1]} pixels, not {frames} frames of {resize} x {resize}; "
            f"expected clip.frames: {fixed[0]} and preprocessing.resize: {fixed[1]}"
        )
    shapes = _SHAPES[architecture](resize, frames)
    if any(min(shape) < 1 for shape in shapes.values()):
        raise InputError(
            f"{where}: clips of {frames} frames of {resize} x {resize} pixels are too small "
            f"for {architecture}; expected more frames or a larger preprocessing.resize"
        )
    return shapes


def _default_shapes(architecture: str) -> Callable[[int], dict[str, tuple[int, ...]]]:
    frames = FIXED_INPUT.get(architecture, (DEFAULT_FRAMES,))[0]

    def unit_shapes(resize: int) -> dict[str, tuple[int, ...]]:
        """Unit shapes for clips of the default number of frames of side ``resize``."""
        return _SHAPES[architecture](resize, frames)

    return unit_shapes


def video_builder(architecture: str) -> Callable:
    """A family ``build(seed=0, state=None)`` for ``torchvision.models.video.<architecture>``.

    It seeds the global torch RNG with ``seed`` and builds the network with random weights,
    or loads ``state`` (a state dict) into it.
    """

    def build(seed: int = 0, state=None):
        import torch
        from torchvision.models import video

        constructor = getattr(video, architecture)
        if state is not None:
            model = constructor(weights=None)
            model.load_state_dict(state)
            return model
        torch.manual_seed(seed)
        return constructor(weights=None)

    build.__name__ = build.__qualname__ = f"build_{architecture}"
    return build


def _family(name, layers, n_parameters, resize, seconds, weights=("KINETICS400_V1", "DEFAULT")):
    return register(
        ModelFamily(
            name=name,
            modality="video",
            layers=layers,
            build=video_builder(name),
            unit_shapes=_default_shapes(name),
            n_parameters=n_parameters,
            weights=weights,
            preprocessing={"resize": resize, "mean": KINETICS_MEAN, "std": KINETICS_STD},
            cpu_seconds_per_image=seconds,
        )
    )


R3D_18 = _family("r3d_18", RESNET_LAYERS, 33_371_472, 112, 1.0)
MC3_18 = _family("mc3_18", RESNET_LAYERS, 11_695_440, 112, 1.5)
R2PLUS1D_18 = _family("r2plus1d_18", RESNET_LAYERS, 31_505_325, 112, 1.0)
S3D = _family("s3d", S3D_LAYERS, 8_320_048, 224, 1.0)
MVIT_V2_S = _family("mvit_v2_s", MVIT_LAYERS, 34_537_744, 224, 3.0)
