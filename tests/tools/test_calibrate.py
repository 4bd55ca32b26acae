import json
import os

import PIL.Image
import PIL.ImageOps
import pytest
import torch
from diffusers import AutoencoderKL
from diffusers.image_processor import VaeImageProcessor
from fixtures import make_pil_images, tiny_vae_kl, write_image_folder

from diffusers_scaled.tools import calibrate
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
    read, sizes = BatchLoader(16).submit(images)()
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


def test_write_to_vae_changes_only_the_scaling_keys(tmp_path):
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
