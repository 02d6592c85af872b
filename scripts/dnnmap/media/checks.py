"""Start-up checks of models against the stimuli they will read (no torch, headers only).

:func:`check_models_take_stimuli` runs before any job: every model must take the modality
of every stimulus, its ``clip`` / ``audio`` options must be valid for its family, and every
sound must be long enough for an audio network (and at its rate when resampling is off).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from dnnmap.errors import InputError
from dnnmap.media.audio import AudioInfo, check_rate
from dnnmap.media.options import AudioOptions, media_options
from dnnmap.media.vggish_frontend import SAMPLE_RATE, min_seconds, n_examples
from dnnmap.models.registry import get_family
from dnnmap.stimuli import LINES_ATTR, MEDIA_ATTR


def check_models_take_stimuli(
    config: Mapping, table: pd.DataFrame, table_path: str, source: str
) -> None:
    """Stop unless every model can read every stimulus of the checked table.

    Parameters
    ----------
    config : mapping
        The validated config.
    table : pandas.DataFrame
        The table :func:`dnnmap.stimuli.check_stimuli` returned (``attrs`` with the row line
        numbers and the media headers).
    table_path : str
        The stimulus table file, named in messages.
    source : str
        The config file, named in messages.

    Raises
    ------
    InputError
        One line naming the model, and the table row where a stimulus is at fault: a
        modality the model does not take, bad ``clip``/``audio`` options, a sound shorter
        than one 0.96 s example (or than ``n_examples`` of them), or a sound at another
        rate with ``audio.resample: false``.
    """
    lines = table.attrs.get(LINES_ATTR) or [i + 2 for i in range(len(table))]
    infos = table.attrs.get(MEDIA_ATTR, {})
    for name, entry in config["models"].items():
        family = get_family(entry["architecture"], f"{source}: models.{name}.architecture")
        other = [i for i, m in enumerate(table["modality"]) if m != family.modality]
        if other:
            i = other[0]
            raise InputError(
                f"{source}: models.{name}: {family.name} takes {family.modality} stimuli, but "
                f"{table_path} row {lines[i]} ({table['stim_id'].iloc[i]}) is "
                f"{table['modality'].iloc[i]} ({len(other)} such row(s)); expected a model "
                f"that takes {table['modality'].iloc[i]} stimuli"
            )
        options = media_options(name, entry, family, source)
        if isinstance(options, AudioOptions):
            need = options.n_examples or 1
            for i, info in infos.items():
                where = f"{table_path} row {lines[i]} ({table['stim_id'].iloc[i]})"
                _check_sound(info, options, need, where, f"models.{name}")


def _check_sound(info: AudioInfo, options: AudioOptions, need: int, where: str, key: str):
    check_rate(info, SAMPLE_RATE, options.resample, f"{where} for {key}")
    got = n_examples(info.n_samples, info.samplerate)
    if got < need:
        seconds = min_seconds(need)
        raise InputError(
            f"{where}: {info.duration:.3f} s of audio gives {got} VGGish example(s) of 0.96 s "
            f"but {key} needs {need}; expected sounds of at least {seconds:.3f} s"
        )


def media_report(infos: Mapping) -> list[str]:
    """One line per kind of media file: count, durations, rates and sizes.

    Parameters
    ----------
    infos : mapping
        Row index -> :class:`~dnnmap.media.video.VideoInfo` or :class:`AudioInfo`.

    Returns
    -------
    list of str
        E.g. ``"video: 30 file(s), 1.0-2.0 s, 25 fps, 64-64 x 48-48 px (width x height)"``.
    """
    from dnnmap.media.video import VideoInfo

    lines = []
    videos = [i for i in infos.values() if isinstance(i, VideoInfo)]
    sounds = [i for i in infos.values() if isinstance(i, AudioInfo)]
    if videos:
        d = [v.duration for v in videos]
        rates = ", ".join(f"{r:g}" for r in sorted({v.fps for v in videos}))
        w = [v.width for v in videos]
        h = [v.height for v in videos]
        lines.append(
            f"video: {len(videos)} file(s), {min(d):.2f}-{max(d):.2f} s, {rates} fps, "
            f"{min(w)}-{max(w)} x {min(h)}-{max(h)} px (width x height)"
        )
    if sounds:
        d = [s.duration for s in sounds]
        rates = ", ".join(str(r) for r in sorted({s.samplerate for s in sounds}))
        channels = ", ".join(str(c) for c in sorted({s.channels for s in sounds}))
        lines.append(
            f"audio: {len(sounds)} file(s), {min(d):.2f}-{max(d):.2f} s, {rates} Hz, "
            f"{channels} channel(s)"
        )
    return lines
