"""The VGGish log-mel front end: waveform -> 0.96 s examples of 96 frames x 64 mel bands.

As specified for VGGish (Hershey et al. 2017, the AudioSet release's ``vggish_input`` and
``mel_features``):

1. mono, resampled to 16 kHz (:func:`dnnmap.media.audio.load_waveform`);
2. frames of 25 ms (400 samples) every 10 ms (160 samples), no padding, so a waveform of
   ``n`` samples gives ``1 + (n - 400) // 160`` frames;
3. each frame times a periodic Hann window ``0.5 - 0.5 cos(2 pi t / 400)``, zero-padded to
   512 points, and the magnitude of its real FFT (257 bins);
4. 64 mel bands from 125 to 7500 Hz on the HTK mel scale ``1127 ln(1 + f / 700)``: band
   ``b`` is a triangle, linear in mel, from edge ``b`` to edge ``b + 2`` of 66 edges evenly
   spaced in mel, peaking at 1 on edge ``b + 1``, with no area normalisation; the DC bin is
   given weight 0;
5. ``log(mel + 0.01)``;
6. examples of 96 frames (0.96 s) every 96 frames, no padding: a clip of ``n_frames``
   frames gives ``1 + (n_frames - 96) // 96`` examples (none below 0.975 s).
"""

from __future__ import annotations

import numpy as np

from dnnmap.errors import InputError

SAMPLE_RATE = 16000
"""Hz."""
WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_SECONDS = 0.96
EXAMPLE_HOP_SECONDS = 0.96
WINDOW_SAMPLES = round(SAMPLE_RATE * WINDOW_SECONDS)  # 400
HOP_SAMPLES = round(SAMPLE_RATE * HOP_SECONDS)  # 160
FFT_LENGTH = 2 ** int(np.ceil(np.log2(WINDOW_SAMPLES)))  # 512
EXAMPLE_FRAMES = round(EXAMPLE_SECONDS / HOP_SECONDS)  # 96
EXAMPLE_HOP_FRAMES = round(EXAMPLE_HOP_SECONDS / HOP_SECONDS)  # 96
MIN_SAMPLES = WINDOW_SAMPLES + (EXAMPLE_FRAMES - 1) * HOP_SAMPLES  # 15600: one example
"""Fewest samples at 16 kHz that give one example (0.975 s)."""


def frame(data: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Overlapping frames of the first axis, without padding.

    Parameters
    ----------
    data : numpy.ndarray
        Shape (n, ...).
    window, hop : int
        Frame length and step, in samples along axis 0.

    Returns
    -------
    numpy.ndarray
        Shape (1 + (n - window) // hop, window, ...), or (0, window, ...) when n < window;
        a read-only view.
    """
    n = data.shape[0]
    count = 0 if n < window else 1 + (n - window) // hop
    shape = (count, window, *data.shape[1:])
    strides = (data.strides[0] * hop, *data.strides)
    return np.lib.stride_tricks.as_strided(data, shape=shape, strides=strides, writeable=False)


def periodic_hann(length: int) -> np.ndarray:
    """The periodic Hann window ``0.5 - 0.5 cos(2 pi t / length)``, shape (length,)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi / length * np.arange(length))


def stft_magnitude(
    signal: np.ndarray,
    fft_length: int = FFT_LENGTH,
    hop: int = HOP_SAMPLES,
    window: int = WINDOW_SAMPLES,
) -> np.ndarray:
    """Magnitude of the short-time Fourier transform with a periodic Hann window.

    Returns
    -------
    numpy.ndarray
        Shape (n_frames, fft_length // 2 + 1).
    """
    frames = frame(np.asarray(signal, dtype=np.float64), window, hop)
    return np.abs(np.fft.rfft(frames * periodic_hann(window), int(fft_length)))


def hertz_to_mel(hertz):
    """HTK mel scale: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_matrix(
    num_mel_bins: int = NUM_MEL_BINS,
    num_spectrogram_bins: int = FFT_LENGTH // 2 + 1,
    sample_rate: int = SAMPLE_RATE,
    lower_hz: float = MEL_MIN_HZ,
    upper_hz: float = MEL_MAX_HZ,
) -> np.ndarray:
    """Weights from FFT bins to mel bands (triangles linear in mel, DC bin zeroed).

    Returns
    -------
    numpy.ndarray
        Shape (num_spectrogram_bins, num_mel_bins): ``mel = magnitude @ matrix``.
    """
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_hz < upper_hz <= nyquist:
        raise InputError(
            f"mel bands {lower_hz}-{upper_hz} Hz; expected 0 <= lower < upper <= {nyquist}"
        )
    bins_mel = hertz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))
    edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def log_mel_spectrogram(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``log(mel + 0.01)`` of a 16 kHz mono waveform.

    Parameters
    ----------
    waveform : numpy.ndarray
        Shape (n_samples,), at ``sample_rate``.

    Returns
    -------
    numpy.ndarray
        Shape (n_frames, 64), ``n_frames = 1 + (n_samples - 400) // 160`` (0 when shorter).
    """
    window = round(sample_rate * WINDOW_SECONDS)
    hop = round(sample_rate * HOP_SECONDS)
    fft = 2 ** int(np.ceil(np.log2(window)))
    magnitude = stft_magnitude(waveform, fft, hop, window)
    mel = magnitude @ mel_matrix(num_spectrogram_bins=fft // 2 + 1, sample_rate=sample_rate)
    return np.log(mel + LOG_OFFSET)


def waveform_to_examples(waveform: np.ndarray, where: str = "audio") -> np.ndarray:
    """The VGGish examples of a 16 kHz mono waveform.

    Parameters
    ----------
    waveform : numpy.ndarray
        Shape (n_samples,), 16 kHz, values in [-1, 1].
    where : str
        Named in the error message (e.g. the file).

    Returns
    -------
    numpy.ndarray
        float32, shape (n_examples, 96, 64).

    Raises
    ------
    InputError
        If the waveform is shorter than one example (15,600 samples, 0.975 s).
    """
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim != 1:
        raise InputError(f"{where}: waveform of shape {waveform.shape}; expected 1-D mono")
    if len(waveform) < MIN_SAMPLES:
        raise InputError(
            f"{where}: {len(waveform) / SAMPLE_RATE:.3f} s of audio; VGGish needs at least "
            f"{MIN_SAMPLES / SAMPLE_RATE:.3f} s (one 0.96 s example)"
        )
    log_mel = log_mel_spectrogram(waveform)
    return np.ascontiguousarray(frame(log_mel, EXAMPLE_FRAMES, EXAMPLE_HOP_FRAMES), np.float32)


def n_examples(n_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Examples that a waveform of ``n_samples`` at ``sample_rate`` gives after resampling."""
    n = -(-int(n_samples) * SAMPLE_RATE // int(sample_rate))
    if n < WINDOW_SAMPLES:
        return 0
    n_frames = 1 + (n - WINDOW_SAMPLES) // HOP_SAMPLES
    return 0 if n_frames < EXAMPLE_FRAMES else 1 + (n_frames - EXAMPLE_FRAMES) // EXAMPLE_HOP_FRAMES


def min_seconds(n: int = 1) -> float:
    """Shortest duration, in seconds, that gives ``n`` examples (0.975 s for one)."""
    return (WINDOW_SAMPLES + ((n - 1) * EXAMPLE_HOP_FRAMES + EXAMPLE_FRAMES - 1) * HOP_SAMPLES) / (
        SAMPLE_RATE
    )
