"""Every VAE type diffusers ships for images: a round trip through `encode_latents` / `decode_latents` on a tiny config,
and equivalence with the stock pipeline that uses it where one exists.

| VAE                       | host pipeline here                     | stock equivalence                                |
| ------------------------- | -------------------------------------- | ------------------------------------------------ |
| AutoencoderKL / Tiny      | Stable Diffusion                       | tests/test_mixin.py                              |
| AsymmetricAutoencoderKL   | Stable Diffusion                       | SD text-to-image decode                          |
| ConsistencyDecoderVAE     | Stable Diffusion                       | SD text-to-image decode (the generator carries on) |
| AutoencoderDC             | `scaled(SanaPipeline)`                 | Sana decode; Sana Sprint's encoding              |
| VQModel                   | Stable Diffusion img2img (methods only) | none: no pipeline takes a VQModel as `vae`       |

Float32 on CPU: bitwise unless a test says why not.
"""

import numpy as np
import pytest
import torch
from diffusers import SanaPipeline
from fixtures import (
    PROMPT,
    generator,
    make_pil_images,
    sana_components,
    sana_prompt_embeds,
    sd_components,
)

from diffusers_scaled import ScaledStableDiffusionImg2ImgPipeline, ScaledStableDiffusionPipeline, scaled


SIZE = 32
SD_HOSTED = ["kl", "tiny", "asymmetric", "consistency", "vq"]


def sd_pipe(kind, pipeline_class=ScaledStableDiffusionPipeline):
    pipe = pipeline_class(**sd_components(vae=kind))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def sana():
    pipe = scaled(SanaPipeline)(**sana_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def raw_encode(vae, pixels):
    """The VAE's own deterministic encoding: the posterior mode, or the encoder output for VAEs without posterior."""
    output = vae.encode(pixels)
    for name in ("latent_dist", "latents", "latent"):
        if hasattr(output, name):
            value = getattr(output, name)
            return value.mode() if name == "latent_dist" else value
    raise AssertionError(f"unknown encoder output {type(output).__name__}")


def raw_decode(vae, latents, seed):
    if type(vae).__name__ == "ConsistencyDecoderVAE":
        return vae.decode(latents, generator=generator(seed)).sample
    return vae.decode(latents).sample


# round trips ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SD_HOSTED)
def test_round_trip(kind):
    # encode -> decode equals the VAE's own encode -> decode: the scaling cancels. Not bitwise: `f * z / f` rounds
    # differently from `z` by an ulp of the latents, which the decoder carries into the pixels.
    pipe = sd_pipe(kind, ScaledStableDiffusionImg2ImgPipeline)
    images = make_pil_images(2, (SIZE, SIZE))
    with torch.no_grad():
        latents = pipe.encode_latents(images, sample_mode="argmax")
        decoded = pipe.decode_latents(latents, output_type="pt", generator=generator(5))
        pixels = pipe.image_processor.preprocess(images)
        direct = raw_decode(pipe.vae, raw_encode(pipe.vae, pixels), seed=5)
    assert latents.shape == (2, 4, SIZE // 2, SIZE // 2)
    assert decoded.shape == (2, 3, SIZE, SIZE)
    torch.testing.assert_close(decoded, pipe.image_processor.postprocess(direct, output_type="pt"), rtol=0, atol=1e-4)


def test_round_trip_dc(sana):
    images = make_pil_images(2, (SIZE, SIZE))
    with torch.no_grad():
        decoded = sana.decode_latents(sana.encode_latents(images), output_type="pt")
        direct = sana.vae.decode(raw_encode(sana.vae, sana.image_processor.preprocess(images))).sample
    torch.testing.assert_close(decoded, sana.image_processor.postprocess(direct, output_type="pt"), rtol=0, atol=1e-4)


# equivalence with the stock pipelines -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["asymmetric", "consistency"])
def test_decode_equals_stable_diffusion_output(kind):
    # The SD pipeline hands its generator to decoders that sample (ConsistencyDecoderVAE), after the denoising loop
    # used it: continuing with the generator of the latent run reproduces the stock decode exactly.
    pipe = sd_pipe(kind)
    inputs = {"prompt": PROMPT, "num_inference_steps": 2, "height": SIZE, "width": SIZE}
    g = generator(0)
    latents = pipe(**inputs, generator=g, output_type="latent").images
    expected = pipe(**inputs, generator=generator(0), output_type="np").images
    with torch.no_grad():
        assert np.array_equal(pipe.decode_latents(latents, generator=g), expected)


def test_consistency_decoder_is_seeded_by_the_generator():
    pipe = sd_pipe("consistency")
    latents = torch.randn(1, 4, SIZE // 2, SIZE // 2, generator=generator(0))
    with torch.no_grad():
        first = pipe.decode_latents(latents, generator=generator(1))
        again = pipe.decode_latents(latents, generator=generator(1))
        other = pipe.decode_latents(latents, generator=generator(2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dc_decode_equals_sana_output(sana):
    inputs = {"height": SIZE, "width": SIZE, "num_inference_steps": 2, "guidance_scale": 1.0}
    inputs.update(use_resolution_binning=False, **sana_prompt_embeds())
    latents = sana(**inputs, generator=generator(), output_type="latent").images
    expected = sana(**inputs, generator=generator(), output_type="np").images
    with torch.no_grad():
        assert np.array_equal(sana.decode_latents(latents), expected)


def test_dc_encode_equals_sana_sprint_encoding(sana):
    # SanaSprintImg2ImgPipeline.prepare_latents: `vae.encode(image).latent * scaling_factor * sigma_data`; the last
    # factor belongs to its SCM scheduler, not to the latent space, and is left out here. AutoencoderDC is
    # deterministic: `sample_mode` does not change the result.
    images = make_pil_images(2, (SIZE, SIZE))
    with torch.no_grad():
        ours = sana.encode_latents(images, generator=generator())
        argmax = sana.encode_latents(images, sample_mode="argmax")
        stock = sana.vae.encode(sana.image_processor.preprocess(images)).latent * sana.vae.config.scaling_factor
    assert torch.equal(ours, stock) and torch.equal(argmax, stock)


def test_vq_decode_quantizes_like_latent_diffusion():
    # LDMTextToImagePipeline, the one diffusers pipeline that scales VQ latents, decodes with `vqvae.decode(z / f)`,
    # which snaps the latents to the codebook (`force_not_quantize=False`); decode_latents does the same. (The
    # Kandinsky pipelines use `force_not_quantize=True`, on a `movq` component and without any scaling: a different
    # latent space, not served by these methods.)
    pipe = sd_pipe("vq", ScaledStableDiffusionImg2ImgPipeline)
    images = make_pil_images(1, (SIZE, SIZE))
    with torch.no_grad():
        latents = pipe.encode_latents(images)
        ours = pipe.decode_latents(latents, output_type="pt")
        raw = pipe.latent_scaling.unscale(latents)
        quantized = pipe.image_processor.postprocess(pipe.vae.decode(raw).sample, output_type="pt")
        not_quantized = pipe.vae.decode(raw, force_not_quantize=True).sample
        not_quantized = pipe.image_processor.postprocess(not_quantized, output_type="pt")
    assert torch.equal(ours, quantized)
    assert not torch.allclose(ours, not_quantized, atol=1e-3)
