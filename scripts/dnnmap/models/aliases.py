"""Friendly layer names for the main network families, derived from a network's modules.

The hand-written families (:mod:`dnnmap.models.families`) declare their names; every other
network gets them here from its class name and module tree, so a VGG built by torchvision,
an AlexNet-shaped class of the user's own (Places365) and a ViT all share the names a
neuroscience paper would use. Nothing here imports torch: the input is the list of
``(module path, class name)`` pairs of ``model.named_modules()``.

Names per family
----------------
AlexNet (a ``features`` and a ``classifier`` sequence)
    ``conv1`` ... ``conv5``: the ReLU after each convolution; ``fc6``, ``fc7``: the ReLU
    after each hidden linear layer; ``fc8``: the last linear layer (logits).
VGG
    ``conv1_1`` ... ``conv5_3`` (Caffe's names): the ReLU after each convolution of block
    ``b``; ``pool1`` ... ``pool5``: each block's max pooling (its output); ``fc6``,
    ``fc7``, ``fc8`` as AlexNet.
ResNet, ResNeXt, Wide ResNet
    ``conv1`` (the stem's ReLU), ``layer1`` ... ``layer4`` (the last block of each stage:
    Conv-2 ... Conv-5), ``avgpool``, ``fc``: the seed study's six layers and the logits.
ViT (torchvision ``VisionTransformer``)
    ``block1`` ... ``blockN``: each encoder layer's output (tokens x width); ``encoder``:
    the final layer norm's output; ``heads``: the logits.
"""

from __future__ import annotations

from collections.abc import Sequence

Modules = Sequence[tuple[str, str]]


def friendly_layers(class_name: str, modules: Modules) -> dict[str, str]:
    """Friendly layer name -> module path for a network, in network order.

    Parameters
    ----------
    class_name : str
        The network's class name, e.g. ``"VGG"``.
    modules : sequence of (str, str)
        ``(path, class name)`` of every module, as ``model.named_modules()`` yields them.

    Returns
    -------
    dict
        Empty when the network belongs to none of the families above.
    """
    paths = {path for path, _ in modules}
    if class_name == "VGG" and {"features", "classifier"} <= paths:
        return {**_vgg(modules), **_classifier(modules)}
    if {"features", "classifier"} <= paths and class_name in ("AlexNet",):
        return {**_conv_relus(modules), **_classifier(modules)}
    if {"conv1", "relu", "layer1", "layer4", "avgpool", "fc"} <= paths:
        names = ["layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
        return {"conv1": "relu", **{name: name for name in names}}
    if class_name == "VisionTransformer" and "encoder.layers" in paths:
        blocks = [
            path
            for path, _ in modules
            if path.startswith("encoder.layers.") and path.count(".") == 2
        ]
        names = {f"block{k}": path for k, path in enumerate(blocks, 1)}
        if "encoder.ln" in paths:
            names["encoder"] = "encoder.ln"
        if "heads" in paths:
            names["heads"] = "heads"
        return names
    return {}


def _children(modules: Modules, parent: str) -> list[tuple[str, str]]:
    """Direct children ``(path, class name)`` of ``parent``, in order."""
    depth = parent.count(".") + 1
    return [
        (path, kind)
        for path, kind in modules
        if path.startswith(parent + ".") and path.count(".") == depth
    ]


def _conv_relus(modules: Modules) -> dict[str, str]:
    """``conv{k}``: the ReLU following the k-th convolution of ``features``."""
    names, k, pending = {}, 0, False
    for path, kind in _children(modules, "features"):
        if kind == "Conv2d":
            k, pending = k + 1, True
        elif kind == "ReLU" and pending:
            names[f"conv{k}"], pending = path, False
    return names


def _vgg(modules: Modules) -> dict[str, str]:
    """``conv{b}_{k}`` (ReLU after the k-th convolution of block b) and ``pool{b}``."""
    names, block, k, pending = {}, 1, 0, False
    for path, kind in _children(modules, "features"):
        if kind == "Conv2d":
            k, pending = k + 1, True
        elif kind == "ReLU" and pending:
            names[f"conv{block}_{k}"], pending = path, False
        elif kind == "MaxPool2d":
            names[f"pool{block}"] = path
            block, k = block + 1, 0
    return names


def _classifier(modules: Modules) -> dict[str, str]:
    """``fc6``, ``fc7``: ReLUs after the hidden linear layers; ``fc8``: the last linear."""
    children = _children(modules, "classifier")
    linears = [path for path, kind in children if kind == "Linear"]
    names, k, pending = {}, 5, False
    for path, kind in children:
        if kind == "Linear" and path != linears[-1]:
            k, pending = k + 1, True
        elif kind == "ReLU" and pending:
            names[f"fc{k}"], pending = path, False
    if linears:
        names[f"fc{k + 1}"] = linears[-1]
    return names
