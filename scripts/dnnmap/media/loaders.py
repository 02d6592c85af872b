"""Network inputs from video and audio stimuli, batched, with the per-stimulus reduction.

:func:`media_batches` yields ``(inputs, reduce)`` pairs: ``inputs`` is one forward pass'
tensor and ``reduce`` maps a layer's output over those inputs, (n_inputs, *shape), to one
row per stimulus, (n_stim_in_batch, *unit_shape):

- video: each video gives ``clip.clips`` clips (3, frames, resize, resize), normalised as
  images are (resize, scale to [0, 1], subtract the mean, divide by the std, per channel);
  a stimulus' activations are the mean over its clips;
- audio: each sound gives its VGGish examples (1, 96, 64); a stimulus' activations are the
  mean over its examples (``examples: mean``) or its first ``n_examples`` stacked
  (``examples: keep``, unit shape (n_examples, *shape)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import torch
from torchvision.transforms.v2 import functional as tvf

from dnnmap.errors import InputError
from dnnmap.media.audio import load_waveform
from dnnmap.media.options import AudioOptions
from dnnmap.media.vggish_frontend import SAMPLE_RATE, min_seconds, waveform_to_examples
from dnnmap.media.video import ClipSampling, read_clips

Reduce = Callable[[np.ndarray], np.ndarray]


@dataclass
class MediaNotes:
    """What the loaders met, for the extraction log: stimuli shorter than a clip."""

    short_videos: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        """One line per kind of note (empty when there is none)."""
        if not self.short_videos:
            return []
        first = ", ".join(self.short_videos[:3]) + (", ..." if len(self.short_videos) > 3 else "")
        return [
            f"{len(self.short_videos)} video(s) shorter than a clip: the last frame is "
            f"repeated to fill it ({first})"
        ]


def video_clip_tensor(clips: np.ndarray, preprocessing) -> torch.Tensor:
    """Preprocess uint8 clips (n, frames, H, W, 3) into (n, 3, frames, resize, resize) float32."""
    n, t = clips.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(clips)).reshape(n * t, *clips.shape[2:])
    x = x.permute(0, 3, 1, 2)
    x = tvf.resize(x, [preprocessing.resize, preprocessing.resize], antialias=True)
    x = tvf.to_dtype(x, torch.float32, scale=True)
    x = tvf.normalize(x, mean=list(preprocessing.mean), std=list(preprocessing.std))
    return x.reshape(n, t, 3, preprocessing.resize, preprocessing.resize).permute(0, 2, 1, 3, 4)


def audio_examples(path: str, options: AudioOptions) -> np.ndarray:
    """The VGGish examples of a sound file, float32 (n_examples, 96, 64)."""
    waveform, _ = load_waveform(path, SAMPLE_RATE, options.resample)
    examples = waveform_to_examples(waveform, str(path))
    if options.examples == "keep":
        if len(examples) < options.n_examples:
            raise InputError(
                f"{path}: {len(examples)} example(s) of 0.96 s but audio.n_examples is "
                f"{options.n_examples}; expected clips of at least "
                f"{min_seconds(options.n_examples):.3f} s"
            )
        examples = examples[: options.n_examples]
    return examples


def _group_reduce(counts: Sequence[int], how: str) -> Reduce:
    bounds = np.cumsum([0, *counts])

    def reduce(values: np.ndarray) -> np.ndarray:
        if how == "stack":
            return values.reshape(len(counts), counts[0], *values.shape[1:])
        return np.stack([values[a:b].mean(axis=0) for a, b in pairwise(bounds)])

    return reduce


def media_batches(
    modality: str,
    paths: Sequence[str],
    options: ClipSampling | AudioOptions,
    preprocessing,
    batch_size: int,
    notes: MediaNotes | None = None,
) -> Iterator[tuple[torch.Tensor, Reduce]]:
    """Yield ``(inputs, reduce)`` for ``batch_size`` stimuli at a time, in the order of ``paths``.

    Parameters
    ----------
    modality : {"video", "audio"}
        The network's modality.
    paths : sequence of str
        Stimulus files, shape (n_stim,).
    options : ClipSampling or AudioOptions
        The model's ``clip`` or ``audio`` options.
    preprocessing : dnnmap.models.build.Preprocessing
        Frame size and normalisation (video only).
    batch_size : int
        Stimuli per forward pass.
    notes : MediaNotes, optional
        Collects the stimuli the log should mention.

    Yields
    ------
    inputs : torch.Tensor
        Video: (b * clips, 3, frames, resize, resize); audio: (sum of examples, 1, 96, 64).
    reduce : callable
        (n_inputs, *shape) -> (b, *unit_shape), see the module docstring.
    """
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        if modality == "video":
            tensors = []
            for path in chunk:
                clips, info = read_clips(path, options)
                if notes is not None and options.short(info.n_frames, info.fps):
                    notes.short_videos.append(str(path).rsplit("/", 1)[-1])
                tensors.append(video_clip_tensor(clips, preprocessing))
            yield torch.cat(tensors), _group_reduce([options.clips] * len(chunk), "mean")
        elif modality == "audio":
            examples = [audio_examples(path, options) for path in chunk]
            counts = [len(e) for e in examples]
            how = "stack" if options.examples == "keep" else "mean"
            inputs = torch.from_numpy(np.concatenate(examples))[:, None]
            yield inputs, _group_reduce(counts, how)
        else:
            raise InputError(f"modality {modality!r}; expected video or audio")
