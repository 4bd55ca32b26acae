import json
import os
import re

import PIL.Image
import PIL.ImageOps
import pytest
import torch
from _compare import WRITTEN_ON_SAVE, folder_tree
from diffusers import AutoencoderKL
from diffusers.image_processor import VaeImageProcessor
from fixtures import fail_each_write_step, make_pil_images, tiny_vae_kl, write_image_folder
from safetensors import safe_open

from diffusers_scaled.tools import calibrate, encode_to_cache
from diffusers_scaled.tools._encoding import batch_generator
from diffusers_scaled.tools.preview import CALIBRATION_FILE


def _stock_latents(vae, images, batch_size, resolution, seed, sample_mode="sample"):
    """Raw latents computed with diffusers' own calls: VaeImageProcessor.preprocess, vae.encode, the posterior."""
    processor = VaeImageProcessor(vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1))
    out = []
    for first in range(0, len(images), batch_size):
        batch = [
            PIL.ImageOps.fit(i, (resolution, resolution), PIL.Image.BICUBIC)
            for i in images[first : first + batch_size]
        ]
        with torch.no_grad():
            dist = vae.encode(processor.preprocess(batch)).latent_dist
        out.append(dist.sample(batch_generator(seed, first)) if sample_mode == "sample" else dist.mode())
    return torch.cat(out)


@pytest.mark.parametrize("sample_mode", ["sample", "argmax"])
def test_statistics_equal_two_pass_float64_on_the_stock_latents(sample_mode):
    vae = tiny_vae_kl()
    images = make_pil_images(7, size=(36, 30), seed=3)
    result = calibrate(vae, images, batch_size=3, resolution=16, sample_mode=sample_mode, seed=5, progress=False)

    latents = _stock_latents(vae, images, 3, 16, seed=5, sample_mode=sample_mode).to(torch.float64)
    per_channel = latents.transpose(0, 1).reshape(latents.shape[1], -1)
    mean = per_channel.mean(dim=1)
    std = ((per_channel - mean[:, None]) ** 2).mean(dim=1).sqrt()
    flat = per_channel.flatten()
    pooled_std = ((flat - flat.mean()) ** 2).mean().sqrt().item()
    # Same latents (bitwise, see below); the statistics differ by float64 rounding of the merge only.
    torch.testing.assert_close(torch.tensor(result.channel_mean, dtype=torch.float64), mean, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(torch.tensor(result.channel_std, dtype=torch.float64), std, rtol=1e-12, atol=0)
    assert abs(result.std - pooled_std) <= 1e-12 * pooled_std
    assert abs(result.scaling_factor - 1 / pooled_std) <= 1e-12 / pooled_std
    assert abs(result.shift_factor - flat.mean().item()) <= 1e-12
    assert result.num_images == 7 and result.num_values == latents.numel()
    # What the VAE's own scaling does to these latents: computed from the moments, checked on the values.
    assert (
        abs(result.std_after_config_scaling - (latents * vae.config.scaling_factor).std(unbiased=False).item()) < 1e-9
    )


def test_calibration_latents_are_the_stock_latents_bitwise():
    from diffusers_scaled.tools._encoding import BatchLoader, encode_images
    from diffusers_scaled.vae_codec import IDENTITY, VaeCodec

    vae = tiny_vae_kl()
    images = make_pil_images(3, size=(20, 20), seed=1)
    read, sizes, _, _ = BatchLoader(16).submit(images)()
    got = encode_images(VaeCodec(vae, scaling=IDENTITY), read, 16, "sample", batch_generator(0, 0))
    assert torch.equal(torch.cat(got), _stock_latents(vae, images, 3, 16, seed=0))
    assert sizes == [(20, 20)] * 3


def test_folder_source_own_sizes_and_max_images(tmp_path):
    vae = tiny_vae_kl()
    folder = write_image_folder(str(tmp_path / "images"), n=5, sizes=((16, 16), (24, 20)))
    result = calibrate(vae, folder, batch_size=2, resolution=None, max_images=4, progress=False)
    # own sizes: 16x16 -> 8x8 latents, 24x20 -> 12x10
    assert result.num_images == 4
    assert result.num_values == 4 * (2 * 8 * 8 + 2 * 12 * 10)
    assert [n for n, _ in result.stability] == [2, 4]
    low, high = result.scaling_factor_ci95
    assert low < result.scaling_factor < high


def test_write_to_vae_changes_only_the_config_without_bookkeeping(tmp_path):
    vae = tiny_vae_kl()
    vae.save_pretrained(tmp_path / "before")
    result = calibrate(vae, make_pil_images(4, seed=2), batch_size=2, resolution=16, progress=False)
    for shift, changed in ((False, {"scaling_factor"}), (True, {"scaling_factor", "shift_factor"})):
        target = tmp_path / f"after_{shift}"
        # loaded with from_pretrained, which records `_name_or_path` in the config
        result.write_to_vae(AutoencoderKL.from_pretrained(tmp_path / "before"), target, shift=shift)
        before = json.loads((tmp_path / "before" / "config.json").read_text())
        after = json.loads((target / "config.json").read_text())
        assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} == changed
        # and the file is save_pretrained's format, byte for byte, but for the changed values
        text = (tmp_path / "before" / "config.json").read_text()
        text = text.replace(
            f'"scaling_factor": {before["scaling_factor"]}', f'"scaling_factor": {after["scaling_factor"]}'
        )
        if shift:
            text = text.replace('"shift_factor": null', f'"shift_factor": {after["shift_factor"]}')
        assert (target / "config.json").read_text() == text
        assert after["scaling_factor"] == result.scaling_factor
        if shift:
            assert after["shift_factor"] == result.shift_factor
        saved = json.loads((target / CALIBRATION_FILE).read_text())
        assert saved["scaling_factor"] == result.scaling_factor
        from safetensors.torch import load_file

        old = load_file(tmp_path / "before" / "diffusion_pytorch_model.safetensors")
        new = load_file(target / "diffusion_pytorch_model.safetensors")
        assert old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old)


def test_a_vae_loaded_from_a_path_object_is_recorded_by_its_path_string(tmp_path):
    # `from_pretrained(Path(...))` keeps the Path in `config._name_or_path`; every record stores the string.
    tiny_vae_kl().save_pretrained(tmp_path / "vae")
    vae = AutoencoderKL.from_pretrained(tmp_path / "vae")
    assert isinstance(vae.config._name_or_path, os.PathLike)
    images = make_pil_images(4, seed=2)
    result = calibrate(vae, images, batch_size=2, resolution=16, progress=False)
    assert result.vae["name"] == str(tmp_path / "vae")
    result.write_to_vae(vae, tmp_path / "calibrated")
    assert json.loads((tmp_path / "calibrated" / CALIBRATION_FILE).read_text())["vae"]["name"] == str(tmp_path / "vae")
    for name, kwargs in (("vae", {}), ("named", {"vae_name": tmp_path / "named"})):
        encode_to_cache(vae, images, tmp_path / f"cache_{name}", shard_size=2, resolution=16, progress=False, **kwargs)
        with safe_open(str(tmp_path / f"cache_{name}" / "shard-00000.safetensors"), framework="pt") as f:
            assert json.loads(f.metadata()["vae"])["name"] == str(tmp_path / name)
        assert json.loads((tmp_path / f"cache_{name}" / "cache.json").read_text())["vae"]["name"] == str(
            tmp_path / name
        )


def test_unreadable_images_are_named_or_skipped(tmp_path, caplog):
    folder = write_image_folder(str(tmp_path / "images"), n=4)
    broken = os.path.join(folder, "zz-broken.png")
    with open(broken, "wb") as f:
        f.write(b"not an image")
    kwargs = {"batch_size": 2, "resolution": 16, "progress": False, "fit_preview": False}
    with pytest.raises(ValueError, match=re.escape(f"`{broken}`") + ".*skip_bad_images"):
        calibrate(tiny_vae_kl(), folder, **kwargs)
    with caplog.at_level("WARNING", logger="diffusers_scaled.tools"):
        skipped = calibrate(tiny_vae_kl(), folder, skip_bad_images=True, **kwargs)
    assert any(broken in r.getMessage() for r in caplog.records)
    os.remove(broken)
    assert skipped == calibrate(tiny_vae_kl(), folder, **kwargs)  # the statistics of the images read


def config_without_bookkeeping(vae) -> dict:
    # (`save_pretrained` itself adds `_class_name` and `_diffusers_version` to the config of the model it saves.)
    return {k: v for k, v in vae.config.items() if k not in WRITTEN_ON_SAVE}


def test_write_to_vae_is_all_or_nothing_at_every_write_step(tmp_path):
    # Into a new folder (and its missing parent), then into an existing one holding a file to replace and one to keep:
    # with any one write step failing, the files and `vae.config` are as before and no temporary is left.
    vae = tiny_vae_kl()
    result = calibrate(vae, make_pil_images(4, seed=2), batch_size=2, resolution=16, progress=False)
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "config.json").write_text("{}", encoding="utf-8")
    (existing / "notes.txt").write_text("kept", encoding="utf-8")
    for target, kept in ((tmp_path / "new" / "vae", []), (existing, ["notes.txt"])):
        files, config = folder_tree(tmp_path), config_without_bookkeeping(vae)

        def unchanged():
            assert folder_tree(tmp_path) == files
            assert config_without_bookkeeping(vae) == config

        steps = fail_each_write_step(lambda: result.write_to_vae(vae, target, shift=True), unchanged)
        assert steps >= 5  # folders made, config.json written and rewritten, calibration.json, the moves into place
        written = ["config.json", "diffusion_pytorch_model.safetensors", CALIBRATION_FILE]
        assert sorted(os.listdir(target)) == sorted(written + kept)
        assert json.loads((target / "config.json").read_text())["shift_factor"] == result.shift_factor
        assert vae.config.scaling_factor == result.scaling_factor and vae.config.shift_factor == result.shift_factor
        assert not [name for name in os.listdir(target.parent) if ".tmp-" in name]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "`batch_size`"),
        ({"resolution": -1}, "`resolution`"),
        ({"sample_mode": "mode"}, "`sample_mode`"),
        ({"max_images": 0}, "`max_images`"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibrate(tiny_vae_kl(), make_pil_images(1), progress=False, **kwargs)


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="`images`"):
        calibrate(tiny_vae_kl(), str(tmp_path / "missing"), progress=False)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="no image files"):
        calibrate(tiny_vae_kl(), str(tmp_path / "empty"), progress=False)
    with pytest.raises(TypeError, match="Wrap it in a list"):
        calibrate(tiny_vae_kl(), make_pil_images(1)[0], progress=False)
    with pytest.raises(ValueError, match="no images"):
        calibrate(tiny_vae_kl(), [], progress=False)


def test_dataset_items_are_fetched_once_and_only_when_encoded():
    class Images(torch.utils.data.Dataset):
        def __init__(self):
            self.images, self.fetched = make_pil_images(5, size=(16, 16)), []

        def __len__(self):
            return len(self.images)

        def __getitem__(self, index):
            self.fetched.append(index)
            return {"image": self.images[index], "label": index}  # a Hugging Face `datasets`-style row

    dataset = Images()
    result = calibrate(tiny_vae_kl(), dataset, batch_size=2, resolution=16, max_images=3, progress=False)
    assert result.num_images == 3 and dataset.fetched == [0, 1, 2]
    reference = calibrate(tiny_vae_kl(), dataset.images[:3], batch_size=2, resolution=16, progress=False)
    assert result.to_dict() == reference.to_dict()


# 5-D (video) VAEs: per-channel statistics, written where the family reads them ----------------------------------------
# Images are fed to a video VAE as one-frame videos (`formats.video.ONE_FRAME`). Wan keeps its statistics in config keys,
# LTX-Video in registered buffers; the family's own (proven) encode arithmetic then normalizes the calibration images
# to mean 0, std 1 per channel.


def _video_family(name):
    from diffusers import LTXImageToVideoPipeline, WanPipeline
    from fixtures import ltx_components, tiny_vae_ltx, tiny_vae_wan, wan_components

    if name == "wan":
        return tiny_vae_wan(), WanPipeline, wan_components
    return tiny_vae_ltx(), LTXImageToVideoPipeline, ltx_components


def _stock_one_frame_latents(vae, images, batch_size):
    """The VAE's raw latents of `images` fed as one-frame videos, with diffusers' own calls (posterior mode)."""
    from diffusers_scaled.vae_codec import vae_scale_factor

    processor = VaeImageProcessor(vae_scale_factor=vae_scale_factor(vae))
    with torch.no_grad():
        return torch.cat(
            [
                vae.encode(processor.preprocess(images[first : first + batch_size]).unsqueeze(2)).latent_dist.mode()
                for first in range(0, len(images), batch_size)
            ]
        )


def _channel_moments(latents):
    values = latents.to(torch.float64).transpose(0, 1).reshape(latents.shape[1], -1)
    mean = values.mean(dim=1)
    return mean, ((values - mean[:, None]) ** 2).mean(dim=1).sqrt()


@pytest.mark.parametrize("family", ["wan", "ltx"])
def test_video_vae_per_channel_statistics_are_written_where_the_family_reads_them(family, tmp_path):
    from diffusers_scaled import scaled

    vae, pipeline_class, components = _video_family(family)
    images = make_pil_images(3, size=(32, 32), seed=4)
    result = calibrate(vae, images, batch_size=2, resolution=32, sample_mode="argmax", progress=False, num_workers=0)
    mean, std = _channel_moments(_stock_one_frame_latents(vae, images, 2))
    torch.testing.assert_close(torch.tensor(result.channel_mean, dtype=torch.float64), mean, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(torch.tensor(result.channel_std, dtype=torch.float64), std, rtol=1e-12, atol=0)

    config_before = dict(vae.config)
    result.write_to_vae(vae, tmp_path / "calibrated")
    reloaded = type(vae).from_pretrained(tmp_path / "calibrated")
    if family == "wan":  # config keys
        assert reloaded.config.latents_mean == result.channel_mean == vae.config.latents_mean
        assert reloaded.config.latents_std == result.channel_std
    else:  # registered buffers; the config (scaling_factor included) unchanged
        assert torch.equal(reloaded.latents_mean, torch.tensor(result.channel_mean))
        assert torch.equal(reloaded.latents_std, torch.tensor(result.channel_std))
        assert reloaded.config.scaling_factor == config_before["scaling_factor"] == 0.8
        unchanged = {k: v for k, v in vae.config.items() if k not in WRITTEN_ON_SAVE}  # save_pretrained's bookkeeping
        assert unchanged == {k: v for k, v in config_before.items() if k not in WRITTEN_ON_SAVE}

    pipe = scaled(pipeline_class)(**{**components(), "vae": reloaded})
    with torch.no_grad():
        if family == "wan":  # the images as one-frame videos, normalized as `WanVideoToVideoPipeline` does
            latents = pipe.encode_latents([[image] for image in images], height=32, width=32)
        else:  # the images as conditions, normalized as `LTXImageToVideoPipeline` does
            latents = pipe.encode_latents(images, height=32, width=32, sample_mode="argmax")
    normalized_mean, normalized_std = _channel_moments(latents)
    # float32 arithmetic on both sides of the statistics: mean 0 and std 1 to float32 rounding.
    torch.testing.assert_close(normalized_mean, torch.zeros_like(normalized_mean), rtol=0, atol=1e-5)
    torch.testing.assert_close(normalized_std, torch.ones_like(normalized_std), rtol=1e-5, atol=0)


def test_per_channel_needs_a_vae_with_per_channel_statistics(tmp_path):
    result = calibrate(tiny_vae_kl(), make_pil_images(2, size=(16, 16)), resolution=16, progress=False)
    with pytest.raises(ValueError, match="per_channel=True"):
        result.write_to_vae(tiny_vae_kl(), tmp_path / "out", per_channel=True)
    assert not os.path.exists(tmp_path / "out")


def test_ltx_buffers_are_restored_when_writing_fails(tmp_path):
    vae, _, _ = _video_family("ltx")
    result = calibrate(vae, make_pil_images(2, size=(32, 32)), resolution=32, progress=False, num_workers=0)
    before = (vae.latents_mean.clone(), vae.latents_std.clone())

    def run(step_dir):
        result.write_to_vae(vae, step_dir)

    def check(step_dir):
        assert not os.path.exists(step_dir)
        assert torch.equal(vae.latents_mean, before[0]) and torch.equal(vae.latents_std, before[1])

    assert fail_each_write_step(lambda: run(tmp_path / "out"), lambda: check(tmp_path / "out")) > 3


def test_preview_of_video_latents_maps_the_familys_raw_latents():
    # The preview map is fitted on raw latents; applied to a Wan pipeline's scaled 5-D latents through the pipeline's
    # own statistics (`latent_scaling`), it equals the map applied to the raw latents.
    from diffusers import WanPipeline
    from fixtures import wan_components

    from diffusers_scaled import scaled
    from diffusers_scaled.tools import preview_latents

    pipe = scaled(WanPipeline)(**wan_components())
    images = make_pil_images(3, size=(32, 32), seed=4)
    result = calibrate(pipe.vae, images, resolution=32, sample_mode="argmax", progress=False, num_workers=0)
    preview = result.latent_preview(scaling=pipe.latent_scaling)
    clip = make_pil_images(5, size=(32, 32), seed=6)
    with torch.no_grad():
        latents = pipe.encode_latents(clip)  # (1, 16, 2, 4, 4)
        raw = pipe.vae.encode(pipe.video_processor.preprocess_video(clip)).latent_dist.mode()
    weight, bias = torch.tensor(preview.weight), torch.tensor(preview.bias)
    expected = (torch.einsum("oc,bcfhw->bfohw", weight, raw) + bias[None, None, :, None, None]).clamp(0, 1)
    frames = preview_latents(latents, preview, output_type="pt")
    assert frames.shape == (1, 2, 3, 4, 4)  # (batch, frames, 3, h, w), as a video pipeline's `.frames`
    # scale then unscale is not the identity bitwise in float32: to its rounding.
    torch.testing.assert_close(frames, expected, rtol=0, atol=1e-5)
    assert preview_latents(latents, preview, output_type="np").shape == (1, 2, 4, 4, 3)
    pil = preview_latents(latents, preview)
    assert len(pil) == 1 and len(pil[0]) == 2 and pil[0][0].size == (4, 4)


@pytest.mark.parametrize("family", ["wan", "ltx"])
def test_calibration_from_clips_covers_every_latent_frame_and_is_written_for_the_family(family, tmp_path):
    # Clips (frame folders and a GIF) encoded whole with diffusers' own calls: `VideoProcessor.preprocess_video`,
    # `vae.encode`, the posterior mode; the statistics over all their latent frames (9 frames -> 3).
    from diffusers import LTXPipeline
    from diffusers.utils import load_video
    from diffusers.video_processor import VideoProcessor
    from fixtures import write_clip_folder

    from diffusers_scaled import scaled

    vae, pipeline_class, components = _video_family(family)
    folder = write_clip_folder(str(tmp_path / "clips"), n=3, num_frames=11, gif=(1,))
    result = calibrate(
        vae, folder, num_frames=9, batch_size=2, resolution=16, sample_mode="argmax", progress=False, num_workers=0
    )
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    frames = [
        load_video(p) if p.endswith(".gif") else [PIL.Image.open(f"{p}/{f}") for f in sorted(os.listdir(p))]
        for p in paths
    ]
    clips = [[frame.convert("RGB") for frame in clip[:9]] for clip in frames]  # a GIF's frames are palette images
    processor = VideoProcessor(vae_scale_factor=vae.spatial_compression_ratio)
    with torch.no_grad():
        latents = torch.cat(
            [vae.encode(processor.preprocess_video(clips[i : i + 2])).latent_dist.mode() for i in (0, 2)]
        )
    assert latents.shape[2] == 3 and result.num_images == 3 and result.num_frames == 9
    mean, std = _channel_moments(latents)
    torch.testing.assert_close(torch.tensor(result.channel_mean, dtype=torch.float64), mean, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(torch.tensor(result.channel_std, dtype=torch.float64), std, rtol=1e-12, atol=0)
    assert result.num_values == latents.numel() and len(result.preview["weight"]) == 3
    assert result.config_scaling["format"] == ("Wan 2.1/2.2" if family == "wan" else "LTX-Video")

    written = result.write_to_vae(vae, tmp_path / "calibrated")  # Wan: config keys; LTX: registered buffers
    assert written == {"latents_mean": list(result.channel_mean), "latents_std": list(result.channel_std)}
    reloaded = type(vae).from_pretrained(tmp_path / "calibrated")
    with torch.no_grad():  # the family's own normalization of these clips: mean 0, std 1 per channel
        if family == "wan":  # as `WanVideoToVideoPipeline` (the scaled pipeline's encode, proven against it)
            normalized = scaled(pipeline_class)(**{**components(), "vae": reloaded}).encode_latents(clips)
        else:  # `LTXPipeline._normalize_latents` with the written buffers
            normalized = LTXPipeline._normalize_latents(latents, reloaded.latents_mean, reloaded.latents_std)
    normalized_mean, normalized_std = _channel_moments(normalized)
    # float32 arithmetic on both sides of the statistics: mean 0 and std 1 to float32 rounding.
    torch.testing.assert_close(normalized_mean, torch.zeros_like(normalized_mean), rtol=0, atol=1e-5)
    torch.testing.assert_close(normalized_std, torch.ones_like(normalized_std), rtol=1e-5, atol=0)
