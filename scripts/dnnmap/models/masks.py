"""Unit masks: which channels and positions of a layer are recorded, and how they are pooled.

DNNBrain's unit selection, applied during extraction so that only what is asked for is
written. Per layer, a :class:`UnitMask` may

- keep some channels (the first unit axis) and, for a (channel, row, column) layer, some
  rows and columns: numbers count from 1, as in DNNBrain's ``.dmask.csv``;
- down-sample the spatial axes by averaging non-overlapping ``k`` x ``k`` blocks
  (``downsample: k``; a trailing remainder smaller than ``k`` is dropped);
- pool each channel over all its other axes (``pool: mean`` or ``max``), leaving one value
  per channel.

They apply in that order. A mask comes from the config (``models.<model>.units.<layer>``)
or from a DNNBrain ``.dmask.csv`` file (``models.<model>.dmask``), read unchanged::

    conv5=chn,row,col
    1,2,3
    5,6
    5,6

Reading a mask needs no torch (start-up checks use it); :meth:`UnitMask.apply` works on
torch tensors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dnnmap.errors import InputError

POOLS = ("none", "mean", "max")
_AXES = {"chn": "channels", "row": "rows", "col": "cols"}


@dataclass(frozen=True)
class UnitMask:
    """The unit selection of one layer.

    Attributes
    ----------
    channels, rows, cols : tuple of int or None
        Numbers to keep (1-based, in the order given); None keeps all.
    pool : {"none", "mean", "max"}
        Per-channel pooling over all axes after the first.
    downsample : int
        Side of the blocks the spatial axes are averaged over (1: none).
    """

    channels: tuple[int, ...] | None = None
    rows: tuple[int, ...] | None = None
    cols: tuple[int, ...] | None = None
    pool: str = "none"
    downsample: int = 1

    def is_identity(self) -> bool:
        """True when the mask keeps every unit unchanged."""
        return self == UnitMask()

    def check(self, shape: Sequence[int], where: str) -> None:
        """Stop unless the mask fits a layer of unit shape ``shape``.

        Raises
        ------
        InputError
            Naming ``where`` and the first channel (row, column) number the layer does not
            have, or a spatial operation on a layer without spatial axes.
        """
        shape = tuple(shape)
        if self.pool not in POOLS:
            raise InputError(f"{where}: pool {self.pool!r}; expected one of {', '.join(POOLS)}")
        for axis, (name, numbers) in enumerate(
            (("channels", self.channels), ("rows", self.rows), ("cols", self.cols))
        ):
            if numbers is None:
                continue
            if axis >= len(shape):
                raise InputError(
                    f"{where}: {name} given, but the layer's units have shape {shape} (no "
                    f"{name[:-1]} axis); expected channels only"
                )
            bad = [n for n in numbers if not 1 <= n <= shape[axis]]
            if bad:
                raise InputError(
                    f"{where}: {name} {bad[0]} is not in the layer, which has {shape[axis]} "
                    f"{name} (unit shape {shape}); numbers count from 1"
                )
        if (self.pool != "none" or self.downsample > 1) and len(shape) < 2:
            raise InputError(
                f"{where}: pool/downsample on a layer of unit shape {shape}, which has no "
                "axes to pool over"
            )
        if self.downsample > 1 and len(shape) != 3:
            raise InputError(
                f"{where}: downsample needs (channels, rows, cols) units; the layer's are {shape}"
            )
        if self.downsample > 1 and self.pool != "none":
            raise InputError(f"{where}: downsample and pool together; pooling leaves no space")
        if self.downsample > 1 and min(self.out_shape(shape)[1:] or (0,)) < 1:
            raise InputError(
                f"{where}: downsample {self.downsample} is larger than the layer's "
                f"{shape[1]} x {shape[2]} positions"
            )

    def out_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """Unit shape after the mask, for a layer of unit shape ``shape``."""
        out = list(shape)
        for axis, numbers in enumerate((self.channels, self.rows, self.cols)):
            if numbers is not None and axis < len(out):
                out[axis] = len(numbers)
        if self.downsample > 1:
            out = [out[0], *(n // self.downsample for n in out[1:])]
        if self.pool != "none":
            out = out[:1]
        return tuple(out)

    def apply(self, values):
        """Apply the mask to a batch of layer outputs.

        Parameters
        ----------
        values : torch.Tensor
            Shape (b, *unit_shape).

        Returns
        -------
        torch.Tensor
            Shape (b, *out_shape(unit_shape)).
        """
        import torch

        for axis, numbers in enumerate((self.channels, self.rows, self.cols), start=1):
            if numbers is not None:
                index = torch.as_tensor([n - 1 for n in numbers], device=values.device)
                values = values.index_select(axis, index)
        if self.downsample > 1:
            values = torch.nn.functional.avg_pool2d(values, self.downsample, self.downsample)
        if self.pool == "mean":
            values = values.flatten(2).mean(dim=2)
        elif self.pool == "max":
            values = values.flatten(2).amax(dim=2)
        return values

    def as_dict(self) -> dict:
        """JSON-ready settings (only what differs from keeping everything)."""
        out = {}
        for name in ("channels", "rows", "cols"):
            if getattr(self, name) is not None:
                out[name] = list(getattr(self, name))
        if self.pool != "none":
            out["pool"] = self.pool
        if self.downsample > 1:
            out["downsample"] = self.downsample
        return out


def read_dmask(path: str | Path) -> dict[str, dict[str, tuple[int, ...]]]:
    """Read a DNNBrain ``.dmask.csv`` file as it is written.

    Returns
    -------
    dict
        Layer -> {"channels"/"rows"/"cols": 1-based numbers}, in file order.

    Raises
    ------
    InputError
        Naming the file and line: a missing file, an axis other than chn/row/col, a layer
        line without its number lines, or a number that is not a positive integer.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: DNNBrain mask file not found; expected a .dmask.csv file")
    lines = path.read_text(encoding="utf-8").splitlines()
    masks: dict[str, dict[str, tuple[int, ...]]] = {}
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        if "=" not in line:
            raise InputError(
                f"{path} line {i}: {line!r}; expected a layer line such as conv5=chn,row,col"
            )
        layer, axes = (part.strip() for part in line.split("=", 1))
        axes = [a.strip() for a in axes.split(",") if a.strip()]
        bad = [a for a in axes if a not in _AXES]
        if bad or not layer or len(set(axes)) != len(axes):
            raise InputError(
                f"{path} line {i}: {line!r}; expected layer=axes with axes among chn, row, col"
            )
        masks[layer] = {}
        for axis in axes:
            if i >= len(lines) or "=" in lines[i]:
                raise InputError(
                    f"{path} line {i}: layer {layer} lists axis {axis} but its line of "
                    "numbers is missing"
                )
            numbers = lines[i].strip()
            i += 1
            try:
                values = tuple(int(n) for n in numbers.split(",") if n.strip())
            except ValueError:
                raise InputError(
                    f"{path} line {i}: {numbers!r}; expected comma-separated {axis} numbers"
                ) from None
            if not values or min(values) < 1:
                raise InputError(
                    f"{path} line {i}: {numbers!r}; expected {axis} numbers counting from 1"
                )
            masks[layer][_AXES[axis]] = values
    return masks


def model_masks(name: str, entry: Mapping) -> dict[str, UnitMask]:
    """The unit masks of a model's config entry (``units`` and ``dmask``), by layer.

    Parameters
    ----------
    name : str
        The model's name in the config.
    entry : mapping
        ``models.<name>``.

    Returns
    -------
    dict
        Layer -> :class:`UnitMask`, for the layers that have one.

    Raises
    ------
    InputError
        For a layer that the model does not record, or channels given both in ``units``
        and in the ``dmask`` file.
    """
    layers = list(entry.get("layers", []))
    settings: dict[str, dict] = {}
    dmask = entry.get("dmask")
    if dmask:
        for layer, axes in read_dmask(dmask).items():
            if layer not in layers:
                raise InputError(
                    f"models.{name}.dmask: {dmask} names layer {layer!r}, which is not among "
                    f"models.{name}.layers ({', '.join(layers)})"
                )
            settings[layer] = dict(axes)
    for layer, options in (entry.get("units") or {}).items():
        if layer not in layers:
            raise InputError(
                f"models.{name}.units.{layer}: not among models.{name}.layers ({', '.join(layers)})"
            )
        both = set(options) & set(settings.get(layer, {}))
        if both:
            raise InputError(
                f"models.{name}.units.{layer}: {sorted(both)[0]} given here and in the dmask "
                f"file {dmask}; expected one place"
            )
        settings.setdefault(layer, {}).update(options)
    masks = {}
    for layer, options in settings.items():
        kw = {k: tuple(v) if k in ("channels", "rows", "cols") else v for k, v in options.items()}
        masks[layer] = UnitMask(**kw)
    return masks


def check_masks(
    name: str, masks: Mapping[str, UnitMask], shapes: Mapping[str, Sequence[int]], source: str = ""
) -> None:
    """Stop unless every mask fits its layer's unit shape (see :meth:`UnitMask.check`)."""
    prefix = f"{source}: " if source else ""
    for layer, mask in masks.items():
        mask.check(shapes[layer], f"{prefix}models.{name}.units.{layer}")


def masked_units(shape: Sequence[int], mask: UnitMask | None) -> int:
    """Units written for a layer of unit shape ``shape`` under ``mask``."""
    return math.prod(mask.out_shape(shape) if mask is not None else shape)
