"""Read audio stimuli (wav, flac, ogg, ...) with soundfile, as mono at the network's rate.

:func:`probe_audio` reads the file header only (cheap: the start-up checks use it);
:func:`read_audio` decodes the samples as float in [-1, 1]; :func:`load_waveform` gives the
mono waveform a network takes: channels averaged, and resampled to the network's rate by a
polyphase filter (:func:`scipy.signal.resample_poly`, Kaiser window) unless resampling is
off, in which case a file at another rate is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from dnnmap.errors import InputError


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file holds, from its header.

    Attributes
    ----------
    samplerate : int
        Samples per second.
    n_samples : int
        Samples per channel.
    channels : int
        Number of channels.
    duration : float
        Seconds (``n_samples / samplerate``).
    format : str
        soundfile's format name, e.g. ``"WAV"``.
    """

    samplerate: int
    n_samples: int
    channels: int
    duration: float
    format: str


def _reason(exc: Exception) -> str:
    return ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:160]


def probe_audio(path: str | os.PathLike) -> AudioInfo:
    """Read an audio file's header: rate, samples, channels.

    Raises
    ------
    InputError
        If soundfile cannot open the file, or it holds no samples.
    """
    import soundfile

    try:
        info = soundfile.info(os.fspath(path))
    except (RuntimeError, soundfile.LibsndfileError, OSError) as exc:
        raise InputError(
            f"{os.fspath(path)}: does not open as audio ({_reason(exc)}); expected a sound "
            "file soundfile reads (wav, flac, ogg)"
        ) from exc
    n = int(info.frames)
    if n <= 0 or info.samplerate <= 0:
        raise InputError(f"{os.fspath(path)}: holds no audio samples; expected a sound")
    return AudioInfo(int(info.samplerate), n, int(info.channels), n / info.samplerate, info.format)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, AudioInfo]:
    """Decode an audio file.

    Returns
    -------
    samples : numpy.ndarray
        float32 in [-1, 1], shape (n_samples, channels).
    info : AudioInfo
        Its header.

    Raises
    ------
    InputError
        If the file does not decode or holds no samples.
    """
    import soundfile

    info = probe_audio(path)
    try:
        samples, _ = soundfile.read(os.fspath(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, OSError) as exc:
        raise InputError(
            f"{os.fspath(path)}: does not decode as audio ({_reason(exc)}); expected a "
            "readable sound file"
        ) from exc
    if samples.shape[0] == 0:
        raise InputError(f"{os.fspath(path)}: holds no audio samples; expected a sound")
    return samples, info


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels: (n_samples, channels) -> (n_samples,); 1-D input is returned."""
    samples = np.asarray(samples)
    return samples if samples.ndim == 1 else samples.mean(axis=1)


def resample(waveform: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a 1-D waveform by the exact ratio ``rate_out / rate_in`` (polyphase filter).

    Parameters
    ----------
    waveform : numpy.ndarray
        Shape (n_samples,).
    rate_in, rate_out : int
        Sample rates, Hz.

    Returns
    -------
    numpy.ndarray
        Shape (ceil(n_samples * rate_out / rate_in),), float64.
    """
    from scipy.signal import resample_poly

    waveform = np.asarray(waveform, dtype=np.float64)
    if rate_in == rate_out:
        return waveform
    ratio = Fraction(int(rate_out), int(rate_in))
    return resample_poly(waveform, ratio.numerator, ratio.denominator)


def load_waveform(
    path: str | os.PathLike, rate: int, resample_audio: bool = True
) -> tuple[np.ndarray, AudioInfo]:
    """The mono waveform of an audio file at ``rate``.

    Parameters
    ----------
    path : path
        A sound file.
    rate : int
        The network's sample rate, Hz (16000 for VGGish).
    resample_audio : bool
        Resample a file at another rate; if False such a file is an error.

    Returns
    -------
    waveform : numpy.ndarray
        float64, shape (n_samples,) at ``rate``.
    info : AudioInfo
        The file's header.

    Raises
    ------
    InputError
        If the file does not decode, has no samples, or (``resample_audio`` False) is at
        another rate.
    """
    info = probe_audio(path)
    check_rate(info, rate, resample_audio, os.fspath(path))
    samples, info = read_audio(path)
    return resample(to_mono(samples), info.samplerate, rate), info


def check_rate(info: AudioInfo, rate: int, resample_audio: bool, where: str) -> None:
    """Stop when a file is not at ``rate`` and resampling is off."""
    if not resample_audio and info.samplerate != rate:
        raise InputError(
            f"{where}: sampled at {info.samplerate} Hz but the network takes {rate} Hz and "
            "resampling is off; expected a file at that rate, or audio.resample: true"
        )
