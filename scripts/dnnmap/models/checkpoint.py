"""Read a local weights file as a state dict, and say why when it does not fit the network.

A weights file must be a state dict, ``torch.save(model.state_dict(), path)``. It is read
with ``torch.load(weights_only=True)``, which loads tensors and plain containers only and
never runs code from the file; a file holding a whole pickled model (or any other object)
is refused with a message that names what was found, and never advises loading it unsafely.

Training checkpoints often wrap the state dict (``{"state_dict": ..., "epoch": ...}``) or
prefix its keys (``module.`` from ``DataParallel``). The config's
``models.<model>.checkpoint_key`` and ``strip_prefix`` undo that; when they are missing,
the messages here detect the wrapper or the prefix and name the setting that fixes it.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping

import torch

from dnnmap.errors import InputError

EXPECTED = "expected a state dict, saved with torch.save(model.state_dict(), path)"
"""The end of every message about a file that is not a state dict."""

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_SHOWN = 3


def load_state_dict(
    path: str | os.PathLike,
    key: str = "models.<model>",
    checkpoint_key: str | None = None,
    strip_prefix: str | None = None,
) -> dict[str, torch.Tensor]:
    """Read the state dict in ``path`` safely, unwrapping and renaming as configured.

    Parameters
    ----------
    path : path
        A file written by ``torch.save``.
    key : str
        The model's config key (``models.<model>``), named in messages and hints.
    checkpoint_key : str, optional
        Top-level entry of the file that holds the state dict (e.g. ``"state_dict"``).
    strip_prefix : str, optional
        Prefix removed from the keys that start with it (e.g. ``"module."``).

    Returns
    -------
    dict
        Parameter name -> tensor, in the file's order.

    Raises
    ------
    InputError
        One line naming ``path``: the file is not a PyTorch file, holds a pickled object
        (named) or something else than a mapping of tensors (with the wrapper key to set,
        if one entry holds the tensors), or ``checkpoint_key``/``strip_prefix`` do not apply.
    """
    where = f"{key}.weights: {path}"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = _GLOBAL.search(str(err))
        what = f"a pickled {found[1]} object" if found else "a pickled Python object"
        raise InputError(
            f"{where} holds {what} (a whole model?), not a state dict; dnnmap loads tensors "
            f"only and never runs code from a weights file; {EXPECTED}"
        ) from None
    except Exception as err:  # not a torch file: torch raises many types (EOFError, KeyError...)
        raise InputError(
            f"{where}: not a file torch.load can read ({type(err).__name__}); {EXPECTED}"
        ) from None
    if checkpoint_key is not None:
        obj = _unwrap(obj, checkpoint_key, where, key)
    _check_tensors(obj, where, key)
    state = dict(obj)
    if strip_prefix is not None:
        state = _strip(state, strip_prefix, where, key)
    return state


def _unwrap(obj: object, checkpoint_key: str, where: str, key: str) -> object:
    """The entry ``checkpoint_key`` of a mapping ``obj``, or stop listing its keys."""
    if not isinstance(obj, Mapping):
        raise InputError(
            f"{where}: {key}.checkpoint_key is {checkpoint_key!r} but the file holds "
            f"{_describe(obj)}, not a dict"
        )
    if checkpoint_key not in obj:
        raise InputError(
            f"{where}: no entry {checkpoint_key!r} ({key}.checkpoint_key); the file's "
            f"top-level keys are {_first(list(obj))}"
        )
    return obj[checkpoint_key]


def _strip(state: dict, prefix: str, where: str, key: str) -> dict:
    """``state`` with ``prefix`` removed from the keys that start with it."""
    if not any(k.startswith(prefix) for k in state):
        raise InputError(
            f"{where}: no key starts with {prefix!r} ({key}.strip_prefix); the first keys are "
            f"{_first(list(state))}"
        )
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state.items()}


def _check_tensors(obj: object, where: str, key: str) -> None:
    """Stop unless ``obj`` maps str keys to tensors; name the wrapper entry if there is one."""
    if _is_state(obj):
        return
    hint = ""
    if isinstance(obj, Mapping):
        wrappers = [k for k, v in obj.items() if _is_state(v)]
        if wrappers:
            hint = (
                f"; the tensors are under {wrappers[0]!r}: set {key}.checkpoint_key: {wrappers[0]}"
            )
    raise InputError(f"{where} holds {_describe(obj)}, not a state dict{hint}; {EXPECTED}")


def _is_state(value: object) -> bool:
    """True for a non-empty mapping of str keys to tensors."""
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def _describe(obj: object) -> str:
    """A few words on what ``obj`` is, e.g. ``a list of 3 items``."""
    if isinstance(obj, torch.Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    if isinstance(obj, list | tuple):
        return f"a {type(obj).__name__} of {len(obj)} items"
    if isinstance(obj, Mapping):
        if not obj:
            return "an empty dict"
        return f"a dict whose entries are not all tensors (keys: {_first(list(obj))})"
    return f"a {type(obj).__name__}"


def _first(names: list, n: int = _SHOWN) -> str:
    """The first ``n`` names, comma-separated, with ``...`` if there are more."""
    shown = ", ".join(str(name) for name in names[:n])
    return shown + (", ..." if len(names) > n else "")


def describe_mismatch(
    expected: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor], key: str
) -> str:
    """Say how a state dict differs from what the network expects, with a fix if one is seen.

    Parameters
    ----------
    expected : mapping of str to tuple of int
        The network's parameter and buffer names -> shapes.
    state : mapping of str to torch.Tensor
        The state dict read from the file.
    key : str
        The model's config key (``models.<model>``), for the hint.

    Returns
    -------
    str
        E.g. ``"62 keys missing (first: conv1.weight, ...), 62 unexpected (first:
        module.conv1.weight, ...); the file's keys all start with 'module.': set
        models.net.strip_prefix: module."``. The hint appears when stripping a prefix
        shared by every key of the file leaves fewer keys missing.
    """
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    parts = []
    if missing:
        parts.append(f"{len(missing)} keys missing (first: {_first(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first: {_first(unexpected)})")
    if reshaped:
        k = reshaped[0]
        parts.append(
            f"{len(reshaped)} of another shape (first: {k} is {tuple(state[k].shape)} in the "
            f"file, {tuple(expected[k])} expected)"
        )
    text = ", ".join(parts) or "keys and shapes match"
    prefix = _shared_prefix(list(state), set(expected), len(missing))
    if prefix:
        text += f"; the file's keys all start with {prefix!r}: set {key}.strip_prefix: {prefix}"
    return text


def _shared_prefix(names: list[str], expected: set[str], n_missing: int) -> str | None:
    """The dotted prefix shared by all ``names`` whose removal leaves fewest keys missing."""
    if not names:
        return None
    best, best_missing = None, n_missing
    parts = names[0].split(".")
    for depth in range(1, len(parts)):
        prefix = ".".join(parts[:depth]) + "."
        if not all(n.startswith(prefix) for n in names):
            break
        stripped = {n[len(prefix) :] for n in names}
        left = len(expected - stripped)
        if left < best_missing:
            best, best_missing = prefix, left
    return best
