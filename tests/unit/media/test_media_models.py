"""The video and audio families: declared shapes against forward passes, VGGish as published,
and extraction from video and audio files against torchvision's feature extractor."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import soundfile
import torch
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from dnnmap.errors import InputError
from dnnmap.media.audio import load_waveform
from dnnmap.media.loaders import audio_examples
from dnnmap.media.options import AudioOptions, media_options
from dnnmap.media.vggish_frontend import waveform_to_examples
from dnnmap.media.video import ClipSampling, write_video
from dnnmap.models.build import ModelSpec, Preprocessing
from dnnmap.models.extraction import extract_activations
from dnnmap.models.families.video import video_unit_shapes
from dnnmap.models.registry import families, get_family

MEDIA = sorted(n for n, f in families().items() if f.modality != "image")


def _meta_shapes(family, x):
    """Output shape of every friendly layer, from a forward pass on the meta device."""
    with torch.device("meta"):
        model = family.build(seed=0).eval()
    named = dict(model.named_modules())
    out = {}
    for layer, path in family.layers.items():
        named[path].register_forward_hook(
            lambda m, i, o, layer=layer: out.__setitem__(
                layer, tuple((o[0] if isinstance(o, tuple) else o).shape[1:])
            )
        )
    model(x.to("meta"))
    return out, sum(p.numel() for p in model.parameters())


SIZES = {
    "r3d_18": [(8, 32), (16, 112)],
    "mc3_18": [(5, 40), (16, 112)],
    "r2plus1d_18": [(7, 48), (16, 112)],
    "s3d": [(13, 209), (16, 256)],  # 13 frames, 209 px: the smallest clip it takes
    "mvit_v2_s": [(16, 224)],
}


@pytest.mark.parametrize("architecture", MEDIA)
def test_declared_shapes_and_parameters_match_a_forward_pass(architecture):
    family = get_family(architecture)
    if family.modality == "audio":
        shapes, n_params = _meta_shapes(family, torch.empty(2, 1, 96, 64))
        assert shapes == family.unit_shapes(0)
    else:
        for frames, resize in SIZES[architecture]:
            shapes, n_params = _meta_shapes(family, torch.empty(1, 3, frames, resize, resize))
            assert shapes == video_unit_shapes(architecture, resize, frames)
        assert family.unit_shapes(224) == video_unit_shapes(architecture, 224, 16)
    assert n_params == family.n_parameters


def test_vggish_is_the_published_network():
    model = get_family("vggish").build(seed=0)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 4 and all(p.kernel_size == 2 and p.stride == 2 for p in pools)
    linears = [(m.in_features, m.out_features) for m in model.embeddings if hasattr(m, "weight")]
    assert linears == [(12288, 4096), (4096, 4096), (4096, 128)]
    assert not isinstance(model.embeddings[-1], torch.nn.ReLU)  # fc2 is the linear embedding
    # The fully connected input is flattened in TensorFlow's (height, width, channel) order.
    x = torch.randn(1, 1, 96, 64)
    pooled = model.features(x)
    tf_order = pooled.permute(0, 2, 3, 1).reshape(1, -1)
    with torch.no_grad():
        np.testing.assert_allclose(
            model(x).numpy(), model.embeddings(tf_order).numpy(), rtol=1e-5, atol=1e-6
        )


def _video_frames(n, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, 24, 24, 3))
    drift = np.arange(n)[:, None, None, None] * rng.integers(1, 6)
    return ((base + drift) % 256).astype(np.uint8)


def test_video_extraction_matches_torchvision_feature_extractor(tmp_path):
    paths, frames = [], []
    for i, n in enumerate((12, 9, 15)):
        frames.append(_video_frames(n, i))
        paths.append(str(tmp_path / f"v{i}.avi"))
        write_video(paths[-1], frames[-1], 10, "ffv1")  # lossless
    pre = Preprocessing(resize=32, mean=(0.43, 0.39, 0.38), std=(0.23, 0.22, 0.22))
    spec = ModelSpec(
        name="clips",
        architecture="mc3_18",
        seed=3,
        layers=["stem", "layer3", "fc"],
        preprocessing=pre,
    )
    sampling = ClipSampling(frames=6, stride=2, clips=2, crop="uniform")
    out = tmp_path / "act.h5"
    extract_activations(spec, ["a", "b", "c"], paths, str(out), batch_size=2, media=sampling)
    # Reference: frames by the closed form, each preprocessed as an image, torchvision's
    # feature extractor on every clip, the mean over the two clips.
    model = get_family("mc3_18").build(seed=3).eval()
    extractor = create_feature_extractor(model, {"stem": "stem", "layer3": "layer3", "fc": "fc"})
    transform = pre.transform()
    with h5py.File(out) as f:
        assert json.loads(f.attrs["media"]) == sampling.as_dict()
        for i, video in enumerate(frames):
            samples = np.arange(0, len(video), 2)  # stride 2
            last = max(len(samples) - 6, 0)
            clips = [samples[np.minimum(np.arange(s, s + 6), len(samples) - 1)] for s in (0, last)]
            expected = {}
            for clip in clips:
                x = torch.stack([transform(Image.fromarray(video[k])) for k in clip], dim=1)
                with torch.no_grad():
                    for layer, value in extractor(x[None]).items():
                        expected.setdefault(layer, []).append(value[0].numpy())
            for layer, values in expected.items():
                got = f["layers"][layer][i]
                np.testing.assert_allclose(got, np.mean(values, axis=0), rtol=1e-4, atol=1e-5)
        assert f["layers"]["stem"].shape == (3, *video_unit_shapes("mc3_18", 32, 6)["stem"])


def test_audio_extraction_mean_and_keep(tmp_path):
    paths, rates = [], (16000, 22050)
    for i, rate in enumerate(rates):
        t = np.arange(int((2.2 + i) * rate)) / rate
        tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * i) * t)
        paths.append(str(tmp_path / f"s{i}.flac"))
        soundfile.write(paths[-1], tone, rate)
    spec = ModelSpec(name="vg", architecture="vggish", seed=1, layers=["pool2", "fc2"])
    mean_out, keep_out = tmp_path / "mean.h5", tmp_path / "keep.h5"
    extract_activations(spec, ["a", "b"], paths, str(mean_out), batch_size=2)
    keep = AudioOptions(examples="keep", n_examples=2)
    extract_activations(spec, ["a", "b"], paths, str(keep_out), batch_size=1, media=keep)
    model = get_family("vggish").build(seed=1).eval()
    extractor = create_feature_extractor(model, {"features.5": "pool2", "embeddings.4": "fc2"})
    with h5py.File(mean_out) as fm, h5py.File(keep_out) as fk:
        assert fm["layers"]["fc2"].shape == (2, 128)
        assert fk["layers"]["pool2"].shape == (2, 2, 128, 24, 16)
        for i, path in enumerate(paths):
            examples = waveform_to_examples(load_waveform(path, 16000)[0])
            assert len(examples) == 2 + i
            with torch.no_grad():
                ref = extractor(torch.from_numpy(examples)[:, None])
            for layer in ("pool2", "fc2"):
                np.testing.assert_allclose(
                    fm["layers"][layer][i], ref[layer].numpy().mean(0), rtol=1e-4, atol=1e-5
                )
                np.testing.assert_allclose(
                    fk["layers"][layer][i], ref[layer].numpy()[:2], rtol=1e-4, atol=1e-5
                )


def test_audio_shorter_than_kept_examples(tmp_path):
    path = tmp_path / "short.wav"
    soundfile.write(path, np.zeros(16000), 16000)
    keep = AudioOptions(examples="keep", n_examples=2)
    with pytest.raises(
        InputError,
        match=r"short\.wav: 1 example\(s\) of 0\.96 s but audio\.n_examples is 2; expected "
        r"clips of at least 1\.935 s",
    ):
        audio_examples(str(path), keep)
    assert audio_examples(str(path), AudioOptions()).shape == (1, 96, 64)


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"architecture": "alexnet", "clip": {"frames": 8}},
            r"models\.m\.clip: applies to video networks, but alexnet takes image stimuli",
        ),
        (
            {"architecture": "r3d_18", "audio": {}},
            r"models\.m\.audio: applies to audio networks, but r3d_18 takes video stimuli",
        ),
        (
            {"architecture": "vggish", "preprocessing": {"resize": 64}},
            r"models\.m\.preprocessing: vggish takes the VGGish log-mel front end",
        ),
        (
            {"architecture": "mvit_v2_s", "clip": {"frames": 8}},
            r"models\.m: mvit_v2_s takes clips of exactly 16 frames of 224 x 224 pixels, not 8",
        ),
        (
            {"architecture": "s3d", "preprocessing": {"resize": 112}},
            r"models\.m: clips of 16 frames of 112 x 112 pixels are too small for s3d",
        ),
        (
            {"architecture": "r3d_18", "clip": {"frames": 8, "crop": "middle"}},
            r"models\.m\.clip\.crop: 'middle'; expected one of center, start, uniform",
        ),
        (
            {"architecture": "vggish", "audio": {"examples": "keep"}},
            r"models\.m\.audio\.examples is 'keep' without audio\.n_examples",
        ),
        (
            {"architecture": "vggish", "audio": {"examples": "mean", "n_examples": 2}},
            r"models\.m\.audio\.n_examples is 2 but audio\.examples is 'mean'",
        ),
    ],
)
def test_media_options_refuse_what_the_model_cannot_take(entry, message):
    with pytest.raises(InputError, match=message):
        media_options("m", entry, get_family(entry["architecture"]))


def test_media_options_defaults():
    assert media_options("m", {}, get_family("alexnet")) is None
    assert media_options("m", {}, get_family("r3d_18")) == ClipSampling()
    assert media_options("m", {"audio": {"resample": False}}, get_family("vggish")) == (
        AudioOptions(resample=False)
    )


def test_blocks_that_return_a_tuple_record_their_tensor():
    # MViT's blocks return (tokens, thw); the recorder keeps the tokens.
    from dnnmap.models.layers import Recorder

    class Block(torch.nn.Module):
        def forward(self, x):
            return x * 2, [1, 2, 2]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block0 = Block()

        def forward(self, x):
            return self.block0(x)[0].sum()

    tokens = torch.randn(2, 5, 3)
    recorder = Recorder(Net(), {"block0": "block0"})
    try:
        assert torch.equal(recorder(tokens)["block0"], tokens * 2)
    finally:
        recorder.close()


def test_smallest_s3d_clip_is_refused_by_torch_too():
    with torch.device("meta"):
        model = get_family("s3d").build(seed=0).eval()
    for frames, resize in ((12, 224), (16, 208)):
        with pytest.raises(InputError, match="too small for s3d"):
            video_unit_shapes("s3d", resize, frames)
        with pytest.raises(RuntimeError, match="smaller than kernel size"):
            model(torch.empty(1, 3, frames, resize, resize, device="meta"))
