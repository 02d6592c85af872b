"""Friendly layer names of the supported network architectures.

This module imports nothing heavy, so the workflow can check the layer names of a config
at start-up, before any job runs. Each architecture maps a friendly name (as written in
``config.yaml``) to the torchvision module whose output is recorded.
"""

from __future__ import annotations

from dnnmap.errors import InputError

#: friendly layer name -> module path in the torchvision model, per architecture.
#: AlexNet's conv1..conv5 and fc6/fc7 are the ReLU outputs; fc8 is the class logits.
LAYERS: dict[str, dict[str, str]] = {
    "alexnet": {
        "conv1": "features.1",
        "conv2": "features.4",
        "conv3": "features.7",
        "conv4": "features.9",
        "conv5": "features.11",
        "fc6": "classifier.2",
        "fc7": "classifier.5",
        "fc8": "classifier.6",
    },
    "resnet18": {
        "conv1": "relu",
        "layer1": "layer1",
        "layer2": "layer2",
        "layer3": "layer3",
        "layer4": "layer4",
        "avgpool": "avgpool",
        "fc": "fc",
    },
}


def check_architecture(architecture: str, where: str = "architecture") -> None:
    """Stop unless ``architecture`` is one dnnmap knows the layers of."""
    if architecture not in LAYERS:
        raise InputError(
            f"{where}: unknown architecture {architecture!r}; expected one of {sorted(LAYERS)}"
        )


def layer_modules(architecture: str, layers: list[str], where: str = "models") -> dict[str, str]:
    """Map friendly layer names to module paths, stopping on a name the model does not have.

    Parameters
    ----------
    architecture : str
        A key of :data:`LAYERS`, e.g. ``"alexnet"``.
    layers : list of str
        Friendly layer names in the order they should be recorded.
    where : str
        Config location used in error messages, e.g. ``"models.alexnet.layers"``.

    Returns
    -------
    dict
        Friendly name -> module path, in the order of ``layers``.

    Raises
    ------
    InputError
        For an unknown architecture or layer; the message lists the valid names.
    """
    check_architecture(architecture, where)
    known = LAYERS[architecture]
    for name in layers:
        if name not in known:
            raise InputError(
                f"{where}: {architecture} has no layer {name!r}; valid layers: {', '.join(known)}"
            )
    if len(set(layers)) != len(layers):
        raise InputError(f"{where}: layer names repeat in {layers}")
    return {name: known[name] for name in layers}
