"""Each latent space diffusers ships, checked against the stock pipeline code that uses it.

- per-channel `latents_mean` / `latents_std` (SDXL configs that carry them, e.g. Playground v2.5): the stock SDXL
  text-to-image decode and img2img encode apply them; the stock SDXL inpaint encode does not. Ours apply one rule on
  every path;
- 5-D video latents (LTX's `_normalize_latents` / `_denormalize_latents`): the same per-channel formula broadcast over
  frames;
- configs that lack keys (`shift_factor`, `force_upcast`, one of the two statistics): the defaults documented in
  docs/latent-spaces.md.

The shift (SD3, Flux) is checked against those pipelines in tests/pipelines/test_sd3.py and test_flux.py.
Float32 on CPU: bitwise unless a test says why not.
"""

import numpy as np
import pytest
import torch
from diffusers import (
    LTXPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
)
from diffusers.configuration_utils import FrozenDict
from fixtures import PLAYGROUND_STATISTICS, PROMPT, generator, make_pil_images, sdxl_components

from diffusers_scaled import (
    LatentScaling,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLInpaintPipeline,
    ScaledStableDiffusionXLPipeline,
    _vae,
)


SIZE = 32
PLAYGROUND = PLAYGROUND_STATISTICS  # Playground v2.5's statistics and factor: enough to move every channel visibly


def sdxl_per_channel_components(**config):
    components = sdxl_components()
    components["vae"].register_to_config(**(config or PLAYGROUND))
    return components


def make(pipeline_class, components):
    pipe = pipeline_class(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def components():
    return sdxl_per_channel_components()


def stock_img2img_encode(components, image, seed):
    # The stock SDXL img2img encoding: `prepare_latents` without noise (the `denoising_start` path).
    stock = make(StableDiffusionXLImg2ImgPipeline, components)
    pixels = stock.image_processor.preprocess(image)
    return stock.prepare_latents(
        pixels, None, pixels.shape[0], 1, torch.float32, torch.device("cpu"), generator(seed), add_noise=False
    )


# per-channel statistics ---------------------------------------------------------------------------------------------


SDXL_INPUTS = {"prompt": PROMPT, "num_inference_steps": 2, "height": SIZE, "width": SIZE}


@pytest.fixture(scope="module")
def sdxl_pipe_and_latents(components):
    """The per-channel SDXL pipeline and what it returns with `output_type="latent"` (one run, shared)."""
    pipe = make(ScaledStableDiffusionXLPipeline, components)
    return pipe, pipe(**SDXL_INPUTS, generator=generator(0), output_type="latent").images


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_sdxl_per_channel_decode_equals_text_to_image(sdxl_pipe_and_latents, output_type):
    pipe, latents = sdxl_pipe_and_latents
    assert pipe.latent_scaling.is_per_channel
    expected = pipe(**SDXL_INPUTS, generator=generator(0), output_type=output_type).images
    with torch.no_grad():
        images = pipe.decode_latents(latents, output_type=output_type)
    if output_type == "np":
        assert np.array_equal(images, expected)
    else:
        assert torch.equal(images, expected)


def test_sdxl_per_channel_encode_equals_img2img(components):
    image = make_pil_images(2, (SIZE, SIZE))
    pipe = make(ScaledStableDiffusionXLImg2ImgPipeline, components)
    with torch.no_grad():
        ours = pipe.encode_latents(image, generator=generator(0))
        expected = stock_img2img_encode(components, image, seed=0)
    assert torch.equal(ours, expected)


def test_sdxl_per_channel_statistics_change_the_latents(components):
    # Without this, the two tests above could pass with the statistics ignored on both sides.
    image = make_pil_images(1, (SIZE, SIZE))
    plain = sdxl_components()
    plain["vae"].register_to_config(scaling_factor=PLAYGROUND["scaling_factor"])
    with torch.no_grad():
        with_stats = make(ScaledStableDiffusionXLImg2ImgPipeline, components).encode_latents(image, generator())
        without = make(ScaledStableDiffusionXLImg2ImgPipeline, plain).encode_latents(image, generator())
    assert (with_stats - without).abs().mean(dim=(0, 2, 3)).min() > 0.1  # every channel moved


def test_sdxl_inpaint_encode_applies_the_statistics_the_stock_inpaint_path_ignores(components):
    # The stock SDXL inpaint pipeline encodes its masked image with `scaling_factor` alone (`_encode_vae_image`),
    # although it decodes with the statistics: a known inconsistency. Ours encode every image with the same rule as
    # the img2img pipeline, so latents move between the two pipelines unchanged.
    image = make_pil_images(1, (SIZE, SIZE))
    stock_inpaint = make(StableDiffusionXLInpaintPipeline, components)
    pixels = stock_inpaint.image_processor.preprocess(image)
    with torch.no_grad():
        stock_inpaint_latents = stock_inpaint._encode_vae_image(pixels, generator(0))
        ours = make(ScaledStableDiffusionXLInpaintPipeline, components).encode_latents(image, generator(0))
        img2img = stock_img2img_encode(components, image, seed=0)
    assert torch.equal(ours, img2img)
    assert not torch.allclose(stock_inpaint_latents, img2img, atol=0.1)
    # what the stock inpaint path computes instead: the statistics left out
    raw = LatentScaling(**PLAYGROUND).unscale(img2img)
    torch.testing.assert_close(stock_inpaint_latents, PLAYGROUND["scaling_factor"] * raw, rtol=0, atol=1e-5)


@pytest.mark.parametrize("missing", ["latents_mean", "latents_std"])
def test_one_statistic_alone_is_ignored_like_the_pipelines(missing):
    # diffusers applies the statistics only when both are set; with one of them None it scales by the factor alone.
    components = sdxl_per_channel_components(**{**PLAYGROUND, missing: None})
    pipe = make(ScaledStableDiffusionXLPipeline, components)
    assert not pipe.latent_scaling.is_per_channel
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": SIZE, "width": SIZE}
    latents = pipe(**inputs, generator=generator(0), output_type="latent").images
    expected = pipe(**inputs, generator=generator(0), output_type="np").images
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents), expected)
        image = make_pil_images(1, (SIZE, SIZE))
        ours = make(ScaledStableDiffusionXLImg2ImgPipeline, components).encode_latents(image, generator(0))
        assert torch.equal(ours, stock_img2img_encode(components, image, seed=0))


# video latents ------------------------------------------------------------------------------------------------------


def test_video_latents_per_channel_equals_ltx_normalization():
    # LTX keeps its statistics as VAE buffers, not in the config; given them, its formulas are ours on (B, C, F, H, W).
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 8, 3, 4, 5, generator=g)
    mean, std = torch.randn(8, generator=g), torch.rand(8, generator=g) + 0.5
    scaling = LatentScaling(scaling_factor=1.3, latents_mean=mean, latents_std=std)
    assert torch.equal(scaling.scale(latents), LTXPipeline._normalize_latents(latents, mean, std, 1.3))
    assert torch.equal(scaling.unscale(latents), LTXPipeline._denormalize_latents(latents, mean, std, 1.3))


# configs that lack keys ---------------------------------------------------------------------------------------------


def without_keys(vae, *keys):
    """Gives this test's own VAE instance a config without `keys`, as an old config file would load."""
    vae._internal_dict = FrozenDict({k: v for k, v in vae.config.items() if k not in keys})
    return vae


def test_config_without_shift_factor_means_no_shift():
    components = sdxl_components()
    without_keys(components["vae"], "shift_factor")
    pipe = make(ScaledStableDiffusionXLPipeline, components)
    assert not hasattr(pipe.vae.config, "shift_factor")
    assert pipe.latent_scaling == LatentScaling(scaling_factor=pipe.vae.config.scaling_factor)
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": SIZE, "width": SIZE}
    latents = pipe(**inputs, generator=generator(0), output_type="latent").images
    expected = pipe(**inputs, generator=generator(0), output_type="np").images
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents), expected)


def test_config_without_force_upcast_is_not_upcast():
    # The stock SDXL img2img pipeline reads `vae.config.force_upcast` unguarded (AttributeError on such a config);
    # ours read it as False: a float16 VAE then computes in float16.
    components = sdxl_components()
    vae = without_keys(components["vae"].to(torch.float16), "force_upcast")
    pipe = make(ScaledStableDiffusionXLImg2ImgPipeline, components)
    assert pipe.honour_force_upcast
    assert not _vae.needs_upcast(vae, pipe.honour_force_upcast)
    stock = make(StableDiffusionXLImg2ImgPipeline, components)
    pixels = stock.image_processor.preprocess(make_pil_images(1, (SIZE, SIZE)))
    with pytest.raises(AttributeError, match="force_upcast"):
        stock.prepare_latents(pixels, None, 1, 1, torch.float16, torch.device("cpu"), generator(), add_noise=False)
    with torch.no_grad():
        latents = pipe.encode_latents(make_pil_images(1, (SIZE, SIZE)), generator=generator())
        images = pipe.decode_latents(latents, output_type="pt")
    assert latents.dtype == torch.float16 and images.dtype == torch.float16
    assert torch.isfinite(images).all()
