"""`ScaledFluxPipeline` / `ScaledFluxImg2ImgPipeline` against the stock Flux pipelines.

Flux's VAE has a `shift_factor`, and its transformer works on latents packed into 2x2 patches, the form
`output_type="latent"` returns. All in float32 on CPU with tiny components (prompt embeddings passed directly: the
tiny pipelines have no text encoders), where both paths run the same operations in the same order: bitwise.
"""

import numpy as np
import pytest
import torch
from _compare import assert_images_equal
from diffusers import FluxImg2ImgPipeline, FluxPipeline
from fixtures import flux_components, flux_prompt_embeds, generator, make_pil_images

from diffusers_scaled import PackedLatentsMixin, ScaledFluxImg2ImgPipeline, ScaledFluxPipeline


HEIGHT, WIDTH = 32, 48  # not square, so that a height/width mix-up fails


def make(pipeline_class):
    pipe = pipeline_class(**flux_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe():
    return make(ScaledFluxPipeline)


@pytest.fixture(scope="module")
def img2img():
    return make(ScaledFluxImg2ImgPipeline)


def generate(pipe, output_type, seed=0, **overrides):
    inputs = {"num_inference_steps": 2, "height": HEIGHT, "width": WIDTH, "guidance_scale": 3.5, **overrides}
    return pipe(**flux_prompt_embeds(), generator=generator(seed), output_type=output_type, **inputs).images


def test_ready_classes_are_packed():
    assert issubclass(ScaledFluxPipeline, PackedLatentsMixin)
    assert issubclass(ScaledFluxImg2ImgPipeline, PackedLatentsMixin)


@pytest.mark.parametrize("output_type", ["np", "pt"])
def test_decode_packed_latents_equals_pipeline_output(pipe, output_type):
    latents = generate(pipe, "latent")
    assert latents.ndim == 3  # packed: (batch, patches, channels * 4)
    expected = generate(pipe, output_type)
    with torch.no_grad():
        images = pipe.decode_latents(latents, height=HEIGHT, width=WIDTH, output_type=output_type)
    assert_images_equal(images, expected)


def test_decode_unpacked_latents_equals_pipeline_output(pipe):
    latents = generate(pipe, "latent")
    unpacked = FluxPipeline._unpack_latents(latents, HEIGHT, WIDTH, pipe.vae_scale_factor)
    with torch.no_grad():
        images = pipe.decode_latents(unpacked)
    assert np.array_equal(images, generate(pipe, "np"))


def test_scaled_pipeline_generates_like_stock(pipe):
    stock = FluxPipeline(**pipe.components)
    stock.set_progress_bar_config(disable=True)
    assert np.array_equal(generate(pipe, "np", seed=3), generate(stock, "np", seed=3))


@pytest.mark.parametrize("per_image_generators", [False, True])
def test_encode_latents_equals_img2img_encoding(img2img, per_image_generators):
    # The stock img2img pipeline encodes `image`, then draws noise from the same generator. Feeding it our (unpacked)
    # latents, which it passes through, with the generator our encoding advanced must reproduce its run from pixels.
    stock = FluxImg2ImgPipeline(**img2img.components)
    stock.set_progress_bar_config(disable=True)
    images = make_pil_images(2, (WIDTH, HEIGHT))
    inputs = {"num_inference_steps": 4, "strength": 0.5, "height": HEIGHT, "width": WIDTH, "output_type": "np"}

    def gen():
        return [generator(0), generator(1)] if per_image_generators else generator(0)

    expected = stock(image=images, generator=gen(), **flux_prompt_embeds(2), **inputs).images
    g = gen()
    with torch.no_grad():
        latents = img2img.encode_latents(images, generator=g)
    assert latents.shape == (2, 4, HEIGHT // 2, WIDTH // 2)
    assert np.array_equal(stock(image=latents, generator=g, **flux_prompt_embeds(2), **inputs).images, expected)


def test_encode_packed_is_the_pipeline_packing(img2img):
    images = make_pil_images(2, (WIDTH, HEIGHT))
    with torch.no_grad():
        unpacked = img2img.encode_latents(images, sample_mode="argmax")
        packed = img2img.encode_latents(images, sample_mode="argmax", packed=True)
    assert torch.equal(packed, FluxImg2ImgPipeline._pack_latents(unpacked, 2, 4, HEIGHT // 2, WIDTH // 2))
    # and decoding either form gives the same images. Not bitwise: the VAE's latents come out channels-last in memory
    # and unpacking makes them contiguous; CPU convolutions accumulate in a layout-dependent order (a few ulps).
    with torch.no_grad():
        from_packed = img2img.decode_latents(packed, height=HEIGHT, width=WIDTH)
        from_unpacked = img2img.decode_latents(unpacked)
    np.testing.assert_allclose(from_packed, from_unpacked, rtol=0, atol=1e-5)


def test_packed_latents_need_height_and_width(pipe):
    latents = generate(pipe, "latent")
    with pytest.raises(ValueError, match="`height` must be a positive int"):
        pipe.decode_latents(latents)
    with pytest.raises(ValueError, match="`width` must be a positive int"):
        pipe.decode_latents(latents, height=HEIGHT)


def test_packed_latents_with_wrong_size_are_rejected(pipe):
    latents = generate(pipe, "latent")
    with pytest.raises(ValueError, match=r"height 48 and width 64 must have shape \(batch, 192, 16\)"):
        pipe.decode_latents(latents, height=WIDTH, width=HEIGHT * 2)


def test_packed_must_be_a_bool(img2img):
    with pytest.raises(TypeError, match="`packed` must be a bool"):
        img2img.encode_latents(make_pil_images(1, (WIDTH, HEIGHT)), packed="yes")
