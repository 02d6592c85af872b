"""A video or audio model's stimulus options: ``models.<name>.clip`` and ``models.<name>.audio``.

``clip`` (video networks) is a :class:`dnnmap.media.video.ClipSampling`; ``audio`` (audio
networks) an :class:`AudioOptions`. :func:`media_options` reads either from a model's config
entry with the checks that need the model's family (no torch is imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from dnnmap.errors import InputError
from dnnmap.media.video import ClipSampling
from dnnmap.models.registry import ModelFamily

EXAMPLES = ("mean", "keep")
"""How an audio clip's per-example activations are stored."""


@dataclass(frozen=True)
class AudioOptions:
    """How an audio network reads a sound.

    Attributes
    ----------
    resample : bool
        Resample a file at another rate to the network's (16 kHz for VGGish); if False,
        such a file is an error.
    examples : {"mean", "keep"}
        ``mean``: a layer's activations averaged over the clip's 0.96 s examples, unit
        shape that of one example; ``keep``: the first ``n_examples`` examples kept, unit
        shape (n_examples, *unit_shape).
    n_examples : int or None
        Examples kept per clip with ``keep`` (every clip must have at least that many).
    """

    resample: bool = True
    examples: str = "mean"
    n_examples: int | None = None

    def __post_init__(self):
        if not isinstance(self.resample, bool):
            raise InputError(f"audio.resample: {self.resample!r}; expected true or false")
        if self.examples not in EXAMPLES:
            raise InputError(
                f"audio.examples: {self.examples!r}; expected one of {', '.join(EXAMPLES)}"
            )
        n = self.n_examples
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise InputError(f"audio.n_examples: {n!r}; expected an integer >= 1 or null")
        if self.examples == "keep" and n is None:
            raise InputError(
                "audio.examples is 'keep' without audio.n_examples; expected the number of "
                "0.96 s examples kept per clip (all clips must have at least that many)"
            )
        if self.examples == "mean" and n is not None:
            raise InputError(
                f"audio.n_examples is {n} but audio.examples is 'mean' (every example is "
                "averaged); expected n_examples only with examples: keep"
            )

    def as_dict(self) -> dict:
        """The settings as a JSON-ready dict."""
        return asdict(self)


def media_options(
    name: str, entry: Mapping, family: ModelFamily, where: str = "models"
) -> ClipSampling | AudioOptions | None:
    """The clip or audio options of the model ``name`` (None for an image network).

    Parameters
    ----------
    name : str
        The model's name in the config.
    entry : mapping
        ``config["models"][name]``.
    family : ModelFamily
        Its architecture's family.
    where : str
        Prefix of error messages (e.g. the config file).

    Raises
    ------
    InputError
        For ``clip`` on a network that is not a video network, ``audio`` on one that is not
        an audio network, ``preprocessing`` on an audio network, a bad option, or a clip
        size the network cannot take.
    """
    key = f"{where}.{name}" if where == "models" else f"{where}: models.{name}"
    kinds = {"clip": "video", "audio": "audio"}
    for option, modality in kinds.items():
        if option in entry and family.modality != modality:
            raise InputError(
                f"{key}.{option}: applies to {modality} networks, but {family.name} takes "
                f"{family.modality} stimuli"
            )
    if family.modality == "video":
        try:
            sampling = ClipSampling(**dict(entry.get("clip") or {}))
        except TypeError as exc:
            raise InputError(f"{key}.clip: {exc}") from None
        except InputError as err:
            raise InputError(f"{key}.{err}") from None
        from dnnmap.models.families.video import video_unit_shapes

        resize = dict(entry.get("preprocessing") or {}).get(
            "resize", family.preprocessing["resize"]
        )
        video_unit_shapes(family.name, int(resize), sampling.frames, key)
        return sampling
    if family.modality == "audio":
        if "preprocessing" in entry:
            raise InputError(
                f"{key}.preprocessing: {family.name} takes the VGGish log-mel front end, "
                "which has no image preprocessing; expected no preprocessing key"
            )
        try:
            return AudioOptions(**dict(entry.get("audio") or {}))
        except TypeError as exc:
            raise InputError(f"{key}.audio: {exc}") from None
        except InputError as err:
            raise InputError(f"{key}.{err}") from None
    return None
