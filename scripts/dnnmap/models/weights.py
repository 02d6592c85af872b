"""Pretrained weights for compute nodes without internet.

A login-node rule calls :func:`fetch_weights` once per model: it copies torchvision's weights
file from a local torch hub cache, or downloads it when the network is there, checks its
sha256 prefix, and writes it under ``results/weights/``. Extraction jobs then load that
local file and never touch the network.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision

from dnnmap.errors import InputError
from dnnmap.models.registry import get_family
from dnnmap.store import atomic_path

_HASH = re.compile(r"-([0-9a-f]{8,64})\.(pth|pt)$")


def weights_url(architecture: str, name: str, where: str = "weights") -> str:
    """URL of torchvision's weights ``name`` (e.g. ``IMAGENET1K_V1``) for ``architecture``.

    Raises
    ------
    InputError
        For an unregistered architecture, or a name its family does not accept (the message
        lists the accepted names).
    """
    get_family(architecture, where).check_weights(name, where)
    try:
        return torchvision.models.get_model_weights(architecture)[name].url
    except (KeyError, ValueError) as err:
        raise InputError(
            f"{where}: {name!r} is not 'none', a .pth file, or a torchvision weights name of "
            f"{architecture}"
        ) from err


def default_cache_dirs() -> list[Path]:
    """Folders searched for weights files: the torch hub cache (``$TORCH_HOME/hub``)."""
    return [Path(torch.hub.get_dir()) / "checkpoints"]


def check_hash(path: Path, filename: str) -> None:
    """Stop unless ``path``'s sha256 starts with the prefix in torchvision's ``filename``."""
    match = _HASH.search(filename)
    if not match:
        return
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    if not h.hexdigest().startswith(match[1]):
        raise InputError(
            f"{path}: sha256 {h.hexdigest()[:12]}... does not match the {match[1]} in its "
            "name; the file is damaged or not the one torchvision publishes"
        )


def fetch_weights(
    architecture: str,
    name: str,
    dest: str | os.PathLike,
    cache_dirs: Sequence[str | os.PathLike] | None = None,
    download: bool = True,
    where: str = "weights",
) -> str:
    """Put torchvision's weights file for ``architecture``/``name`` at ``dest``.

    Parameters
    ----------
    architecture, name : str
        E.g. ``"alexnet"``, ``"IMAGENET1K_V1"``.
    dest : path
        Where the weights (a state dict) are written, atomically.
    cache_dirs : sequence of path, optional
        Folders searched first (default: the torch hub cache).
    download : bool
        Download when no cache has the file.
    where : str
        Config location for messages.

    Returns
    -------
    str
        Where the file came from: a cache path or the URL.

    Raises
    ------
    InputError
        When no cache has the file and it cannot be downloaded; the message says which file
        to put where.
    """
    url = weights_url(architecture, name, where)
    filename = Path(url).name
    dirs = [Path(d) for d in (cache_dirs if cache_dirs is not None else default_cache_dirs())]
    for folder in dirs:
        cached = folder / filename
        if cached.is_file():
            check_hash(cached, filename)
            with atomic_path(dest) as tmp:
                shutil.copyfile(cached, tmp)
            return str(cached)
    problem = "downloads are switched off"
    if download:
        try:
            with atomic_path(dest) as tmp:
                torch.hub.download_url_to_file(url, str(tmp), progress=False)
                check_hash(tmp, filename)
            return url
        except InputError:
            raise
        except Exception as err:  # no network shows up as many error types
            problem = f"download failed: {type(err).__name__}"
    searched = ", ".join(str(d) for d in dirs) or "no folder"
    target = dirs[0] if dirs else Path(dest).parent
    raise InputError(
        f"{where}: {name} weights of {architecture} ({filename}) are in no cache ({searched}) "
        f"and {problem}; download {url} on a machine with internet into {target}, "
        "or set the weights to a local .pth file"
    )
