"""`LatentScaling` against the expressions the diffusers pipelines evaluate, operation for operation."""

import pytest
import torch
from diffusers import AutoencoderKL

from diffusers_scaled import LatentScaling


SDXL_MEAN = (-1.6574, 1.886, -1.383, 2.5155)
SDXL_STD = (8.4927, 5.9022, 6.5498, 5.2299)


@pytest.fixture
def latents():
    return torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))


def test_from_vae_config_reads_scaling_factor():
    vae = AutoencoderKL(block_out_channels=[4], norm_num_groups=2, scaling_factor=0.13025)
    scaling = LatentScaling.from_config(vae.config)
    assert scaling == LatentScaling(scaling_factor=0.13025)
    assert not scaling.is_per_channel


def test_plain_factor_matches_sd_pipelines(latents):
    sf = 0.18215
    scaling = LatentScaling(scaling_factor=sf)
    # StableDiffusionImg2ImgPipeline.prepare_latents and StableDiffusionPipeline.__call__
    assert torch.equal(scaling.scale(latents), sf * latents)
    assert torch.equal(scaling.unscale(latents), latents / sf)
    # the pipelines divide; the deprecated `decode_latents` multiplies by the reciprocal, which rounds differently
    assert not torch.equal(scaling.unscale(latents), 1 / sf * latents)


def test_shift_matches_sd3_and_flux(latents):
    sf, shift = 1.5305, 0.0609
    scaling = LatentScaling.from_config({"scaling_factor": sf, "shift_factor": shift})
    # StableDiffusion3Img2ImgPipeline.prepare_latents / StableDiffusion3Pipeline.__call__
    assert torch.equal(scaling.scale(latents), (latents - shift) * sf)
    assert torch.equal(scaling.unscale(latents), (latents / sf) + shift)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_per_channel_matches_sdxl(latents, dtype):
    latents = latents.to(dtype)
    sf = 0.5
    scaling = LatentScaling.from_config({"scaling_factor": sf, "latents_mean": SDXL_MEAN, "latents_std": SDXL_STD})
    assert scaling.is_per_channel
    mean = torch.tensor(SDXL_MEAN).view(1, 4, 1, 1).to(latents.device, latents.dtype)
    std = torch.tensor(SDXL_STD).view(1, 4, 1, 1).to(latents.device, latents.dtype)
    # StableDiffusionXLImg2ImgPipeline.prepare_latents
    assert torch.equal(scaling.scale(latents), (latents - mean) * sf / std)
    # StableDiffusionXLPipeline.__call__
    assert torch.equal(scaling.unscale(latents), latents * std / sf + mean)
    assert scaling.scale(latents).dtype == dtype


def test_per_channel_broadcasts_over_video_frames():
    scaling = LatentScaling(scaling_factor=0.5, latents_mean=SDXL_MEAN, latents_std=SDXL_STD)
    video = torch.randn(1, 4, 3, 8, 8)
    mean = torch.tensor(SDXL_MEAN).view(1, 4, 1, 1, 1)
    std = torch.tensor(SDXL_STD).view(1, 4, 1, 1, 1)
    assert torch.equal(scaling.scale(video), (video - mean) * 0.5 / std)


def test_per_channel_needs_both_statistics_as_in_pipelines(latents):
    # The pipelines apply mean/std only when both are set; one alone means plain scaling.
    scaling = LatentScaling.from_config({"scaling_factor": 0.5, "latents_mean": SDXL_MEAN, "latents_std": None})
    assert torch.equal(scaling.scale(latents), 0.5 * latents)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scaling_factor": 0.18215},
        {"scaling_factor": 1.5305, "shift_factor": 0.0609},
        {"scaling_factor": 0.5, "latents_mean": SDXL_MEAN, "latents_std": SDXL_STD},
    ],
)
def test_unscale_inverts_scale(latents, kwargs):
    scaling = LatentScaling(**kwargs)
    torch.testing.assert_close(scaling.unscale(scaling.scale(latents)), latents, rtol=1e-6, atol=1e-6)


def test_missing_scaling_factor_is_a_clear_error():
    with pytest.raises(ValueError, match="no `scaling_factor`"):
        LatentScaling.from_config({"shift_factor": 0.1})


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"scaling_factor": 0.0}, ValueError, "`scaling_factor` must be finite and non-zero, got 0.0"),
        ({"scaling_factor": float("nan")}, ValueError, "`scaling_factor` must be finite"),
        ({"scaling_factor": "0.18"}, TypeError, "`scaling_factor` must be a number, got str"),
        ({"scaling_factor": 1.0, "shift_factor": float("inf")}, ValueError, "`shift_factor` must be finite"),
        ({"scaling_factor": 1.0, "latents_mean": (0.0,) * 4}, ValueError, "must be given together"),
        (
            {"scaling_factor": 1.0, "latents_mean": (0.0,) * 4, "latents_std": (1.0,) * 3},
            ValueError,
            "`latents_mean` has 4 channels but `latents_std` has 3",
        ),
        ({"scaling_factor": 1.0, "latents_mean": (0.0,), "latents_std": (0.0,)}, ValueError, "non-zero"),
        (
            {"scaling_factor": 1.0, "shift_factor": 0.1, "latents_mean": (0.0,), "latents_std": (1.0,)},
            ValueError,
            "ambiguous",
        ),
        ({"scaling_factor": 1.0, "latents_mean": "abc", "latents_std": "abc"}, TypeError, "`latents_mean` must be"),
    ],
)
def test_bad_configs_are_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        LatentScaling(**kwargs)


def test_per_channel_statistics_refuse_a_wrong_channel_axis():
    scaling = LatentScaling(scaling_factor=0.5, latents_mean=SDXL_MEAN, latents_std=SDXL_STD)
    channels_last = torch.randn(1, 8, 8, 4)
    with pytest.raises(ValueError, match=r"must have 4 channels on dimension 1.*\(1, 8, 8, 4\)"):
        scaling.scale(channels_last)
