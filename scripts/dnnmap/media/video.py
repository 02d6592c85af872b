"""Read video stimuli (mp4, avi, webm, ...) with PyAV and sample the clips a network sees.

PyAV brings its own FFmpeg, so decoding needs nothing outside the Python environment.
:func:`probe_video` reads the container header only (cheap: the start-up checks use it);
:func:`read_video` decodes every frame to 8-bit RGB.

A video network takes a clip of a fixed number of frames. :class:`ClipSampling` says which
frames of a video form its clip(s):

- ``fps`` (optional) first resamples the video's timeline to that frame rate: sample ``k``
  is the last frame shown at time ``k / fps`` (frame ``floor(k * native_fps / fps)``), so
  a 30 fps video read at 15 fps keeps every other frame, and at 60 fps repeats each frame;
- ``stride`` then keeps every ``stride``-th of those samples;
- a clip is ``frames`` consecutive samples. With ``clips: 1`` the clip is taken at the start
  of the video (``crop: start``) or in its middle (``crop: center``); with ``clips: n > 1``
  the n clips start at evenly spaced positions from the first to the last possible one
  (``crop: uniform``) and the network's activations are averaged over them.

A video with fewer samples than a clip needs repeats its last frame to fill the clip (the
extraction log counts such videos).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

from dnnmap.errors import InputError

CROPS = ("center", "start", "uniform")
"""Where the clip(s) are taken in the video (see :class:`ClipSampling`)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, from its header (and, after decoding, the true frame count).

    Attributes
    ----------
    n_frames : int
        Frames of the first video stream (the header's count, or the decoded count).
    fps : float
        Average frame rate, frames per second.
    duration : float
        Duration in seconds (``n_frames / fps``).
    width, height : int
        Frame size in pixels.
    codec : str
        FFmpeg's name of the codec, e.g. ``"h264"``.
    """

    n_frames: int
    fps: float
    duration: float
    width: int
    height: int
    codec: str


def _open(path: str | os.PathLike):
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{os.fspath(path)}: does not open as a video ({_reason(exc)}); expected a video "
            "file FFmpeg reads (mp4, avi, webm, mov, mkv)"
        ) from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{os.fspath(path)}: has no video stream; expected a video file")
    return container


def _reason(exc: Exception) -> str:
    return ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:160]


def _rate(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's header: frame count, frame rate, duration and size, without decoding.

    Containers that do not store a frame count (webm, some avi) give the duration times the
    frame rate, rounded.

    Raises
    ------
    InputError
        If the file does not open as a video, has no video stream, or has no frame rate.
    """
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = _rate(stream)
        if fps <= 0:
            raise InputError(f"{os.fspath(path)}: the video stream has no frame rate")
        n_frames = int(stream.frames or 0)
        if n_frames == 0:
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / 1_000_000
            else:
                seconds = 0.0
            n_frames = round(seconds * fps)
        ctx = stream.codec_context
        return VideoInfo(n_frames, fps, n_frames / fps, ctx.width, ctx.height, ctx.name)


def _decode(path: str | os.PathLike, keep) -> tuple[dict[int, np.ndarray], VideoInfo]:
    """Decode every frame in order; convert to RGB only those whose index is in ``keep``
    (every frame when ``keep`` is None), so memory holds the kept frames only."""
    import av

    kept: dict[int, np.ndarray] = {}
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = _rate(stream)
        n = 0
        try:
            for frame in container.decode(stream):
                if keep is None or n in keep:
                    kept[n] = frame.to_ndarray(format="rgb24")
                n += 1
        except (av.FFmpegError, OSError) as exc:
            raise InputError(
                f"{os.fspath(path)}: does not decode as a video ({_reason(exc)}); expected a "
                "readable video file"
            ) from exc
        ctx = stream.codec_context
        width, height, codec = ctx.width, ctx.height, ctx.name
    if n == 0:
        raise InputError(f"{os.fspath(path)}: no frame decodes; expected a video with frames")
    if fps <= 0:
        raise InputError(f"{os.fspath(path)}: the video stream has no frame rate")
    return kept, VideoInfo(n, fps, n / fps, width, height, codec)


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, VideoInfo]:
    """Decode every frame of a video's first video stream as 8-bit RGB.

    Parameters
    ----------
    path : path
        A video file FFmpeg decodes.

    Returns
    -------
    frames : numpy.ndarray
        uint8, shape (n_frames, height, width, 3), in presentation order.
    info : VideoInfo
        With the decoded frame count.

    Raises
    ------
    InputError
        If the file does not open or decode, or holds no frame.
    """
    kept, info = _decode(path, None)
    return np.stack([kept[i] for i in range(info.n_frames)]), info


def check_video(path: str | os.PathLike) -> VideoInfo:
    """Decode every frame of a video without keeping any (memory flat in its length).

    Returns
    -------
    VideoInfo
        With the decoded frame count.

    Raises
    ------
    InputError
        If the file does not open or decode, or holds no frame.
    """
    return _decode(path, set())[1]


def count_frames(path: str | os.PathLike) -> int:
    """Frames of a video's first video stream, counted from its packets (no decoding)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    codec: str | None = None,
    options: dict | None = None,
) -> None:
    """Write uint8 RGB frames as a video (for tests and synthetic stimuli).

    Parameters
    ----------
    path : path
        Target file; the container follows its extension (``.mp4``, ``.avi``, ``.webm``).
    frames : numpy.ndarray
        uint8, shape (n_frames, height, width, 3); height and width even for yuv420 codecs.
    fps : float
        Frame rate.
    codec : str, optional
        FFmpeg encoder; by default ``libx264`` (mp4, mkv, mov), ``libvpx-vp9`` (webm) or
        ``mpeg4`` (avi). ``libx264rgb`` with ``options={"qp": "0"}`` is lossless in RGB.
    options : dict, optional
        Encoder options, e.g. ``{"crf": "0"}``.
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise InputError(f"frames: {frames.dtype} {frames.shape}; expected uint8 (T, H, W, 3)")
    suffix = os.fspath(path).rsplit(".", 1)[-1].lower()
    codec = codec or {"webm": "libvpx-vp9", "avi": "mpeg4"}.get(suffix, "libx264")
    rgb = codec in ("libx264rgb", "ffv1", "png", "rawvideo")
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = {"libx264rgb": "rgb24", "ffv1": "bgr0", "rawvideo": "rgb24"}.get(
            codec, "rgb24" if rgb else "yuv420p"
        )
        if codec == "mpeg4":
            stream.bit_rate = 8_000_000
        stream.options = dict(options or {})
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@dataclass(frozen=True)
class ClipSampling:
    """Which frames of a video form the clip(s) a video network sees.

    Attributes
    ----------
    frames : int
        Frames per clip (the network's temporal input size).
    stride : int
        Keep every ``stride``-th frame (after ``fps`` resampling).
    fps : float or None
        Resample the video's timeline to this frame rate first (None: the native rate).
    clips : int
        Clips per video; their activations are averaged.
    crop : {"center", "start", "uniform"} or None
        Where one clip is taken (``uniform`` spreads several evenly over the video; it is
        the only crop for ``clips > 1``, and means ``center`` for one clip). None:
        ``center`` for one clip, ``uniform`` for several.
    """

    frames: int = 16
    stride: int = 1
    fps: float | None = None
    clips: int = 1
    crop: str | None = None

    def __post_init__(self):
        where = "clip"
        if self.crop is None:
            object.__setattr__(self, "crop", "center" if self.clips == 1 else "uniform")
        for name in ("frames", "stride", "clips"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{where}.{name}: {value!r}; expected an integer >= 1")
        if self.fps is not None and not (isinstance(self.fps, int | float) and self.fps > 0):
            raise InputError(f"{where}.fps: {self.fps!r}; expected a positive number or null")
        if self.crop not in CROPS:
            raise InputError(f"{where}.crop: {self.crop!r}; expected one of {', '.join(CROPS)}")
        if self.clips > 1 and self.crop != "uniform":
            raise InputError(
                f"{where}: clips is {self.clips} with crop {self.crop!r}; several clips are "
                "spread evenly over the video, so expected crop: uniform"
            )

    def as_dict(self) -> dict:
        """The settings as a JSON-ready dict."""
        return asdict(self)

    def indices(self, n_frames: int, fps: float) -> np.ndarray:
        """Frame indices of every clip of a video.

        Parameters
        ----------
        n_frames : int
            Frames of the video.
        fps : float
            Its native frame rate.

        Returns
        -------
        numpy.ndarray
            int64, shape (clips, frames): indices into the video's frames, in time order.
            A video too short for a clip repeats its last frame.
        """
        if n_frames < 1:
            raise InputError(f"a video of {n_frames} frames has no clip; expected frames")
        if self.fps is None:
            timeline = np.arange(n_frames)
        else:
            duration = n_frames / fps
            n_samples = max(1, int(np.floor(duration * self.fps + 1e-9)))
            k = np.arange(n_samples)
            timeline = np.minimum(
                np.floor(k * fps / self.fps + 1e-9).astype(np.int64), n_frames - 1
            )
        timeline = timeline[:: self.stride]
        n = len(timeline)
        span = self.frames
        last = max(n - span, 0)
        if self.clips > 1:
            starts = np.round(np.linspace(0, last, self.clips)).astype(np.int64)
        elif self.crop == "start":
            starts = np.array([0])
        else:
            starts = np.array([last // 2])
        pos = starts[:, None] + np.arange(span)[None, :]
        return timeline[np.minimum(pos, n - 1)].astype(np.int64)

    def short(self, n_frames: int, fps: float) -> bool:
        """Whether a video of ``n_frames`` at ``fps`` is too short for one clip."""
        if self.fps is None:
            n = n_frames
        else:
            n = max(1, int(np.floor(n_frames / fps * self.fps + 1e-9)))
        return -(-n // self.stride) < self.frames


def read_clips(path: str | os.PathLike, sampling: ClipSampling) -> tuple[np.ndarray, VideoInfo]:
    """Decode a video and return its clips, keeping only the frames they use.

    The frames are counted from the packets first, so a long video never sits whole in
    memory; if decoding finds another count, the clips are sampled again from that count.

    Returns
    -------
    clips : numpy.ndarray
        uint8, shape (sampling.clips, sampling.frames, height, width, 3).
    info : VideoInfo
        The decoded video's frame count, rate and size.
    """
    n = count_frames(path)
    fps = probe_video(path).fps
    for _ in range(2):
        indices = sampling.indices(max(n, 1), fps)
        kept, info = _decode(path, set(indices.ravel().tolist()))
        if info.n_frames == n:
            break
        n = info.n_frames
    return np.stack([kept[i] for i in indices.ravel()]).reshape(
        *indices.shape, info.height, info.width, 3
    ), info
