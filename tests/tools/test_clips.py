"""A latent cache of video clips (`encode_to_cache(..., num_frames=)`, `tools/_clips.py`): clips read from frame
folders and GIFs with diffusers' `load_video`, encoded exactly as each family's video-conditioned path, and the cache
machinery (load, training reader, verify, resume, append) on 5-D entries.

Tiny VAEs (tests/fixtures.py) and clips of 5-9 frames of 16x16 pixels: each encode takes milliseconds.
"""

import importlib.util
import json
import os

import numpy as np
import PIL.Image
import pytest
import torch
from _compare import file_hashes
from diffusers.utils import load_video
from diffusers.video_processor import VideoProcessor
from fixtures import (
    cogvideox_components,
    make_clip,
    tiny_vae_kl,
    tiny_vae_ltx,
    tiny_vae_wan,
    wan_components,
    write_clip_folder,
)

from diffusers_scaled import scaled
from diffusers_scaled.tools import LatentCacheDataset, collate_latents, encode_to_cache, load_cache, verify_cache
from diffusers_scaled.tools._encoding import batch_generator
from diffusers_scaled.vae_codec import VaeCodec


FAST = {"resolution": 16, "progress": False, "num_workers": 0}


def _source_frames(path: str) -> list[PIL.Image.Image]:
    """A clip's frames read independently of the tool: a GIF with diffusers' `load_video`, a frame folder with PIL."""
    if path.endswith(".gif"):
        return [frame.convert("RGB") for frame in load_video(path)]  # palette frames
    return [PIL.Image.open(os.path.join(path, name)).convert("RGB") for name in sorted(os.listdir(path))]


@pytest.fixture(scope="module")
def wan():
    from diffusers import WanVideoToVideoPipeline

    return scaled(WanVideoToVideoPipeline)(**wan_components())


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    # 3 clips of 9 frames at the cache's size (no resize: the frames go to the VAE as read): folder, GIF, folder
    return write_clip_folder(str(tmp_path_factory.mktemp("clips")), n=3, num_frames=9, gif=(1,))


def test_cached_clips_are_wans_video_to_video_encode(wan, clips, tmp_path):
    # Wan encodes video conditions with the posterior mode (`WanVideoToVideoPipeline.prepare_latents`, proven by
    # tests/formats/test_video_wan.py): `store="mean"`. One clip per batch: each is the pipeline's own single call.
    index = encode_to_cache(
        wan.vae, clips, tmp_path / "c", num_frames=5, frame_stride=2, store="mean", batch_size=1, **FAST
    )
    assert index["video"] == {"num_frames": 5, "frame_stride": 2, "latent_frames": 2, "format": "Wan 2.1/2.2"}
    entries = list(load_cache(tmp_path / "c"))
    assert len(entries) == 3
    for entry, latents in entries:
        frames = _source_frames(entry["source"])[0:9:2]  # frames 0, 2, 4, 6, 8
        assert entry["original_size"] == entry["resized_size"] == entry["target_size"] == [16, 16]
        with torch.no_grad():
            expected = wan.encode_latents(frames, sample_mode="argmax")
        assert latents.shape == (16, 2, 2, 2) and entry["latent_shape"] == [16, 2, 2, 2]
        assert torch.equal(latents, expected[0])
        assert entry["num_frames"] == 5 and entry["frame_stride"] == 2 and entry["source_num_frames"] == 9
        assert entry["fps"] == (10.0 if entry["source"].endswith(".gif") else None)  # the GIF's 100 ms per frame
    assert latents.std() > 0.1  # non-trivial latents: a mistake would show


def test_a_batch_of_clips_is_one_encode_call_with_the_batch_generator(clips, tmp_path):
    # CogVideoX samples its posterior with the call's generator (`CogVideoXVideoToVideoPipeline.prepare_latents`);
    # two clips per batch are one `encode_latents` call with the batch's generator, and the format's own encode.
    from diffusers import CogVideoXVideoToVideoPipeline

    pipe = scaled(CogVideoXVideoToVideoPipeline)(**cogvideox_components())
    encode_to_cache(pipe.vae, clips, tmp_path / "c", num_frames=5, batch_size=2, seed=4, **FAST)
    entries = list(load_cache(tmp_path / "c"))
    frames = [_source_frames(entry["source"])[:5] for entry, _ in entries]
    codec = VaeCodec(pipe.vae, clips=True)
    with torch.no_grad():
        batch = codec.encode_latents(frames[:2], generator=batch_generator(4, 0), sample_mode="sample")
        last = pipe.encode_latents(frames[2], generator=batch_generator(4, 2))
    assert torch.equal(torch.stack([entries[0][1], entries[1][1]]), batch)
    assert torch.equal(entries[2][1], last[0])  # unpacked (C, F, h, w): the stock latents before `permute`
    assert entries[2][1].shape == (4, 2, 2, 2)


def test_ltx_clips_are_the_stock_normalized_latents(clips, tmp_path):
    # LTX-Video normalizes with its buffers as `LTXPipeline._normalize_latents` (stock static method), the video
    # preprocessed with diffusers' `VideoProcessor.preprocess_video` and sampled with the batch's generator.
    from diffusers import LTXPipeline

    vae = tiny_vae_ltx()
    encode_to_cache(vae, clips, tmp_path / "c", num_frames=9, batch_size=1, seed=1, **FAST)
    entry, latents = next(iter(load_cache(tmp_path / "c")))
    pixels = VideoProcessor(vae_scale_factor=4).preprocess_video(_source_frames(entry["source"]), 16, 16)
    with torch.no_grad():
        raw = vae.encode(pixels).latent_dist.sample(batch_generator(1, 0))
    expected = LTXPipeline._normalize_latents(raw, vae.latents_mean, vae.latents_std)
    assert torch.equal(latents, expected[0]) and latents.shape == (8, 3, 4, 4)


def test_num_frames_follows_the_temporal_rule(clips, tmp_path):
    vae = tiny_vae_wan()
    with pytest.raises(ValueError, match=r"`num_frames` must be 4 \* k \+ 1 .* got 4\. Use 1 or 5"):
        encode_to_cache(vae, clips, tmp_path / "c", num_frames=4, **FAST)
    with pytest.raises(
        ValueError, match=r"`num_frames` must be 4 \* k \+ 1 .*AutoencoderKLLTXVideo.* got 7\. Use 5 or 9"
    ):
        encode_to_cache(tiny_vae_ltx(), clips, tmp_path / "c", num_frames=7, **FAST)  # this tiny one: 4
    assert not os.path.exists(tmp_path / "c")  # refused before anything is written
    with pytest.raises(ValueError, match="Video clips need a video VAE"):
        encode_to_cache(tiny_vae_kl(), clips, tmp_path / "c", num_frames=5, **FAST)
    with pytest.raises(ValueError, match="`frame_stride` is for video clips"):
        encode_to_cache(vae, clips, tmp_path / "c", frame_stride=2, **FAST)
    with pytest.raises(ValueError, match="`alpha_mask` is for images"):
        encode_to_cache(vae, clips, tmp_path / "c", num_frames=5, alpha_mask=True, **FAST)
    with pytest.raises(ValueError, match='`store="distribution"` is for images'):
        encode_to_cache(vae, clips, tmp_path / "c", num_frames=5, store="distribution", **FAST)


def test_a_short_clip_is_named_or_skipped(clips, tmp_path, caplog):
    vae = tiny_vae_wan()
    with pytest.raises(ValueError, match=r"clip_000` .*the clip has 9 frames; `num_frames=5` with `frame_stride=3`"):
        encode_to_cache(vae, clips, tmp_path / "c", num_frames=5, frame_stride=3, **FAST)
    index = encode_to_cache(vae, clips, tmp_path / "s", num_frames=5, frame_stride=3, skip_bad_images=True, **FAST)
    assert index["num_images"] == 3 and len(index["skipped"]) == 3 and list(load_cache(tmp_path / "s")) == []


def test_training_reader_verify_resume_and_append(clips, tmp_path):
    vae = tiny_vae_wan()
    folder = write_clip_folder(str(tmp_path / "more"), n=2, num_frames=5, seed=10)
    settings = {"num_frames": 5, "shard_size": 1, "batch_size": 1, "flip": True, "store": "mean", **FAST}
    encode_to_cache(vae, folder, tmp_path / "c", **settings)
    hashes = file_hashes(tmp_path / "c")
    os.remove(tmp_path / "c" / "shard-00001.safetensors")
    encode_to_cache(vae, folder, tmp_path / "c", **settings)  # resumed: the missing shard, the same bytes
    assert file_hashes(tmp_path / "c") == hashes
    with pytest.raises(ValueError, match="video: the cache has"):
        encode_to_cache(vae, folder, tmp_path / "c", **{**settings, "frame_stride": 2})

    # append: a new clip in the folder is encoded alone, into a new shard
    write_clip_folder(str(tmp_path / "extra"), n=1, num_frames=5, seed=20)
    os.rename(tmp_path / "extra" / "clip_000", tmp_path / "more" / "clip_new")
    index = encode_to_cache(vae, folder, tmp_path / "c", append=True, **settings)
    assert index["num_images"] == 3 and len(index["shards"]) == 3
    entries = list(load_cache(tmp_path / "c", all_tensors=True))
    assert [os.path.basename(e["source"]) for e, _ in entries] == ["clip_000", "clip_001", "clip_new"]
    # flipped latents: the clip with every frame mirrored
    frames = [PIL.ImageOps.mirror(frame) for frame in _source_frames(entries[2][0]["source"])]
    with torch.no_grad():
        mirrored = VaeCodec(vae, clips=True).encode_latents([frames], sample_mode="argmax")
    assert torch.equal(entries[2][1]["flipped"], mirrored[0])

    report = verify_cache(tmp_path / "c", sources=True)
    assert report.ok, report.problems
    PIL.Image.new("RGB", (16, 16)).save(tmp_path / "more" / "clip_new" / "frame_000.png")  # a frame changes
    assert list(verify_cache(tmp_path / "c", sources=True).problems) == [str(tmp_path / "more" / "clip_new")]

    dataset = LatentCacheDataset(tmp_path / "c")
    batch = collate_latents([dataset[i] for i in range(3)])
    assert batch["latents"].shape == (3, 16, 2, 2, 2)
    assert torch.equal(batch["latents"][2], entries[2][1]["latents"])
    assert batch["original_size"].tolist() == [[16, 16]] * 3


def test_clips_in_memory_and_a_video_file(tmp_path):
    vae = tiny_vae_wan()
    clip = make_clip(5, seed=3)
    as_array = np.stack([np.asarray(frame) for frame in clip])  # (frames, H, W, 3) uint8
    encode_to_cache(vae, [clip, as_array], tmp_path / "m", num_frames=5, store="mean", **FAST)
    (a, za), (b, zb) = load_cache(tmp_path / "m")
    assert a["source"] == "#0" and torch.equal(za, zb) and a["sha256"] == b["sha256"]
    clip[0].save(tmp_path / "clip.mp4", format="PNG")  # a PNG under another name: never decoded without ffmpeg
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        with pytest.raises(ImportError, match=r"diffusers-scaled\[video\]"):
            encode_to_cache(vae, tmp_path / "clip.mp4", tmp_path / "v", num_frames=5, **FAST)
    else:  # the `video` extra installed: a real mp4 is read through diffusers' `load_video`, its fps recorded
        import imageio

        imageio.mimwrite(tmp_path / "clip.mp4", [np.asarray(f.resize((16, 16))) for f in clip], fps=8)
        encode_to_cache(vae, tmp_path / "clip.mp4", tmp_path / "v", num_frames=5, **FAST)
        entry, _ = next(iter(load_cache(tmp_path / "v")))
        assert entry["fps"] == 8.0 and entry["source_num_frames"] == 5
    with open(tmp_path / "m" / "cache.json") as f:
        assert json.load(f)["scaling"]["format"] == "Wan 2.1/2.2"


def test_cli_encode_and_calibrate_clips(clips, tmp_path, capsys):
    """`--num-frames` / `--frame-stride` reach `encode_to_cache` and `calibrate`: the CLI cache is the API cache."""
    from _compare import shard_contents

    from diffusers_scaled.cli import main
    from diffusers_scaled.tools import calibrate

    vae = tiny_vae_wan()
    vae.save_pretrained(tmp_path / "vae")
    options = ["--model", str(tmp_path / "vae"), "--num-frames", "5", "--frame-stride", "2", "--resolution", "16"]
    assert main(["encode", clips, str(tmp_path / "cli"), *options, "--sample-mode", "argmax"]) == 0
    assert "3 clips of 5 frames in 1 shards" in capsys.readouterr().out
    encode_to_cache(vae, clips, tmp_path / "api", num_frames=5, frame_stride=2, store="mean",
                    vae_name=str(tmp_path / "vae"), **FAST)  # fmt: skip
    assert shard_contents(tmp_path / "cli") == shard_contents(tmp_path / "api")
    assert main(["calibrate", clips, *options, "--json", "--no-preview", "--sample-mode", "argmax"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = calibrate(vae, clips, num_frames=5, frame_stride=2, sample_mode="argmax", fit_preview=False, **FAST)
    assert printed["channel_std"] == expected.channel_std and printed["num_frames"] == 5
