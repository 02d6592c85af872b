"""Tests of dnnmap.media.audio and the VGGish front end against librosa and closed forms."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile

from dnnmap.errors import InputError
from dnnmap.media.audio import load_waveform, probe_audio, read_audio, resample, to_mono
from dnnmap.media.vggish_frontend import (
    FFT_LENGTH,
    HOP_SAMPLES,
    MIN_SAMPLES,
    WINDOW_SAMPLES,
    hertz_to_mel,
    log_mel_spectrogram,
    mel_matrix,
    n_examples,
    periodic_hann,
    stft_magnitude,
    waveform_to_examples,
)

# librosa frames n_fft = 512 samples with the 400-sample window centred in them (56 zeros on
# each side); VGGish frames 400 samples padded with 112 zeros at the end. Both give the same
# magnitude spectrum for the same 400 windowed samples, so librosa reads the signal delayed
# by 56 samples.
PAD = (FFT_LENGTH - WINDOW_SAMPLES) // 2


def _librosa_magnitude(x):
    padded = np.concatenate([np.zeros(PAD), x])
    spec = librosa.stft(
        padded,
        n_fft=FFT_LENGTH,
        hop_length=HOP_SAMPLES,
        win_length=WINDOW_SAMPLES,
        window="hann",
        center=False,
    )
    return np.abs(spec).T


def test_constants_are_vggish():
    assert (WINDOW_SAMPLES, HOP_SAMPLES, FFT_LENGTH, MIN_SAMPLES) == (400, 160, 512, 15600)
    np.testing.assert_allclose(periodic_hann(400), librosa.filters.get_window("hann", 400))


def test_stft_magnitude_matches_librosa():
    x = np.random.default_rng(0).standard_normal(16000)
    ours = stft_magnitude(x)
    ref = _librosa_magnitude(x)
    assert ours.shape == (1 + (16000 - 400) // 160, 257)
    n = min(len(ours), len(ref))
    np.testing.assert_allclose(ours[:n], ref[:n], rtol=0, atol=1e-10 * ours.max())


def test_mel_filter_bank_against_librosa():
    ours = mel_matrix()
    ref = librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None
    ).T
    assert ours.shape == ref.shape == (257, 64)
    # The same 66 band edges on the HTK mel scale, and the same FFT bins in every band.
    edges = librosa.mel_frequencies(66, fmin=125, fmax=7500, htk=True)
    np.testing.assert_allclose(hertz_to_mel(edges), np.linspace(*hertz_to_mel([125, 7500]), 66))
    np.testing.assert_array_equal(ours > 0, ref > 0)
    assert (ours[0] == 0).all()
    # VGGish's triangles are linear in mel, librosa's in Hz between the same edges: they
    # differ by at most 0.0044 here (measured), well under one percent of the peak of 1.
    assert np.abs(ours - ref).max() < 0.005
    # The closed form of a mel-linear triangle, band by band.
    bins = hertz_to_mel(np.linspace(0, 8000, 257))
    mel_edges = hertz_to_mel(edges)
    for b in range(64):
        expected = np.interp(bins, mel_edges[b : b + 3], [0.0, 1.0, 0.0], left=0, right=0)
        expected[0] = 0.0
        np.testing.assert_allclose(ours[:, b], expected, atol=1e-12)


def test_log_mel_matches_librosa_spectrogram_through_the_vggish_bank():
    x = 0.1 * np.random.default_rng(1).standard_normal(20000)
    ours = log_mel_spectrogram(x)
    mag = _librosa_magnitude(x)
    n = min(len(ours), len(mag))
    np.testing.assert_allclose(ours[:n], np.log(mag[:n] @ mel_matrix() + 0.01), atol=1e-10)
    # and with librosa's own (Hz-linear) bank the log-mel differs by little
    bank = librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None
    )
    difference = np.abs(ours[:n] - np.log(mag[:n] @ bank.T + 0.01)).max()
    assert difference < 0.02, difference


@pytest.mark.parametrize("n", [MIN_SAMPLES, MIN_SAMPLES + 159, 16000 * 3, 16000 * 3 + 12345])
def test_examples_count_and_shape(n):
    x = np.sin(2 * np.pi * 440 * np.arange(n) / 16000)
    examples = waveform_to_examples(x)
    n_frames = 1 + (n - 400) // 160
    assert examples.shape == (1 + (n_frames - 96) // 96, 96, 64)
    assert examples.dtype == np.float32
    assert n_examples(n) == len(examples)
    log_mel = log_mel_spectrogram(x)
    np.testing.assert_allclose(examples[-1], log_mel[(len(examples) - 1) * 96 :][:96], rtol=1e-6)
    # a 440 Hz tone peaks in the band whose centre is nearest 440 Hz
    centres = librosa.mel_frequencies(66, fmin=125, fmax=7500, htk=True)[1:-1]
    assert examples[0].mean(axis=0).argmax() == np.abs(centres - 440).argmin()


def test_too_short_for_one_example():
    with pytest.raises(
        InputError, match=r"^s\.wav: 0\.970 s of audio; VGGish needs at least 0\.975 s"
    ):
        waveform_to_examples(np.zeros(15520), "s.wav")
    assert n_examples(MIN_SAMPLES - 1) == 0 and n_examples(44100, 44100) == 1


def test_resampling_a_tone_matches_the_closed_form():
    t_in = np.arange(44100) / 44100
    out = resample(np.sin(2 * np.pi * 440 * t_in), 44100, 16000)
    assert out.shape == (16000,)
    t_out = np.arange(16000) / 16000
    middle = slice(200, -200)
    np.testing.assert_allclose(out[middle], np.sin(2 * np.pi * 440 * t_out)[middle], atol=2e-3)
    # and the same as librosa's polyphase resampler
    ref = librosa.resample(
        np.sin(2 * np.pi * 440 * t_in), orig_sr=44100, target_sr=16000, res_type="polyphase"
    )
    np.testing.assert_allclose(out, ref, atol=1e-6)


@pytest.mark.parametrize("suffix, subtype", [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", None)])
def test_files_read_as_mono_at_the_network_rate(tmp_path, suffix, subtype):
    rate = 22050
    t = np.arange(int(1.5 * rate)) / rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 300 * t)], 1)
    path = tmp_path / f"tone.{suffix}"
    soundfile.write(path, stereo, rate, subtype=subtype)
    info = probe_audio(path)
    assert (info.samplerate, info.channels) == (rate, 2)
    samples, _ = read_audio(path)
    assert samples.shape == (len(t), 2) and samples.dtype == np.float32
    if suffix != "ogg":  # lossless: the samples written, to 16-bit precision
        np.testing.assert_allclose(samples, stereo, atol=1 / 2**15)
    waveform, _ = load_waveform(path, 16000)
    assert waveform.shape == (int(np.ceil(len(t) * 16000 / rate)),)
    expected = resample(to_mono(stereo), rate, 16000)
    corr = np.corrcoef(waveform, expected)[0, 1]
    assert corr > (0.999 if suffix != "ogg" else 0.99)


def test_bad_audio_is_one_clear_line(tmp_path):
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 1)), 16000)
    with pytest.raises(InputError, match=r"empty\.wav: holds no audio samples; expected a sound"):
        load_waveform(empty, 16000)
    other = tmp_path / "cd.wav"
    soundfile.write(other, np.zeros(44100), 44100)
    with pytest.raises(
        InputError,
        match=r"cd\.wav: sampled at 44100 Hz but the network takes 16000 Hz and resampling is "
        r"off; expected a file at that rate, or audio\.resample: true",
    ):
        load_waveform(other, 16000, resample_audio=False)
    assert load_waveform(other, 16000)[0].shape == (16000,)
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"not audio at all" * 20)
    with pytest.raises(InputError, match=r"junk\.flac: does not open as audio \("):
        read_audio(junk)
